import Foundation
import SQLKit

/// Phone verification and passwordless sign-in by a code sent by SMS (SPEC §5b). Requests for
/// codes are limited per phone and per client address, and answer alike whether or not the
/// phone has an account.
struct PhoneSignIn: Sendable {
    let database: any Database
    let users: UserStore
    let codes: PhoneCodes
    let outbox: Outbox
    let limiter: RateLimiter
    let gate: SignInGate
    let audit: AuditLog
    let accounts: AccountSettings
    let smsRateLimit: RateLimit?
    let clock: WallClock

    static func text(_ code: String) -> String {
        "\(code) is your code. It expires in 5 minutes. Do not tell it to anyone."
    }

    /// Sends a code to the caller's own phone.
    func requestVerification(_ identity: Identity, client: ClientInfo) async throws {
        guard let user = try await database.read({ db in try await self.users.find(identity.userID, db) }) else { throw APIError.notFound }
        guard let phone = user.phone else { throw APIError.validation(["phone": ["The account has no phone number."]]) }
        try await limit(phone, client: client)
        let now = clock.now()
        try await database.transaction { db in
            let code = try await self.codes.issue(.verifyPhone, to: phone, for: user.id, at: now, db)
            try await self.outbox.enqueue(to: phone, subject: "", text: Self.text(code), channel: .sms, db)
        }
    }

    /// Marks the caller's phone verified with the code sent to it.
    func verify(_ identity: Identity, code: String, client: ClientInfo) async throws -> UserResponse {
        let now = clock.now()
        let verified = try await database.transaction { db -> Bool in
            guard let user = try await self.users.find(identity.userID, db), let phone = user.phone else { return false }
            // A code sent before the phone changed was for the old number, and finds no row here.
            guard case .accepted(let holder) = try await self.codes.check(code, .verifyPhone, phone: phone, at: now, db), holder == user.id else {
                return false
            }
            try await self.users.setPhoneVerified(user.id, db)
            try await self.audit.record(AuditEvent("phone.verified", user: user.id, actor: user.id, client: client), db)
            return true
        }
        guard verified else { throw APIError.codeInvalid }
        guard let user = try await users.current(identity.userID, in: database) else { throw APIError.notFound }
        return user
    }

    /// Sends a sign-in code when the phone can sign in (an account holds it, verified) or could get
    /// an account (open registration and no account holds it); the answer is the same either way.
    func requestSignInCode(phone raw: String, client: ClientInfo) async throws {
        guard let phone = e164(raw) else { throw APIError.validation(["phone": ["Enter a valid phone number."]]) }
        try await limit(phone, client: client)
        let now = clock.now()
        let open = accounts.registration == .open
        try await database.transaction { db in
            let user = try await self.users.find(phone: phone, db)
            guard user.map(\.phoneVerified) ?? open else { return }
            let code = try await self.codes.issue(.signIn, to: phone, for: user?.id, at: now, db)
            try await self.outbox.enqueue(to: phone, subject: "", text: Self.text(code), channel: .sms, db)
        }
    }

    /// Signs in with a code sent to the phone; with open registration a phone without an account
    /// gets a new client account, its phone verified. An account whose phone nobody has proved
    /// is not entered this way: whoever typed that number into it (with a password, or with a
    /// social account) would share the account with the phone's owner.
    func signIn(phone raw: String, code: String, client: ClientInfo) async throws -> SessionService.Grant {
        guard let phone = e164(raw) else { throw APIError.invalidCredentials }
        try await limiter.hit("token:ip:\(client.ipAddress)", accounts.tokenRateLimit)
        try await limiter.hit("token:login:phone:\(phone)", accounts.tokenLoginRateLimit)
        let now = clock.now()
        let open = accounts.registration == .open
        let outcome = try await database.transaction { db -> (User, created: Bool)? in
            guard case .accepted(let holder) = try await self.codes.check(code, .signIn, phone: phone, at: now, db) else { return nil }
            let holding = try await self.users.find(phone: phone, db)
            // A code reaches the account it was sent for: not one that took the number since.
            guard holder == holding?.id else { return nil }
            if let holding { return holding.phoneVerified ? (holding, false) : nil }
            guard open else { return nil }
            var user = User(email: nil, phone: phone, username: nil, passwordHash: "", kind: .client, status: .active, dateJoined: now)
            user.phoneVerified = true
            try await self.users.insert(user, role: .client, db)
            try await self.audit.record(AuditEvent("user.registered", user: user.id, client: client, detail: ["method": "sms"]), db)
            return (user, true)
        }
        guard let (user, created) = outcome else {
            try await gate.failed(nil, reason: "wrong_code", method: "sms", client: client)
            throw APIError.invalidCredentials
        }
        return try await gate.admit(user, method: "sms", client: client, created: created)
    }

    private func e164(_ raw: String) -> String? {
        raw.count <= LoginName.maximumLength ? PhoneNumber(raw, region: accounts.defaultPhoneRegion)?.e164 : nil
    }

    private func limit(_ phone: String, client: ClientInfo) async throws {
        try await limiter.hit("sms:ip:\(client.ipAddress)", smsRateLimit)
        try await limiter.hit("sms:phone:\(phone)", smsRateLimit)
    }
}
