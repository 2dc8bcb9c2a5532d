import Foundation
import JWTKit

/// Signs and checks Tessera's JWTs. Only the configured algorithm is accepted, an access token is
/// never taken for a refresh token or back, and `iss`, `aud` and `exp` are checked against the
/// settings and the injected clock.
public struct TokenService: Sendable {
    let keys: SigningKeys
    let settings: TokenSettings
    let clock: WallClock

    /// What a login or refresh hands out.
    struct Pair: Sendable {
        let access: String
        let refresh: String
        let accessExpiresIn: Int
        let refreshExpiresIn: Int
    }

    /// Signs a pair for `session`. The refresh token is a pure function of the session's current
    /// rotation (its `jti`, `iat` and `exp`), so replaying the parent within the grace can hand out
    /// the same current token again without storing it.
    func pair(userID: UUID, roles: [String], session: SessionRotation) async throws -> Pair {
        let now = clock.now()
        let accessExpiry = min(now.addingTimeInterval(settings.accessTTL), session.expiresAt)
        let refreshExpiry = session.refreshExpiresAt(ttl: settings.refreshTTL)
        let access = claims(
            .access, userID: userID, sid: session.id, jti: UUID().uuidString.lowercased(), issued: now, expires: accessExpiry, roles: roles)
        let refresh = claims(.refresh, userID: userID, sid: session.id, jti: session.refreshJTI, issued: session.rotatedAt, expires: refreshExpiry)
        return Pair(
            access: try await sign(access),
            refresh: try await sign(refresh),
            accessExpiresIn: max(0, Int(accessExpiry.timeIntervalSince(now).rounded())),
            refreshExpiresIn: max(0, Int(refreshExpiry.timeIntervalSince(now).rounded()))
        )
    }

    /// Checks signature, algorithm, type, issuer, audience and expiry. `allowExpired` is for
    /// revocation, where an expired token still names the session to end.
    func verify(_ token: String, as kind: TokenClaims.Kind, allowExpired: Bool = false) async throws(APIError) -> TokenClaims {
        guard token.utf8.count <= 8192 else { throw APIError.tokenNotValid() }
        let claims = try await signedClaims(token)
        guard claims.token_type == kind else {
            throw APIError.tokenNotValid("Token has wrong type.")
        }
        guard claims.iss == settings.issuer, claims.aud == settings.audience, claims.userID != nil, claims.sessionID != nil else {
            throw APIError.tokenNotValid()
        }
        if !allowExpired && Double(claims.exp) <= clock.now().timeIntervalSince1970 {
            throw APIError.tokenExpired
        }
        return claims
    }

    /// The claims of a token whose signature, algorithm and key check out. Access tokens are
    /// remembered (refresh tokens are single-use, so remembering them would only cost memory).
    private func signedClaims(_ token: String) async throws(APIError) -> TokenClaims {
        if let claims = keys.verifiedClaims(of: token) { return claims }
        // Tokens this instance signed carry a header it knows byte for byte; any other is parsed,
        // which also notices a key another instance has rotated in.
        if !keys.signs(header: token.prefix { $0 != "." }) {
            guard let header = JOSEHeader.of(token), header.alg == keys.algorithm.rawValue, let kid = header.kid, await keys.knows(kid: kid)
            else { throw APIError.tokenNotValid() }
        }
        let collection = keys.collection
        let claims: TokenClaims
        do {
            claims = try await collection.verify(token, as: TokenClaims.self)
        } catch {
            throw APIError.tokenNotValid()
        }
        if claims.token_type == .access { keys.remember(token, claims, checkedBy: collection) }
        return claims
    }

    private func claims(_ kind: TokenClaims.Kind, userID: UUID, sid: UUID, jti: String, issued: Date, expires: Date, roles: [String]? = nil)
        -> TokenClaims
    {
        let user = userID.uuidString.lowercased()
        return TokenClaims(
            iss: settings.issuer, aud: settings.audience, sub: user, user_id: user, sid: sid.uuidString.lowercased(), jti: jti,
            iat: Int(issued.timeIntervalSince1970), exp: Int(expires.timeIntervalSince1970), token_type: kind, roles: roles)
    }

    private func sign(_ claims: TokenClaims) async throws -> String {
        try await keys.collection.sign(claims, kid: JWKIdentifier(string: keys.activeKid))
    }

}

/// The first part of a JWT: which algorithm and key signed it.
struct JOSEHeader: Decodable {
    let alg: String
    let kid: String?

    static func of(_ token: String) -> JOSEHeader? {
        guard let first = token.split(separator: ".", maxSplits: 1).first, let data = Data(base64URL: String(first)) else { return nil }
        return try? JSONDecoder().decode(JOSEHeader.self, from: data)
    }
}

extension Data {
    init?(base64URL text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        self.init(base64Encoded: base64)
    }
}
