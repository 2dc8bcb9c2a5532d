import Foundation
import SQLKit

/// How a login names an account; a string that reads as a phone may also be a username.
enum LoginName: Sendable, Equatable {
    case email(String)
    case username(String)
    case phoneOrUsername(PhoneNumber, String)

    init(_ text: String, region: PhoneRegion) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.contains("@") {
            self = .email(trimmed.lowercased())
        } else if let phone = PhoneNumber(trimmed, region: region) {
            self = .phoneOrUsername(phone, trimmed.lowercased())
        } else {
            self = .username(trimmed.lowercased())
        }
    }

    /// A stable name for counters and locks: the normal form of what was typed.
    var key: String {
        switch self {
        case .email(let email): "email:\(email)"
        case .username(let name): "username:\(name)"
        case .phoneOrUsername(let phone, _): "phone:\(phone.e164)"
        }
    }
}

/// SQL for users and their roles. Every write to them is announced to the `cache`.
struct UserStore: Sendable {
    let dialect: SQLDialect
    let cache: UserCache

    func insert(_ user: User, role: BuiltInRole, _ db: any SQLDatabase) async throws {
        try await db.insert(into: "users")
            .columns(User.columns + ["email_key", "username_key"])
            .values(
                SQLBind(user.id), SQLBind(user.email), SQLBind(user.phone), SQLBind(user.username), SQLBind(user.passwordHash),
                SQLBind(user.firstName), SQLBind(user.lastName), SQLBind(user.middleName), SQLBind(user.kind.rawValue),
                SQLBind(user.status.rawValue), SQLBind(user.emailVerified), SQLBind(user.phoneVerified), SQLBind(user.dateJoined),
                SQLBind(user.lastLogin), SQLBind(user.email?.lowercased()), SQLBind(user.username?.lowercased())
            )
            .run()
        try await grant([role.rawValue], to: user.id, db)
    }

    /// Accounts brought over from Django (`tessera import-django`), many rows a statement: each
    /// with its `legacy_id` and the built-in role of its kind, plus `admin` where marked. New ids
    /// are in no cache, so nothing is announced.
    func insertImported(_ accounts: [(user: User, legacyID: String, admin: Bool)], _ db: any SQLDatabase) async throws {
        for chunk in accounts.chunked(by: 500) {
            let insert = db.insert(into: "users").columns(User.columns + ["email_key", "username_key", "legacy_id"])
            for (user, legacyID, _) in chunk {
                insert.values(
                    SQLBind(user.id), SQLBind(user.email), SQLBind(user.phone), SQLBind(user.username), SQLBind(user.passwordHash),
                    SQLBind(user.firstName), SQLBind(user.lastName), SQLBind(user.middleName), SQLBind(user.kind.rawValue),
                    SQLBind(user.status.rawValue), SQLBind(user.emailVerified), SQLBind(user.phoneVerified), SQLBind(user.dateJoined),
                    SQLBind(user.lastLogin), SQLBind(user.email?.lowercased()), SQLBind(user.username?.lowercased()), SQLBind(legacyID))
            }
            try await insert.run()
            let grants = db.insert(into: "user_roles").columns("user_id", "role_id")
            for (user, _, admin) in chunk {
                grants.values(SQLBind(user.id), SQLBind(BuiltInRole(user.kind).id))
                if admin { grants.values(SQLBind(user.id), SQLBind(BuiltInRole.admin.id)) }
            }
            try await grants.run()
        }
    }

