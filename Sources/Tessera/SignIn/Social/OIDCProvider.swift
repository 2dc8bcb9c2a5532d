import Crypto
import Foundation
import JWTKit
import Synchronization

/// What a verified id_token says about the person.
struct ProviderPerson: Sendable, Equatable {
    let provider: String
    let subject: String
    var email: String?
    var emailVerified: Bool
    var firstName: String
    var lastName: String
}

/// One OpenID Connect provider: its keys, found through discovery or `JWKS_URL`, kept in memory and
/// fetched again when a token names a key not seen yet (a rotation at the provider) — at most
/// once per `refetchInterval`, so tokens with made-up key ids cannot make Tessera hammer it.
final class OIDCProvider: Sendable {
    let settings: OIDCProviderSettings
    private let http: ProviderHTTP
    private let state = Mutex(Keys())
    static let refetchInterval: TimeInterval = 5
    /// The algorithms an id_token may use, and the kind of key each needs: a token's header must
    /// name both, so no other algorithm reaches a verifier with a key of another kind.
    static let keyType = ["RS256": "RSA", "ES256": "EC"]
    /// How far a provider's clock may be ahead of ours for `iat`.
    static let clockSkew: TimeInterval = 60

    private struct Keys {
        var jwksURL: String?
        var collection = JWTKeyCollection()
        var kids: [String: String] = [:]
        /// The last look at the provider's keys, and the last one that got them.
        var lastFetch = Date.distantPast
        var fetchedAt = Date.distantPast
    }

    init(settings: OIDCProviderSettings, http: ProviderHTTP) {
        self.settings = settings
        self.http = http
        state.withLock { $0.jwksURL = settings.jwksURL }
    }

    /// Checks `idToken` as SPEC §5b lists: signature (RS256 or ES256) by a key of the provider,
    /// `iss`, `aud` (one of the client ids), `exp`, `iat`, and the nonce when the app sent one.
    func verify(_ idToken: String, nonce: String?, at now: Date) async throws -> ProviderPerson {
        let refused = APIError.invalidCredentials
        guard idToken.utf8.count <= 16 * 1024, let header = JOSEHeader.of(idToken), let kid = header.kid,
            Self.keyType[header.alg] != nil
        else { throw refused }
        guard let collection = try await keys(for: kid, alg: header.alg, at: now) else { throw refused }
        let claims: IDTokenClaims
        do {
            claims = try await collection.verify(idToken, as: IDTokenClaims.self)
        } catch {
            throw refused
        }
        let issuers = [settings.issuer, settings.issuer.hasPrefix("https://") ? String(settings.issuer.dropFirst(8)) : settings.issuer]
        guard let issuer = claims.iss, issuers.contains(issuer),
            let audience = claims.aud?.value, audience.contains(where: settings.clientIDs.contains),
            let exp = claims.exp, exp > now.timeIntervalSince1970,
            let iat = claims.iat, iat <= now.timeIntervalSince1970 + Self.clockSkew,
            let subject = claims.sub, (1...255).contains(subject.utf8.count)
        else { throw refused }
        if let nonce {
            // Apple and Google clients send the nonce raw to the provider or as its SHA-256.
            let hashed = SHA256.hash(data: Data(nonce.utf8)).hexString
            guard let said = claims.nonce, said == nonce || said == hashed else { throw refused }
        }
        return ProviderPerson(
            provider: settings.name, subject: subject, email: claims.email, emailVerified: claims.email_verified?.value ?? false,
            firstName: claims.given_name ?? "", lastName: claims.family_name ?? "")
    }

    /// How long fetched keys are trusted before they are fetched again: a key the provider
    /// withdrew stops working within this.
    static let maximumAge: TimeInterval = 3600

    /// The keys, with `kid` among them (of the kind `alg` needs) if the provider publishes it; nil
    /// when it does not. Keys past their age are fetched again, and still used if the provider
    /// cannot be reached just then.
    private func keys(for kid: String, alg: String, at now: Date) async throws -> JWTKeyCollection? {
        let wanted = Self.keyType[alg]
        let (known, due) = state.withLock { state -> (JWTKeyCollection?, Bool) in
            let known = state.kids[kid] == wanted ? state.collection : nil
            if known != nil && now.timeIntervalSince(state.fetchedAt) < Self.maximumAge { return (known, false) }
            guard now.timeIntervalSince(state.lastFetch) >= Self.refetchInterval else { return (known, false) }
            state.lastFetch = now
            return (known, true)
        }
        guard due else { return known }
        let fetched: (collection: JWTKeyCollection, kids: [String: String])
        do {
            fetched = try await fetchKeys()
        } catch {
            if let known { return known }
            throw error
        }
        return state.withLock { state in
            state.collection = fetched.collection
            state.kids = fetched.kids
            state.fetchedAt = now
            return state.kids[kid] == wanted ? state.collection : nil
        }
    }

    private struct Discovery: Decodable {
        let issuer: String?
        let jwks_uri: String
    }

    private func fetchKeys() async throws -> (collection: JWTKeyCollection, kids: [String: String]) {
        do {
            var url = state.withLock { $0.jwksURL }
            if url == nil {
                // An issuer may end in a slash (Auth0's does); discovery sits right under it either way.
                let base = settings.issuer.hasSuffix("/") ? String(settings.issuer.dropLast()) : settings.issuer
                let answer = try await http.get(base + "/.well-known/openid-configuration")
                guard answer.status == 200 else { throw APIError.providerUnavailable(settings.name) }
                let discovery = try JSONDecoder().decode(Discovery.self, from: answer.body)
                // OpenID Connect Discovery §4.3: the document must be the issuer's own.
                guard discovery.issuer == nil || discovery.issuer == settings.issuer else { throw APIError.providerUnavailable(settings.name) }
                url = discovery.jwks_uri
                state.withLock { $0.jwksURL = discovery.jwks_uri }
            }
            guard let url else { throw APIError.providerUnavailable(settings.name) }
            let answer = try await http.get(url)
            guard answer.status == 200 else { throw APIError.providerUnavailable(settings.name) }
            guard let object = try JSONSerialization.jsonObject(with: answer.body) as? [String: Any], let keys = object["keys"] as? [[String: Any]]
            else { throw APIError.providerUnavailable(settings.name) }
            let collection = JWTKeyCollection()
            var kids: [String: String] = [:]
            // Keys of a kind that cannot sign an id_token here (an encryption key, say) are left out, not fatal.
            for key in keys {
                guard let kid = key["kid"] as? String, let kty = key["kty"] as? String, ["RSA", "EC"].contains(kty),
                    let jwk = try? JSONDecoder().decode(JWK.self, from: try JSONSerialization.data(withJSONObject: key)),
                    (try? await collection.add(jwk: jwk)) != nil
                else { continue }
                kids[kid] = kty
            }
            return (collection, kids)
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError.providerUnavailable(settings.name)
        }
    }
}

/// The claims of an id_token Tessera reads. Checked by `OIDCProvider.verify`, against the
/// server's clock, once JWTKit has checked the signature.
private struct IDTokenClaims: JWTPayload {
    var iss: String?
    var sub: String?
    var aud: AudienceClaim?
    var exp: Double?
    var iat: Double?
    var nonce: String?
    var email: String?
    var email_verified: LenientBool?
    var given_name: String?
    var family_name: String?

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Apple writes `email_verified` as the string "true"; Google as a boolean.
private struct LenientBool: Codable, Sendable {
    let value: Bool

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let bool = try? container.decode(Bool.self) {
            value = bool
        } else {
            value = (try? container.decode(String.self)) == "true"
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}
