import AsyncHTTPClient
import Foundation
import HummingbirdOTP
import HummingbirdTesting
import SQLKit
import Testing

@testable import Tessera

/// SPEC §5b against real peers (`Tests/signin_peers.py`): an SMS gateway, OpenID Connect providers
/// that sign with keys they make, and a VK-style OAuth server. One test at a time: each starts a
/// peer that makes RSA keys, and all of them at once would load two cores when every other suite
/// starts too.
@Suite("More ways to sign in", .throwawayDatabases, .serialized)
struct SignInTests {
    static let phone = "+79187020987"

    /// Sends what is queued (texts through the gateway) and returns the code texted to `phone`.
    static func deliveredCode(_ app: TestApp, _ peers: SignInPeers, to phone: String = phone) async throws -> String {
        try await deliver(app)
        return try await peers.lastCode(to: phone)
    }

    /// Delivers what is due, and waits until no text is due or in flight: the app's own worker
    /// may have taken one a moment before.
    static func deliver(_ app: TestApp) async throws {
        for _ in 0..<500 {
            try await app.tessera.outbox.deliverDue()
            let now = app.tessera.clock.now()
            let busy = try await app.tessera.database.read { db in
                try await db.raw(
                    """
                    SELECT COUNT(*) AS n FROM mail_outbox WHERE channel = 'sms' AND status = 'pending'
                    AND (locked_until IS NOT NULL OR next_attempt_at <= \(bind: now))
                    """
                ).first(decodingColumn: "n", as: Int.self) ?? 0
            }
            if busy == 0 { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("a text stayed due or in flight")
    }

    /// Runs `body` against an app wired to fresh peers, with `extra` settings over theirs.
    static func withPeers(
        _ database: TestDatabase, _ extra: [String: String] = [:], _ mode: TestingSetup = .router,
        _ body: @Sendable (TestApp, SignInPeers, any TestClientProtocol) async throws -> Void
    ) async throws {
        let peers = try await SignInPeers()
        defer { peers.stop() }
        let app = try await TestApp.make(database, peers.settings.merging(extra) { $1 })
        try await app.run(mode) { client in try await body(app, peers, client) }
    }

    static func requestCode(_ client: any TestClientProtocol, _ phone: String = phone) async throws -> Reply {
        try await client.call(.post, "/api/v1/auth/otp/request", json: ["phone": phone])
    }

    static func signIn(_ client: any TestClientProtocol, phone: String = phone, code: String) async throws -> Reply {
        try await client.call(.post, "/api/v1/auth/token", json: ["phone": phone, "code": code])
    }

    @Test(
        "SMS sign-in: a code through the gateway creates a client account once; wrong, reused and late codes are refused", arguments: TestDatabase.all
    )
    func smsSignIn(_ database: TestDatabase) async throws {
        try await Self.withPeers(database) { app, peers, client in
            #expect(try await Self.requestCode(client, "8 918 702-09-87").status == .accepted)
            let code = try await Self.deliveredCode(app, peers)
            let texts = try await peers.texts(to: Self.phone)
            #expect(texts.count == 1 && texts[0].authorization == "Bearer gateway-token", "\(texts)")
            // Only a keyed hash of the code is stored.
            let stored = try await app.tessera.database.read { db in
                try await db.raw("SELECT code_hash FROM phone_codes").all(decodingColumn: "code_hash", as: String.self)
            }
            #expect(stored.count == 1 && !stored[0].contains(code) && stored[0].count == 64)

            let first = try await Self.signIn(client, phone: "+7 (918) 702-09-87", code: code)
            #expect(first.status == .ok, "\(first.text)")
            #expect(first["created"] as? Bool == true)
            let user = try #require(first["user"] as? [String: Any])
            #expect(user["phone"] as? String == Self.phone && user["phone_verified"] as? Bool == true && user["role"] as? String == "client")
            expectAPIError(try await Self.signIn(client, code: code), .unauthorized, "invalid_credentials", "a used code")

            // The same phone again: the same account, not created.
            _ = try await Self.requestCode(client)
            let again = try await Self.signIn(client, code: try await Self.deliveredCode(app, peers))
            #expect(again.status == .ok && again["created"] == nil, "\(again.text)")
            #expect((again["user"] as? [String: Any])?["id"] as? String == user["id"] as? String)

            // Five wrong tries use a code up; then the right one fails too.
            _ = try await Self.requestCode(client)
            let right = try await Self.deliveredCode(app, peers)
            let wrong = right == "000000" ? "111111" : "000000"
            for _ in 0..<5 { expectAPIError(try await Self.signIn(client, code: wrong), .unauthorized, "invalid_credentials", "a wrong code") }
            expectAPIError(try await Self.signIn(client, code: right), .unauthorized, "invalid_credentials", "the right code after five wrong")

            // A code lives five minutes.
            _ = try await Self.requestCode(client)
            let late = try await Self.deliveredCode(app, peers)
            app.clock.advance(by: 301)
            expectAPIError(try await Self.signIn(client, code: late), .unauthorized, "invalid_credentials", "an expired code")

            expectAPIError(try await Self.signIn(client, code: "12345"), .unauthorized, "invalid_credentials", "five digits")
            expectAPIError(try await Self.requestCode(client, "not a phone"), .badRequest, "validation_error", "a bad phone")
        }
    }

    @Test("under approval no code goes to a phone without an account, and the answer is the same", arguments: TestDatabase.all)
    func smsNoEnumeration(_ database: TestDatabase) async throws {
        try await Self.withPeers(database, ["REGISTRATION": "approval"]) { app, peers, client in
            let unknown = try await Self.requestCode(client, "+79990001122")
            #expect(unknown.status == .accepted && unknown.text == "{}")
            try await Self.deliver(app)
            #expect(try await peers.texts(to: "+79990001122").isEmpty)
            expectAPIError(try await Self.signIn(client, phone: "+79990001122", code: "123456"), .unauthorized, "invalid_credentials", "no account")
        }
    }

    @Test("a gateway that is down and comes back still delivers the code", arguments: TestDatabase.all)
    func gatewayOutage(_ database: TestDatabase) async throws {
        try await Self.withPeers(database) { app, peers, client in
            try await peers.call(.POST, "/sms/fail", ["count": 2, "status": 503])
            _ = try await Self.requestCode(client)
            try await Self.deliver(app)
            #expect(try await peers.texts().isEmpty)
            app.clock.advance(by: 31)
            try await Self.deliver(app)
            #expect(try await peers.texts().isEmpty)
            app.clock.advance(by: 61)
            try await Self.deliver(app)
            let code = try await peers.lastCode(to: Self.phone)
            let attempts = try await peers.call(.GET, "/sms/attempts") as? [String: Any]
            #expect(attempts?["failed"] as? Int == 2 && attempts?["attempts"] as? Int == 3, "\(attempts ?? [:])")
            #expect(try await Self.signIn(client, code: code).status == .ok)
        }
    }

    @Test("phone verification: a code to the caller's phone; a wrong one is 400 code_invalid", arguments: TestDatabase.all)
    func phoneVerification(_ database: TestDatabase) async throws {
        try await Self.withPeers(database) { app, peers, client in
            let registered = try await client.register(["phone": Self.phone, "password": goodPassword])
            let access = try #require(registered.string("access"))
            let noPhone = try await client.signUp("nophone@example.com")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/phone/verify/request", json: [:], token: noPhone.access), .badRequest,
                "validation_error", "an account without a phone")
            #expect(try await client.call(.post, "/api/v1/auth/phone/verify/request", json: [:], token: access).status == .accepted)
            let code = try await Self.deliveredCode(app, peers)
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/phone/verify", json: ["code": code == "000000" ? "111111" : "000000"], token: access),
                .badRequest, "code_invalid", "a wrong code")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/phone/verify", json: ["code": code], token: noPhone.access), .badRequest,
                "code_invalid", "another account's code")
            // Until the phone is proved, no sign-in code goes to it (whoever typed the number in
            // must not share the account with the phone's owner).
            #expect(try await Self.requestCode(client).status == .accepted)
            try await Self.deliver(app)
            #expect(try await peers.texts(to: Self.phone).count == 1, "only the verification code")
            expectAPIError(try await Self.signIn(client, code: code), .unauthorized, "invalid_credentials", "the verification code as a sign-in code")
            let verified = try await client.call(.post, "/api/v1/auth/phone/verify", json: ["code": code], token: access)
            #expect(verified.status == .ok && verified["phone_verified"] as? Bool == true, "\(verified.text)")
            _ = try await Self.requestCode(client)
            let bySMS = try await Self.signIn(client, code: try await Self.deliveredCode(app, peers))
            #expect(bySMS.status == .ok && bySMS["created"] == nil, "\(bySMS.text)")
            #expect((bySMS["user"] as? [String: Any])?["id"] as? String == verified.string("id"))
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/phone/verify", json: ["code": code], token: access), .badRequest, "code_invalid",
                "the code again")
        }
    }

    @Test("code requests are limited per phone and per client address", arguments: TestDatabase.all)
    func smsRateLimits(_ database: TestDatabase) async throws {
        try await Self.withPeers(database, ["RATE_LIMITS": "on", "RATE_LIMIT_SMS": "2/1h"]) { app, peers, client in
            #expect(try await Self.requestCode(client, "+79990000001").status == .accepted)
            #expect(try await Self.requestCode(client, "+79990000001").status == .accepted)
            let third = try await Self.requestCode(client, "+79990000001")
            expectAPIError(third, .tooManyRequests, "rate_limited", "a third code to one phone")
            #expect(third.headers[.retryAfter] != nil)
            // Another phone from the same address is over the address's limit too.
            expectAPIError(try await Self.requestCode(client, "+79990000002"), .tooManyRequests, "rate_limited", "a third code from one address")
        }
    }
}

