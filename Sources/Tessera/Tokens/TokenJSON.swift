import Foundation
import JWTKit

/// The JSON of what Tessera signs, written directly: every login and refresh signs two tokens, and
/// Foundation's `JSONEncoder` for their claims and headers was 8% of a refresh's CPU. Anything else
/// (a header with more than string fields, another payload) goes to JWTKit's own encoder.
struct TokenJSON: JWTJSONEncoder {
    private let fallback: any JWTJSONEncoder = .defaultForJWT

    func encode<T: Encodable>(_ value: T) throws -> Data {
        if let claims = value as? TokenClaims { return Data(claims.json.utf8) }
        if let header = value as? JWTHeader, let json = Self.object(header.fields) { return Data(json.utf8) }
        return try fallback.encode(value)
    }

    /// A header of string fields (`alg`, `typ`, `kid`), keys sorted so one key writes one text.
    private static func object(_ fields: [String: JWTHeaderField]) -> String? {
        var json = "{"
        for (name, field) in fields.sorted(by: { $0.key < $1.key }) {
            guard case .string(let value) = field else { return nil }
            if json.utf8.count > 1 { json += "," }
            append(name, to: &json)
            json += ":"
            append(value, to: &json)
        }
        return json + "}"
    }

    /// `text` as a JSON string: quotes, backslashes and control characters escaped.
    static func append(_ text: String, to json: inout String) {
        json += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": json += "\\\""
            case "\\": json += "\\\\"
            case "\n": json += "\\n"
            case "\r": json += "\\r"
            case "\t": json += "\\t"
            case _ where scalar.value < 0x20:
                json += "\\u00" + String(scalar.value >> 4, radix: 16) + String(scalar.value & 0xF, radix: 16)
            default: json.unicodeScalars.append(scalar)
            }
        }
        json += "\""
    }
}

extension TokenClaims {
    /// The claims as a JSON object, in the order they are declared.
    var json: String {
        var json = "{"
        for (name, value) in [("iss", iss), ("aud", aud), ("sub", sub), ("user_id", user_id), ("sid", sid), ("jti", jti)] {
            if json.utf8.count > 1 { json += "," }
            TokenJSON.append(name, to: &json)
            json += ":"
            TokenJSON.append(value, to: &json)
        }
        json += ",\"iat\":\(iat),\"exp\":\(exp),\"token_type\":"
        TokenJSON.append(token_type.rawValue, to: &json)
        if let roles {
            json += ",\"roles\":["
            for (index, role) in roles.enumerated() {
                if index > 0 { json += "," }
                TokenJSON.append(role, to: &json)
            }
            json += "]"
        }
        return json + "}"
    }
}
