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
        let user = try await newUser(request, status: settings.registration == .approval ? .pending : .active)
        let role = BuiltInRole(user.kind)
        let session = try await database.transaction { db in
            try await self.users.insert(user, role: role, db)
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
    /// account that may not sign in is told why, and only then.
    func login(_ request: LoginRequest, client: ClientInfo) async throws -> SessionService.Grant {
        guard let name = request.name else { throw APIError.validation(["login": ["This field is required."]]) }
        guard request.password.utf8.count <= PasswordPolicy.maximumBytes else { throw APIError.invalidCredentials }
        let login = LoginName(name, region: settings.defaultPhoneRegion)
        let user = try await database.read { db in try await self.users.find(login, db) }
        guard case .match(let rehash) = try await hasher.verify(request.password, against: user?.passwordHash), let user else {
            throw APIError.invalidCredentials
        }
        switch user.status {
        case .active: break
        case .pending: throw APIError.accountPending
        case .disabled, .rejected: throw APIError.accountDisabled
        }
        let newHash = rehash ? try await hasher.hash(request.password) : nil
        let now = clock.now()
        let session = try await database.transaction { db in
            if let newHash { try await self.users.setPasswordHash(newHash, for: user.id, db) }
            try await self.users.recordLogin(user.id, at: now, db)
            return try await self.sessions.open(for: user, client: client, db)
        }
        var signedIn = user
        signedIn.lastLogin = now
        let roles = try await database.read { db in try await self.users.roles(of: user.id, db) }
        return try await sessions.grant(signedIn, roles: roles, session: session)
    }

    func me(_ id: UUID) async throws -> UserResponse {
        let (user, roles) = try await database.read { db in (try await self.users.find(id, db), try await self.users.roles(of: id, db)) }
        guard let user else { throw APIError.notFound }
        return UserResponse(user: user, roles: roles)
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
            if email?.lowercased() != user.email?.lowercased() { user.emailVerified = false }
            if phone != user.phone { user.phoneVerified = false }
            (user.email, user.phone, user.username) = (email, phone, username)
            try await users.saveProfile(user, db)
        }
        return try await me(id)
    }

    /// Sets a new password and ends every other session of the user.
    func changePassword(_ identity: Identity, _ request: PasswordChange) async throws {
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
            _ = try await self.sessions.store.revokeAll(userID: user.id, keeping: identity.sessionID, at: now, db)
        }
    }
}