// MARK: - Two-factor

extension SignInTests {
    /// The six digits an authenticator app shows for the base-32 `secret` at `date`.
    static func totp(_ secret: String, at date: Date) -> String {
        String(format: "%06d", TOTP(secret: String(decoding: base32Decoded(secret), as: UTF8.self)).compute(date: date))
    }

    static func base32Decoded(_ text: String) -> [UInt8] {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var bits = 0
        var value = 0
        var bytes: [UInt8] = []
        for character in text where character != "=" {
            guard let index = alphabet.firstIndex(of: character) else { continue }
            value = value << 5 | index
            bits += 5
            if bits >= 8 {
                bytes.append(UInt8((value >> (bits - 8)) & 0xFF))
                bits -= 8
            }
        }
        return bytes
    }

    @Test("TOTP: enrol, confirm with recovery codes, mfa_required on sign-in, no replay, recovery once, off with a code", arguments: TestDatabase.all)
    func totp(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let owner = try await client.signUp("mfa@example.com")
            let enrolment = try await client.call(.post, "/api/v1/me/mfa/totp", token: owner.access)
            #expect(enrolment.status == .ok, "\(enrolment.text)")
            let secret = try #require(enrolment.string("secret"))
            let uri = try #require(enrolment.string("uri"))
            #expect(uri.hasPrefix("otpauth://totp/") && uri.contains("secret=\(secret)"), "\(uri)")
            // The secret is stored sealed, never as it is.
            let stored = try await app.tessera.database.read { db in
                try await db.raw("SELECT secret FROM totp_factors").first(decodingColumn: "secret", as: String.self)
            }
            let raw = String(decoding: Self.base32Decoded(secret), as: UTF8.self)
            #expect(stored != nil && !(stored ?? "").contains(raw) && !(stored ?? "").contains(secret))
            // Not on until confirmed.
            #expect(try await client.login("mfa@example.com", goodPassword).status == .ok)

            let now = app.tessera.clock.now()
            expectAPIError(
                try await client.call(.post, "/api/v1/me/mfa/totp/confirm", json: ["code": "12345x"], token: owner.access), .badRequest,
                "code_invalid", "a wrong first code")
            let confirmed = try await client.call(
                .post, "/api/v1/me/mfa/totp/confirm", json: ["code": Self.totp(secret, at: now)], token: owner.access)
            let recovery = try #require(confirmed["recovery_codes"] as? [String], "\(confirmed.text)")
            #expect(recovery.count == 10 && Set(recovery).count == 10)
            expectAPIError(
                try await client.call(.post, "/api/v1/me/mfa/totp", token: owner.access), .conflict, "invalid_state", "enrolling again while on")

            // A password sign-in now stops at the second step, and is not a sign-in yet.
            @Sendable func lastLogin() async throws -> Date? {
                try await app.tessera.database.read { db in
                    try await db.raw("SELECT last_login FROM users WHERE email_key = 'mfa@example.com'")
                        .first(decodingColumn: "last_login", as: Date?.self) ?? nil
                }
            }
            try await app.tessera.database.write { db in
                try await db.raw("UPDATE users SET last_login = NULL WHERE email_key = 'mfa@example.com'").run()
            }
            let first = try await client.login("mfa@example.com", goodPassword)
            expectAPIError(first, .unauthorized, "mfa_required", "a password sign-in with two-factor on")
            #expect(first["access"] == nil)
            #expect(try await lastLogin() == nil, "last_login moved before the second step")
            let mfaToken = try #require(first.string("mfa_token"))
            // The code just used to confirm does not work again (same time step).
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/token/mfa", json: ["mfa_token": mfaToken, "code": Self.totp(secret, at: now)]),
                .unauthorized, "invalid_credentials", "a replayed code")
            app.clock.advance(by: 30)
            let next = Self.totp(secret, at: app.tessera.clock.now())
            let done = try await client.call(.post, "/api/v1/auth/token/mfa", json: ["mfa_token": mfaToken, "code": next])
            #expect(done.status == .ok && done.string("access") != nil, "\(done.text)")
            #expect(try await lastLogin() != nil, "last_login did not move with the second step")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/token/mfa", json: ["mfa_token": mfaToken, "code": next]), .unauthorized,
                "token_not_valid", "a used mfa_token")

            // A recovery code works once.
            let second = try #require(try await client.login("mfa@example.com", goodPassword).string("mfa_token"))
            #expect(
                try await client.call(.post, "/api/v1/auth/token/mfa", json: ["mfa_token": second, "code": recovery[0].uppercased()]).status == .ok)
            let third = try #require(try await client.login("mfa@example.com", goodPassword).string("mfa_token"))
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/token/mfa", json: ["mfa_token": third, "code": recovery[0]]), .unauthorized,
                "invalid_credentials", "a recovery code used twice")
            // An mfa_token lives five minutes.
            app.clock.advance(by: 301)
            expectAPIError(
                try await client.call(
                    .post, "/api/v1/auth/token/mfa", json: ["mfa_token": third, "code": Self.totp(secret, at: app.tessera.clock.now())]),
                .unauthorized, "token_not_valid", "an expired mfa_token")

            // Off with a code; then a password is enough again.
            let access = try TokenPair(
                try await client.call(
                    .post, "/api/v1/auth/token/mfa",
                    json: [
                        "mfa_token": try #require(try await client.login("mfa@example.com", goodPassword).string("mfa_token")),
                        "code": recovery[1],
                    ])
            ).access
            expectAPIError(
                try await client.call(.delete, "/api/v1/me/mfa/totp", json: ["code": "000000"], token: access), .badRequest, "code_invalid",
                "turning off with a wrong code")
            #expect(try await client.call(.delete, "/api/v1/me/mfa/totp", json: ["code": recovery[2]], token: access).status == .noContent)
            #expect(try await client.login("mfa@example.com", goodPassword).status == .ok)
            let audit = try await app.tessera.database.read { db in
                try await db.raw("SELECT event FROM audit_events WHERE event LIKE 'mfa.%'").all(decodingColumn: "event", as: String.self)
            }
            #expect(Set(audit) == ["mfa.enabled", "mfa.disabled", "mfa.code_failed"], "\(audit)")
        }
    }

    @Test("wrong two-factor codes count towards the lockout; an SMS sign-in asks for the second factor too", arguments: TestDatabase.all)
    func totpLockout(_ database: TestDatabase) async throws {
        try await Self.withPeers(database, ["RATE_LIMITS": "on", "LOCKOUT_FAILURES": "3"]) { app, peers, client in
            let registered = try await client.register(["phone": Self.phone, "password": goodPassword])
            let access = try #require(registered.string("access"))
            #expect(try await client.call(.post, "/api/v1/auth/phone/verify/request", json: [:], token: access).status == .accepted)
            let proof = try await Self.deliveredCode(app, peers)
            #expect(try await client.call(.post, "/api/v1/auth/phone/verify", json: ["code": proof], token: access).status == .ok)
            let secret = try #require(try await client.call(.post, "/api/v1/me/mfa/totp", token: access).string("secret"))
            let now = app.tessera.clock.now()
            #expect(
                try await client.call(.post, "/api/v1/me/mfa/totp/confirm", json: ["code": Self.totp(secret, at: now)], token: access).status == .ok)

            _ = try await Self.requestCode(client)
            let bySMS = try await Self.signIn(client, code: try await Self.deliveredCode(app, peers))
            expectAPIError(bySMS, .unauthorized, "mfa_required", "an SMS sign-in with two-factor on")
            let mfaToken = try #require(bySMS.string("mfa_token"))
            func wrongCode(_ token: String) async throws {
                expectAPIError(
                    try await client.call(.post, "/api/v1/auth/token/mfa", json: ["mfa_token": token, "code": "000000"]), .unauthorized,
                    "invalid_credentials", "a wrong code")
            }
            try await wrongCode(mfaToken)
            try await wrongCode(mfaToken)
            // The right password again does not wipe the wrong codes counted so far.
            let byPassword = try await client.login(Self.phone, goodPassword)
            expectAPIError(byPassword, .unauthorized, "mfa_required", "a password sign-in with two-factor on")
            let latest = try #require(byPassword.string("mfa_token"))
            try await wrongCode(latest)
            app.clock.advance(by: 30)
            expectAPIError(
                try await client.call(
                    .post, "/api/v1/auth/token/mfa", json: ["mfa_token": latest, "code": Self.totp(secret, at: app.tessera.clock.now())]),
                .tooManyRequests, "rate_limited", "the right code while locked")
            expectAPIError(try await client.login(Self.phone, goodPassword), .tooManyRequests, "rate_limited", "a password while locked")
        }
    }
}

