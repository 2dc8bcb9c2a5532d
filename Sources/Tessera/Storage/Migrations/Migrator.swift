import Foundation
import Logging
import SQLKit

/// One versioned schema step. `sql` renders its statements for a dialect, which spells the DDL
/// differences (column types, constraints one engine needs).
struct Migration: Sendable {
    let version: Int
    let name: String
    let sql: @Sendable (SQLDialect) -> [String]
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
        let dialect = database.dialect
        let migrations = self.migrations
        let applied = try await database.transaction { db in
            // Several instances may start at once on one PostgreSQL: the advisory lock makes one migrate
            // while the others wait, then find nothing left to do.
            try await dialect.lockMigrations(db)
            try await db.raw(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at \(unsafeRaw: dialect.time) NOT NULL)"
            ).run()
            let done = Set(try await db.select().column("version").from("schema_migrations").all(decodingColumn: "version", as: Int.self))
            var applied: [Int] = []
            for migration in migrations.sorted(by: { $0.version < $1.version }) where !done.contains(migration.version) {
                for statement in migration.sql(dialect) {
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
    /// Every migration, in order. Each is history: once released it never changes (a test holds
    /// its rendered SQL to a fingerprint); new tables, columns and built-in rows come in new ones.
    static let all: [Migration] = [
        accountsAndSessions, accessAndLifecycle, revokedSessions, housekeeping, marketplace, balances, signInMethods, movingFromDjango,
    ]
}
