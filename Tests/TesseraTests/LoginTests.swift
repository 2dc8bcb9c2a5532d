import Foundation
import Hummingbird
import HummingbirdTesting
import SQLKit
import Testing

@testable import Tessera

private func storedHash(_ app: TestApp, id: String) async throws -> String? {
    let id = try #require(UUID(uuidString: id))
    return try await app.tessera.database.read { db in
        try await db.raw("SELECT password_hash FROM users WHERE id = \(bind: id)").first(decodingColumn: "password_hash", as: String.self)
    }
}

private func setHash(_ app: TestApp, id: String, _ hash: String) async throws {
    let id = try #require(UUID(uuidString: id))
    try await app.tessera.database.transaction { db in
        try await db.raw("UPDATE users SET password_hash = \(bind: hash) WHERE id = \(bind: id)").run()
    }
}

private func setStatus(_ app: TestApp, id: String, _ status: String) async throws {
    let id = try #require(UUID(uuidString: id))
    try await app.tessera.database.transaction { db in
        try await db.raw("UPDATE users SET status = \(bind: status) WHERE id = \(bind: id)").run()
    }
}

private func lastLogin(_ app: TestApp, id: String) async throws -> Date? {
    let id = try #require(UUID(uuidString: id))
    return try await app.tessera.database.read { db in
        try await db.raw("SELECT last_login FROM users WHERE id = \(bind: id)").first(decodingColumn: "last_login", as: Date?.self) ?? nil
    }
}

/// The body as canonical JSON (sorted keys): the same document whatever order the keys were written in.
private func canonical(_ reply: Reply) -> String {
    guard let data = try? JSONSerialization.data(withJSONObject: reply.json, options: [.sortedKeys]) else { return reply.text }
    return String(decoding: data, as: UTF8.self)
}

private func sessionCount(_ app: TestApp) async throws -> Int {
    try await app.tessera.database.read { db in
        try await db.raw("SELECT COUNT(*) AS n FROM sessions").first(decodingColumn: "n", as: Int.self) ?? -1
    }
}

extension TestClientProtocol {
    /// Registers and returns the new user's id.
    fileprivate func registerID(_ fields: [String: Any]) async throws -> String {
        let reply = try await register(fields)
        try #require(reply.status == .created, "registration failed: \(reply.text)")
        let user = try #require(reply["user"] as? [String: Any])
        return try #require(user["id"] as? String)
    }
}

