import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import JWTKit
import Logging
import Testing

@testable import Tessera

/// SPEC §4 "Tokens": what a forged, tampered, expired, misdirected or mistyped token gets, which
/// claims a real one carries, and that each signing algorithm works end to end on its own and
/// only on its own.
@Suite("Token security", .throwawayDatabases)
struct TokenSecurityTests {
    // MARK: Forgeries

    @Test("alg none, HS256 with the public key, attacker keys and tampered payloads are refused", arguments: TestDatabase.once)
    func forgedTokensAreRefused(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let registered = try await client.register(["email": "eve@example.com", "password": goodPassword])
            #expect(registered.status == .created)
            let access = try #require(registered.string("access"))
            let refresh = try #require(registered.string("refresh"))
            let token = try #require(JWTParts(access))
            let kid = try #require(token.header["kid"] as? String)

            // The genuine token is accepted: every refusal below is about the forgery.
            #expect(try await client.call(.get, "/api/v1/me", token: access).status == .ok)
            #expect(try await client.call(.post, "/api/v1/auth/token/verify", json: ["token": access]).status == .ok)

            var forgeries: [(String, String)] = []

            // 1. alg "none" with the real payload and an empty signature.
            for alg in ["none", "None", "NONE", "nOnE"] {
                forgeries.append(
                    ("alg \(alg)", JWTParts.compose(header: ["alg": alg, "typ": "JWT"], payload: token.payloadSegment, signature: Data())))
                forgeries.append(
                    (
                        "alg \(alg) with kid",
                        JWTParts.compose(header: ["alg": alg, "typ": "JWT", "kid": kid], payload: token.payloadSegment, signature: Data())
                    ))
            }
            forgeries.append(
                (
                    "alg none, real signature kept",
                    JWTParts.compose(header: ["alg": "none"], payload: token.payloadSegment, signature: token.signature)
                ))

            // 2. HS256 keyed with the published public key, in every form an attacker could try.
            let jwksReply = try await client.call(.get, "/.well-known/jwks.json")
            #expect(jwksReply.status == .ok)
            let jwk = try #require((jwksReply["keys"] as? [[String: Any]])?.first)
            let x = try #require(Base64URL.decode(any: jwk["x"]))
            let y = try #require(Base64URL.decode(any: jwk["y"]))
            let publicKey = try P256.Signing.PublicKey(rawRepresentation: x + y)
            var hmacKeys: [(String, Data)] = [
                ("jwks document", Data(jwksReply.text.utf8)),
                ("jwk json", try JSONSerialization.data(withJSONObject: jwk, options: [.sortedKeys])),
                ("jwk json unsorted", try JSONSerialization.data(withJSONObject: jwk)),
                ("raw x||y", x + y),
                ("x963", publicKey.x963Representation),
                ("der", publicKey.derRepresentation),
                ("pem", Data(publicKey.pemRepresentation.utf8)),
                ("pem + newline", Data((publicKey.pemRepresentation + "\n").utf8)),
                ("x", x),
                ("base64url x+y", Data(((jwk["x"] as? String ?? "") + (jwk["y"] as? String ?? "")).utf8)),
            ]
            if let compact = String(
                data: try JSONSerialization.data(withJSONObject: jwk, options: [.sortedKeys, .withoutEscapingSlashes]), encoding: .utf8)
            {
                hmacKeys.append(("jwk compact", Data(compact.utf8)))
            }
            for (name, secret) in hmacKeys {
                for header: [String: Any] in [["alg": "HS256", "typ": "JWT", "kid": kid], ["alg": "HS256", "typ": "JWT"]] {
                    let forged = JWTParts.signHS256(header: header, payload: token.payloadSegment, secret: secret)
                    forgeries.append(("HS256 keyed with \(name)\(header["kid"] == nil ? " (no kid)" : "")", forged))
                }
                // HMAC under the real header (alg ES256) is just a wrong signature.
                let signingInput = token.headerSegment + "." + token.payloadSegment
                let mac = Data(HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: SymmetricKey(data: secret)))
                forgeries.append(("ES256 header with HMAC(\(name))", signingInput + "." + Base64URL.encode(mac)))
            }

