import Foundation

/// A user as Tessera answers it (SPEC §4).
public struct User: Codable, Sendable, Equatable {
    public let id: String
    public let email: String?
    public let phone: String?
    public let username: String?
    public let firstName: String
    public let lastName: String
    public let middleName: String
    public let role: String
    public let roles: [String]
    public let status: String
    public let emailVerified: Bool
    public let phoneVerified: Bool
    public let dateJoined: String
    public let lastLogin: String?
}

/// One of the caller's live sessions.
public struct Session: Codable, Sendable, Equatable {
    public let id: String
    public let createdAt: String
    public let lastUsedAt: String
    public let expiresAt: String
    public let ipAddress: String
    public let userAgent: String
    public let current: Bool
}

/// A page of a list.
public struct Page<Item: Codable & Sendable>: Codable, Sendable {
    public let count: Int
    public let next: String?
    public let previous: String?
    public let results: [Item]
}

/// How a sign-in ended: signed in, or waiting for a two-factor code (`completeSignIn`).
public enum SignInResult: Sendable, Equatable {
    case signedIn(User, created: Bool)
    case mfaRequired(mfaToken: String)
}

/// Tessera's error body, or what went wrong on the way.
public enum TesseraError: Error, Sendable, Equatable {
    /// `{"detail", "code", "fields"?}` with the HTTP status.
    case api(status: Int, code: String, detail: String, fields: [String: [String]])
    /// The session is over (a refresh was refused, or nobody signed in): the store is empty now.
    case signedOut
    /// The answer could not be read.
    case unexpectedAnswer(status: Int)
}

struct ErrorBody: Decodable {
    let detail: String
    let code: String
    let fields: [String: [String]]?
    let mfaToken: String?
}

struct Grant: Decodable {
    let access: String
    let refresh: String
    let user: User
    let created: Bool?
}

struct Registration: Decodable {
    let user: User
    let access: String?
    let refresh: String?
}
