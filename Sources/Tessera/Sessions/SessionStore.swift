import Foundation
import SQLKit

/// SQL for sessions. Every query names the session by primary key or the user by an index.
struct SessionStore: Sendable {
    let dialect: SQLDialect
    let revocations: Revocations

    func insert(_ session: SessionRecord, _ db: any SQLDatabase) async throws {
        try await db.insert(into: "sessions")
            .columns(SessionRecord.columns)
            .values(
                SQLBind(session.id), SQLBind(session.userID), SQLBind(session.createdAt), SQLBind(session.lastUsedAt),
                SQLBind(session.expiresAt), SQLBind(session.revokedAt), SQLBind(session.ipAddress), SQLBind(session.userAgent),
                SQLBind(session.refreshJTI), SQLBind(session.previousRefreshJTI), SQLBind(session.rotatedAt)
            )
            .run()
    }

    /// The session, locked against concurrent rotation when `forUpdate` (inside a transaction).
    func find(_ id: UUID, _ db: any SQLDatabase, forUpdate: Bool = false) async throws -> SessionRecord? {
        var query = db.select().columns(SessionRecord.columns.map { SQLColumn($0) }).from("sessions").where("id", .equal, SQLBind(id))
        if forUpdate { query = dialect.lockForUpdate(query) }
        return try await query.first().map(SessionRecord.init(row:))
    }

    /// Rotates a live session's refresh token in one statement, if `jti` is its live one: the row
    /// lock (or the SQLite writer) makes concurrent rotations of one token line up, and only the
    /// first matches. `nil` when it did not rotate.
    func rotate(_ id: UUID, of userID: UUID, from jti: String, at now: Date, _ db: any SQLDatabase) async throws -> SessionRecord? {
        try await db.update("sessions")
            .set("previous_refresh_jti", to: SQLColumn("refresh_jti"))
            .set("refresh_jti", to: SQLBind(UUID().uuidString.lowercased()))
            .set("rotated_at", to: SQLBind(now))
            .set("last_used_at", to: SQLBind(now))
            .where("id", .equal, SQLBind(id)).where("user_id", .equal, SQLBind(userID)).where("refresh_jti", .equal, SQLBind(jti))
            .where("revoked_at", .is, SQLLiteral.null).where("expires_at", .greaterThan, SQLBind(now))
            .returning(SessionRecord.columns.map { SQLColumn($0) })
            .first().map(SessionRecord.init(row:))
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