    /// An imported account brought up to date with Django on a later run: identifiers, names,
    /// kind and status, and the password hash when given (Tessera has not replaced it yet).
    /// A row Django has not changed is not written (nor announced); says whether it changed.
    @discardableResult
    func updateImported(_ user: User, passwordHash: String?, admin: Bool, _ db: any SQLDatabase) async throws -> Bool {
        var fields: [(String, any Encodable & Sendable)] = [
            ("email", user.email), ("email_key", user.email?.lowercased()), ("phone", user.phone), ("username", user.username),
            ("username_key", user.username?.lowercased()), ("first_name", user.firstName), ("last_name", user.lastName),
            ("middle_name", user.middleName), ("kind", user.kind.rawValue), ("status", user.status.rawValue),
        ]
        if let passwordHash { fields.append(("password_hash", passwordHash)) }
        // A changed address is not proved (the old one may have been); the same address stays as it was.
        let sameAddress = SQLFunction(
            "COALESCE", args: SQLBinaryExpression(SQLColumn("email_key"), .equal, SQLBind(user.email?.lowercased())), SQLLiteral.boolean(false))
        var update = db.update("users").set("email_verified", to: SQLBinaryExpression(SQLColumn("email_verified"), .and, sameAddress))
        for (column, value) in fields { update = update.set(SQLColumn(column), to: SQLBind(value)) }
        let differs = SQLGroupExpression(
            fields.map { column, value in
                SQLBinaryExpression(left: SQLColumn(column), op: SQLRaw("IS DISTINCT FROM"), right: SQLBind(value)) as any SQLExpression
            }
            .reduce(SQLLiteral.boolean(false) as any SQLExpression) { SQLBinaryExpression($0, .or, $1) })
        let changed = try await update.where("id", .equal, SQLBind(user.id)).where(differs).returning("id").all().count == 1
        if changed || admin {
            try await grant([BuiltInRole(user.kind).rawValue] + (admin ? [BuiltInRole.admin.rawValue] : []), to: user.id, db)
        }
        return changed
    }

    /// The account's SimpleJWT tokens from before the move stop counting (with its sessions).
    func voidLegacyTokens(of id: UUID, at now: Date, _ db: any SQLDatabase) async throws {
        try await db.update("users").set("legacy_tokens_void_at", to: SQLBind(now)).where("id", .equal, SQLBind(id))
            .where("legacy_id", .isNot, SQLLiteral.null).run()
    }

    /// When the account's SimpleJWT tokens stopped counting, if they have.
    func legacyTokensVoidAt(_ id: UUID, _ db: any SQLDatabase) async throws -> Date? {
        try await db.select().column("legacy_tokens_void_at").from("users").where("id", .equal, SQLBind(id))
            .first(decodingColumn: "legacy_tokens_void_at", as: Date?.self) ?? nil
    }

    /// The account a Django user id was imported as.
    func find(legacyID: String, _ db: any SQLDatabase) async throws -> User? {
        try await db.select().columns(User.columns.map { SQLColumn($0) }).from("users").where("legacy_id", .equal, SQLBind(legacyID))
            .first().map(User.init(row:))
    }

    /// What an import needs to know of the accounts already here, one row each.
    func importIndex(_ db: any SQLDatabase) async throws -> [(
        id: UUID, legacyID: String?, emailKey: String?, phone: String?, usernameKey: String?, passwordHash: String
    )] {
        try await db.select().columns("id", "legacy_id", "email_key", "phone", "username_key", "password_hash").from("users").all().map {
            (
                try $0.decode(column: "id", as: UUID.self), try $0.decode(column: "legacy_id", as: String?.self),
                try $0.decode(column: "email_key", as: String?.self), try $0.decode(column: "phone", as: String?.self),
                try $0.decode(column: "username_key", as: String?.self), try $0.decode(column: "password_hash", as: String.self)
            )
        }
    }

    /// A user with its role codes, in one query: what `/me`, a refresh and the admin views answer with.
    func withRoles(_ id: UUID, _ db: any SQLDatabase) async throws -> UserResponse? {
        try await db.run(WithRoles.self, id).first.map(UserResponse.init(row:))
    }

    /// `withRoles` answered from the cache when it can: what `/me` and a refresh show.
    func current(_ id: UUID, in database: any Database) async throws -> UserResponse? {
        try await cache.user(id) { try await database.read { db in try await self.withRoles(id, db) } }
    }

    /// The user columns and `roles`, the user's role codes joined by commas (codes cannot hold one).
    static let withRolesSQL =
        User.columns.joined(separator: ", ")
        + ", (SELECT string_agg(r.code_name, ',' ORDER BY r.code_name) FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = users.id) AS roles"
    static let withRolesColumns: [any SQLExpression] = [SQLRaw(withRolesSQL)]

    /// `$1` the user.
    private enum WithRoles: FixedStatement {
        static let sql = "SELECT \(UserStore.withRolesSQL) FROM users WHERE id = $1"
    }

