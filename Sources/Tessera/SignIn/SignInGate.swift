import Foundation
import SQLKit

/// The last step of every way of signing in (password, SMS code, social, two-factor): the account
/// must be allowed in, a second factor asked for when the account has one, and then a session.
struct SignInGate: Sendable {
    let database: any Database
    let users: UserStore
    let sessions: SessionService
    let oneTimeTokens: OneTimeTokens
    let audit: AuditLog
    let clock: WallClock

    /// How long the second step of a sign-in may take.
    static let mfaTokenLifetime: TimeInterval = 300

    /// `user` has proved who they are by `method`. `created` says the sign-in made the account;
    /// `newHash` replaces a password hash in the same transaction; `secondFactor` says a
    /// two-factor code has already been checked; `spending` uses up what the proof was, in the
    /// transaction that opens the session (so it is spent exactly when a session exists).
    func admit(
        _ user: User, method: String, client: ClientInfo, created: Bool = false, newHash: String? = nil, secondFactor: Bool = false,
        spending: (@Sendable (any SQLDatabase) async throws -> Void)? = nil
    ) async throws -> SessionService.Grant {
        switch user.status {
        case .active: break
        case .pending:
            try await failed(user, reason: "pending", method: method, client: client)
            throw APIError.accountPending
        case .disabled, .rejected:
            try await failed(user, reason: user.status.rawValue, method: method, client: client)
            throw APIError.accountDisabled
        }
        let now = clock.now()
        let admission: Admission = try await database.transaction { db in
            // The UPDATE takes the user's row lock (SQLite: the writer) and answers with the row as
            // it is then: an account disabled while the hash ran is refused, and a disable that comes
            // after waits for this sign-in and then ends its session with the others.
            guard let (current, hasSecondFactor) = try await self.users.signIn(user.id, at: now, unlessSecondFactor: !secondFactor, db),
                current.user.status == .active
            else { throw APIError.accountDisabled }
            if let newHash { try await self.users.setPasswordHash(newHash, for: user.id, db) }
            if hasSecondFactor && !secondFactor {
                try await self.audit.record(AuditEvent("login.mfa_required", user: user.id, client: client, detail: ["method": method]), db)
                return .secondStep(try await self.oneTimeTokens.issue(.mfa, for: user.id, email: nil, ttl: Self.mfaTokenLifetime, at: now, db))
            }
            try await spending?(db)
            var detail = ["method": method]
            if newHash != nil { detail["rehashed"] = "true" }
            if created { detail["created"] = "true" }
            try await self.audit.record(AuditEvent("login.succeeded", user: user.id, client: client, detail: detail), db)
            return .signedIn(try await self.sessions.open(for: user, client: client, db), current)
        }
        switch admission {
        case .secondStep(let token):
            throw APIError.mfaRequired(token)
        case .signedIn(let session, let signedIn):
            TesseraMetrics.loginsSucceeded.increment()
            var grant = try await sessions.grant(signedIn.user, roles: signedIn.roles, session: session)
            grant.created = created ? true : nil
            return grant
        }
    }

    private enum Admission: Sendable {
        /// The account has a second factor: this token lets the second step finish the sign-in.
        case secondStep(String)
        case signedIn(SessionRecord, UserResponse)
    }

    func failed(_ user: User?, reason: String, method: String, client: ClientInfo) async throws {
        TesseraMetrics.loginsFailed.increment()
        try await audit.record(AuditEvent("login.failed", user: user?.id, client: client, detail: ["reason": reason, "method": method]))
    }
}
