import Foundation
import JWTKit

/// The claims of Tessera's access and refresh tokens (SPEC §4).
public struct TokenClaims: JWTPayload, Equatable {
    public enum Kind: String, Codable, Sendable {
        case access
        case refresh
    }

    public var iss: String
    public var aud: String
    public var sub: String
    public var user_id: String
    public var sid: String
    public var jti: String
    public var iat: Int
    public var exp: Int
    public var token_type: Kind
    public var roles: [String]?

    /// Signature checks happen in JWTKit; the claims are checked by `TokenService` against its
    /// clock and settings, so expiry is testable without sleeping.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}

    var userID: UUID? { UUID(uuidString: user_id) }
    var sessionID: UUID? { UUID(uuidString: sid) }
}
