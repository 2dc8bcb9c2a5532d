import Foundation
import SQLKit

/// Sign-in with an OpenID Connect provider's id_token or VK ID's code (SPEC §5b), and the
/// identities an account has linked. An identity (provider, subject) always reaches the same
/// account; a new one links to the account with its e-mail only when the provider vouches for
/// the address (`email_verified`), and otherwise makes a new account.
struct SocialSignIn: Sendable {
    let database: any Database
    let users: UserStore
    let identities: IdentityStore
    let providers: [String: OIDCProvider]
    let vk: VKID?
    let gate: SignInGate
    let limiter: RateLimiter
    let audit: AuditLog
    let accounts: AccountSettings
    let clock: WallClock

    func signIn(with provider: String, oidc body: OIDCSignInBody, client: ClientInfo) async throws -> SessionService.Grant {
        guard let oidc = providers[provider] else { throw APIError.notFound }
        try await limiter.hit("token:ip:\(client.ipAddress)", accounts.tokenRateLimit)
        let person: ProviderPerson
        do {
            person = try await oidc.verify(body.id_token, nonce: body.nonce, at: clock.now())
        } catch let error as APIError where error == .invalidCredentials {
            try await gate.failed(nil, reason: "bad_id_token", method: provider, client: client)
            throw error
        }
        return try await signIn(person, client: client)
    }

    func signIn(withVK body: VKSignInBody, client: ClientInfo) async throws -> SessionService.Grant {
        guard let vk else { throw APIError.notFound }
        try await limiter.hit("token:ip:\(client.ipAddress)", accounts.tokenRateLimit)
        let person: ProviderPerson
        do {
            person = try await vk.person(for: body)
        } catch let error as APIError where error == .invalidCredentials {
            try await gate.failed(nil, reason: "vk_refused", method: "vk", client: client)
            throw error
        }
        return try await signIn(person, client: client)
    }

    private func signIn(_ person: ProviderPerson, client: ClientInfo) async throws -> SessionService.Grant {
        let resolved: (User, created: Bool)
        do {
            resolved = try await resolve(person, client: client)
        } catch is UniqueViolation {
            // Two first sign-ins with one identity raced: the other linked it; this one follows.
            resolved = try await resolve(person, client: client)
        }
        return try await gate.admit(resolved.0, method: person.provider, client: client, created: resolved.created)
    }

    /// The account of `person`: the one the identity belongs to, the one with its verified
    /// e-mail (linked now), or a new one.
    private func resolve(_ person: ProviderPerson, client: ClientInfo) async throws -> (User, created: Bool) {
        let now = clock.now()
        let status: AccountStatus = accounts.registration == .approval ? .pending : .active
        return try await database.transaction { db in
            if let owner = try await self.identities.owner(provider: person.provider, subject: person.subject, at: now, db) {
                guard let user = try await self.users.find(owner, db) else { throw APIError.invalidCredentials }
                return (user, false)
            }
            // An address the provider does not vouch for is not kept: it would let whoever holds
            // that identity claim someone else's address (and later receive its links).
            let email = person.emailVerified ? person.email.flatMap { AccountFields(region: self.accounts.defaultPhoneRegion).validEmail($0) } : nil
            if let email, let user = try await self.users.find(.email(email.lowercased()), db) {
                try await self.link(person, to: user.id, at: now, client: client, db)
                return (user.emailVerified ? user : try await self.claim(user, at: now, client: client, db), false)
            }
            // An address another account holds stays with it; the new account starts without one.
            var free = email
            if let email, try await self.users.takenField(email: email, phone: nil, username: nil, db) != nil { free = nil }
            var user = User(
                email: free, phone: nil, username: nil, passwordHash: "", firstName: AccountFields.providerName(person.firstName),
                lastName: AccountFields.providerName(person.lastName), kind: .client, status: status, dateJoined: now)
            user.emailVerified = free != nil
            try await self.users.insert(user, role: .client, db)
            try await self.audit.record(
                AuditEvent("user.registered", user: user.id, client: client, detail: ["method": person.provider, "status": status.rawValue]), db)
            try await self.link(person, to: user.id, at: now, client: client, db)
            return (user, true)
        }
    }

    /// The owner of an address has just proved it, into an account whose address nobody had
    /// proved: whoever made that account may not be its owner (an account made in advance with
    /// someone else's address, waiting for them). What that maker could still use is cut: the
    /// password, the sessions, mailed links, and the phone's standing as a way in until it is
    /// proved again. The owner sets a password through a reset to the proved address.
    private func claim(_ user: User, at now: Date, client: ClientInfo, _ db: any SQLDatabase) async throws -> User {
        var claimed = user
        claimed.emailVerified = true
        claimed.phoneVerified = false
        claimed.passwordHash = ""
        try await users.saveProfile(claimed, db)
        try await users.setPasswordHash("", for: user.id, db)
        _ = try await gate.sessions.endAll(of: user.id, at: now, db)
        try await gate.oneTimeTokens.retireAll(for: user.id, at: now, db)
        try await audit.record(AuditEvent("email.claimed", user: user.id, client: client, detail: ["provider": "sign-in"]), db)
        return claimed
    }

    private func link(_ person: ProviderPerson, to userID: UUID, at now: Date, client: ClientInfo, _ db: any SQLDatabase) async throws {
        try await identities.insert(LinkedIdentity(userID: userID, provider: person.provider, createdAt: now), subject: person.subject, db)
        try await audit.record(AuditEvent("identity.linked", user: userID, client: client, detail: ["provider": person.provider]), db)
    }

    func list(of identity: Identity, page: PageRequest) async throws -> (Int, [LinkedIdentity]) {
        try await database.read { db in try await self.identities.list(of: identity.userID, page: page, db) }
    }

    /// Unlinks one identity, unless it is the account's last way in: no password, no other
    /// identity, no verified phone.
    func unlink(_ id: UUID, of identity: Identity, client: ClientInfo) async throws {
        let userID = identity.userID
        try await database.transaction { db in
            // The user's row first, so concurrent unlinks of one account line up.
            guard let user = try await self.users.lock(userID, db) else { throw APIError.notFound }
            let linked = try await self.identities.all(of: userID, dialect: self.users.dialect, db)
            guard let target = linked.first(where: { $0.id == id }) else { throw APIError.notFound }
            guard user.storedPassword != nil || linked.count > 1 || (user.phone != nil && user.phoneVerified) else {
                throw APIError.invalidState("This is the account's last way to sign in: set a password or verify a phone first.")
            }
            try await self.identities.delete(target.id, db)
            try await self.audit.record(
                AuditEvent("identity.unlinked", user: userID, actor: userID, client: client, detail: ["provider": target.provider]), db)
        }
    }
}