            // 3. A real ES256 signature by an attacker's key, claiming the server's kid (or another).
            let attacker = P256.Signing.PrivateKey()
            forgeries.append(
                (
                    "attacker ES256 key, server kid",
                    try JWTParts.signES256(header: ["alg": "ES256", "typ": "JWT", "kid": kid], payload: token.payloadSegment, key: attacker)
                ))
            forgeries.append(
                (
                    "attacker ES256 key, unknown kid",
                    try JWTParts.signES256(header: ["alg": "ES256", "typ": "JWT", "kid": "attacker"], payload: token.payloadSegment, key: attacker)
                ))
            forgeries.append(
                (
                    "attacker ES256 key, no kid",
                    try JWTParts.signES256(header: ["alg": "ES256", "typ": "JWT"], payload: token.payloadSegment, key: attacker)
                ))

            // 4. The payload changed, the signature kept.
            let otherUser = UUID().uuidString.lowercased()
            let tamperings: [(String, (inout [String: Any]) -> Void)] = [
                (
                    "user_id and sub",
                    {
                        $0["user_id"] = otherUser; $0["sub"] = otherUser
                    }
                ),
                ("user_id only", { $0["user_id"] = otherUser }),
                ("roles += admin", { $0["roles"] = ["client", "admin"] }),
                ("exp + 1 year", { $0["exp"] = (($0["exp"] as? Int) ?? 0) + 365 * 86400 }),
                ("sid", { $0["sid"] = UUID().uuidString.lowercased() }),
                ("token_type refresh", { $0["token_type"] = "refresh" }),
            ]
            for (name, change) in tamperings {
                var claims = token.claims
                change(&claims)
                forgeries.append(
                    (
                        "tampered \(name)",
                        token.headerSegment + "." + Base64URL.encode(try JSONSerialization.data(withJSONObject: claims)) + "."
                            + Base64URL.encode(token.signature)
                    ))
            }
            // A payload re-encoded byte-for-byte differently (same claims) no longer matches its signature either.
            forgeries.append(
                (
                    "payload re-encoded",
                    token.headerSegment + "." + Base64URL.encode(try JSONSerialization.data(withJSONObject: token.claims, options: [.sortedKeys]))
                        + "." + Base64URL.encode(token.signature)
                ))

            // 5. Signatures damaged, stripped, or borrowed from another token.
            var flipped = token.signature
            flipped[flipped.startIndex] ^= 0x01
            forgeries.append(("one signature bit flipped", token.headerSegment + "." + token.payloadSegment + "." + Base64URL.encode(flipped)))
            forgeries.append(("signature stripped", token.headerSegment + "." + token.payloadSegment + "."))
            forgeries.append(("no signature segment", token.headerSegment + "." + token.payloadSegment))
            let refreshParts = try #require(JWTParts(refresh))
            forgeries.append(
                ("refresh token's signature", token.headerSegment + "." + token.payloadSegment + "." + Base64URL.encode(refreshParts.signature)))

            // The payload-preserving forgeries above must really differ from the genuine token.
            for (name, forged) in forgeries {
                #expect(forged != access, "\(name) is the genuine token")
                let me = try await client.call(.get, "/api/v1/me", token: forged)
                expectAPIError(me, .unauthorized, "token_not_valid", "GET /me with \(name)")
                let verify = try await client.call(.post, "/api/v1/auth/token/verify", json: ["token": forged])
                expectAPIError(verify, .unauthorized, "token_not_valid", "verify with \(name)")
            }

