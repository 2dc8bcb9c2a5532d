import Foundation
import Hummingbird
import SQLKit

/// E-mail verification and password reset by single-use, expiring links (SPEC §5).
struct Recovery: Sendable {
    let database: any Database
    let users: UserStore
    let sessions: SessionService
    let tokens: OneTimeTokens
    let mail: AccountMail
    let hasher: PasswordHasher
    let policy: PasswordPolicy
    let limiter: RateLimiter
    let audit: AuditLog
    let settings: AccountSettings
    let clock: WallClock

    /// Queues a verification mail for the user's current e-mail, inside the caller's transaction.
    func sendVerification(_ user: User, _ db: any SQLDatabase) async throws {
        guard let email = user.email else { return }
        let token = try await tokens.issue(.verifyEmail, for: user.id, email: email, ttl: settings.verifyTTL, at: clock.now(), db)
        try await mail.verifyEmail(user, email: email, token: token, db)
    }

    func requestVerification(_ identity: Identity) async throws {
        guard let user = try await database.read({ db in try await self.users.find(identity.userID, db) }) else { throw APIError.notFound }
        guard let email = user.email else { throw APIError.validation(["email": ["The account has no e-mail address."]]) }
        try await limitMail(to: email, for: user.id)
        try await database.transaction { db in
            guard let user = try await self.users.find(identity.userID, db) else { throw APIError.notFound }
            try await self.sendVerification(user, db)
        }
    }

    /// Mail a signed-in caller can make Tessera send is counted per account and per recipient, so
    /// nobody can use it to flood an address.
    func limitMail(to email: String, for userID: UUID) async throws {
        try await limiter.hit("mail:user:\(userID.uuidString.lowercased())", settings.mailRateLimit)
        try await limiter.hit("mail:to:\(email.lowercased())", settings.mailRateLimit)
    }

    /// Retires every verification and reset link of the account still outstanding: after a new
    /// password or a new address, a link mailed before must not work.
    func retireLinks(of userID: UUID, at now: Date, _ db: any SQLDatabase) async throws {
        try await tokens.retireAll(for: userID, at: now, db)
    }

    /// Confirms the address the token was issued for, if it is still the user's address.
    func verify(token: String, client: ClientInfo) async throws {
        let now = clock.now()
        try await database.transaction { db in
            let (userID, email) = try await self.tokens.consume(token, .verifyEmail, at: now, db)
            guard var user = try await self.users.find(userID, db), let email, user.email?.lowercased() == email.lowercased() else {
                throw APIError.validation(["token": ["This link is for an address the account no longer has."]])
            }
            user.emailVerified = true
            try await self.users.saveProfile(user, db)
            try await self.audit.record(AuditEvent("email.verified", user: userID, client: client), db)
        }
    }

    /// Always the same answer: whether the account exists is not for the caller to learn.
    func requestReset(login: String, client: ClientInfo) async throws {
        let name = try LoginName.checked(login, field: "login", region: settings.defaultPhoneRegion)
        try await limiter.hit("reset:ip:\(client.ipAddress)", settings.resetRateLimit)
        try await limiter.hit("reset:login:\(name.key)", settings.resetRateLimit)
        let now = clock.now()
        try await database.transaction { db in
            guard let user = try await self.users.find(name, db), let email = user.email, user.status == .active else { return }
            let token = try await self.tokens.issue(.resetPassword, for: user.id, email: email, ttl: self.settings.resetTTL, at: now, db)
            try await self.mail.passwordReset(user, email: email, token: token, db)
            try await self.audit.record(AuditEvent("password.reset_requested", user: user.id, client: client), db)
        }
    }

    /// Sets the new password and ends every session of the user.
    func confirmReset(token: String, newPassword: String, client: ClientInfo) async throws {
        let now = clock.now()
        // Checked before hashing so a bad link costs no hash; consumed below in the same transaction as the change.
        let userID = try await database.read { db in try await self.tokens.holder(of: token, .resetPassword, at: now, db) }
        guard let userID, let user = try await database.read({ db in try await self.users.find(userID, db) }) else {
            throw APIError.validation(["token": ["This link is invalid or has expired."]])
        }
        var errors = FieldErrors()
        for problem in policy.problems(newPassword, identifiers: [user.email, user.username, user.firstName, user.lastName]) {
            errors.add("new_password", problem)
        }
        try errors.throwIfAny()
        let hash = try await hasher.hash(newPassword)
        try await database.transaction { db in
            _ = try await self.tokens.consume(token, .resetPassword, at: now, db)
            try await self.users.setPasswordHash(hash, for: userID, db)
            try await self.retireLinks(of: userID, at: now, db)
            let ended = try await self.sessions.endAll(of: userID, at: now, db)
            try await self.audit.record(AuditEvent("password.reset", user: userID, client: client, detail: ["sessions_ended": String(ended)]), db)
        }
    }
}

private struct TokenBody: Decodable {
    var token: String
}

private struct ResetRequest: Decodable {
    var login: String?
    var email: String?
}

private struct ResetConfirmation: Decodable {
    var token: String
    var new_password: String
}

extension Recovery {
    func addRoutes(to routes: RouteTable) {
        routes.signedIn(
            APIOperation(
                .post, "/api/v1/auth/email/verify/request", "Send a verification mail", tag: "Accounts",
                responses: [(202, "Empty"), (400, "Error"), (401, "Error")]),
            use: sendVerificationMail)
        routes.open(
            APIOperation(
                .post, "/api/v1/auth/email/verify", "Confirm an e-mail address", tag: "Accounts",
                description: "The token comes from the link in the verification mail; it works once.", request: "TokenRequest",
                responses: [(200, "Empty"), (400, "Error")]),
            use: confirmEmail)
        routes.open(
            APIOperation(
                .post, "/api/v1/auth/password/reset", "Ask for a password-reset mail", tag: "Accounts",
                description: "Answers 202 whether or not the account exists.", request: "ResetRequest",
                responses: [(202, "Empty"), (400, "Error"), (429, "Error")]),
            use: requestPasswordReset)
        routes.open(
            APIOperation(
                .post, "/api/v1/auth/password/reset/confirm", "Set a new password with a reset token", tag: "Accounts",
                description: "Ends every session of the account.", request: "ResetConfirmation",
                responses: [(204, nil), (400, "Error")]),
            use: confirmPasswordReset)
    }

    private func sendVerificationMail(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        try await requestVerification(context.identity)
        return EditedResponse(status: .accepted, response: JSON.object([]))
    }

    private func confirmEmail(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        var request = request
        try await verify(token: try await request.decodeJSON(as: TokenBody.self, context: context).token, client: context.client(request))
        return JSON.object([])
    }

    private func requestPasswordReset(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        var request = request
        let body = try await request.decodeJSON(as: ResetRequest.self, context: context)
        guard let login = (body.login ?? body.email)?.trimmingCharacters(in: .whitespaces), !login.isEmpty else {
            throw APIError.validation(["login": ["This field is required."]])
        }
        try await requestReset(login: login, client: context.client(request))
        return EditedResponse(status: .accepted, response: JSON.object([]))
    }

    private func confirmPasswordReset(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        var request = request
        let body = try await request.decodeJSON(as: ResetConfirmation.self, context: context)
        try await confirmReset(token: body.token, newPassword: body.new_password, client: context.client(request))
        return HTTPResponse.Status.noContent
    }
}
