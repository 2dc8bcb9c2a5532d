import SQLKit

/// Everything SQLite and PostgreSQL spell differently, and the only place that knows: a store asks
/// its dialect for a row lock or a case-insensitive match instead of switching on the engine.
/// (Upserts, `RETURNING` and `string_agg` are spelled alike by both, so they need nothing here.)
public enum SQLDialect: String, Sendable {
    case sqlite
    case postgres

    /// Column types: a UUID, an instant, raw bytes.
    var id: String { self == .postgres ? "UUID" : "TEXT" }
    var time: String { self == .postgres ? "TIMESTAMPTZ" : "REAL" }
    var bytes: String { self == .postgres ? "BYTEA" : "BLOB" }

    /// `column` contains `text`, ignoring case: `ILIKE` on PostgreSQL, and on SQLite `LIKE` over
    /// `unicode_lower` (installed by `SQLiteStore`), since SQLite folds only ASCII itself.
    func contains(_ column: String, _ text: String) -> any SQLExpression {
        contains(SQLIdentifier(column), text)
    }

    /// `contains` over any expression: a qualified column, a `COALESCE`.
    func contains(_ column: any SQLExpression, _ text: String) -> any SQLExpression {
        let escaped = text.lowercased().replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_")
        let pattern = "%" + escaped + "%"
        return self == .postgres
            ? SQLQueryString("\(column) ILIKE \(bind: pattern) ESCAPE '\\'")
            : SQLQueryString("unicode_lower(\(column)) LIKE \(bind: pattern) ESCAPE '\\'")
    }

    /// `column` compared by its bytes, whatever the database's collation: SQLite's own order, and
    /// on PostgreSQL `COLLATE "C"`, so every instance and the in-memory copies sort text alike.
    func byteOrdered(_ column: String) -> any SQLExpression {
        self == .postgres ? SQLQueryString("\(ident: column) COLLATE \"C\"") : SQLColumn(column)
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

    /// No two live rows of `table` with the same `owner` overlap in [`start`, `end`), whatever
    /// runs concurrently: on PostgreSQL an exclusion constraint (over `btree_gist`, for the
    /// equality on `owner`); a write that would break it fails with `OverlapViolation`. On SQLite
    /// nothing: its one writer runs each transaction alone, so the check a store makes before
    /// inserting cannot be raced.
    func noOverlap(_ constraint: String, on table: String, owner: String, start: String, end: String, live: String) -> [String] {
        guard self == .postgres else { return [] }
        return [
            "CREATE EXTENSION IF NOT EXISTS btree_gist",
            "ALTER TABLE \(table) ADD CONSTRAINT \(constraint) EXCLUDE USING gist (\(owner) WITH =, tstzrange(\(start), \(end)) WITH &&) WHERE (\(live))",
        ]
    }

    /// The column names of `table` (none when there is no such table); `table` is a checked name.
    func columns(of table: String, _ db: any SQLDatabase) async throws -> [String] {
        switch self {
        case .sqlite:
            try await db.raw("SELECT name FROM pragma_table_info(\(bind: table))").all(decodingColumn: "name", as: String.self)
        case .postgres:
            try await db.raw(
                "SELECT column_name AS name FROM information_schema.columns WHERE table_name = \(bind: table) AND table_schema = current_schema()"
            ).all(decodingColumn: "name", as: String.self)
        }
    }

    /// Several instances may start at once on one PostgreSQL: an advisory lock held to the end of
    /// the migrating transaction makes one migrate while the others wait, then find nothing left
    /// to do. SQLite's `BEGIN IMMEDIATE` already serialises them.
    func lockMigrations(_ db: any SQLDatabase) async throws {
        if self == .postgres { try await db.raw("SELECT pg_advisory_xact_lock(7262773)").run() }
    }
}
