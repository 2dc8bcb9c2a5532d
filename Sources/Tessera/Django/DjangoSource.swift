import Foundation
import Logging
import SQLKit

/// A Django database to import users from, read-only: a SQLite file (opened without touching its
/// journal mode) or a PostgreSQL URL. The user table is `--table`, or `accounts_user` or
/// `auth_user`, whichever exists.
struct DjangoSource: Sendable {
    let database: any Database
    let table: String
    let columns: Set<String>

    static let defaultTables = ["accounts_user", "auth_user"]
    /// Rows read per query, so a table of any size is read in bounded memory.
    static let pageSize = 2_000

    /// `/path/db.sqlite3`, `sqlite:/path/db.sqlite3` or `postgres://user:pass@host/db`.
    static func open(_ from: String, table: String?, logger: Logger) async throws -> DjangoSource {
        let database: any Database
        if from.hasPrefix("postgres://") || from.hasPrefix("postgresql://") {
            guard let url = DatabaseURL(from) else { throw ImportError("--from: not a PostgreSQL URL: \(maskingPassword(from))") }
            database = try await openDatabase(url, timeout: 10, logger: logger)
        } else {
            let path = from.hasPrefix("sqlite:") ? String(from.dropFirst("sqlite:".count)) : from
            guard FileManager.default.fileExists(atPath: path) else { throw ImportError("--from: no such SQLite file: \(path)") }
            database = try await SQLiteStore.openForReading(path: path, logger: logger)
        }
        return DjangoSource(database: database, table: table ?? "", columns: [])
    }

    /// Finds the user table and its columns; runs with the database's connections alive.
    func described() async throws -> DjangoSource {
        let candidates = table.isEmpty ? Self.defaultTables : [table]
        for name in candidates {
            guard name.range(of: "^[A-Za-z_][A-Za-z0-9_]{0,62}$", options: .regularExpression) != nil else {
                throw ImportError("--table: '\(name)' is not a table name")
            }
            let found = try await database.read { db in try await self.database.dialect.columns(of: name, db) }
            if !found.isEmpty { return DjangoSource(database: database, table: name, columns: Set(found)) }
        }
        throw ImportError("no user table found (looked for \(candidates.joined(separator: ", "))); name it with --table")
    }

    func count() async throws -> Int {
        try await database.read { db in
            try await db.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from(self.table)
                .first(decodingColumn: "n", as: Int.self) ?? 0
        }
    }

    /// SimpleJWT refresh tokens Django has blacklisted (rotated or revoked) and that have not
    /// expired: each must stay refused after the move. None when the blacklist app is not installed.
    func blacklisted(at now: Date) async throws -> [(jti: String, legacyID: String, expires: Date)] {
        let tables = ["token_blacklist_outstandingtoken", "token_blacklist_blacklistedtoken"]
        for table in tables where try await database.read({ db in try await self.database.dialect.columns(of: table, db) }).isEmpty {
            return []
        }
        return try await database.read { db in
            try await db.raw(
                """
                SELECT o.jti AS jti, o.user_id AS user_id, o.expires_at AS expires_at FROM token_blacklist_outstandingtoken o
                JOIN token_blacklist_blacklistedtoken b ON b.token_id = o.id WHERE o.user_id IS NOT NULL
                """
            ).all().compactMap { row in
                guard let jti = try? row.decode(column: "jti", as: String.self), let user = try? row.decode(column: "user_id", as: Int64.self),
                    let expires = (try? row.decode(column: "expires_at", as: Date.self))
                        ?? (try? row.decode(column: "expires_at", as: String.self)).flatMap(DjangoUser.parseTime),
                    expires > now
                else { return nil }
                return (jti, String(user), expires)
            }
        }
    }

    /// The users after `cursor` (the last id read), in id order.
    func page(after cursor: Int64?) async throws -> [DjangoUser] {
        let wanted = [
            "id", "password", "last_login", "is_superuser", "username", "first_name", "last_name", "email", "is_active",
            "date_joined", "phone", "role", "middle_name",
        ].filter(columns.contains)
        guard columns.contains("id"), columns.contains("password") else { throw ImportError("\(table) has no id or password column") }
        return try await database.read { db in
            var query = db.select().columns(wanted.map { SQLColumn($0) }).from(self.table)
            if let cursor { query = query.where("id", .greaterThan, SQLBind(cursor)) }
            return try await query.orderBy("id").limit(Self.pageSize).all().map(DjangoUser.init(row:))
        }
    }
}

/// One row of a Django user table, as read.
struct DjangoUser: Sendable {
    let id: Int64
    let password: String
    let username: String?
    let email: String?
    let phone: String?
    let firstName: String
    let lastName: String
    let middleName: String
    let role: String?
    let isActive: Bool
    let isSuperuser: Bool
    let dateJoined: Date?
    let lastLogin: Date?

    init(row: any SQLRow) throws {
        func text(_ column: String) -> String? {
            guard row.contains(column: column) else { return nil }
            return (try? row.decode(column: column, as: String?.self)) ?? nil
        }
        func flag(_ column: String, _ otherwise: Bool) -> Bool {
            guard row.contains(column: column) else { return otherwise }
            if let bool = try? row.decode(column: column, as: Bool.self) { return bool }
            return ((try? row.decode(column: column, as: Int.self)) ?? 0) != 0
        }
        func time(_ column: String) -> Date? {
            guard row.contains(column: column) else { return nil }
            if let date = try? row.decode(column: column, as: Date?.self) { return date }
            return text(column).flatMap(DjangoUser.parseTime)
        }
        id = try row.decode(column: "id", as: Int64.self)
        password = text("password") ?? ""
        username = text("username")
        email = text("email")
        phone = text("phone")
        firstName = text("first_name") ?? ""
        lastName = text("last_name") ?? ""
        middleName = text("middle_name") ?? ""
        role = text("role")
        isActive = flag("is_active", true)
        isSuperuser = flag("is_superuser", false)
        dateJoined = time("date_joined")
        lastLogin = time("last_login")
    }

    /// Django writes times to SQLite as `2026-11-21 10:00:00.123456` (UTC, with or without the
    /// fraction or an offset).
    static func parseTime(_ text: String) -> Date? {
        var trimmed = text.replacingOccurrences(of: " ", with: "T")
        if !(trimmed.hasSuffix("Z") || trimmed.dropFirst(19).contains("+") || trimmed.dropFirst(19).contains("-")) { trimmed += "Z" }
        return timeFormats.lazy.compactMap { try? $0.parse(trimmed) }.first
    }

    /// With and without the fraction (Django writes microseconds when there are any).
    private static let timeFormats = [Date.ISO8601FormatStyle(includingFractionalSeconds: true), Date.ISO8601FormatStyle()]
}

/// A reason the import cannot start, printed as one line.
struct ImportError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
