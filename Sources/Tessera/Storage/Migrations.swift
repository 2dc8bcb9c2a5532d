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
    static let all: [Migration] = [accountsAndSessions, accessAndLifecycle, revokedSessions, housekeeping]

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

extension Migration {
    /// RBAC catalogue, audit log, mail outbox, single-use tokens and abuse-protection counters.
    static let accessAndLifecycle = Migration(version: 2, name: "access control and account lifecycle") { t in
        // Upper case, as SQLiteKit binds a UUID: on SQLite ids are compared as text.
        func uuid(_ id: UUID) -> String { "CAST('\(id.uuidString)' AS \(t.id))" }
        var statements = [
            """
            CREATE TABLE resources (
                id \(t.id) PRIMARY KEY,
                code_name TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                built_in BOOLEAN NOT NULL DEFAULT FALSE
            )
            """,
            """
            CREATE TABLE actions (
                id \(t.id) PRIMARY KEY,
                code_name TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                built_in BOOLEAN NOT NULL DEFAULT FALSE
            )
            """,
            """
            CREATE TABLE permissions (
                id \(t.id) PRIMARY KEY,
                resource_id \(t.id) NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
                action_id \(t.id) NOT NULL REFERENCES actions (id) ON DELETE CASCADE,
                UNIQUE (resource_id, action_id)
            )
            """,
            "CREATE INDEX permissions_action_idx ON permissions (action_id)",
            """
            CREATE TABLE role_permissions (
                role_id \(t.id) NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
                permission_id \(t.id) NOT NULL REFERENCES permissions (id) ON DELETE CASCADE,
                PRIMARY KEY (role_id, permission_id)
            )
            """,
            "CREATE INDEX role_permissions_permission_idx ON role_permissions (permission_id)",
            """
            CREATE TABLE audit_events (
                id \(t.id) PRIMARY KEY,
                at \(t.time) NOT NULL,
                event TEXT NOT NULL,
                user_id \(t.id),
                actor_id \(t.id),
                ip_address TEXT NOT NULL DEFAULT '',
                user_agent TEXT NOT NULL DEFAULT '',
                detail TEXT NOT NULL DEFAULT '{}'
            )
            """,
            "CREATE INDEX audit_events_at_idx ON audit_events (at)",
            "CREATE INDEX audit_events_user_idx ON audit_events (user_id, at)",
            "CREATE INDEX audit_events_event_idx ON audit_events (event, at)",
            """
            CREATE TABLE mail_outbox (
                id \(t.id) PRIMARY KEY,
                recipient TEXT NOT NULL,
                subject TEXT NOT NULL,
                body TEXT NOT NULL,
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                created_at \(t.time) NOT NULL,
                next_attempt_at \(t.time) NOT NULL,
                locked_until \(t.time),
                sent_at \(t.time),
                last_error TEXT NOT NULL DEFAULT ''
            )
            """,
            "CREATE INDEX mail_outbox_due_idx ON mail_outbox (status, next_attempt_at)",
            """
            CREATE TABLE one_time_tokens (
                token_hash TEXT PRIMARY KEY,
                user_id \(t.id) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                purpose TEXT NOT NULL,
                email TEXT,
                created_at \(t.time) NOT NULL,
                expires_at \(t.time) NOT NULL,
                used_at \(t.time)
            )
            """,
            "CREATE INDEX one_time_tokens_user_idx ON one_time_tokens (user_id, purpose)",
            """
            CREATE TABLE login_failures (
                login_key TEXT PRIMARY KEY,
                failures INTEGER NOT NULL,
                last_failure_at \(t.time) NOT NULL,
                locked_until \(t.time)
            )
            """,
            """
            CREATE TABLE rate_limit_windows (
                bucket TEXT PRIMARY KEY,
                window_start \(t.time) NOT NULL,
                hits INTEGER NOT NULL
            )
            """,
        ]
        for resource in BuiltInCatalogue.resources {
            statements.append(
                "INSERT INTO resources (id, code_name, name, description, built_in) VALUES (\(uuid(UUID())), '\(resource.code)', '\(resource.name)', '', TRUE)")
        }
        for action in BuiltInCatalogue.actions {
            statements.append(
                "INSERT INTO actions (id, code_name, name, description, built_in) VALUES (\(uuid(UUID())), '\(action.code)', '\(action.name)', '', TRUE)")
        }
        for (resource, action) in BuiltInCatalogue.permissions {
            statements.append(
                """
                INSERT INTO permissions (id, resource_id, action_id)
                SELECT \(uuid(UUID())), r.id, a.id FROM resources r, actions a WHERE r.code_name = '\(resource)' AND a.code_name = '\(action)'
                """)
        }
        for (role, grants) in BuiltInCatalogue.grants {
            for (resource, action) in grants {
                statements.append(
                    """
                    INSERT INTO role_permissions (role_id, permission_id)
                    SELECT \(uuid(role.id)), p.id FROM permissions p
                    JOIN resources r ON r.id = p.resource_id JOIN actions a ON a.id = p.action_id
                    WHERE r.code_name = '\(resource)' AND a.code_name = '\(action)'
                    """)
            }
        }
        return statements
    }
}

extension Migration {
    /// Lets every instance load the recently ended sessions into its revocation list at start.
    static let revokedSessions = Migration(version: 3, name: "index of ended sessions") { _ in
        ["CREATE INDEX sessions_revoked_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL"]
    }

    /// Lets housekeeping find what it deletes without reading whole tables.
    static let housekeeping = Migration(version: 4, name: "indexes for housekeeping") { _ in
        [
            "CREATE INDEX sessions_expires_idx ON sessions (expires_at)",
            "CREATE INDEX one_time_tokens_expires_idx ON one_time_tokens (expires_at)",
            "CREATE INDEX rate_limit_windows_start_idx ON rate_limit_windows (window_start)",
            "CREATE INDEX login_failures_last_idx ON login_failures (last_failure_at)",
            "CREATE INDEX mail_outbox_sent_idx ON mail_outbox (status, sent_at)",
        ]
    }
}
