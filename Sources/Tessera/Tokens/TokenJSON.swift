import Foundation
import JWTKit

/// The JSON of what Tessera signs, written directly (`JSONObjectWriter`): every login and refresh signs two
/// tokens, and Foundation's `JSONEncoder` for their claims and headers was 8% of a refresh's CPU.
/// Anything else (a header with more than string fields, another payload) goes to JWTKit's own
/// encoder.
struct TokenJSON: JWTJSONEncoder {
    private let fallback: any JWTJSONEncoder = .defaultForJWT

    func encode<T: Encodable>(_ value: T) throws -> Data {
        if let claims = value as? TokenClaims { return Data(claims.json.utf8) }
        if let header = value as? JWTHeader, let json = Self.object(header.fields) { return Data(json.utf8) }
        return try fallback.encode(value)
    }

    /// A header of string fields (`alg`, `typ`, `kid`), keys sorted so one key writes one text.
    private static func object(_ fields: [String: JWTHeaderField]) -> String? {
        var json = JSONObjectWriter()
        for (name, field) in fields.sorted(by: { $0.key < $1.key }) {
            guard case .string(let value) = field else { return nil }
            json.member(name, value)
        }
        return json.closed
    }
}

extension TokenClaims {
    /// The claims as a JSON object, in the order they are declared.
    var json: String {
        var json = JSONObjectWriter()
        json.member("iss", iss)
        json.member("aud", aud)
        json.member("sub", sub)
        json.member("user_id", user_id)
        json.member("sid", sid)
        json.member("jti", jti)
        json.member("iat", iat)
        json.member("exp", exp)
        json.member("token_type", token_type.rawValue)
        if let roles { json.member("roles", roles) }
        return json.closed
    }
}
