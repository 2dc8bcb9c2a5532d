import Foundation
import Hummingbird
import Logging
import SQLKit

/// Registration, login and the caller's own account: the rules of SPEC §4 in one place.
public struct AccountService: Sendable {
    let database: any Database
    let users: UserStore
    let sessions: SessionService
    let hasher: PasswordHasher
    let policy: PasswordPolicy
    let recovery: Recovery
    let lockout: LoginLockout
    let limiter: RateLimiter
    let audit: AuditLog
    let settings: Settings
    let clock: Clock
    let logger: Logger

    var fields: AccountFields { AccountFields(region: settings.defaultPhoneRegion) }

    /// `{"user"}` for a pending sign-up, `{"user", "access", "refresh"}` for an open one.
    struct Registration: ResponseEncodable, Sendable {
        let user: UserResponse
        let access: String?
        let refresh: String?
    }

    func register(_ request: RegisterRequest, client: ClientInfo) async throws -> Registration {
        try await limiter.hit("register:ip:\(client.ipAddress)", settings.registerRateLimit)
        let user = try await newUser(request, status: settings.registration == .approval ? .pending : .active)
        let role = BuiltInRole(user.kind)
        let session = try await database.transaction { db in
            try await self.users.insert(user, role: role, db)
            try await self.recovery.sendVerification(user, db)
            try await self.audit.record(AuditEvent("user.registered", user: user.id, client: client, detail: ["status": user.status.rawValue]), db)
            return user.status == .active ? try await self.sessions.open(for: user, client: client, db) : nil
        }
        guard let session else {
            return Registration(user: UserResponse(user: user, roles: [role.rawValue]), access: nil, refresh: nil)
        }
        let grant = try await sessions.grant(user, roles: [role.rawValue], session: session)
        return Registration(user: grant.user, access: grant.access, refresh: grant.refresh)
    }

    /// `tessera create-user`: the same checks as registration, active at once, with extra roles.
    func createUser(_ request: RegisterRequest, roles: [String]) async throws -> UserResponse {
        let user = try await newUser(request, status: .active)
        let granted = try await database.transaction { db in
            try await self.users.insert(user, role: BuiltInRole(user.kind), db)
            let unknown = try await self.users.grant(roles, to: user.id, db)
            guard unknown.isEmpty else { throw APIError.validation(["roles": ["Unknown roles: \(unknown.joined(separator: ", "))."]]) }
            return try await self.users.roles(of: user.id, db)
        }
        return UserResponse(user: user, roles: granted)
    }

    /// Checks a sign-up, refuses taken identifiers, and hashes the password: a user ready to insert.
    private func newUser(_ request: RegisterRequest, status: AccountStatus) async throws -> User {
        var errors = FieldErrors()
        let email = request.email.flatMap { $0.isEmpty ? nil : fields.email($0, &errors) }
        let phone = request.phone.flatMap { $0.isEmpty ? nil : fields.phone($0, &errors) }
        let username = request.username.flatMap { $0.isEmpty ? nil : fields.username($0, &errors) }
        if request.email?.isEmpty ?? true, request.phone?.isEmpty ?? true, request.username?.isEmpty ?? true {
            errors.add("non_field_errors", "Provide an email, a phone or a username.")
        }
        let kind = AccountKind(rawValue: request.role ?? AccountKind.client.rawValue)
        if kind == nil { errors.add("role", "Must be \"client\" or \"specialist\".") }
        let firstName = fields.name("first_name", request.first_name, &errors)
        let lastName = fields.name("last_name", request.last_name, &errors)
        let middleName = fields.name("middle_name", request.middle_name, &errors)
        for problem in policy.problems(request.password, identifiers: [request.email, request.username, request.first_name, request.last_name]) {
            errors.add("password", problem)
        }
        if let password2 = request.password2, password2 != request.password {
            errors.add("password2", "The two password fields didn't match.")
        }
        try errors.throwIfAny()
        if let field = try await database.read({ db in try await self.users.takenField(email: email, phone: phone, username: username, db) }) {
            throw APIError.alreadyExists(field)
        }
        return User(
            email: email, phone: phone, username: username, passwordHash: try await hasher.hash(request.password), firstName: firstName,
            lastName: lastName, middleName: middleName, kind: kind ?? .client, status: status, dateJoined: clock.now())
    }

