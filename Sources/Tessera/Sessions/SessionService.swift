import Foundation
import Logging
import Hummingbird
import SQLKit

/// Sessions and the tokens that ride on them: opening one at login, checking an access token on
/// every request, rotating refresh tokens, and ending sessions.
public struct SessionService: Sendable {
    let database: any Database
    let store: SessionStore
    let users: UserStore
    let tokens: TokenService
    let audit: AuditLog
    let settings: TokenSettings
    let clock: WallClock
    let logger: Logger

    /// What a successful login or refresh returns (SPEC §4).
    struct Grant: Encodable, Sendable, ResponseGenerator {
        let access: String
        let refresh: String
        let token_type = "Bearer"
        let expires_in: Int
        let refresh_expires_in: Int
        let user: UserResponse
        /// True when this sign-in created the account (an SMS code or a social sign-in).
        var created: Bool?

        /// What `JSONCoding.encoder` would write (keys sorted), written directly: the answer to
        /// every sign-in and refresh.
        var json: JSONObjectWriter {
            var json = JSONObjectWriter()
            json.member("access", access)
            if let created { json.member("created", created) }
            json.member("expires_in", expires_in)
            json.member("refresh", refresh)
            json.member("refresh_expires_in", refresh_expires_in)
            json.member("token_type", token_type)
            json.member("user", object: user.write)
            return json
        }

        func response(from request: Request, context: some RequestContext) throws -> Response {
            json.response
        }
    }

    /// Opens a session for `user` inside the caller's transaction.
    func open(for user: User, client: ClientInfo, _ db: any SQLDatabase) async throws -> SessionRecord {
        let now = clock.now()
        let session = SessionRecord(
            id: UUID(), userID: user.id, createdAt: now, expiresAt: now.addingTimeInterval(settings.sessionTTL), client: client)
        try await store.insert(session, db)
        return session
    }

    func grant(_ user: User, roles: [String], session: SessionRecord) async throws -> Grant {
        try await grant(user, roles: roles, rotation: session.rotation)
    }

    private func grant(_ user: User, roles: [String], rotation: SessionRotation) async throws -> Grant {
        let pair = try await tokens.pair(userID: user.id, roles: roles, session: rotation)
        return Grant(
            access: pair.access, refresh: pair.refresh, expires_in: pair.accessExpiresIn, refresh_expires_in: pair.refreshExpiresIn,
            user: UserResponse(user: user, roles: roles))
    }

    /// The hot path: a signature check and a look in the in-memory revocation list; the session's
    /// row is read only while that list cannot answer. An access token never outlives its session,
    /// so a token that verifies names a session that has not expired.
    func authenticate(_ accessToken: String) async throws -> Identity {
        let claims = try await tokens.verify(accessToken, as: .access)
        guard let sessionID = claims.sessionID, let userID = claims.userID else { throw APIError.tokenNotValid() }
        let ended: Bool
        if let revoked = store.revocations.isRevoked(sessionID, tokenLifetime: Double(claims.exp) - Double(claims.iat)) {
            ended = revoked
        } else {
            let now = clock.now()
            let session = try await database.read { db in try await self.store.find(sessionID, db) }
            ended = !(session.map { $0.userID == userID && $0.isLive(at: now) } ?? false)
        }
        if ended { throw APIError.tokenNotValid("Session has ended.") }
        return Identity(userID: userID, sessionID: sessionID, roles: claims.roles ?? [])
    }

    private enum Rotation: Sendable {
        case replayed(SessionRecord)
        case ended
        case reused
    }

