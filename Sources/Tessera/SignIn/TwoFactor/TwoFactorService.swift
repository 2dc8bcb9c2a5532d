import Foundation
import Hummingbird
import SQLKit

/// Two-factor sign-in with TOTP (SPEC §5b): enrol, confirm (with ten recovery codes), turn off, and
/// the second step of a sign-in. A code is accepted once; wrong codes count towards the
/// account's lockout, like wrong passwords.
struct TwoFactorService: Sendable {
    let database: any Database
    let store: TwoFactorStore
    let box: SecretBox
    let users: UserStore
    let gate: SignInGate
    let lockout: LoginLockout
    let limiter: RateLimiter
    let accounts: AccountSettings
    let audit: AuditLog
    let issuer: String
    let clock: WallClock

    struct Enrolment: ResponseEncodable {
        let secret: String
        let uri: String
    }

    struct RecoveryCodes: ResponseEncodable {
        let recovery_codes: [String]
    }

    /// A new secret waiting for its first code; a factor already on must be turned off first.
    func enrol(_ identity: Identity) async throws -> Enrolment {
        let userID = identity.userID
        let secret = TOTPCodes.newSecret()
        let sealed = try box.seal(secret)
        let now = clock.now()
        let user = try await database.transaction { db in
            guard let user = try await self.users.find(userID, db) else { throw APIError.notFound }
            if try await self.store.factor(of: userID, db)?.confirmed == true {
                throw APIError.invalidState("Two-factor sign-in is already on; turn it off first.")
            }
            try await self.store.enrol(userID, sealedSecret: sealed, at: now, db)
            return user
        }
        let account = user.email ?? user.phone ?? user.username ?? user.id.uuidString.lowercased()
        let enrolment = TOTPCodes.enrolment(secret: secret, account: account, issuer: issuer)
        return Enrolment(secret: enrolment.secret, uri: enrolment.uri)
    }

    /// The first code from the app turns the factor on and hands out the recovery codes.
    func confirm(_ identity: Identity, code: String, client: ClientInfo) async throws -> RecoveryCodes {
        let userID = identity.userID
        let codes = TOTPCodes.newRecoveryCodes()
        let hashes = codes.compactMap(TOTPCodes.recoveryHash)
        let now = clock.now()
        try await lockout.check(LoginLockout.key(for: userID))
        let accepted = try await database.transaction { db -> Bool in
            guard let factor = try await self.store.factor(of: userID, db), !factor.confirmed else {
                throw APIError.invalidState("There is no enrolment to confirm: start one with POST /api/v1/me/mfa/totp.")
            }
            guard let step = TOTPCodes.matchingStep(code, secret: try self.box.open(factor.sealedSecret), at: now, after: factor.lastStep),
                try await self.store.use(step: step, of: userID, confirmingAt: now, db)
            else { return false }
            try await self.store.replaceRecoveryCodes(of: userID, with: hashes, db)
            try await self.audit.record(AuditEvent("mfa.enabled", user: userID, actor: userID, client: client), db)
            return true
        }
        guard accepted else { throw try await wrongCode(userID, client: client) }
        try await lockout.recordSuccess(LoginLockout.key(for: userID))
        return RecoveryCodes(recovery_codes: codes)
    }

    /// Turns two-factor off with a current code or a recovery code.
    func disable(_ identity: Identity, code: String, client: ClientInfo) async throws {
        let userID = identity.userID
        try await lockout.check(LoginLockout.key(for: userID))
        let accepted = try await database.transaction { db -> Bool in
            guard try await self.store.isOn(userID, db) else { throw APIError.invalidState("Two-factor sign-in is not on.") }
            guard try await self.accept(code, of: userID, db) else { return false }
            try await self.store.remove(of: userID, db)
            try await self.audit.record(AuditEvent("mfa.disabled", user: userID, actor: userID, client: client), db)
            return true
        }
        guard accepted else { throw try await wrongCode(userID, client: client) }
        try await lockout.recordSuccess(LoginLockout.key(for: userID))
    }

    /// The second step of a sign-in: the `mfa_token` of the first and a code. A wrong code leaves
    /// the token usable until it expires, and counts towards the lockout.
    func complete(mfaToken: String, code: String, client: ClientInfo) async throws -> SessionService.Grant {
        let now = clock.now()
        let expired = APIError.tokenNotValid("This sign-in step is invalid or has expired; sign in again.")
        try await limiter.hit("token:ip:\(client.ipAddress)", accounts.tokenRateLimit)
        guard let userID = try await database.read({ db in try await self.gate.oneTimeTokens.holder(of: mfaToken, .mfa, at: now, db) }) else {
            throw expired
        }
        // Counted before the code is looked at, so a burst of guesses sent at once is bounded
        // too, not only the ones the lockout has seen fail.
        try await limiter.hit("mfa:user:\(userID.uuidString.lowercased())", accounts.tokenLoginRateLimit)
        try await lockout.check(LoginLockout.key(for: userID))
        let user = try await database.transaction { db -> User? in
            guard try await self.accept(code, of: userID, db) else { return nil }
            // Used up with the code in one transaction: of two completions, one gets the session.
            do {
                _ = try await self.gate.oneTimeTokens.consume(mfaToken, .mfa, at: now, db)
            } catch is APIError {
                throw expired
            }
            return try await self.users.find(userID, db)
        }
        guard let user else {
            TesseraMetrics.loginsFailed.increment()
            throw try await wrongCode(userID, client: client, status: APIError.invalidCredentials)
        }
        try await lockout.recordSuccess(LoginLockout.key(for: userID))
        return try await gate.admit(user, method: "mfa", client: client, secondFactor: true)
    }

    /// Accepts a current TOTP code (once) or an unused recovery code (used up).
    private func accept(_ code: String, of userID: UUID, _ db: any SQLDatabase) async throws -> Bool {
        guard let factor = try await store.factor(of: userID, db), factor.confirmed else { return false }
        if let step = TOTPCodes.matchingStep(code, secret: try box.open(factor.sealedSecret), at: clock.now(), after: factor.lastStep) {
            return try await store.use(step: step, of: userID, db)
        }
        guard let hash = TOTPCodes.recoveryHash(code) else { return false }
        return try await store.useRecoveryCode(hash, of: userID, at: clock.now(), db)
    }

    /// Counts a wrong code towards the lockout and gives the error to answer.
    private func wrongCode(_ userID: UUID, client: ClientInfo, status: APIError = .codeInvalid) async throws -> APIError {
        try await lockout.recordFailure(LoginLockout.key(for: userID))
        try await audit.record(AuditEvent("mfa.code_failed", user: userID, client: client))
        return status
    }
}