@Suite("Login", .throwawayDatabases)
struct LoginTests {
    @Test("by e-mail and username in any case, and the token response shape", arguments: TestDatabase.all)
    func emailAndUsername(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let id = try await client.registerID(["email": "Anna@Example.com", "username": "Anna_P", "password": goodPassword])
            #expect(try await lastLogin(app, id: id) == nil)
            let sessionsBefore = try await sessionCount(app)

            let reply = try await client.login("anna@example.com", goodPassword)
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(Set(reply.json.keys) == ["access", "refresh", "token_type", "expires_in", "refresh_expires_in", "user"], "\(reply.json.keys)")
            #expect(reply.string("token_type") == "Bearer")
            #expect(reply["expires_in"] as? Int == 900)
            #expect(reply["refresh_expires_in"] as? Int == 7 * 86400)
            #expect((reply.string("access") ?? "").split(separator: ".").count == 3)
            #expect((reply.string("refresh") ?? "").split(separator: ".").count == 3)
            #expect(reply.string("access") != reply.string("refresh"))
            let user = try #require(reply["user"] as? [String: Any])
            #expect(user["id"] as? String == id)
            #expect(user["email"] as? String == "Anna@Example.com")
            #expect(user["roles"] as? [String] == ["client"])
            #expect(user["last_login"] is String, "last_login is set in the response: \(user["last_login"] ?? "nil")")
            #expect(try await lastLogin(app, id: id) != nil, "last_login is stored")
            #expect(try await sessionCount(app) == sessionsBefore + 1, "a login opens a session")
            #expect(!reply.text.contains(goodPassword))

            for login in ["ANNA@EXAMPLE.COM", "Anna@Example.com", " anna@example.com ", "anna_p", "ANNA_P", "Anna_P"] {
                let other = try await client.login(login, goodPassword)
                #expect(other.status == .ok, "login \(login): \(other.text)")
                #expect((other["user"] as? [String: Any])?["id"] as? String == id, "login \(login)")
            }
        }
    }

    @Test("by phone, in every form SPEC lists for RU", arguments: TestDatabase.all)
    func phoneForms(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let id = try await client.registerID(["phone": "+7 (918) 702-09-87", "password": goodPassword])
            for login in ["+7 (918) 702-09-87", "8 918 702 09 87", "79187020987", "9187020987", "+79187020987", "8(918)7020987"] {
                let reply = try await client.login(login, goodPassword)
                #expect(reply.status == .ok, "login \(login): \(reply.text)")
                #expect((reply["user"] as? [String: Any])?["id"] as? String == id, "login \(login)")
                #expect((reply["user"] as? [String: Any])?["phone"] as? String == "+79187020987")
            }
        }
    }

    @Test("the seed's bug: registered as 79187020987, signs in as +79187020987", arguments: TestDatabase.all)
    func seedPhoneBug(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let id = try await client.registerID(["phone": "79187020987", "password": goodPassword])
            let reply = try await client.login("+79187020987", goodPassword)
            #expect(reply.status == .ok, "\(reply.text)")
            #expect((reply["user"] as? [String: Any])?["id"] as? String == id)
            let key = try await client.call(.post, "/api/v1/auth/token", json: ["phone": "8 918 702-09-87", "password": goodPassword])
            #expect(key.status == .ok, "\(key.text)")
        }
    }

    @Test("email, phone or username as the key; /api/v1/token as an alias", arguments: TestDatabase.all)
    func alternativeKeys(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let id = try await client.registerID([
                "email": "keys@example.com", "phone": "9187020987", "username": "keyholder", "password": goodPassword,
            ])
            let bodies: [[String: String]] = [
                ["email": "KEYS@example.com", "password": goodPassword],
                ["phone": "+7 918 702 09 87", "password": goodPassword],
                ["username": "KeyHolder", "password": goodPassword],
            ]
            for body in bodies {
                let reply = try await client.call(.post, "/api/v1/auth/token", json: body)
                #expect(reply.status == .ok, "\(body): \(reply.text)")
                #expect((reply["user"] as? [String: Any])?["id"] as? String == id)
            }
            let alias = try await client.call(.post, "/api/v1/token", json: ["login": "keys@example.com", "password": goodPassword])
            #expect(alias.status == .ok, "\(alias.text)")
            #expect(alias.string("token_type") == "Bearer")
            #expect(alias["expires_in"] as? Int == 900)
            #expect((alias["user"] as? [String: Any])?["id"] as? String == id)
            let aliasSlash = try await client.call(.post, "/api/v1/token/", json: ["login": "keys@example.com", "password": "nope-nope-nope"])
            #expect(aliasSlash.status == .unauthorized, "trailing slash answers too: \(aliasSlash.text)")
        }
    }

    @Test("unknown login and wrong password fail alike with 401 invalid_credentials", arguments: TestDatabase.all)
    func invalidCredentials(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            _ = try await client.registerID(["email": "known@example.com", "username": "known", "phone": "9187020987", "password": goodPassword])
            let wrong = try await client.login("known@example.com", goodPassword + "!")
            let unknown = try await client.login("nobody@example.com", goodPassword)
            let unknownUsername = try await client.login("nobody", goodPassword)
            let unknownPhone = try await client.login("+7 999 000 00 00", goodPassword)
            let wrongPhone = try await client.login("9187020987", "Wrong-Password-1")
            for reply in [wrong, unknown, unknownUsername, unknownPhone, wrongPhone] {
                #expect(reply.status == .unauthorized)
                #expect(reply.code == "invalid_credentials")
                #expect(canonical(reply) == canonical(wrong), "identical bodies: \(reply.text) vs \(wrong.text)")
                #expect(reply.headers[.contentType] == wrong.headers[.contentType])
                #expect(reply["access"] == nil)
            }
            #expect(wrong.json["fields"] == nil)
            #expect(try await sessionCount(app) == 1, "only the registration's session; failures open none")
        }
    }

    @Test("disabled account: right password 403 account_disabled, wrong password 401", arguments: TestDatabase.all)
    func disabled(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let id = try await client.registerID(["email": "gone@example.com", "password": goodPassword])
            try await setStatus(app, id: id, "disabled")
            let right = try await client.login("gone@example.com", goodPassword)
            #expect(right.status == .forbidden)
            #expect(right.code == "account_disabled")
            #expect(right["access"] == nil)
            let wrong = try await client.login("gone@example.com", goodPassword + "x")
            #expect(wrong.status == .unauthorized)
            #expect(wrong.code == "invalid_credentials")

            try await setStatus(app, id: id, "rejected")
            let rejected = try await client.login("gone@example.com", goodPassword)
            #expect(rejected.status == .forbidden)
            #expect(rejected.code != nil && rejected.code != "invalid_credentials")

            try await setStatus(app, id: id, "pending")
            let pending = try await client.login("gone@example.com", goodPassword)
            #expect(pending.status == .forbidden)
            #expect(pending.code == "account_pending")
            #expect(try await lastLogin(app, id: id) == nil, "a refused login is not a login")
        }
    }

    @Test("malformed requests: missing login 400, oversized password 401", arguments: TestDatabase.all)
    func malformed(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            _ = try await client.registerID(["email": "m@example.com", "password": goodPassword])
            for body: [String: Any] in [
                ["password": goodPassword],
                ["login": "", "password": goodPassword],
                ["login": "   ", "password": goodPassword],
                ["email": "", "username": "", "password": goodPassword],
            ] {
                let reply = try await client.call(.post, "/api/v1/auth/token", json: body)
                #expect(reply.status == .badRequest, "\(body): \(reply.text)")
                #expect(reply.code == "validation_error")
            }
            let noPassword = try await client.call(.post, "/api/v1/auth/token", json: ["login": "m@example.com"])
            #expect(noPassword.status == .badRequest)
            #expect(noPassword.fields["password"] != nil, "\(noPassword.text)")

            let huge = String(repeating: "A", count: 2048)
            let hugeKnown = try await client.login("m@example.com", huge)
            #expect(hugeKnown.status == .unauthorized, "\(hugeKnown.text)")
            #expect(hugeKnown.code == "invalid_credentials")
            let hugeUnknown = try await client.login("nobody@example.com", huge)
            #expect(hugeUnknown.status == .unauthorized)
            #expect(canonical(hugeUnknown) == canonical(hugeKnown))
        }
    }

    @Test("Django hashes sign in, are rehashed to Argon2id, and wrong passwords fail", arguments: TestDatabase.all, LegacyHash.allCases)
    func legacyHashes(_ database: TestDatabase, _ format: LegacyHash) async throws {
        let app = try await TestApp.make(database, hashing: nil)
        let password = "BenchPass!2024"
        try await app.run { client in
            let id = try await client.registerID(["username": "legacy", "password": goodPassword])
            let legacy = try await format.make(password)
            try await setHash(app, id: id, legacy)

            let wrong = try await client.login("legacy", password + "?")
            #expect(wrong.status == .unauthorized)
            #expect(wrong.code == "invalid_credentials")
            #expect(try await storedHash(app, id: id) == legacy, "a failed login changes nothing")
            let old = try await client.login("legacy", goodPassword)
            #expect(old.status == .unauthorized, "the password before the import no longer counts")

            let right = try await client.login("legacy", password)
            #expect(right.status == .ok, "\(format): \(right.text)")
            let rehashed = try #require(try await storedHash(app, id: id))
            #expect(rehashed.hasPrefix("$argon2id$v=19$m=7168,t=5,p=1$"), "\(format) rehashed to \(rehashed)")
            #expect(rehashed != legacy)

            let again = try await client.login("legacy", password)
            #expect(again.status == .ok, "the password still works after the rehash")
            #expect(try await storedHash(app, id: id) == rehashed, "a current hash is not rehashed again")
            let wrongAfter = try await client.login("legacy", password + "?")
            #expect(wrongAfter.status == .unauthorized)
        }
    }

    @Test("a malformed or unknown stored hash never signs anyone in", arguments: TestDatabase.all)
    func malformedStoredHash(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let id = try await client.registerID(["username": "broken", "password": goodPassword])
            for hash in ["", "pbkdf2_sha256$1000$seasalt$", "bcrypt$", "$argon2id$", "md5$seasalt$9457f1a1a22825462e969ce23555720c", goodPassword] {
                try await setHash(app, id: id, hash)
                for password in [goodPassword, "BenchPass!2024", "anything-at-all"] {
                    let reply = try await client.login("broken", password)
                    #expect(reply.status == .unauthorized, "stored \(hash.isEmpty ? "empty" : hash), password \(password): \(reply.status)")
                    #expect(reply.code == "invalid_credentials")
                }
            }
        }
    }

    @Test("a current Argon2id hash is not rewritten on login", arguments: TestDatabase.all)
    func noNeedlessRehash(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let id = try await client.registerID(["email": "stable@example.com", "password": goodPassword])
            let before = try await storedHash(app, id: id)
            #expect(try await client.login("stable@example.com", goodPassword).status == .ok)
            #expect(try await storedHash(app, id: id) == before)
        }
    }
}