// MARK: - Social

extension SignInTests {
    static func social(_ client: any TestClientProtocol, _ provider: String, _ body: [String: Any]) async throws -> Reply {
        try await client.call(.post, "/api/v1/auth/social/\(provider)", json: body)
    }

    @Test(
        "OpenID Connect: RS256 and ES256 tokens sign in; the same identity reaches the same account; nonce as SPEC says", arguments: TestDatabase.all)
    func oidcSignIn(_ database: TestDatabase) async throws {
        try await Self.withPeers(database) { app, peers, client in
            let claims: [String: Any] = [
                "sub": "g-1", "aud": "ios-client", "email": "ann@example.com", "email_verified": true, "given_name": "Ann", "nonce": "n-0S6",
            ]
            let token = try await peers.idToken("google", at: app.tessera.clock.now(), claims)
            let first = try await Self.social(client, "google", ["id_token": token, "nonce": "n-0S6"])
            #expect(first.status == .ok && first["created"] as? Bool == true, "\(first.text)")
            let user = try #require(first["user"] as? [String: Any])
            #expect(
                user["email"] as? String == "ann@example.com" && user["email_verified"] as? Bool == true && user["first_name"] as? String == "Ann")
            let again = try await Self.social(client, "google", ["id_token": try await peers.idToken("google", at: app.tessera.clock.now(), claims)])
            #expect(again.status == .ok && again["created"] == nil && (again["user"] as? [String: Any])?["id"] as? String == user["id"] as? String)
            #expect(try await peers.stats("google").discovery == 1, "discovery is read once")

            // The nonce: equal, or its SHA-256 in hex, as Apple and Google clients send it.
            let hashed = OneTimeTokens.digest("raw-nonce")
            let apple = try await peers.idToken(
                "apple", at: app.tessera.clock.now(), ["sub": "a-1", "aud": "com.example.app", "nonce": hashed, "email_verified": "true"], key: "ec")
            let byApple = try await Self.social(client, "apple", ["id_token": apple, "nonce": "raw-nonce"])
            #expect(byApple.status == .ok && byApple["created"] as? Bool == true, "ES256 with a hashed nonce: \(byApple.text)")
            expectAPIError(
                try await Self.social(client, "google", ["id_token": token, "nonce": "other"]), .unauthorized, "invalid_credentials",
                "a nonce that differs")
            expectAPIError(try await Self.social(client, "github", ["id_token": token]), .notFound, "not_found", "an unknown provider")
            expectAPIError(try await Self.social(client, "google", ["nonce": "x"]), .badRequest, "validation_error", "no id_token")

            let identities = try await client.call(.get, "/api/v1/me/identities", token: first.string("access"))
            let results = try #require(identities["results"] as? [[String: Any]])
            #expect(results.count == 1 && results[0]["provider"] as? String == "google" && results[0]["created_at"] != nil, "\(identities.text)")
        }
    }

    @Test("forged, expired, wrong-audience, wrong-issuer, unsigned and wrongly-signed id_tokens are refused", arguments: TestDatabase.all)
    func oidcForgeries(_ database: TestDatabase) async throws {
        try await Self.withPeers(database) { app, peers, client in
            let good: [String: Any] = ["sub": "g-2", "aud": "web-client"]
            let now = Int(app.tessera.clock.now().timeIntervalSince1970)
            let cases: [(String, [String: Any], String, [String: Any])] = [
                ("a key the provider does not publish", good, "unpublished", [:]),
                ("a payload changed after signing", good, "rsa", ["tamper": true]),
                ("alg none", good, "rsa", ["alg": "none"]),
                ("HS256 keyed with the public key", good, "rsa", ["alg": "HS256"]),
                ("an RSA signature labelled ES256", good, "rsa", ["alg": "ES256"]),
                ("expired", good.merging(["exp": now - 10, "iat": now - 700]) { $1 }, "rsa", [:]),
                ("issued in the future", good.merging(["iat": now + 3600, "exp": now + 4200]) { $1 }, "rsa", [:]),
                ("another audience", good.merging(["aud": "someone-else"]) { $1 }, "rsa", [:]),
                ("another issuer", good.merging(["iss": "https://evil.example.com"]) { $1 }, "rsa", [:]),
                ("no subject", ["aud": "web-client"], "rsa", [:]),
                ("no expiry", good.merging(["exp": NSNull()]) { $1 }, "rsa", [:]),
            ]
            for (what, claims, key, extra) in cases {
                let token = try await peers.idToken("google", at: app.tessera.clock.now(), claims, key: key, extra: extra)
                expectAPIError(try await Self.social(client, "google", ["id_token": token]), .unauthorized, "invalid_credentials", what)
            }
            for garbage in ["", "a.b.c", "not a token", String(repeating: "x", count: 20_000)] {
                expectAPIError(try await Self.social(client, "google", ["id_token": garbage]), .unauthorized, "invalid_credentials", "garbage")
            }
            let count = try await app.tessera.database.read { db in
                try await db.raw("SELECT COUNT(*) AS n FROM identities").first(decodingColumn: "n", as: Int.self)
            }
            #expect(count == 0)
        }
    }

    @Test("a key rotated in at the provider is fetched on its first token, at most once per few seconds", arguments: TestDatabase.all)
    func oidcKeyRotation(_ database: TestDatabase) async throws {
        try await Self.withPeers(database) { app, peers, client in
            #expect(
                try await Self.social(
                    client, "apple",
                    ["id_token": try await peers.idToken("apple", at: app.tessera.clock.now(), ["sub": "a-2", "aud": "com.example.app"])]
                )
                .status == .ok)
            let before = try await peers.stats("apple").jwks
            // Tokens naming keys nobody publishes cost at most one fetch per interval.
            for index in 0..<5 {
                let token = try await peers.idToken(
                    "apple", at: app.tessera.clock.now(), ["sub": "a-2", "aud": "com.example.app"],
                    extra: ["kid": "made-up-\(index)"])
                #expect(try await Self.social(client, "apple", ["id_token": token]).status == .unauthorized)
            }
            #expect(try await peers.stats("apple").jwks - before <= 1, "a flood of unknown kids refetched the keys")
            try await peers.call(.POST, "/oidc/apple/publish-late")
            // Past the interval, the new key is fetched on the first token that names it.
            app.clock.advance(by: OIDCProvider.refetchInterval + 1)
            let rotated = try await Self.social(
                client, "apple",
                ["id_token": try await peers.idToken("apple", at: app.tessera.clock.now(), ["sub": "a-2", "aud": "com.example.app"], key: "late")])
            #expect(rotated.status == .ok, "a token signed with the provider's new key: \(rotated.text)")
        }
    }

    @Test(
        "a verified e-mail links to its account; an unverified one makes a new account without it; approval holds new ones",
        arguments: TestDatabase.all)
    func oidcLinking(_ database: TestDatabase) async throws {
        try await Self.withPeers(database) { app, peers, client in
            let existing = try await client.register(["email": "bob@example.com", "password": goodPassword])
            let bobID = try #require((existing["user"] as? [String: Any])?["id"] as? String)
            let unverified = try await Self.social(
                client, "google",
                [
                    "id_token": try await peers.idToken(
                        "google", at: app.tessera.clock.now(),
                        ["sub": "g-3", "aud": "web-client", "email": "bob@example.com", "email_verified": false])
                ])
            let stranger = try #require(unverified["user"] as? [String: Any], "\(unverified.text)")
            #expect(stranger["id"] as? String != bobID && stranger["email"] is NSNull && unverified["created"] as? Bool == true)
            let verified = try await Self.social(
                client, "apple",
                [
                    "id_token": try await peers.idToken(
                        "apple", at: app.tessera.clock.now(),
                        ["sub": "a-3", "aud": "com.example.app", "email": "BOB@example.com", "email_verified": true])
                ])
            #expect((verified["user"] as? [String: Any])?["id"] as? String == bobID && verified["created"] == nil, "\(verified.text)")
            // The address was never proved before: whoever set the password may not be its owner,
            // so the password and the sessions opened with it are cut.
            #expect((verified["user"] as? [String: Any])?["email_verified"] as? Bool == true)
            expectAPIError(try await client.login("bob@example.com", goodPassword), .unauthorized, "invalid_credentials", "the password set before")
            expectAPIError(
                try await client.call(.get, "/api/v1/me", token: try #require(existing.string("access"))), .unauthorized, "token_not_valid",
                "a session of the account's maker")
        }
        try await Self.withPeers(database, ["REGISTRATION": "approval"]) { approval, peers, client in
            let pending = try await Self.social(
                client, "google",
                ["id_token": try await peers.idToken("google", at: approval.tessera.clock.now(), ["sub": "g-4", "aud": "web-client"])])
            expectAPIError(pending, .forbidden, "account_pending", "a new social account under approval")
        }
    }

    @Test("VK ID: the two calls as SPEC describes them, a refusal is 401, an unreachable VK 502, unconfigured 404", arguments: TestDatabase.all)
    func vkSignIn(_ database: TestDatabase) async throws {
        try await Self.withPeers(database) { app, peers, client in
            try await peers.call(
                .POST, "/vk/users", ["code": "c-1", "user_id": 777, "first_name": "Иван", "last_name": "Петров", "email": "ivan@example.com"])
            let body: [String: Any] = [
                "code": "c-1", "redirect_uri": "https://app.example.com/vk", "code_verifier": "verifier-1", "device_id": "dev-1",
            ]
            let first = try await Self.social(client, "vk", body)
            #expect(first.status == .ok && first["created"] as? Bool == true, "\(first.text)")
            let user = try #require(first["user"] as? [String: Any])
            #expect(user["first_name"] as? String == "Иван" && user["email_verified"] as? Bool == false)
            let requests = try #require(try await peers.call(.GET, "/vk/requests") as? [String: [[String: String]]])
            let form = try #require(requests["token"]?.first)
            #expect(
                form["grant_type"] == "authorization_code" && form["client_secret"] == SignInPeers.vkClientSecret
                    && form["code_verifier"] == "verifier-1" && form["device_id"] == "dev-1" && form["redirect_uri"] == "https://app.example.com/vk",
                "\(form)")
            #expect(requests["user_info"]?.first?["client_id"] == SignInPeers.vkClientID)
            // A code works once at VK; the same VK user with a new code reaches the same account.
            expectAPIError(try await Self.social(client, "vk", body), .unauthorized, "invalid_credentials", "a used code")
            try await peers.call(.POST, "/vk/users", ["code": "c-2", "user_id": 777, "first_name": "Иван", "last_name": "Петров"])
            let again = try await Self.social(client, "vk", ["code": "c-2", "redirect_uri": "https://app.example.com/vk"])
            #expect((again["user"] as? [String: Any])?["id"] as? String == user["id"] as? String, "\(again.text)")
            expectAPIError(
                try await Self.social(client, "vk", ["code": "c-1"]), .badRequest, "validation_error", "no redirect_uri")
        }
        try await Self.withPeers(database, ["VK_TOKEN_URL": "http://127.0.0.1:\(try unusedLoopbackPort())/token"]) { _, _, client in
            expectAPIError(
                try await Self.social(client, "vk", ["code": "c-3", "redirect_uri": "https://app.example.com/vk"]), .badGateway,
                "provider_unavailable", "VK unreachable")
        }
        try await TestApp.make(database).run { client in
            expectAPIError(try await Self.social(client, "vk", ["code": "c", "redirect_uri": "r"]), .notFound, "not_found", "VK not configured")
        }
    }

    @Test(
        "identities: the last way to sign in cannot be unlinked; an account without a password changes identifiers only just after signing in",
        arguments: TestDatabase.all)
    func identitiesAndPasswordless(_ database: TestDatabase) async throws {
        try await Self.withPeers(database) { app, peers, client in
            let first = try await Self.social(
                client, "google", ["id_token": try await peers.idToken("google", at: app.tessera.clock.now(), ["sub": "g-5", "aud": "web-client"])])
            let pair = try TokenPair(first)
            let list = try await client.call(.get, "/api/v1/me/identities", token: pair.access)
            let google = try #require((list["results"] as? [[String: Any]])?.first?["id"] as? String)
            expectAPIError(
                try await client.call(.delete, "/api/v1/me/identities/\(google)", token: pair.access), .conflict, "invalid_state",
                "the last way to sign in")
            expectAPIError(
                try await client.call(.delete, "/api/v1/me/identities/\(UUID())", token: pair.access), .notFound, "not_found", "an unknown identity")

            // Within ten minutes of signing in, no password is asked for; a refresh does not renew that.
            let changed = try await client.call(.patch, "/api/v1/me", json: ["email": "social@example.com"], token: pair.access)
            #expect(changed.status == .ok && changed.string("email") == "social@example.com", "\(changed.text)")
            app.clock.advance(by: 601)
            let refreshed = try TokenPair(try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": pair.refresh]))
            expectAPIError(
                try await client.call(.patch, "/api/v1/me", json: ["username": "social"], token: refreshed.access), .forbidden, "permission_denied",
                "an identifier change long after signing in")
            #expect(try await client.call(.patch, "/api/v1/me", json: ["first_name": "Sam"], token: refreshed.access).status == .ok)
            // A password sign-in to an account without one matches nothing.
            expectAPIError(try await client.login("social@example.com", ""), .unauthorized, "invalid_credentials", "an empty password")

            // A second identity makes the first one removable. (Apple proves the address set
            // above, which nobody had proved: the sessions opened before it end.)
            let apple: [String: Any] = ["sub": "a-5", "aud": "com.example.app", "email": "social@example.com", "email_verified": true]
            _ = try await Self.social(client, "apple", ["id_token": try await peers.idToken("apple", at: app.tessera.clock.now(), apple)])
            expectAPIError(
                try await client.call(.get, "/api/v1/me", token: refreshed.access), .unauthorized, "token_not_valid", "a session before the claim")
            let fresh = try TokenPair(
                try await Self.social(
                    client, "google",
                    ["id_token": try await peers.idToken("google", at: app.tessera.clock.now(), ["sub": "g-5", "aud": "web-client"])]))
            #expect(try await client.call(.delete, "/api/v1/me/identities/\(google)", token: fresh.access).status == .noContent)
            let left = try await client.call(.get, "/api/v1/me/identities", token: fresh.access)
            #expect((left["results"] as? [[String: Any]])?.map { $0["provider"] as? String } == ["apple"], "\(left.text)")
        }
    }
}

