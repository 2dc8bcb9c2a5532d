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
    let gate: SignInGate
    let phoneSignIn: PhoneSignIn
    let audit: AuditLog
    let settings: AccountSettings
    let clock: WallClock
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
        let firstName = AccountFields.name("first_name", request.first_name, &errors)
        let lastName = AccountFields.name("last_name", request.last_name, &errors)
        let middleName = AccountFields.name("middle_name", request.middle_name, &errors)
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
        if let code = request.code {
            guard let phone = request.name else { throw APIError.validation(["phone": ["This field is required."]]) }
            return try await phoneSignIn.signIn(phone: phone, code: code, client: client)
        }
        guard let name = request.name else { throw APIError.validation(["login": ["This field is required."]]) }
        guard let password = request.password else { throw APIError.validation(["password": ["This field is required."]]) }
        let login = try LoginName.checked(name, field: "login", region: settings.defaultPhoneRegion)
        try await limiter.hit("token:ip:\(client.ipAddress)", settings.tokenRateLimit)
        try await limiter.hit("token:login:\(login.key)", settings.tokenLoginRateLimit)
        let user = try await database.read { db in try await self.users.find(login, db) }
        let lockKey = user.map { LoginLockout.key(for: $0.id) } ?? "login:\(login.key)"
        do {
            try await lockout.check(lockKey)
        } catch {
            try await gate.failed(user, reason: "locked", method: "password", client: client)
            throw error
        }
        // An account without a password (signed up by SMS code or socially) is checked against
        // the decoy, so it costs the same and matches nothing.
        let outcome =
            password.utf8.count > PasswordPolicy.maximumBytes
            ? .mismatch : try await hasher.verify(password, against: user?.storedPassword)
        guard case .match(let rehash) = outcome, let user else {
            try await lockout.recordFailure(lockKey)
            try await gate.failed(user, reason: user == nil ? "unknown_login" : "wrong_password", method: "password", client: client)
            throw APIError.invalidCredentials
        }
        let newHash = rehash && user.status == .active ? try await hasher.hash(password) : nil
        // The failure count is cleared only once the person is in: with two-factor on, a right
        // password must not wipe the wrong codes counted against the account.
        let grant = try await gate.admit(user, method: "password", client: client, newHash: newHash)
        try await lockout.recordSuccess(lockKey)
        return grant
    }

    func me(_ id: UUID) async throws -> UserResponse {
        guard let user = try await users.current(id, in: database) else { throw APIError.notFound }
        return user
    }

    /// Changes names and identifiers; a new e-mail or phone is unverified again. At least one
    /// identifier must remain. Changing an identifier is how a stolen access token would become a
    /// stolen account (the thief resets the password through the new address), so it needs the
    /// current password, and the old address hears of a new one.
    func update(_ identity: Identity, _ change: ProfileChange, client: ClientInfo) async throws -> UserResponse {
        let id = identity.userID
        guard let before = try await database.read({ db in try await self.users.find(id, db) }) else { throw APIError.notFound }
        let proposed = try applying(change, to: before)
        if proposed.identifiers != before.identifiers {
            if before.storedPassword == nil {
                try await requireRecentSignIn(identity)
            } else {
                try await confirmPassword(change.current_password, of: before, client: client)
            }
            if let email = proposed.email, proposed.email?.lowercased() != before.email?.lowercased() {
                try await recovery.limitMail(to: email, for: id)
            }
        }
        let now = clock.now()
        try await database.transaction { db in
            guard let current = try await self.users.find(id, db) else { throw APIError.notFound }
            let user = try self.applying(change, to: current)
            if let field = try await self.users.takenField(
                email: user.email?.lowercased() == current.email?.lowercased() ? nil : user.email,
                phone: user.phone == current.phone ? nil : user.phone,
                username: user.username?.lowercased() == current.username?.lowercased() ? nil : user.username, except: id, db)
            {
                throw APIError.alreadyExists(field)
            }
            try await self.users.saveProfile(user, db)
            guard user.email?.lowercased() != current.email?.lowercased() else { return }
            // Links mailed to the old address must not keep working for it.
            try await self.recovery.retireLinks(of: id, at: now, db)
            try await self.recovery.sendVerification(user, db)
            if let old = current.email { try await self.recovery.mail.emailChanged(current, from: old, to: user.email, db) }
            try await self.audit.record(AuditEvent("email.changed", user: id, actor: id, client: client), db)
        }
        return try await me(id)
    }

    /// `user` with a PATCH of `/me` applied and checked; a new e-mail or phone is unverified.
    private func applying(_ change: ProfileChange, to user: User) throws(APIError) -> User {
        var user = user
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
            case .set(let raw): AccountFields.name(field, raw, &errors)
            }
        }
        user.firstName = name("first_name", change.first_name, user.firstName)
        user.lastName = name("last_name", change.last_name, user.lastName)
        user.middleName = name("middle_name", change.middle_name, user.middleName)
        try errors.throwIfAny()
        if email?.lowercased() != user.email?.lowercased() { user.emailVerified = false }
        if phone != user.phone { user.phoneVerified = false }
        (user.email, user.phone, user.username) = (email, phone, username)
        return user
    }

    /// How long after signing in an account without a password may change its identifiers.
    static let recentSignIn: TimeInterval = 600

    /// An account without a password proves it is its owner by having signed in moments ago: the
    /// session's start, which a refresh does not move.
    private func requireRecentSignIn(_ identity: Identity) async throws {
        guard let signedIn = try await sessions.signedInAt(identity.sessionID), clock.now().timeIntervalSince(signedIn) <= Self.recentSignIn else {
            throw APIError(
                .forbidden, "permission_denied",
                "This account has no password: sign in again, then change its e-mail, phone or username within 10 minutes.")
        }
    }

    /// Checks a password a signed-in caller types again to prove it is them. Like a sign-in it is
    /// rate-limited and its failures count towards the account's lockout: a stolen access token
    /// must not become a way to guess the password.
    private func confirmPassword(_ password: String?, of user: User, field: String = "current_password", client: ClientInfo) async throws {
        guard let password, !password.isEmpty else { throw APIError.validation([field: ["This field is required."]]) }
        try await limiter.hit("password:user:\(user.id.uuidString.lowercased())", settings.tokenLoginRateLimit)
        try await lockout.check(LoginLockout.key(for: user.id))
        let outcome =
            password.utf8.count > PasswordPolicy.maximumBytes ? .mismatch : try await hasher.verify(password, against: user.storedPassword)
        guard case .match = outcome else {
            try await lockout.recordFailure(LoginLockout.key(for: user.id))
            try await audit.record(AuditEvent("password.confirm_failed", user: user.id, actor: user.id, client: client))
            throw APIError.validation([field: ["Your current password was entered incorrectly."]])
        }
        try await lockout.recordSuccess(LoginLockout.key(for: user.id))
    }

    /// Sets a new password and ends every other session of the user.
    func changePassword(_ identity: Identity, _ request: PasswordChange, client: ClientInfo) async throws {
        guard let user = try await database.read({ db in try await self.users.find(identity.userID, db) }) else { throw APIError.notFound }
        try await confirmPassword(request.current_password, of: user, client: client)
        var errors = FieldErrors()
        for problem in policy.problems(request.new_password, identifiers: [user.email, user.username, user.firstName, user.lastName]) {
            errors.add("new_password", problem)
        }
        try errors.throwIfAny()
        let hash = try await hasher.hash(request.new_password)
        let now = clock.now()
        try await database.transaction { db in
            try await self.users.setPasswordHash(hash, for: user.id, db)
            try await self.recovery.retireLinks(of: user.id, at: now, db)
            let ended = try await self.sessions.endAll(of: user.id, keeping: identity.sessionID, at: now, db)
            try await self.audit.record(
                AuditEvent("password.changed", user: user.id, actor: user.id, client: client, detail: ["sessions_ended": String(ended)]), db)
        }
    }
}
