import Foundation
import Hummingbird
import SQLKit

/// The kind of account (SPEC's `role`): who books and who is booked.
public enum AccountKind: String, Codable, Sendable, CaseIterable {
    case client
    case specialist
}

public enum AccountStatus: String, Codable, Sendable, CaseIterable {
    case active
    case pending
    case rejected
    case disabled
}

/// The RBAC roles every installation has, created by the first migration with fixed ids.
public enum BuiltInRole: String, CaseIterable, Sendable {
    case admin
    case supervisor
    case specialist
    case client

    var id: UUID {
        switch self {
        case .admin: UUID(uuidString: "00000000-0000-4000-8000-000000000001")!
        case .supervisor: UUID(uuidString: "00000000-0000-4000-8000-000000000002")!
        case .specialist: UUID(uuidString: "00000000-0000-4000-8000-000000000003")!
        case .client: UUID(uuidString: "00000000-0000-4000-8000-000000000004")!
        }
    }

    var title: String { rawValue.prefix(1).uppercased() + rawValue.dropFirst() }

    /// The role a new account of `kind` starts with.
    init(_ kind: AccountKind) {
        self = kind == .client ? .client : .specialist
    }
}

/// A user row. E-mail and username are matched through their lower-cased `_key` columns, which
/// carry the unique indexes; the phone is stored in E.164 and is unique as it is.
public struct User: Sendable, Equatable {
    public let id: UUID
    public var email: String?
    public var phone: String?
    public var username: String?
    var passwordHash: String
    public var firstName: String
    public var lastName: String
    public var middleName: String
    public var kind: AccountKind
    public var status: AccountStatus
    public var emailVerified: Bool
    public var phoneVerified: Bool
    public let dateJoined: Date
    public var lastLogin: Date?

    /// The password hash, or nil for an account that has none (`password_hash` is empty): it
    /// signed up by SMS code or socially.
    var storedPassword: String? { passwordHash.isEmpty ? nil : passwordHash }

    /// What a login can name the account by; changing any of them needs the password.
    var identifiers: [String?] { [email?.lowercased(), phone, username?.lowercased()] }

    static let columns = [
        "id", "email", "phone", "username", "password_hash", "first_name", "last_name", "middle_name", "kind", "status",
        "email_verified", "phone_verified", "date_joined", "last_login",
    ]

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: UUID.self)
        email = try row.decode(column: "email", as: String?.self)
        phone = try row.decode(column: "phone", as: String?.self)
        username = try row.decode(column: "username", as: String?.self)
        passwordHash = try row.decode(column: "password_hash", as: String.self)
        firstName = try row.decode(column: "first_name", as: String.self)
        lastName = try row.decode(column: "last_name", as: String.self)
        middleName = try row.decode(column: "middle_name", as: String.self)
        kind = try row.decode(column: "kind", as: AccountKind.self)
        status = try row.decode(column: "status", as: AccountStatus.self)
        emailVerified = try row.decode(column: "email_verified", as: Bool.self)
        phoneVerified = try row.decode(column: "phone_verified", as: Bool.self)
        dateJoined = try row.decode(column: "date_joined", as: Date.self)
        lastLogin = try row.decode(column: "last_login", as: Date?.self)
    }

    init(
        id: UUID = UUID(), email: String?, phone: String?, username: String?, passwordHash: String, firstName: String = "",
        lastName: String = "", middleName: String = "", kind: AccountKind, status: AccountStatus, dateJoined: Date
    ) {
        self.id = id
        self.email = email
        self.phone = phone
        self.username = username
        self.passwordHash = passwordHash
        self.firstName = firstName
        self.lastName = lastName
        self.middleName = middleName
        self.kind = kind
        self.status = status
        self.emailVerified = false
        self.phoneVerified = false
        self.dateJoined = dateJoined
        self.lastLogin = nil
    }
}

/// A user as the API shows it (SPEC §4); absent identifiers are `null`, never missing.
public struct UserResponse: ResponseEncodable, Sendable {
    var user: User
    let roles: [String]

    init(user: User, roles: [String]) {
        self.user = user
        self.roles = roles
    }

    /// A row selected with `UserStore.withRolesColumns`.
    init(row: any SQLRow) throws {
        user = try User(row: row)
        roles = try row.decode(column: "roles", as: String?.self)?.split(separator: ",").map(String.init) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(user.id.uuidString.lowercased(), forKey: .id)
        try c.encode(user.email, forKey: .email)
        try c.encode(user.phone, forKey: .phone)
        try c.encode(user.username, forKey: .username)
        try c.encode(user.firstName, forKey: .first_name)
        try c.encode(user.lastName, forKey: .last_name)
        try c.encode(user.middleName, forKey: .middle_name)
        try c.encode(user.kind, forKey: .role)
        try c.encode(roles, forKey: .roles)
        try c.encode(user.status, forKey: .status)
        try c.encode(user.emailVerified, forKey: .email_verified)
        try c.encode(user.phoneVerified, forKey: .phone_verified)
        try c.encode(user.dateJoined, forKey: .date_joined)
        try c.encode(user.lastLogin, forKey: .last_login)
    }

    private enum Keys: String, CodingKey {
        case id, email, phone, username, first_name, last_name, middle_name, role, roles, status, email_verified, phone_verified,
            date_joined, last_login
    }

    /// The members `encode(to:)` writes, in the sorted order `JSONCoding.encoder` writes them.
    func write(_ json: inout JSONObjectWriter) {
        json.member("date_joined", user.dateJoined)
        json.member("email", user.email)
        json.member("email_verified", user.emailVerified)
        json.member("first_name", user.firstName)
        json.member("id", user.id.uuidString.lowercased())
        json.member("last_login", user.lastLogin)
        json.member("last_name", user.lastName)
        json.member("middle_name", user.middleName)
        json.member("phone", user.phone)
        json.member("phone_verified", user.phoneVerified)
        json.member("role", user.kind.rawValue)
        json.member("roles", roles)
        json.member("status", user.status.rawValue)
        json.member("username", user.username)
    }
}