    /// One page of users matching `filter`, newest first, and how many match.
    func list(_ filter: UserAdministration.Filter, page: PageRequest, _ db: any SQLDatabase) async throws -> (Int, [UserResponse]) {
        let dialect = self.dialect
        func filtered(_ query: SQLSelectBuilder) -> SQLSelectBuilder {
            var query = query.from("users")
            if let status = filter.status { query = query.where("status", .equal, SQLBind(status.rawValue)) }
            if let role = filter.role {
                query = query.where(
                    SQLQueryString("id IN (SELECT ur.user_id FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE r.code_name = \(bind: role))")
                )
            }
            if let text = filter.text?.lowercased(), !text.isEmpty {
                query = query.where { group in
                    for column in ["email_key", "username_key", "phone", "first_name", "last_name", "middle_name"] {
                        group.orWhere(dialect.contains(column, text))
                    }
                    return group
                }
            }
            return query
        }
        return try await db.page(
            page, columns: Self.withRolesColumns, orderBy: [("date_joined", .descending), ("id", .ascending)], filtered, as: UserResponse.init(row:))
    }

    func find(_ id: UUID, _ db: any SQLDatabase) async throws -> User? {
        try await db.select().columns(User.columns.map { SQLColumn($0) }).from("users").where("id", .equal, SQLBind(id))
            .first().map(User.init(row:))
    }

    func find(_ login: LoginName, _ db: any SQLDatabase) async throws -> User? {
        let rows: [any SQLRow]
        switch login {
        case .email(let key): rows = try await db.run(ByEmail.self, key)
        case .username(let key): rows = try await db.run(ByUsername.self, key)
        case .phoneOrUsername(let phone, let key): rows = try await db.run(ByPhoneOrUsername.self, phone.e164, key)
        }
        let users = try rows.map(User.init(row:))
        // A phone and a username may name two accounts; the phone wins.
        if case .phoneOrUsername(let phone, _) = login, users.count > 1 {
            return users.first { $0.phone == phone.e164 }
        }
        return users.first
    }

    /// The statements a sign-in finds its account with, `$1` the key (`$2` the username key).
    private enum ByEmail: FixedStatement {
        static let sql = "SELECT \(User.columns.joined(separator: ", ")) FROM users WHERE email_key = $1"
    }

    private enum ByUsername: FixedStatement {
        static let sql = "SELECT \(User.columns.joined(separator: ", ")) FROM users WHERE username_key = $1"
    }

    private enum ByPhoneOrUsername: FixedStatement {
        static let sql = "SELECT \(User.columns.joined(separator: ", ")) FROM users WHERE phone = $1 OR username_key = $2 LIMIT 2"
    }

    /// The user, their row held until the transaction ends (SQLite: the writer already is).
    func lock(_ id: UUID, _ db: any SQLDatabase) async throws -> User? {
        try await dialect.lockForUpdate(
            db.select().columns(User.columns.map { SQLColumn($0) }).from("users").where("id", .equal, SQLBind(id))
        ).first().map(User.init(row:))
    }

    /// The account whose phone is `e164`.
    func find(phone e164: String, _ db: any SQLDatabase) async throws -> User? {
        try await db.select().columns(User.columns.map { SQLColumn($0) }).from("users").where("phone", .equal, SQLBind(e164))
            .first().map(User.init(row:))
    }

    /// The first of `email`, `phone`, `username` that another account already uses.
    func takenField(email: String?, phone: String?, username: String?, except id: UUID? = nil, _ db: any SQLDatabase) async throws -> String? {
        for (field, column, value) in [
            ("email", "email_key", email?.lowercased()), ("phone", "phone", phone), ("username", "username_key", username?.lowercased()),
        ] {
            guard let value else { continue }
            var query = db.select().column("id").from("users").where(SQLColumn(column), .equal, SQLBind(value))
            if let id { query = query.where("id", .notEqual, SQLBind(id)) }
            if try await query.first() != nil { return field }
        }
        return nil
    }

    /// Writes the fields a user may change about themselves.
    func saveProfile(_ user: User, _ db: any SQLDatabase) async throws {
        try await db.update("users")
            .set("email", to: SQLBind(user.email)).set("email_key", to: SQLBind(user.email?.lowercased()))
            .set("phone", to: SQLBind(user.phone))
            .set("username", to: SQLBind(user.username)).set("username_key", to: SQLBind(user.username?.lowercased()))
            .set("first_name", to: SQLBind(user.firstName)).set("last_name", to: SQLBind(user.lastName))
            .set("middle_name", to: SQLBind(user.middleName))
            .set("email_verified", to: SQLBind(user.emailVerified)).set("phone_verified", to: SQLBind(user.phoneVerified))
            .where("id", .equal, SQLBind(user.id))
            .run()
        try await cache.changed(user.id, db)
    }

