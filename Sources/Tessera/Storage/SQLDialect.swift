import SQLKit

/// Everything SQLite and PostgreSQL spell differently, and the only place that knows: a store asks
/// its dialect for a row lock or a case-insensitive match instead of switching on the engine.
/// (Upserts, `RETURNING` and `string_agg` are spelled alike by both, so they need nothing here.)
public enum SQLDialect: String, Sendable {
    case sqlite
    case postgres

    var columnTypes: ColumnTypes { ColumnTypes(self) }

    /// `column` contains `text`, ignoring case: `ILIKE` on PostgreSQL, and on SQLite `LIKE` over
    /// `unicode_lower` (installed by `SQLiteStore`), since SQLite folds only ASCII itself.
    func contains(_ column: String, _ text: String) -> any SQLExpression {
        let escaped = text.lowercased().replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_")
        let pattern = "%" + escaped + "%"
        return self == .postgres
            ? SQLQueryString("\(ident: column) ILIKE \(bind: pattern) ESCAPE '\\'")
            : SQLQueryString("unicode_lower(\(ident: column)) LIKE \(bind: pattern) ESCAPE '\\'")
    }

    /// `FOR UPDATE` on PostgreSQL; SQLite needs none because its writers are already serialised.
    func lockForUpdate(_ query: SQLSelectBuilder) -> SQLSelectBuilder {
        self == .postgres ? query.for(.update) : query
    }

    /// `FOR UPDATE SKIP LOCKED` on PostgreSQL, so workers on several instances each take other
    /// rows; SQLite's single writer hands them out one at a time anyway.
    func lockForUpdateSkippingLocked(_ query: SQLSelectBuilder) -> SQLSelectBuilder {
        self == .postgres ? query.lockingClause(SQLRaw("FOR UPDATE SKIP LOCKED")) : query
    }

    /// Several instances may start at once on one PostgreSQL: an advisory lock held to the end of
    /// the migrating transaction makes one migrate while the others wait, then find nothing left
    /// to do. SQLite's `BEGIN IMMEDIATE` already serialises them.
    func lockMigrations(_ db: any SQLDatabase) async throws {
        if self == .postgres { try await db.raw("SELECT pg_advisory_xact_lock(7262773)").run() }
    }
}

/// Column types that differ between the dialects.
struct ColumnTypes: Sendable {
    let id: String
    let time: String

    init(_ dialect: SQLDialect) {
        switch dialect {
        case .sqlite: (id, time) = ("TEXT", "REAL")
        case .postgres: (id, time) = ("UUID", "TIMESTAMPTZ")
        }
    }
}
