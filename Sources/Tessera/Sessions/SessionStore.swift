import Foundation
import SQLKit

/// SQL for sessions. Every query names the session by primary key or the user by an index.
struct SessionStore: Sendable {
    let dialect: SQLDialect
    let revocations: Revocations

    func insert(_ session: SessionRecord, _ db: any SQLDatabase) async throws {
        try await db.run(
            Insert.self, session.id, session.userID, session.createdAt, session.lastUsedAt, session.expiresAt, session.revokedAt,
            session.ipAddress, session.userAgent, session.refreshJTI, session.previousRefreshJTI, session.rotatedAt)
    }

    /// `$1`… the columns in `SessionRecord.columns`' order.
    private enum Insert: FixedStatement {
        static let sql =
            "INSERT INTO sessions (\(SessionRecord.columns.joined(separator: ", "))) VALUES ("
            + (1...SessionRecord.columns.count).map { "$\($0)" }.joined(separator: ", ") + ")"
    }

    /// The session, locked against concurrent rotation when `forUpdate` (inside a transaction).
    func find(_ id: UUID, _ db: any SQLDatabase, forUpdate: Bool = false) async throws -> SessionRecord? {
        var query = db.select().columns(SessionRecord.columns.map { SQLColumn($0) }).from("sessions").where("id", .equal, SQLBind(id))
        if forUpdate { query = dialect.lockForUpdate(query) }
        return try await query.first().map(SessionRecord.init(row:))
    }

    /// Rotates a live session's refresh token in one statement, if `jti` is its live one: the row
    /// lock (or the SQLite writer) makes concurrent rotations of one token line up, and only the
    /// first matches. `nil` when it did not rotate. Only the two columns the new pair needs and
    /// this query does not already know come back: `rotated_at` as the database stored it (so the
    /// token signed now is the one a replay within the grace signs again from the row). The hottest
    /// write, so a `FixedStatement`: PostgreSQL plans it once per connection.
    func rotate(_ id: UUID, of userID: UUID, from jti: String, at now: Date, _ db: any SQLDatabase) async throws -> SessionRotation? {
        let next = UUID().uuidString.lowercased()
        guard let row = try await db.run(Rotate.self, next, now, id, userID, jti).first else { return nil }
        return SessionRotation(
            id: id, userID: userID, expiresAt: try row.decode(column: "expires_at", as: Date.self), refreshJTI: next,
            rotatedAt: try row.decode(column: "rotated_at", as: Date.self))
    }

    /// `$1` the new refresh `jti`, `$2` now, `$3` the session, `$4` its user, `$5` the `jti` presented.
    private enum Rotate: FixedStatement {
        static let sql = """
            UPDATE sessions SET previous_refresh_jti = refresh_jti, refresh_jti = $1, rotated_at = $2, last_used_at = $2
            WHERE id = $3 AND user_id = $4 AND refresh_jti = $5 AND revoked_at IS NULL AND expires_at > $2
            RETURNING expires_at, rotated_at
            """
    }

    /// Live sessions of a user, newest first, one page of them, and how many there are.
    func live(userID: UUID, at now: Date, page: PageRequest, _ db: any SQLDatabase) async throws -> (total: Int, sessions: [SessionRecord]) {
        func live(_ query: SQLSelectBuilder) -> SQLSelectBuilder {
            query.from("sessions").where("user_id", .equal, SQLBind(userID)).where("revoked_at", .is, SQLLiteral.null)
                .where("expires_at", .greaterThan, SQLBind(now))
        }
        return try await db.page(
            page, columns: SessionRecord.columns.map { SQLColumn($0) }, orderBy: [("created_at", .descending)], live, as: SessionRecord.init(row:))
    }

    /// Ends one session of `userID`; returns whether a live one was ended.
    @discardableResult
    func revoke(_ id: UUID, userID: UUID? = nil, at now: Date, _ db: any SQLDatabase) async throws -> Bool {
        var query = db.update("sessions").set("revoked_at", to: SQLBind(now)).where("id", .equal, SQLBind(id))
            .where("revoked_at", .is, SQLLiteral.null)
        if let userID { query = query.where("user_id", .equal, SQLBind(userID)) }
        let ended = try await query.returning("id").all(decodingColumn: "id", as: UUID.self)
        try await revocations.revoked(ended, db)
        return !ended.isEmpty
    }

    /// Ends every live session of a user except `keeping`; returns how many were ended.
    func revokeAll(userID: UUID, keeping: UUID? = nil, at now: Date, _ db: any SQLDatabase) async throws -> Int {
        var query = db.update("sessions").set("revoked_at", to: SQLBind(now)).where("user_id", .equal, SQLBind(userID))
            .where("revoked_at", .is, SQLLiteral.null).where("expires_at", .greaterThan, SQLBind(now))
        if let keeping { query = query.where("id", .notEqual, SQLBind(keeping)) }
        let ended = try await query.returning("id").all(decodingColumn: "id", as: UUID.self)
        try await revocations.revoked(ended, db)
        return ended.count
    }

    /// Deletes sessions that ended before `cutoff`: expired, or revoked so long ago that every
    /// access token issued for them has expired too (the caller picks the cutoff accordingly;
    /// a revoked row must outlive its tokens, or a restart would forget the revocation).
    func prune(endedBefore cutoff: Date, _ db: any SQLDatabase) async throws -> Int {
        try await db.delete(from: "sessions")
            .where { $0.where("revoked_at", .lessThan, SQLBind(cutoff)).orWhere("expires_at", .lessThan, SQLBind(cutoff)) }
            .returning("id").all().count
    }
}
