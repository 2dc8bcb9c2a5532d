import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import SQLKit
import Testing

@testable import Tessera

/// SPEC §5 e-mail verification and password reset: single-use, expiring tokens that travel as
/// `token=` in links starting at TESSERA_PUBLIC_URL, stored only as their SHA-256.
@Suite("Recovery", .throwawayDatabases)
struct RecoveryTests {
    static let publicURL = "https://auth.example.com"
    static let newPassword = "Copper-Meadow-Lantern-84"

    @Test(
        "registration queues a verification link under PUBLIC_URL; the token verifies once; only its SHA-256 is stored", arguments: TestDatabase.all)
    func verifyEmail(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["PUBLIC_URL": Self.publicURL])
        try await app.run { client in
            let registered = try await client.register(["email": "vera@example.com", "first_name": "Vera", "password": goodPassword])
            #expect(registered.status == .created, "register: \(registered.text)")
            let access = try #require(registered.string("access"))
            #expect((registered["user"] as? [String: Any])?["email_verified"] as? Bool == false)

            let mails = try await mailTo("vera@example.com", app).filter { $0.kind == .verify }
            #expect(mails.count == 1, "verification mails: \(mails)")
            let mail = try #require(mails.first)
            let link = try #require(mail.link, "no link in \(mail.body)")
            #expect(link.hasPrefix(Self.publicURL + "/"), "the link does not start at PUBLIC_URL: \(link)")
            let token = try #require(mail.token, "no token= in \(link)")
            #expect(token.count >= 32, "a short token: \(token)")

            // Stored as its SHA-256 only.
            let stored = try await storedTokens(app)
            #expect(stored.contains { $0.hash == sha256(token) }, "no row holds the token's SHA-256: \(stored)")
            #expect(!stored.contains { $0.values.contains { $0.contains(token) } }, "the raw token is stored: \(stored)")

            for bad in ["", "not-a-token", String(token.dropLast()), token + "x"] {
                expectAPIError(
                    try await client.call(.post, "/api/v1/auth/email/verify", json: ["token": bad]), .badRequest, "validation_error", "verify \(bad)")
            }
            #expect(try await client.call(.get, "/api/v1/me", token: access)["email_verified"] as? Bool == false)

            let verified = try await client.call(.post, "/api/v1/auth/email/verify", json: ["token": token])
            #expect(verified.status == .ok, "verify: \(verified.status) \(verified.text)")
            #expect(try await client.call(.get, "/api/v1/me", token: access)["email_verified"] as? Bool == true, "email_verified did not become true")

            let again = try await client.call(.post, "/api/v1/auth/email/verify", json: ["token": token])
            expectAPIError(again, .badRequest, "validation_error", "the same token again")
            #expect(again.fields["token"] != nil, "fields: \(again.text)")
        }
    }

    @Test("a verification token expires after VERIFY_TTL", arguments: TestDatabase.all)
    func verificationExpires(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["VERIFY_TTL": "10m"])
        try await app.run { client in
            let early = try #require(try await client.register(["email": "early@example.com", "password": goodPassword]).string("access"))
            let late = try #require(try await client.register(["email": "late@example.com", "password": goodPassword]).string("access"))
            let earlyToken = try #require(try await latestToken(.verify, to: "early@example.com", app))
            let lateToken = try #require(try await latestToken(.verify, to: "late@example.com", app))

            app.clock.advance(by: 9 * 60)
            #expect(try await client.call(.post, "/api/v1/auth/email/verify", json: ["token": earlyToken]).status == .ok, "valid before VERIFY_TTL")
            #expect(try await client.call(.get, "/api/v1/me", token: early)["email_verified"] as? Bool == true)

            app.clock.advance(by: 2 * 60 + 1)
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/email/verify", json: ["token": lateToken]), .badRequest, "validation_error",
                "token past VERIFY_TTL")
            #expect(try await client.call(.get, "/api/v1/me", token: late)["email_verified"] as? Bool == false, "an expired token verified")
        }
    }

    @Test("verify/request (signed in) queues a new link and the older one stops working", arguments: TestDatabase.all)
    func requestAnotherVerification(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["PUBLIC_URL": Self.publicURL])
        try await app.run { client in
            let access = try #require(try await client.register(["email": "redo@example.com", "password": goodPassword]).string("access"))
            let first = try #require(try await latestToken(.verify, to: "redo@example.com", app))

            expectAPIError(
                try await client.call(.post, "/api/v1/auth/email/verify/request"), .unauthorized, "not_authenticated", "request without a token")
            let requested = try await client.call(.post, "/api/v1/auth/email/verify/request", token: access)
            #expect(requested.status == .accepted, "request: \(requested.status) \(requested.text)")

            let tokens = try await mailTo("redo@example.com", app).filter { $0.kind == .verify }.compactMap(\.token)
            #expect(tokens.count == 2, "verification mails after the request: \(tokens.count)")
            let second = try #require(tokens.first { $0 != first }, "no new token")
            #expect(
                try await mailTo("redo@example.com", app).filter { $0.kind == .verify }.allSatisfy {
                    $0.link?.hasPrefix(Self.publicURL + "/") == true
                })

            expectAPIError(
                try await client.call(.post, "/api/v1/auth/email/verify", json: ["token": first]), .badRequest, "validation_error",
                "the older token after a new request")
            #expect(try await client.call(.get, "/api/v1/me", token: access)["email_verified"] as? Bool == false)
            #expect(try await client.call(.post, "/api/v1/auth/email/verify", json: ["token": second]).status == .ok)
            #expect(try await client.call(.get, "/api/v1/me", token: access)["email_verified"] as? Bool == true)

            // An account without an e-mail has nothing to verify.
            let nameOnly = try #require(try await client.register(["username": "no_mail_user", "password": goodPassword]).string("access"))
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/email/verify/request", token: nameOnly), .badRequest, "validation_error",
                "request without an e-mail")
        }
    }

    @Test("after the e-mail changes, a token for the old address no longer verifies", arguments: TestDatabase.all)
    func changedEmail(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let access = try #require(try await client.register(["email": "before@example.com", "password": goodPassword]).string("access"))
            let old = try #require(try await latestToken(.verify, to: "before@example.com", app))

            let changed = try await client.call(
                .patch, "/api/v1/me", json: ["email": "after@example.com", "current_password": goodPassword], token: access)
            #expect(changed.status == .ok, "change e-mail: \(changed.status) \(changed.text)")
            #expect(changed["email_verified"] as? Bool == false)

            expectAPIError(
                try await client.call(.post, "/api/v1/auth/email/verify", json: ["token": old]), .badRequest, "validation_error",
                "the old address's token")
            let me = try await client.call(.get, "/api/v1/me", token: access)
            #expect(me.string("email") == "after@example.com")
            #expect(me["email_verified"] as? Bool == false, "the old address's token verified the new one")

            // The new address got its own link, which works.
            let fresh = try #require(try await latestToken(.verify, to: "after@example.com", app), "no verification mail to the new address")
            #expect(try await client.call(.post, "/api/v1/auth/email/verify", json: ["token": fresh]).status == .ok)
            #expect(try await client.call(.get, "/api/v1/me", token: access)["email_verified"] as? Bool == true)
        }
    }

    @Test(
        "password reset: 202 either way (mail only for a real account); weak passwords refused; success ends every session",
        arguments: TestDatabase.all)
    func passwordReset(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["PUBLIC_URL": Self.publicURL])
        try await app.run { client in
            let first = try await client.register(["email": "rose@example.com", "username": "rose", "password": goodPassword])
            let firstAccess = try #require(first.string("access"))
            let firstRefresh = try #require(first.string("refresh"))
            let second = try await client.login("rose", goodPassword)
            let secondAccess = try #require(second.string("access"))
            let secondRefresh = try #require(second.string("refresh"))
            let mailBefore = try await allMail(app).count

            let unknown = try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "nobody-here@example.com"])
            #expect(unknown.status == .accepted, "unknown login: \(unknown.status) \(unknown.text)")
            #expect(try await allMail(app).count == mailBefore, "a mail was queued for an unknown login")

            let known = try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "ROSE@example.com"])
            #expect(known.status == .accepted, "known login: \(known.status) \(known.text)")
            #expect(known.text == unknown.text, "the answers differ: \(known.text) vs \(unknown.text)")
            #expect(known.headers[.contentType] == unknown.headers[.contentType])
            let resets = try await mailTo("rose@example.com", app).filter { $0.kind == .reset }
            #expect(resets.count == 1, "reset mails: \(resets)")
            #expect(try await allMail(app).count == mailBefore + 1)
            let link = try #require(resets.first?.link)
            #expect(link.hasPrefix(Self.publicURL + "/"), "reset link: \(link)")
            let token = try #require(resets.first?.token)
            let stored = try await storedTokens(app)
            #expect(stored.contains { $0.hash == sha256(token) })
            #expect(!stored.contains { $0.values.contains { $0.contains(token) } }, "the raw reset token is stored")

            expectAPIError(
                try await client.call(.post, "/api/v1/auth/password/reset", json: [:] as [String: Any]), .badRequest, "validation_error", "no login")

            // A weak password is refused and leaves the token usable.
            for weak in ["password", "short", "12345678"] {
                let refused = try await client.call(.post, "/api/v1/auth/password/reset/confirm", json: ["token": token, "new_password": weak])
                expectAPIError(refused, .badRequest, "validation_error", "weak password \(weak)")
                #expect(refused.fields["new_password"] != nil, "fields for \(weak): \(refused.text)")
            }
            #expect(try await client.call(.get, "/api/v1/me", token: firstAccess).status == .ok, "a refused reset ended a session")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/password/reset/confirm", json: ["token": "forged", "new_password": Self.newPassword]),
                .badRequest, "validation_error", "forged token")

            let confirmed = try await client.call(
                .post, "/api/v1/auth/password/reset/confirm", json: ["token": token, "new_password": Self.newPassword])
            #expect(confirmed.status == .noContent, "confirm: \(confirmed.status) \(confirmed.text)")

            expectAPIError(try await client.login("rose@example.com", goodPassword), .unauthorized, "invalid_credentials", "the old password")
            #expect(try await client.login("rose@example.com", Self.newPassword).status == .ok, "the new password does not work")
            for (name, access, refresh) in [("first", firstAccess, firstRefresh), ("second", secondAccess, secondRefresh)] {
                expectAPIError(try await client.call(.get, "/api/v1/me", token: access), .unauthorized, nil, "\(name) access after reset")
                expectAPIError(
                    try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": refresh]), .unauthorized, nil,
                    "\(name) refresh after reset")
            }

            let reused = try await client.call(
                .post, "/api/v1/auth/password/reset/confirm", json: ["token": token, "new_password": "Granite-Willow-Harbor-19"])
            expectAPIError(reused, .badRequest, "validation_error", "reset token reused")
            #expect(try await client.login("rose@example.com", Self.newPassword).status == .ok, "a reused token changed the password")
        }
    }

    @Test("a reset token expires after RESET_TTL", arguments: TestDatabase.all)
    func resetExpires(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["RESET_TTL": "30m"])
        try await app.run { client in
            #expect(try await client.register(["email": "tim@example.com", "password": goodPassword]).status == .created)
            #expect(try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "tim@example.com"]).status == .accepted)
            let token = try #require(try await latestToken(.reset, to: "tim@example.com", app))

            app.clock.advance(by: 30 * 60 + 1)
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/password/reset/confirm", json: ["token": token, "new_password": Self.newPassword]),
                .badRequest, "validation_error", "reset past RESET_TTL")
            #expect(try await client.login("tim@example.com", goodPassword).status == .ok, "an expired token changed the password")
            expectAPIError(try await client.login("tim@example.com", Self.newPassword), .unauthorized, "invalid_credentials", "new password")

            // A fresh one, used in time, works.
            #expect(try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "tim@example.com"]).status == .accepted)
            let fresh = try #require(try await latestToken(.reset, to: "tim@example.com", app, excluding: [token]))
            app.clock.advance(by: 29 * 60)
            #expect(
                try await client.call(.post, "/api/v1/auth/password/reset/confirm", json: ["token": fresh, "new_password": Self.newPassword]).status
                    == .noContent)
            #expect(try await client.login("tim@example.com", Self.newPassword).status == .ok)
        }
    }

    @Test("a reset token cannot verify an e-mail and a verification token cannot reset a password", arguments: TestDatabase.all)
    func purposesDoNotMix(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let access = try #require(try await client.register(["email": "mix@example.com", "password": goodPassword]).string("access"))
            #expect(try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "mix@example.com"]).status == .accepted)
            let verify = try #require(try await latestToken(.verify, to: "mix@example.com", app))
            let reset = try #require(try await latestToken(.reset, to: "mix@example.com", app))
            #expect(verify != reset)

            expectAPIError(
                try await client.call(.post, "/api/v1/auth/email/verify", json: ["token": reset]), .badRequest, "validation_error",
                "a reset token at email/verify")
            #expect(try await client.call(.get, "/api/v1/me", token: access)["email_verified"] as? Bool == false, "a reset token verified the e-mail")

            expectAPIError(
                try await client.call(.post, "/api/v1/auth/password/reset/confirm", json: ["token": verify, "new_password": Self.newPassword]),
                .badRequest, "validation_error", "a verification token at reset/confirm")
            #expect(try await client.login("mix@example.com", goodPassword).status == .ok, "a verification token reset the password")
            #expect(try await client.call(.get, "/api/v1/me", token: access).status == .ok, "a refused reset ended the session")

            // Each still works for what it is for.
            #expect(try await client.call(.post, "/api/v1/auth/email/verify", json: ["token": verify]).status == .ok)
            #expect(
                try await client.call(.post, "/api/v1/auth/password/reset/confirm", json: ["token": reset, "new_password": Self.newPassword]).status
                    == .noContent)
            #expect(try await client.login("mix@example.com", Self.newPassword).status == .ok)
        }
    }
}

