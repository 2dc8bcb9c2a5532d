import Foundation
import Logging
import SQLKit

/// One versioned schema step. `sql` renders its statements for an engine, so the DDL differences
/// (UUID and timestamp column types) stay here and nowhere else.
struct Migration: Sendable {
    let version: Int
    let name: String
    let sql: @Sendable (ColumnTypes) -> [String]
}

/// Column types that differ between the engines.
struct ColumnTypes: Sendable {
    let id: String
    let time: String

    init(_ engine: SQLEngine) {
        switch engine {
        case .sqlite: (id, time) = ("TEXT", "REAL")
        case .postgres: (id, time) = ("UUID", "TIMESTAMPTZ")
        }
    }
}

/// Applies the migrations a database has not seen yet, in order, each in its own transaction.
public struct Migrator: Sendable {
    let database: any Database
    let logger: Logger
    let migrations: [Migration]

    public init(database: any Database, logger: Logger) {
        self.init(database: database, logger: logger, migrations: Migration.all)
    }

    init(database: any Database, logger: Logger, migrations: [Migration]) {
        self.database = database
        self.logger = logger
        self.migrations = migrations
    }

    /// Brings the schema up to date; returns the versions applied now.
    @discardableResult
    public func migrate() async throws -> [Int] {
        let engine = database.engine
        let migrations = self.migrations
        let applied = try await database.transaction { db in
            // Several instances may start at once on one PostgreSQL: the advisory lock makes one migrate
            // while the others wait, then find nothing left to do.
            if engine == .postgres {
                try await db.raw("SELECT pg_advisory_xact_lock(7262773)").run()
            }
            try await db.raw(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at \(unsafeRaw: ColumnTypes(engine).time) NOT NULL)"
            ).run()
            let done = Set(try await db.select().column("version").from("schema_migrations").all(decodingColumn: "version", as: Int.self))
            var applied: [Int] = []
            for migration in migrations.sorted(by: { $0.version < $1.version }) where !done.contains(migration.version) {
                for statement in migration.sql(ColumnTypes(engine)) {
                    try await db.raw("\(unsafeRaw: statement)").run()
                }
                try await db.insert(into: "schema_migrations")
                    .columns("version", "name", "applied_at")
                    .values(SQLBind(migration.version), SQLBind(migration.name), SQLBind(Date()))
                    .run()
                applied.append(migration.version)
            }
            return applied
        }
        for version in applied {
            logger.info("applied migration", metadata: ["version": "\(version)"])
        }
        return applied
    }
}

extension Migration {
    static let all: [Migration] = [accountsAndSessions]

    static let accountsAndSessions = Migration(version: 1, name: "accounts and sessions") { t in
        [
            """
            CREATE TABLE users (
                id \(t.id) PRIMARY KEY,
                email TEXT,
                email_key TEXT UNIQUE,
                phone TEXT UNIQUE,
                username TEXT,
                username_key TEXT UNIQUE,
                password_hash TEXT NOT NULL,
                first_name TEXT NOT NULL DEFAULT '',
                last_name TEXT NOT NULL DEFAULT '',
                middle_name TEXT NOT NULL DEFAULT '',
                kind TEXT NOT NULL,
                status TEXT NOT NULL,
                email_verified BOOLEAN NOT NULL DEFAULT FALSE,
                phone_verified BOOLEAN NOT NULL DEFAULT FALSE,
                date_joined \(t.time) NOT NULL,
                last_login \(t.time)
            )
            """,
            "CREATE INDEX users_status_idx ON users (status, date_joined)",
            """
            CREATE TABLE roles (
                id \(t.id) PRIMARY KEY,
                code_name TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                built_in BOOLEAN NOT NULL DEFAULT FALSE
            )
            """,
            """
            CREATE TABLE user_roles (
                user_id \(t.id) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                role_id \(t.id) NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
                PRIMARY KEY (user_id, role_id)
            )
            """,
            "CREATE INDEX user_roles_role_idx ON user_roles (role_id)",
            """
            CREATE TABLE sessions (
                id \(t.id) PRIMARY KEY,
                user_id \(t.id) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                created_at \(t.time) NOT NULL,
                last_used_at \(t.time) NOT NULL,
                expires_at \(t.time) NOT NULL,
                revoked_at \(t.time),
                ip_address TEXT NOT NULL DEFAULT '',
                user_agent TEXT NOT NULL DEFAULT '',
                refresh_jti TEXT NOT NULL,
                previous_refresh_jti TEXT,
                rotated_at \(t.time) NOT NULL
            )
            """,
            "CREATE INDEX sessions_user_idx ON sessions (user_id, revoked_at)",
            """
            CREATE TABLE signing_keys (
                kid TEXT PRIMARY KEY,
                algorithm TEXT NOT NULL,
                private_key TEXT NOT NULL,
                created_at \(t.time) NOT NULL
            )
            """,
        ] + BuiltInRole.allCases.map { role in
            "INSERT INTO roles (id, code_name, name, description, built_in) VALUES ('\(role.id.uuidString.lowercased())', '\(role.rawValue)', '\(role.title)', '', TRUE)"
        }
    }
}