    /// Unknown logins and wrong passwords fail alike and cost one hash each; a right password on an
    /// account that may not sign in is told why, and only then. Rate limits count per address and
    /// per login; the lockout counts failures per account, so guessing from many addresses locks too.
    func login(_ request: LoginRequest, client: ClientInfo) async throws -> SessionService.Grant {
        guard let name = request.name else { throw APIError.validation(["login": ["This field is required."]]) }
        let login = LoginName(name, region: settings.defaultPhoneRegion)
        try await limiter.hit("token:ip:\(client.ipAddress)", settings.tokenRateLimit)
        try await limiter.hit("token:login:\(login.key)", settings.tokenLoginRateLimit)
        let user = try await database.read { db in try await self.users.find(login, db) }
        let lockKey = user.map { "user:\($0.id.uuidString.lowercased())" } ?? "login:\(login.key)"
        do {
            try await lockout.check(lockKey)
        } catch {
            try await failed(user, reason: "locked", client: client)
            throw error
        }
        let outcome =
            request.password.utf8.count > PasswordPolicy.maximumBytes
            ? .mismatch : try await hasher.verify(request.password, against: user?.passwordHash)
        guard case .match(let rehash) = outcome, let user else {
            try await lockout.recordFailure(lockKey)
            try await failed(user, reason: user == nil ? "unknown_login" : "wrong_password", client: client)
            throw APIError.invalidCredentials
        }
        try await lockout.recordSuccess(lockKey)
        switch user.status {
        case .active: break
        case .pending:
            try await failed(user, reason: "pending", client: client)
            throw APIError.accountPending
        case .disabled, .rejected:
            try await failed(user, reason: user.status.rawValue, client: client)
            throw APIError.accountDisabled
        }
        let newHash = rehash ? try await hasher.hash(request.password) : nil
        let now = clock.now()
        let (session, signedIn) = try await database.transaction { db in
            // The UPDATE takes the user's row lock (SQLite: the writer) before the status is read
            // again: an account disabled while the hash ran is refused, and a disable that comes
            // after waits for this sign-in and then ends its session with the others.
            try await self.users.recordLogin(user.id, at: now, db)
            guard let current = try await self.users.withRoles(user.id, db), current.user.status == .active else { throw APIError.accountDisabled }
            if let newHash { try await self.users.setPasswordHash(newHash, for: user.id, db) }
            try await self.audit.record(AuditEvent("login.succeeded", user: user.id, client: client, detail: newHash == nil ? [:] : ["rehashed": "true"]), db)
            return (try await self.sessions.open(for: user, client: client, db), current)
        }
        Metrics.loginsSucceeded.increment()
        return try await sessions.grant(signedIn.user, roles: signedIn.roles, session: session)
    }

    private func failed(_ user: User?, reason: String, client: ClientInfo) async throws {
        Metrics.loginsFailed.increment()
        try await audit.record(AuditEvent("login.failed", user: user?.id, client: client, detail: ["reason": reason]))
    }

    func me(_ id: UUID) async throws -> UserResponse {
        guard let user = try await users.current(id, in: database) else { throw APIError.notFound }
        return user
    }

    /// Changes names and identifiers; a new e-mail or phone is unverified again. At least one
    /// identifier must remain.
    func update(_ id: UUID, _ change: ProfileChange) async throws -> UserResponse {
        let fields = self.fields
        let users = self.users
        try await database.transaction { db in
            guard var user = try await users.find(id, db) else { throw APIError.notFound }
            var errors = FieldErrors()
            func identifier(_ change: Change<String>, _ current: String?, _ check: (String, inout FieldErrors) -> String?) -> String? {
                switch change {
                case .unchanged: current
                case .cleared: nil
                case .set(let raw): raw.isEmpty ? nil : check(raw, &errors) ?? current
                }
            }
            let email = identifier(change.email, user.email, fields.email)
            let phone = identifier(change.phone, user.phone, fields.phone)
            let username = identifier(change.username, user.username, fields.username)
            if email == nil && phone == nil && username == nil {
                errors.add("non_field_errors", "An account needs an email, a phone or a username.")
            }
            func name(_ field: String, _ change: Change<String>, _ current: String) -> String {
                switch change {
                case .unchanged: current
                case .cleared: ""
                case .set(let raw): fields.name(field, raw, &errors)
                }
            }
            user.firstName = name("first_name", change.first_name, user.firstName)
            user.lastName = name("last_name", change.last_name, user.lastName)
            user.middleName = name("middle_name", change.middle_name, user.middleName)
            try errors.throwIfAny()
            if let field = try await users.takenField(
                email: email?.lowercased() == user.email?.lowercased() ? nil : email,
                phone: phone == user.phone ? nil : phone,
                username: username?.lowercased() == user.username?.lowercased() ? nil : username, except: id, db)
            {
                throw APIError.alreadyExists(field)
            }
            let newEmail = email?.lowercased() != user.email?.lowercased()
            if newEmail { user.emailVerified = false }
            if phone != user.phone { user.phoneVerified = false }
            (user.email, user.phone, user.username) = (email, phone, username)
            try await users.saveProfile(user, db)
            if newEmail { try await self.recovery.sendVerification(user, db) }
        }
        return try await me(id)
    }

    /// Sets a new password and ends every other session of the user.
    func changePassword(_ identity: Identity, _ request: PasswordChange, client: ClientInfo) async throws {
        guard let user = try await database.read({ db in try await self.users.find(identity.userID, db) }) else { throw APIError.notFound }
        guard case .match = try await hasher.verify(request.current_password, against: user.passwordHash) else {
            throw APIError.validation(["current_password": ["Your current password was entered incorrectly."]])
        }
        var errors = FieldErrors()
        for problem in policy.problems(request.new_password, identifiers: [user.email, user.username, user.firstName, user.lastName]) {
            errors.add("new_password", problem)
        }
        try errors.throwIfAny()
        let hash = try await hasher.hash(request.new_password)
        let now = clock.now()
        try await database.transaction { db in
            try await self.users.setPasswordHash(hash, for: user.id, db)
            let ended = try await self.sessions.store.revokeAll(userID: user.id, keeping: identity.sessionID, at: now, db)
            try await self.audit.record(AuditEvent("password.changed", user: user.id, actor: user.id, client: client, detail: ["sessions_ended": String(ended)]), db)
        }
    }
}
