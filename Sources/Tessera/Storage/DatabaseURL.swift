import Foundation

/// A parsed `TESSERA_DATABASE_URL`: `sqlite:PATH`, `sqlite::memory:` or `postgres://user:pass@host:port/db`.
public enum DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    case sqliteFile(path: String)
    case sqliteMemory
    case postgres(host: String, port: Int, user: String, password: String?, database: String, requireTLS: Bool)

    public init?(_ text: String) {
        if text == "sqlite::memory:" || text == "sqlite://:memory:" {
            self = .sqliteMemory
            return
        }
        if text.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path.removeFirst(2) }
            guard !path.isEmpty else { return nil }
            self = .sqliteFile(path: path)
            return
        }
        guard let components = URLComponents(string: text),
            components.scheme == "postgres" || components.scheme == "postgresql",
            let host = components.host, !host.isEmpty,
            let user = components.user, !user.isEmpty
        else { return nil }
        let database = String(components.path.drop(while: { $0 == "/" }))
        let sslmode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value
        self = .postgres(
            host: host,
            port: components.port ?? 5432,
            user: user.removingPercentEncoding ?? user,
            password: components.password.map { $0.removingPercentEncoding ?? $0 },
            database: database.isEmpty ? user : database,
            requireTLS: sslmode == "require" || sslmode == "verify-full"
        )
    }

    /// The URL with any password masked, for logs.
    public var description: String {
        switch self {
        case .sqliteMemory: "sqlite::memory:"
        case .sqliteFile(let path): "sqlite:\(path)"
        case .postgres(let host, let port, let user, _, let database, _): "postgres://\(user):***@\(host):\(port)/\(database)"
        }
    }
}