    /// Single-use refresh with a grace for clients that fired twice. The live token rotates in one
    /// statement; any other token is judged with the session row locked (or the SQLite writer
    /// held), so concurrent refreshes of one token line up: the first rotates and the rest, inside
    /// the grace, get that same new token — never a fork.
    func refresh(_ refreshToken: String, client: ClientInfo) async throws -> Grant {
        let claims = try await tokens.verify(refreshToken, as: .refresh)
        guard let sessionID = claims.sessionID, let userID = claims.userID else { throw APIError.tokenNotValid() }
        let clock = self.clock
        // The time is read once the writer (SQLite) is held, so a request that waited is judged when it runs.
        if let rotated = try await database.write({ db in try await self.store.rotate(sessionID, of: userID, from: claims.jti, at: clock.now(), db) })
        {
            return try await grant(rotated)
        }
        let grace = settings.refreshReuseGrace
        let outcome: Rotation = try await database.transaction { db in
            // Read the time under the lock, so a request that waited for it is judged when it runs.
            let now = clock.now()
            guard let session = try await self.store.find(sessionID, db, forUpdate: true), session.userID == userID,
                session.isLive(at: now)
            else { return .ended }
            // The parent of the live token, replayed soon after: the client lost our answer, so it
            // gets the live token again (GoTrue does the same) instead of losing the session.
            if claims.jti == session.previousRefreshJTI && now.timeIntervalSince(session.rotatedAt) < grace {
                return .replayed(session)
            }
            try await self.store.revoke(session.id, at: now, db)
            try await self.audit.record(
                AuditEvent("refresh.reused", user: userID, client: client, detail: ["session": sessionID.uuidString.lowercased()]), db)
            return .reused
        }
        switch outcome {
        case .ended:
            throw APIError.tokenNotValid("Session has ended.")
        case .reused:
            logger.warning("refresh token reuse; session ended", metadata: ["session": "\(sessionID)", "user": "\(userID)"])
            TesseraMetrics.reuseDetected.increment()
            throw APIError.tokenReused
        case .replayed(let session):
            return try await grant(session.rotation)
        }
    }

    /// The pair of a session's live refresh token, for its user as they are now.
    private func grant(_ session: SessionRotation) async throws -> Grant {
        guard let user = try await users.current(session.userID, in: database), user.user.status == .active else {
            throw APIError.tokenNotValid("Session has ended.")
        }
        TesseraMetrics.refreshes.increment()
        return try await grant(user.user, roles: user.roles, rotation: session)
    }

    /// Ends the session a refresh token belongs to; unknown or already ended sessions are fine.
    func revoke(refreshToken: String, client: ClientInfo) async throws {
        let claims = try await tokens.verify(refreshToken, as: .refresh, allowExpired: true)
        guard let sessionID = claims.sessionID, let userID = claims.userID else { throw APIError.tokenNotValid() }
        _ = try await revoke(sessionID, of: userID, client: client)
    }

    /// Ends one live session of `userID`; false when there was none to end.
    func revoke(_ sessionID: UUID, of userID: UUID, client: ClientInfo) async throws -> Bool {
        let now = clock.now()
        return try await database.transaction { db in
            guard try await self.store.revoke(sessionID, userID: userID, at: now, db) else { return false }
            try await self.audit.record(
                AuditEvent("session.revoked", user: userID, actor: userID, client: client, detail: ["session": sessionID.uuidString.lowercased()]), db
            )
            return true
        }
    }

    /// Ends every live session of a user but `keeping`, inside the caller's transaction (a password
    /// change, a reset, a disabled account); returns how many ended.
    /// SimpleJWT tokens from before the move end with them: they are sessions too.
    func endAll(of userID: UUID, keeping: UUID? = nil, at now: Date, _ db: any SQLDatabase) async throws -> Int {
        try await users.voidLegacyTokens(of: userID, at: now, db)
        return try await store.revokeAll(userID: userID, keeping: keeping, at: now, db)
    }

    func revokeAll(of userID: UUID, keeping: UUID?, client: ClientInfo) async throws -> Int {
        let now = clock.now()
        return try await database.transaction { db in
            let count = try await self.endAll(of: userID, keeping: keeping, at: now, db)
            try await self.audit.record(
                AuditEvent("sessions.revoked_all", user: userID, actor: userID, client: client, detail: ["count": String(count)]), db)
            return count
        }
    }

    /// When the session was opened by signing in; a refresh does not move it.
    func signedInAt(_ sessionID: UUID) async throws -> Date? {
        try await database.read { db in try await self.store.find(sessionID, db) }?.createdAt
    }

    func live(of userID: UUID, page: PageRequest) async throws -> (total: Int, sessions: [SessionRecord]) {
        let now = clock.now()
        return try await database.read { db in try await self.store.live(userID: userID, at: now, page: page, db) }
    }
}