// MARK: - Races

extension SignInTests {
    @Test("racing requests: one SMS code signs in once, one two-factor code completes one sign-in", arguments: TestDatabase.all)
    func racingCodes(_ database: TestDatabase) async throws {
        try await Self.withPeers(database, [:], .live) { app, peers, client in
            let port = try #require(client.port)
            _ = try await Self.requestCode(client)
            let code = try await Self.deliveredCode(app, peers)
            let signIns = try await concurrently(
                port: port, try (0..<10).map { _ in try jsonRequest(.post, "/api/v1/auth/token", ["phone": Self.phone, "code": code]) })
            #expect(signIns.filter { $0.status == 200 }.count == 1, "one code, \(signIns.map(\.status))")
            #expect(signIns.allSatisfy { $0.status == 200 || $0.status == 401 }, "\(signIns.map(\.status))")

            let owner = try await client.signUp("race@example.com")
            let secret = try #require(try await client.call(.post, "/api/v1/me/mfa/totp", token: owner.access).string("secret"))
            let now = app.tessera.clock.now()
            #expect(
                try await client.call(.post, "/api/v1/me/mfa/totp/confirm", json: ["code": Self.totp(secret, at: now)], token: owner.access)
                    .status == .ok)
            app.clock.advance(by: 30)
            // Five sign-ins wait at the second step (each with its own mfa_token); one code for all.
            var tokens: [String] = []
            for _ in 0..<5 { tokens.append(try #require(try await client.login("race@example.com", goodPassword).string("mfa_token"))) }
            let next = Self.totp(secret, at: app.tessera.clock.now())
            let completions = try await concurrently(
                port: port, try tokens.map { try jsonRequest(.post, "/api/v1/auth/token/mfa", ["mfa_token": $0, "code": next]) })
            #expect(completions.filter { $0.status == 200 }.count == 1, "one code, \(completions.map(\.status))")
            #expect(completions.allSatisfy { $0.status == 200 || $0.status == 401 }, "\(completions.map(\.status))")
        }
    }
}