    /// Writes what only an administrator changes: the account kind and status.
    func setKind(_ kind: AccountKind, of id: UUID, _ db: any SQLDatabase) async throws {
        try await db.update("users").set("kind", to: SQLBind(kind.rawValue)).where("id", .equal, SQLBind(id)).run()
        try await cache.changed(id, db)
    }

    func setStatus(_ status: AccountStatus, of id: UUID, _ db: any SQLDatabase) async throws {
        try await db.update("users").set("status", to: SQLBind(status.rawValue)).where("id", .equal, SQLBind(id)).run()
        try await cache.changed(id, db)
    }

    /// A code sent to the phone came back: the account holds that phone.
    func setPhoneVerified(_ id: UUID, _ db: any SQLDatabase) async throws {
        try await db.update("users").set("phone_verified", to: SQLBind(true)).where("id", .equal, SQLBind(id)).run()
        try await cache.changed(id, db)
    }

    func setPasswordHash(_ hash: String, for id: UUID, _ db: any SQLDatabase) async throws {
        try await db.update("users").set("password_hash", to: SQLBind(hash)).where("id", .equal, SQLBind(id)).run()
    }

    /// A sign-in of `id`: the user as they are now with their roles, their row lock held to the
    /// end of the transaction (SQLite: the writer already is), and whether they have a second factor.
    /// `last_login` moves to `now`, unless `unlessSecondFactor` and they have one: then the sign-in
    /// is not over until the second step.
    func signIn(_ id: UUID, at now: Date, unlessSecondFactor: Bool, _ db: any SQLDatabase) async throws -> (
        user: UserResponse, secondFactor: Bool
    )? {
        guard let row = try await db.run(SignIn.self, now, id, unlessSecondFactor).first else { return nil }
        let secondFactor = try row.decode(column: "second_factor", as: Bool.self)
        if !(secondFactor && unlessSecondFactor) { try await cache.signedIn(id, at: now, db) }
        return (try UserResponse(row: row), secondFactor)
    }

    /// `$1` now, `$2` the user, `$3` whether a second factor, if the user has one, is still to come.
    private enum SignIn: FixedStatement {
        static let sql = """
            UPDATE users SET last_login = CASE WHEN $3 AND \(TwoFactorStore.isOnSQL) THEN last_login ELSE $1 END
            WHERE id = $2
            RETURNING \(UserStore.withRolesSQL), \(TwoFactorStore.isOnSQL) AS second_factor
            """
    }

    /// The user's RBAC role codes, sorted.
    func roles(of id: UUID, _ db: any SQLDatabase) async throws -> [String] {
        try await db.select().column(SQLColumn("code_name", table: "roles")).from("roles")
            .join("user_roles", on: SQLColumn("role_id", table: "user_roles"), .equal, SQLColumn("id", table: "roles"))
            .where(SQLColumn("user_id", table: "user_roles"), .equal, SQLBind(id))
            .orderBy(SQLColumn("code_name", table: "roles"))
            .all(decodingColumn: "code_name", as: String.self)
    }

    /// Takes every role from a user, before `grant` gives the new set.
    func clearRoles(of id: UUID, _ db: any SQLDatabase) async throws {
        try await db.delete(from: "user_roles").where("user_id", .equal, SQLBind(id)).run()
        try await cache.changed(id, db)
    }

    /// Adds roles by code name; unknown codes are returned, not silently dropped.
    @discardableResult
    func grant(_ codes: [String], to id: UUID, _ db: any SQLDatabase) async throws -> [String] {
        try await cache.changed(id, db)
        var unknown: [String] = []
        for code in codes {
            guard
                let roleID = try await db.select().column("id").from("roles").where("code_name", .equal, SQLBind(code))
                    .first(decodingColumn: "id", as: UUID.self)
            else {
                unknown.append(code)
                continue
            }
            let exists =
                try await db.select().column("role_id").from("user_roles").where("user_id", .equal, SQLBind(id))
                .where("role_id", .equal, SQLBind(roleID)).first() != nil
            if !exists {
                try await db.insert(into: "user_roles").columns("user_id", "role_id").values(SQLBind(id), SQLBind(roleID)).run()
            }
        }
        return unknown
    }
}