            // Nothing above hurt the genuine session.
            #expect(try await client.call(.get, "/api/v1/me", token: access).status == .ok)
        }
    }

    @Test("a token whose claims were re-signed by a valid key of another app is refused", arguments: TestDatabase.all)
    func tokenOfAnotherDeploymentIsRefused(_ database: TestDatabase) async throws {
        // Two unrelated deployments (separate databases, so separate keys) with identical settings.
        let first = try await TestApp.make(database)
        let second = try await TestApp.make(database)
        let foreign: String = try await first.run { client in
            let registered = try await client.register(["email": "mallory@example.com", "password": goodPassword])
            return try #require(registered.string("access"))
        }
        try await second.run { client in
            let me = try await client.call(.get, "/api/v1/me", token: foreign)
            expectAPIError(me, .unauthorized, "token_not_valid", "another deployment's token at /me")
            let verify = try await client.call(.post, "/api/v1/auth/token/verify", json: ["token": foreign])
            expectAPIError(verify, .unauthorized, "token_not_valid", "another deployment's token at verify")
        }
    }

    // MARK: Expiry, type confusion, garbage

    @Test("an access token past ACCESS_TTL answers token_expired; the refresh token still works", arguments: TestDatabase.all)
    func expiredAccessToken(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["ACCESS_TTL": "5m"])
        try await app.run { client in
            let registered = try await client.register(["email": "tim@example.com", "password": goodPassword])
            let access = try #require(registered.string("access"))
            let refresh = try #require(registered.string("refresh"))
            let claims = try #require(JWTParts(access)).claims
            #expect((claims["exp"] as? Int).map { $0 - ((claims["iat"] as? Int) ?? 0) } == 300)

            app.clock.advance(by: 299)
            #expect(try await client.call(.get, "/api/v1/me", token: access).status == .ok, "still valid just before ACCESS_TTL")
            // Its signature is not checked again, but its expiry is checked on every use.
            #expect(app.tessera.keys.verifiedClaims(of: access) != nil)

            app.clock.advance(by: 2)
            expectAPIError(try await client.call(.get, "/api/v1/me", token: access), .unauthorized, "token_expired", "GET /me after ACCESS_TTL")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/token/verify", json: ["token": access]), .unauthorized, "token_expired",
                "verify after ACCESS_TTL")

            let renewed = try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": refresh])
            #expect(renewed.status == .ok)
            let renewedAccess = try #require(renewed.string("access"))
            #expect(try await client.call(.get, "/api/v1/me", token: renewedAccess).status == .ok)
            #expect(renewed["expires_in"] as? Int == 300)

            // Single-use refresh tokens are never remembered; loading the keys again forgets every token.
            #expect(app.tessera.keys.verifiedClaims(of: refresh) == nil)
            #expect(app.tessera.keys.verifiedClaims(of: renewedAccess) != nil)
            try await app.tessera.keys.load()
            #expect(app.tessera.keys.verifiedClaims(of: renewedAccess) == nil)
        }
    }

    @Test("a refresh token is never an access token and back", arguments: TestDatabase.all)
    func tokenTypesAreNotInterchangeable(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let registered = try await client.register(["email": "tia@example.com", "password": goodPassword])
            let access = try #require(registered.string("access"))
            let refresh = try #require(registered.string("refresh"))

            expectAPIError(try await client.call(.get, "/api/v1/me", token: refresh), .unauthorized, "token_not_valid", "refresh token at /me")
            expectAPIError(
                try await client.call(.get, "/api/v1/me/sessions", token: refresh), .unauthorized, "token_not_valid", "refresh token at /me/sessions")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/logout", token: refresh), .unauthorized, "token_not_valid", "refresh token at logout")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/token/verify", json: ["token": refresh]), .unauthorized, "token_not_valid",
                "refresh token at verify")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": access]), .unauthorized, "token_not_valid",
                "access token at refresh")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/token/revoke", json: ["refresh": access]), .unauthorized, "token_not_valid",
                "access token at revoke")

            // Both still work where they belong: the refusals ended nothing.
            #expect(try await client.call(.get, "/api/v1/me", token: access).status == .ok)
            #expect(try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": refresh]).status == .ok)
        }
    }

    @Test("garbage, oversized and missing bearer tokens are refused", arguments: TestDatabase.once)
    func garbageTokens(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let registered = try await client.register(["email": "gus@example.com", "password": goodPassword])
            let access = try #require(registered.string("access"))
            let huge = "eyJhbGciOiJFUzI1NiJ9." + String(repeating: "A", count: 10 * 1024) + ".sig"
            let garbage = [
                "garbage", "a.b.c", "...", "eyJ.eyJ.eyJ", "Bearer", "null", huge, access + "x", String(access.dropLast(3)),
                access.replacingOccurrences(of: ".", with: ""), access + "." + access,
            ]
            for token in garbage {
                let label = "token \(token.prefix(40))… (\(token.utf8.count) bytes)"
                let me = try await client.call(.get, "/api/v1/me", token: token)
                expectAPIError(me, .unauthorized, nil, "GET /me with \(label)")
                #expect(["token_not_valid", "not_authenticated"].contains(me.code ?? ""), "GET /me with \(label): \(me.code ?? "nil")")
                let verify = try await client.call(.post, "/api/v1/auth/token/verify", json: ["token": token])
                expectAPIError(verify, .unauthorized, "token_not_valid", "verify with \(label)")
                let refresh = try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": token])
                expectAPIError(refresh, .unauthorized, "token_not_valid", "refresh with \(label)")
            }

            // No Authorization header, or a scheme other than Bearer: not_authenticated.
            expectAPIError(try await client.call(.get, "/api/v1/me"), .unauthorized, "not_authenticated", "no Authorization header")
            for value in ["Token \(access)", "Basic dXNlcjpwYXNz", "JWT \(access)", access, "Bearer\(access)", ""] {
                let reply = try await client.call(.get, "/api/v1/me", headers: [.authorization: value])
                expectAPIError(reply, .unauthorized, "not_authenticated", "Authorization: \(value.prefix(20))")
            }
        }
    }

    // MARK: What a real token carries

    @Test("access and refresh tokens carry the claims of SPEC §4 and the JWKS kid", arguments: TestDatabase.all)
    func claimsAndJWKS(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["ISSUER": "https://auth.example.com", "AUDIENCE": "example-apps"])
        try await app.run { client in
            let registered = try await client.register(["email": "cleo@example.com", "password": goodPassword])
            #expect(registered.status == .created)
            let user = try #require(registered["user"] as? [String: Any])
            let userID = try #require(user["id"] as? String)
            let roles = try #require(user["roles"] as? [String])
            let access = try #require(JWTParts(registered.string("access")))
            let refresh = try #require(JWTParts(registered.string("refresh")))

            for (name, token) in [("access", access), ("refresh", refresh)] {
                #expect(token.header["alg"] as? String == "ES256", "\(name) alg")
                #expect((token.header["kid"] as? String)?.isEmpty == false, "\(name) kid")
                let claims = token.claims
                #expect(claims["iss"] as? String == "https://auth.example.com", "\(name) iss")
                #expect(claims["aud"] as? String == "example-apps" || (claims["aud"] as? [String]) == ["example-apps"], "\(name) aud")
                #expect(claims["sub"] as? String == userID, "\(name) sub")
                #expect(claims["user_id"] as? String == userID, "\(name) user_id")
                #expect((claims["sid"] as? String).flatMap(UUID.init(uuidString:)) != nil, "\(name) sid is a UUID")
                #expect((claims["jti"] as? String)?.isEmpty == false, "\(name) jti")
                #expect(claims["token_type"] as? String == name, "\(name) token_type")
                let iat = try #require(claims["iat"] as? Int, "\(name) iat")
                let exp = try #require(claims["exp"] as? Int, "\(name) exp")
                #expect(abs(Double(iat) - app.clock.clock.now().timeIntervalSince1970) < 2, "\(name) iat is now")
                #expect(exp - iat == (name == "access" ? 15 * 60 : 7 * 86400), "\(name) lifetime")
            }
            #expect(access.claims["sid"] as? String == refresh.claims["sid"] as? String, "one session")
            #expect(access.claims["jti"] as? String != refresh.claims["jti"] as? String, "distinct jti")
            #expect(access.claims["roles"] as? [String] == roles, "roles on the access token")
            #expect(refresh.claims["roles"] == nil, "no roles on the refresh token")
            #expect(access.header["kid"] as? String == refresh.header["kid"] as? String)

            // The published key is an EC P-256 key with the tokens' kid, public only, and it verifies them.
            let jwks = try await client.call(.get, "/.well-known/jwks.json")
            #expect(jwks.status == .ok)
            let keys = try #require(jwks["keys"] as? [[String: Any]])
            let key = try #require(keys.first { $0["kid"] as? String == access.header["kid"] as? String }, "no JWKS key with the token's kid")
            #expect(key["kty"] as? String == "EC")
            #expect(key["crv"] as? String == "P-256")
            if let alg = key["alg"] { #expect(alg as? String == "ES256") }
            for privatePart in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                #expect(keys.allSatisfy { $0[privatePart] == nil }, "JWKS leaks private member \(privatePart)")
            }
            let x = try #require(Base64URL.decode(any: key["x"]))
            let y = try #require(Base64URL.decode(any: key["y"]))
            #expect(x.count == 32 && y.count == 32)
            let publicKey = try P256.Signing.PublicKey(rawRepresentation: x + y)
            for token in [access, refresh] {
                let signature = try P256.Signing.ECDSASignature(rawRepresentation: token.signature)
                #expect(publicKey.isValidSignature(signature, for: Data(token.signingInput.utf8)), "JWKS key does not verify the token")
            }
        }
    }

    @Test("the JSON Tessera writes for claims and headers itself reads back exactly, whatever the strings hold")
    func tokenJSONReadsBack() throws {
        let awkward = ["plain", "quote \" and \\ backslash", "tab\tnew\nline\r\u{0}\u{1F}\u{7F}", "/slash", "Ünïcödé ✓ 🎟️", ""]
        for text in awkward {
            for roles in [nil, [], ["admin", text]] as [[String]?] {
                let claims = TokenClaims(
                    iss: text, aud: text + "-aud", sub: text, user_id: "u", sid: "s", jti: text, iat: -5, exp: Int.max, token_type: .refresh,
                    roles: roles)
                let written = try TokenJSON().encode(claims)
                #expect(try JSONDecoder().decode(TokenClaims.self, from: written) == claims, "\(text.debugDescription) \(String(describing: roles))")
            }
            let header = JWTHeader(fields: ["alg": .string("ES256"), "typ": .string("JWT"), "kid": .string(text)])
            let object = try #require(try JSONSerialization.jsonObject(with: TokenJSON().encode(header)) as? [String: String])
            #expect(object == ["alg": "ES256", "typ": "JWT", "kid": text])
        }
        // A header with more than strings goes to JWTKit's own encoder.
        let mixed = JWTHeader(fields: ["alg": .string("ES256"), "x5c": .array([.string("a")])])
        let object = try #require(try JSONSerialization.jsonObject(with: TokenJSON().encode(mixed)) as? [String: Any])
        #expect(object["x5c"] as? [String] == ["a"])
    }

    @Test(
        "every algorithm signs the JSON Tessera writes itself: claims in order, slashes unescaped, header keys sorted",
        arguments: TestDatabase.once, ["ES256", "EdDSA", "HS256"])
    func signedJSONIsTokenJSON(_ database: TestDatabase, _ algorithm: String) async throws {
        var settings = ["JWT_ALG": algorithm, "ISSUER": "https://auth.example.test/tessera"]
        if algorithm == "HS256" { settings["JWT_SECRET"] = "a-test-only-hs256-secret-of-more-than-32-bytes" }
        let app = try await TestApp.make(database, settings)
        try await app.run { client in
            let registered = try await client.register(["email": "json@example.com", "password": goodPassword])
            #expect(registered.status == .created)
            for token in [registered.string("access"), registered.string("refresh")] {
                let parts = try #require(JWTParts(token))
                let payload = try #require(Base64URL.decode(parts.payloadSegment))
                let claims = try JSONDecoder().decode(TokenClaims.self, from: payload)
                // Foundation's encoder, which JWTKit falls back to, writes `https:\/\/`.
                #expect(String(decoding: payload, as: UTF8.self) == claims.json)
                let header = String(decoding: try #require(Base64URL.decode(parts.headerSegment)), as: UTF8.self)
                let kid = try #require(parts.header["kid"] as? String)
                #expect(header == #"{"alg":"\#(algorithm)","kid":"\#(kid)","typ":"JWT"}"#)
            }
        }
    }

    // MARK: Issuer, audience and algorithm are the deployment's own

    @Test("tokens for another audience or issuer are refused by an app sharing the database and keys", arguments: TestDatabase.all)
    func wrongAudienceOrIssuer(_ database: TestDatabase) async throws {
        try await withAppsSharingOneDatabase(
            database,
            [
                ["ISSUER": "issuer-a", "AUDIENCE": "audience-x"],  // issues the tokens
                ["ISSUER": "issuer-a", "AUDIENCE": "audience-y"],  // another audience
                ["ISSUER": "issuer-b", "AUDIENCE": "audience-x"],  // another issuer
                ["ISSUER": "issuer-a", "AUDIENCE": "audience-x"],  // control: same settings, accepts
            ]
        ) { apps in
            let (access, refresh): (String, String) = try await apps[0].run { client in
                let registered = try await client.register(["email": "ada@example.com", "password": goodPassword])
                #expect(registered.status == .created)
                return (try #require(registered.string("access")), try #require(registered.string("refresh")))
            }
            let claims = try #require(JWTParts(access)).claims
            #expect(claims["iss"] as? String == "issuer-a")
            #expect(claims["aud"] as? String == "audience-x" || (claims["aud"] as? [String]) == ["audience-x"])

            for (index, what) in [(1, "audience"), (2, "issuer")] {
                try await apps[index].run { client in
                    expectAPIError(try await client.call(.get, "/api/v1/me", token: access), .unauthorized, "token_not_valid", "wrong \(what) at /me")
                    expectAPIError(
                        try await client.call(.post, "/api/v1/auth/token/verify", json: ["token": access]), .unauthorized, "token_not_valid",
                        "wrong \(what) at verify")
                    expectAPIError(
                        try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": refresh]), .unauthorized, "token_not_valid",
                        "wrong \(what) at refresh")
                }
            }
            try await apps[3].run { client in
                let me = try await client.call(.get, "/api/v1/me", token: access)
                #expect(me.status == .ok, "control app refuses a good token")
                #expect(try await client.call(.post, "/api/v1/auth/token/verify", json: ["token": access]).status == .ok)
                #expect(try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": refresh]).status == .ok)
            }
        }
    }

    @Test("EdDSA and HS256 modes sign with their algorithm and work end to end", arguments: TestDatabase.once, ["EdDSA", "HS256"])
    func otherAlgorithms(_ database: TestDatabase, _ algorithm: String) async throws {
        let secret = "a-test-only-hs256-secret-of-more-than-32-bytes"
        var settings = ["JWT_ALG": algorithm]
        if algorithm == "HS256" { settings["JWT_SECRET"] = secret }
        let app = try await TestApp.make(database, settings)
        try await app.run { client in
            let registered = try await client.register(["email": "ed@example.com", "password": goodPassword])
            #expect(registered.status == .created)
            let access = try #require(JWTParts(registered.string("access")))
            let refresh = try #require(JWTParts(registered.string("refresh")))
            #expect(access.header["alg"] as? String == algorithm)
            #expect(refresh.header["alg"] as? String == algorithm)
            #expect((access.header["kid"] as? String)?.isEmpty == false)

            let jwks = try await client.call(.get, "/.well-known/jwks.json")
            #expect(jwks.status == .ok)
            let keys = try #require(jwks["keys"] as? [[String: Any]])
            switch algorithm {
            case "EdDSA":
                let key = try #require(keys.first { $0["kid"] as? String == access.header["kid"] as? String }, "no JWKS key with the token's kid")
                #expect(key["kty"] as? String == "OKP")
                #expect(key["crv"] as? String == "Ed25519")
                #expect(key["d"] == nil, "JWKS leaks the private key")
                let publicKey = try Curve25519.Signing.PublicKey(rawRepresentation: try #require(Base64URL.decode(any: key["x"])))
                for token in [access, refresh] {
                    #expect(publicKey.isValidSignature(token.signature, for: Data(token.signingInput.utf8)), "JWKS key does not verify the token")
                }
            default:
                #expect(keys.isEmpty, "HS256 must publish no keys, got \(keys.count)")
                for token in [access, refresh] {
                    let mac = Data(HMAC<SHA256>.authenticationCode(for: Data(token.signingInput.utf8), using: SymmetricKey(data: Data(secret.utf8))))
                    #expect(mac == token.signature, "HS256 token is not signed with JWT_SECRET")
                }
            }

            #expect(try await client.call(.get, "/api/v1/me", token: access.token).status == .ok)
            #expect(try await client.call(.post, "/api/v1/auth/token/verify", json: ["token": access.token]).status == .ok)
            let renewed = try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": refresh.token])
            #expect(renewed.status == .ok)
            let renewedAccess = try #require(JWTParts(renewed.string("access")))
            #expect(renewedAccess.header["alg"] as? String == algorithm)
            #expect(try await client.call(.get, "/api/v1/me", token: renewedAccess.token).status == .ok)
        }
    }

    @Test("a token signed under one algorithm is refused by an app configured with another", arguments: TestDatabase.sharedByInstances)
    func onlyTheConfiguredAlgorithm(_ database: TestDatabase) async throws {
        let algorithms = ["ES256", "EdDSA", "HS256"]
        let secret = "another-test-only-hs256-secret-32-bytes-plus"
        try await withAppsSharingOneDatabase(
            database, [["JWT_ALG": "ES256"], ["JWT_ALG": "EdDSA"], ["JWT_ALG": "HS256", "JWT_SECRET": secret]]
        ) { apps in
            // Each app runs once (a run owns its database connections), so the three are nested.
            try await apps[0].run { es in
                try await apps[1].run { ed in
                    try await apps[2].run { hs in
                        let clients: [any TestClientProtocol] = [es, ed, hs]
                        // One user; a session (and pair) issued by each app over the same rows.
                        let registered = try await es.register(["email": "alg@example.com", "password": goodPassword])
                        #expect(registered.status == .created)
                        var pairs = [(try #require(registered.string("access")), try #require(registered.string("refresh")))]
                        for client in clients.dropFirst() {
                            let login = try await client.login("alg@example.com", goodPassword)
                            #expect(login.status == .ok)
                            pairs.append((try #require(login.string("access")), try #require(login.string("refresh"))))
                        }
                        for (index, client) in clients.enumerated() {
                            for (other, pair) in pairs.enumerated() where other != index {
                                let label = "\(algorithms[other]) token at the \(algorithms[index]) app"
                                #expect(JWTParts(pair.0)?.header["alg"] as? String == algorithms[other])
                                expectAPIError(
                                    try await client.call(.get, "/api/v1/me", token: pair.0), .unauthorized, "token_not_valid", "\(label): /me")
                                expectAPIError(
                                    try await client.call(.post, "/api/v1/auth/token/verify", json: ["token": pair.0]), .unauthorized,
                                    "token_not_valid", "\(label): verify")
                                expectAPIError(
                                    try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": pair.1]), .unauthorized,
                                    "token_not_valid", "\(label): refresh")
                            }
                        }
                        // Each app takes its own pair, and refreshing it (after the refusals above) is not reuse.
                        for (index, client) in clients.enumerated() {
                            let me = try await client.call(.get, "/api/v1/me", token: pairs[index].0)
                            #expect(me.status == .ok, "\(algorithms[index]) own token")
                            let refreshed = try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": pairs[index].1])
                            #expect(refreshed.status == .ok, "\(algorithms[index]) own refresh: \(refreshed.text)")
                        }
                    }
                }
            }
        }
    }
}

// MARK: - Helpers

/// Checks an error answer: the status, a `detail` and a `code` (SPEC §3), and the code when given.

private enum Base64URL {
    static func encode(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(any value: Any?) -> Data? {
        (value as? String).flatMap(decode)
    }

    static func decode(_ text: String) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}

/// A compact JWS taken apart by hand, and forgeries put together the same way.
private struct JWTParts {
    let token: String
    let headerSegment: String
    let payloadSegment: String
    let header: [String: Any]
    let claims: [String: Any]
    let signature: Data

    var signingInput: String { headerSegment + "." + payloadSegment }

    init?(_ token: String?) {
        guard let token else { return nil }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3,
            let header = Base64URL.decode(parts[0]).flatMap({ try? JSONSerialization.jsonObject(with: $0) }) as? [String: Any],
            let claims = Base64URL.decode(parts[1]).flatMap({ try? JSONSerialization.jsonObject(with: $0) }) as? [String: Any],
            let signature = Base64URL.decode(parts[2])
        else { return nil }
        self.token = token
        self.headerSegment = parts[0]
        self.payloadSegment = parts[1]
        self.header = header
        self.claims = claims
        self.signature = signature
    }

    static func segment(_ object: [String: Any]) -> String {
        Base64URL.encode((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }

    static func compose(header: [String: Any], payload: String, signature: Data) -> String {
        segment(header) + "." + payload + "." + Base64URL.encode(signature)
    }

    static func signHS256(header: [String: Any], payload: String, secret: Data) -> String {
        let input = segment(header) + "." + payload
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: secret))
        return input + "." + Base64URL.encode(Data(mac))
    }

    static func signES256(header: [String: Any], payload: String, key: P256.Signing.PrivateKey) throws -> String {
        let input = segment(header) + "." + payload
        return input + "." + Base64URL.encode(try key.signature(for: Data(input.utf8)).rawRepresentation)
    }
}

/// Builds one app per settings dictionary over a single database (a SQLite file, or one
/// PostgreSQL database) with one clock, runs `body`, and removes the SQLite file afterwards.
private func withAppsSharingOneDatabase(
    _ database: TestDatabase, _ settings: [[String: String]], _ body: ([TestApp]) async throws -> Void
) async throws {
    let url = try await database.freshURL()
    let clock = TestClock()
    var logger = Logger(label: "tessera-test")
    logger.logLevel = .error
    var apps: [TestApp] = []
    for var values in settings {
        values["DATABASE_URL"] = url
        // Several instances on one database, on a loaded machine: waits for a writer may be long.
        values["DATABASE_TIMEOUT"] = values["DATABASE_TIMEOUT"] ?? "60s"
        apps.append(
            TestApp(
                tessera: try await TesseraServer.make(
                    settings: try Settings(values), clock: clock.clock, hashing: TestApp.fastHashing, logger: logger), clock: clock))
    }
    try await body(apps)
}