// MARK: - Helpers

private struct QueuedMail: CustomStringConvertible {
    enum Kind { case verify, reset, other }

    let recipient: String
    let subject: String
    let body: String

    var kind: Kind {
        guard token != nil else { return .other }
        return subject.lowercased().contains("password") ? .reset : .verify
    }

    /// The first link in the body that carries a token.
    var link: String? {
        body.split(whereSeparator: \.isWhitespace).map(String.init).first { $0.hasPrefix("http") && $0.contains("token=") }
    }

    var token: String? {
        guard let link, let components = URLComponents(string: link) else { return nil }
        return components.queryItems?.first { $0.name == "token" }?.value
    }

    var description: String { "<\(recipient)> \(subject)" }
}

private func allMail(_ app: TestApp) async throws -> [QueuedMail] {
    try await app.tessera.database.read { db in
        try await db.raw("SELECT recipient, subject, body FROM mail_outbox ORDER BY created_at").all().map { row in
            QueuedMail(
                recipient: try row.decode(column: "recipient", as: String.self), subject: try row.decode(column: "subject", as: String.self),
                body: try row.decode(column: "body", as: String.self))
        }
    }
}

private func mailTo(_ recipient: String, _ app: TestApp) async throws -> [QueuedMail] {
    try await allMail(app).filter { $0.recipient == recipient }
}

/// The token of the one mail of `kind` to `recipient` not among `excluding` (rows share created_at when the clock stands still).
private func latestToken(_ kind: QueuedMail.Kind, to recipient: String, _ app: TestApp, excluding: Set<String> = []) async throws -> String? {
    let tokens = try await mailTo(recipient, app).filter { $0.kind == kind }.compactMap(\.token).filter { !excluding.contains($0) }
    #expect(tokens.count <= 1 || !excluding.isEmpty, "several candidate tokens for \(recipient)")
    return tokens.last
}

private struct StoredToken: CustomStringConvertible {
    let hash: String
    let values: [String]
    var description: String { values.joined(separator: "|") }
}

private func storedTokens(_ app: TestApp) async throws -> [StoredToken] {
    try await app.tessera.database.read { db in
        try await db.raw("SELECT token_hash, purpose, email FROM one_time_tokens").all().map { row in
            let hash = try row.decode(column: "token_hash", as: String.self)
            return StoredToken(
                hash: hash,
                values: [hash, try row.decode(column: "purpose", as: String.self), try row.decode(column: "email", as: String?.self) ?? ""])
        }
    }
}

private func sha256(_ text: String) -> String {
    SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
}
