import Crypto
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

@testable import Tessera

/// The databases every storage case runs on. PostgreSQL joins when `TESSERA_TEST_POSTGRES_URL`
/// names a server (scripts/test starts one and sets it; CI always runs both).
enum TestDatabase: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    static let postgresURL = ProcessInfo.processInfo.environment["TESSERA_TEST_POSTGRES_URL"]

    static var all: [TestDatabase] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }

    /// For cases whose behaviour does not depend on the database: they run once.
    static let once: [TestDatabase] = [.sqlite]

    /// For cases that need several instances on one database but test something else: once, on the
    /// engine that serves several instances (SQLite serves one; three apps' writers on one file
    /// under a loaded test run wait on each other past the busy timeout).
    static var sharedByInstances: [TestDatabase] { postgresURL == nil ? [.sqlite] : [.postgres] }

    /// The throwaway databases of the running test (see `ThrowawayDatabases`).
    @TaskLocal static var made: MadeDatabases?

    /// A fresh database with every migration applied, set up as production sets it up: a SQLite
    /// file in WAL mode (with its separate reader connection), or a database of its own on the test
    /// PostgreSQL. Both are copies of a template migrated once, and go when the test ends.
    func freshURL() async throws -> String {
        guard let made = Self.made else {
            Issue.record("a test making databases needs the .throwawayDatabases trait on its suite")
            throw CancellationError()
        }
        let url: String
        switch self {
        case .sqlite:
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-test-\(UUID().uuidString).sqlite").path
            try FileManager.default.copyItem(atPath: try await Templates.shared.sqlite(), toPath: path)
            url = "sqlite:" + path
        case .postgres:
            let server = try PostgresServer()
            let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            let template = try await Templates.shared.postgres(server)
            try await server.run("CREATE DATABASE \(name) TEMPLATE \(template)")
            url = server.url(name)
        }
        made.add(url)
        return url
    }
}

/// Gives every test case of a suite its own databases and removes them when the case ends:
/// SQLite files are deleted, PostgreSQL databases dropped.
struct ThrowawayDatabases: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func scopeProvider(for test: Test, testCase: Test.Case?) -> ThrowawayDatabases? {
        testCase == nil ? nil : self
    }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let made = MadeDatabases()
        defer { made.removeFiles() }
        try await TestDatabase.$made.withValue(made) { try await function() }
        try await made.dropPostgres()
    }
}

extension Trait where Self == ThrowawayDatabases {
    static var throwawayDatabases: Self { ThrowawayDatabases() }
}

/// The databases one test case made.
final class MadeDatabases: Sendable {
    private let urls = Mutex<[String]>([])

    func add(_ url: String) { urls.withLock { $0.append(url) } }

    func removeFiles() {
        for url in urls.withLock({ $0 }) where url.hasPrefix("sqlite:") {
            let path = String(url.dropFirst("sqlite:".count))
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
    }

    func dropPostgres() async throws {
        let names = urls.withLock { $0 }.filter { $0.hasPrefix("postgres") }.compactMap { $0.split(separator: "/").last }
        guard !names.isEmpty else { return }
        let server = try PostgresServer()
        // The app's pool may still be closing its connections: FORCE ends them.
        for name in names { try await server.run("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
    }
}

/// The migrated databases fresh ones are copied from.
private actor Templates {
    static let shared = Templates()

    private var sqliteFile: Task<String, any Error>?
    private var postgresName: Task<String, any Error>?

    /// A SQLite file, and a PostgreSQL database, named after the migrations they hold, so test runs
    /// share them until a migration is added. Each is built under another name and renamed when
    /// complete, so a run that dies halfway leaves nothing a later run would take for a template.
    func sqlite() async throws -> String {
        if sqliteFile == nil {
            sqliteFile = Task {
                let directory = FileManager.default.temporaryDirectory
                let path = directory.appendingPathComponent("tessera-template-\(Self.fingerprint).sqlite").path
                guard !FileManager.default.fileExists(atPath: path) else { return path }
                let building = directory.appendingPathComponent("tessera-building-\(UUID().uuidString).sqlite").path
                // The last connection's close folds the WAL into the file, so the file alone is the copy.
                try await Self.migrate("sqlite:" + building)
                do {
                    try FileManager.default.moveItem(atPath: building, toPath: path)
                } catch {
                    try? FileManager.default.removeItem(atPath: building)  // another test process finished it first
                }
                return path
            }
        }
        return try await sqliteFile!.value
    }

    func postgres(_ server: PostgresServer) async throws -> String {
        if postgresName == nil {
            postgresName = Task {
                let name = "tessera_template_\(Self.fingerprint)"
                guard try await !server.exists(name) else { return name }
                let building = "tessera_building_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
                try await server.run("CREATE DATABASE \(building)")
                try await Self.migrate(server.url(building))
                do {
                    try await server.run("ALTER DATABASE \(building) RENAME TO \(name)")
                } catch {
                    try await server.run("DROP DATABASE \(building) WITH (FORCE)")  // another test process finished it first
                }
                return name
            }
        }
        return try await postgresName!.value
    }

    /// The migration history in 16 hex digits.
    private static let fingerprint: String = {
        let history = Migration.all.flatMap { $0.sql(.sqlite) + $0.sql(.postgres) }
        return SHA256.hash(data: Data(history.joined(separator: ";").utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
    }()

    private static func migrate(_ url: String) async throws {
        let logger = {
            var logger = Logger(label: "test-template")
            logger.logLevel = .error
            return logger
        }()
        let database = try await openDatabase(try #require(DatabaseURL(url)), logger: logger)
        _ = try await database.whileRunning { try await Migrator(database: database, logger: logger).migrate() }
    }
}

/// The PostgreSQL server of `TESSERA_TEST_POSTGRES_URL`, for creating and dropping databases.
struct PostgresServer {
    let host: String
    let port: Int
    let user: String
    let password: String?

    init() throws {
        guard let admin = TestDatabase.postgresURL, case .postgres(let host, let port, let user, let password, _, _) = DatabaseURL(admin) else {
            Issue.record("TESSERA_TEST_POSTGRES_URL is not set; run scripts/test")
            throw CancellationError()
        }
        (self.host, self.port, self.user, self.password) = (host, port, user, password)
    }

    func url(_ database: String) -> String {
        "postgres://\(password.map { "\(user):\($0)" } ?? user)@\(host):\(port)/\(database)"
    }

    func run(_ sql: String) async throws {
        try await withConnection { connection, logger in _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
    }

    func exists(_ database: String) async throws -> Bool {
        try await withConnection { connection, logger in
            let rows = try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(database)", logger: logger)
            for try await _ in rows { return true }
            return false
        }
    }

    private func withConnection<R>(_ body: (PostgresConnection, Logger) async throws -> R) async throws -> R {
        let logger = Logger(label: "test-admin")
        let connection = try await PostgresConnection.connect(
            configuration: .init(host: host, port: port, username: user, password: password, database: "postgres", tls: .disable),
            id: 1, logger: logger)
        do {
            let result = try await body(connection, logger)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }
}
