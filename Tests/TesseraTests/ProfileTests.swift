import Foundation
import Hummingbird
import HummingbirdTesting
import SQLKit
import Testing

@testable import Tessera

/// A user row as stored, for checks underneath the API.
private struct StoredProfile: Sendable {
    let email: String?
    let emailKey: String?
    let phone: String?
    let username: String?
    let usernameKey: String?
    let kind: String
    let status: String
    let emailVerified: Bool
    let phoneVerified: Bool
    let passwordHash: String
}

private func stored(_ app: TestApp, _ id: String) async throws -> StoredProfile {
    let id = try #require(UUID(uuidString: id))
    let row = try await app.tessera.database.read { db in
        try await db.raw(
            """
            SELECT email, email_key, phone, username, username_key, kind, status, email_verified, phone_verified, password_hash
            FROM users WHERE id = \(bind: id)
            """
        ).first().map { row in
            StoredProfile(
                email: try row.decode(column: "email", as: String?.self),
                emailKey: try row.decode(column: "email_key", as: String?.self),
                phone: try row.decode(column: "phone", as: String?.self),
                username: try row.decode(column: "username", as: String?.self),
                usernameKey: try row.decode(column: "username_key", as: String?.self),
                kind: try row.decode(column: "kind", as: String.self),
                status: try row.decode(column: "status", as: String.self),
                emailVerified: try row.decode(column: "email_verified", as: Bool.self),
                phoneVerified: try row.decode(column: "phone_verified", as: Bool.self),
                passwordHash: try row.decode(column: "password_hash", as: String.self))
        }
    }
    return try #require(row)
}

private func markVerified(_ app: TestApp, _ id: String) async throws {
    let id = try #require(UUID(uuidString: id))
    try await app.tessera.database.transaction { db in
        try await db.raw("UPDATE users SET email_verified = TRUE, phone_verified = TRUE WHERE id = \(bind: id)").run()
    }
}

/// A registered user: id and access token from the registration reply (no extra login).
private struct Account {
    let id: String
    let access: String
}

extension TestClientProtocol {
    fileprivate func account(_ fields: [String: Any]) async throws -> Account {
        let reply = try await register(fields)
        try #require(reply.status == .created, "registration failed: \(reply.text)")
        let user = try #require(reply["user"] as? [String: Any])
        return Account(id: try #require(user["id"] as? String), access: try #require(reply.string("access")))
    }

    /// PATCH /me as the account's owner, who knows the password an identifier change needs.
    fileprivate func patchMe(_ account: Account, _ body: [String: Any]) async throws -> Reply {
        var body = body
        if body["current_password"] == nil { body["current_password"] = goodPassword }
        return try await call(.patch, "/api/v1/me", json: body, token: account.access)
    }
}

@Suite("Profile", .throwawayDatabases)
struct ProfileTests {
    @Test("GET /api/v1/me answers the caller; without a token 401", arguments: TestDatabase.all)
    func me(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let ann = try await client.account(["email": "ann@example.com", "first_name": "Ann", "password": goodPassword])
            let me = try await client.call(.get, "/api/v1/me", token: ann.access)
            #expect(me.status == .ok)
            #expect(me.string("id") == ann.id)
            #expect(me.string("email") == "ann@example.com")
            #expect(me.string("first_name") == "Ann")
            #expect(me["phone"] is NSNull)
            #expect(me["username"] is NSNull)
            #expect(me["roles"] as? [String] == ["client"])
            #expect(
                Set(me.json.keys) == [
                    "id", "email", "phone", "username", "first_name", "last_name", "middle_name", "role", "roles", "status",
                    "email_verified", "phone_verified", "date_joined", "last_login",
                ])
            let slash = try await client.call(.get, "/api/v1/me/", token: ann.access)
            #expect(slash.status == .ok)

            let anonymous = try await client.call(.get, "/api/v1/me")
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.code == "not_authenticated")
            let patchAnonymous = try await client.call(.patch, "/api/v1/me", json: ["first_name": "X"])
            #expect(patchAnonymous.status == .unauthorized)
        }
    }

    @Test("PATCH changes names", arguments: TestDatabase.all)
    func names(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let ann = try await client.account(["email": "ann@example.com", "first_name": "Ann", "last_name": "Lee", "password": goodPassword])
            let reply = try await client.patchMe(ann, ["first_name": "Анна", "last_name": "Ли", "middle_name": "Сергеевна"])
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(reply.string("first_name") == "Анна")
            #expect(reply.string("last_name") == "Ли")
            #expect(reply.string("middle_name") == "Сергеевна")
            #expect(reply.string("email") == "ann@example.com", "untouched fields stay")

            // A partial PATCH leaves the rest alone.
            let partial = try await client.patchMe(ann, ["middle_name": ""])
            #expect(partial.status == .ok)
            #expect(partial.string("middle_name") == "")
            let me = try await client.call(.get, "/api/v1/me", token: ann.access)
            #expect(me.string("first_name") == "Анна")
            #expect(me.string("last_name") == "Ли")
            #expect(me.string("middle_name") == "")

            let tooLong = try await client.patchMe(ann, ["first_name": String(repeating: "a", count: 151)])
            #expect(tooLong.status == .badRequest)
            #expect(tooLong.fields["first_name"] != nil)
        }
    }

    @Test("PATCH email clears email_verified; phone is normalised and clears phone_verified; username changes", arguments: TestDatabase.all)
    func identifiers(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let ann = try await client.account(["email": "ann@example.com", "phone": "+79187020987", "password": goodPassword])
            try await markVerified(app, ann.id)
            let verified = try await client.call(.get, "/api/v1/me", token: ann.access)
            #expect(verified["email_verified"] as? Bool == true)
            #expect(verified["phone_verified"] as? Bool == true)

            // Same address in another case: still the same, still verified.
            let sameEmail = try await client.patchMe(ann, ["email": "Ann@Example.com"])
            #expect(sameEmail.status == .ok, "\(sameEmail.text)")
            #expect(sameEmail["email_verified"] as? Bool == true)

            let email = try await client.patchMe(ann, ["email": "Ann.New@Example.com"])
            #expect(email.status == .ok, "\(email.text)")
            #expect(email.string("email") == "Ann.New@Example.com")
            #expect(email["email_verified"] as? Bool == false)
            #expect(email["phone_verified"] as? Bool == true, "a new e-mail leaves the phone verified")
            var row = try await stored(app, ann.id)
            #expect(row.email == "Ann.New@Example.com")
            #expect(row.emailKey == "ann.new@example.com")
            #expect(row.emailVerified == false)

            let phone = try await client.patchMe(ann, ["phone": "8 (916) 123-45-67"])
            #expect(phone.status == .ok, "\(phone.text)")
            #expect(phone.string("phone") == "+79161234567")
            #expect(phone["phone_verified"] as? Bool == false)
            row = try await stored(app, ann.id)
            #expect(row.phone == "+79161234567")
            #expect(row.phoneVerified == false)

            let username = try await client.patchMe(ann, ["username": "Ann_L"])
            #expect(username.status == .ok, "\(username.text)")
            #expect(username.string("username") == "Ann_L")
            row = try await stored(app, ann.id)
            #expect(row.usernameKey == "ann_l")

            // The new identifiers sign in; the old e-mail and phone do not.
            #expect(try await client.login("ann.new@example.com", goodPassword).status == .ok)
            #expect(try await client.login("9161234567", goodPassword).status == .ok)
            #expect(try await client.login("ann_l", goodPassword).status == .ok)
            #expect(try await client.login("ann@example.com", goodPassword).status == .unauthorized)
            #expect(try await client.login("+79187020987", goodPassword).status == .unauthorized)
        }
    }

    @Test("PATCH to another user's email, phone or username is 409", arguments: TestDatabase.all)
    func duplicates(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            _ = try await client.account(["email": "bob@example.com", "phone": "+79187020987", "username": "bob", "password": goodPassword])
            let ann = try await client.account(["email": "ann@example.com", "password": goodPassword])
            let cases: [(String, String)] = [
                ("email", "bob@example.com"),
                ("email", "BOB@Example.com"),
                ("phone", "8 918 702 09 87"),
                ("phone", "+79187020987"),
                ("username", "bob"),
                ("username", "BOB"),
            ]
            for (field, value) in cases {
                let reply = try await client.patchMe(ann, [field: value])
                #expect(reply.status == .conflict, "\(field)=\(value): \(reply.text)")
                #expect(reply.code == "already_exists")
                #expect(reply.fields[field] != nil, "\(field)=\(value): \(reply.text)")
            }
            let row = try await stored(app, ann.id)
            #expect(row.email == "ann@example.com")
            #expect(row.phone == nil)
            #expect(row.username == nil)

            // One's own identifiers are not a conflict.
            let own = try await client.patchMe(ann, ["email": "ann@example.com", "first_name": "Ann"])
            #expect(own.status == .ok, "\(own.text)")
        }
    }

    @Test("role, status, roles, id and date_joined in a PATCH are ignored", arguments: TestDatabase.all)
    func ignoresProtectedFields(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let ann = try await client.account(["email": "ann@example.com", "password": goodPassword])
            let before = try await client.call(.get, "/api/v1/me", token: ann.access)
            let reply = try await client.patchMe(
                ann,
                [
                    "role": "specialist", "status": "disabled", "roles": ["admin"], "id": UUID().uuidString.lowercased(),
                    "date_joined": "2001-01-01T00:00:00Z", "last_login": "2001-01-01T00:00:00Z", "email_verified": true,
                    "phone_verified": true, "password": "Hijacked-Pass-99", "first_name": "Ann",
                ])
            #expect(reply.status == .ok, "\(reply.text)")
            let after = try await client.call(.get, "/api/v1/me", token: ann.access)
            #expect(after.status == .ok)
            for key in ["id", "role", "status", "date_joined", "email_verified", "phone_verified"] {
                let was = String(describing: before.json[key] ?? "missing")
                #expect(String(describing: after.json[key] ?? "missing") == was, "\(key) changed")
                #expect(String(describing: reply.json[key] ?? "missing") == was, "\(key) in the PATCH reply")
            }
            #expect(after["roles"] as? [String] == ["client"])
            #expect(after.string("role") == "client")
            #expect(after.string("status") == "active")
            #expect(after.string("first_name") == "Ann")
            let row = try await stored(app, ann.id)
            #expect(row.kind == "client")
            #expect(row.status == "active")
            #expect(row.emailVerified == false)
            #expect(try await client.login("ann@example.com", "Hijacked-Pass-99").status == .unauthorized)
        }
    }

    @Test("clearing the last identifier is 400; invalid values are named", arguments: TestDatabase.all)
    func invalidChanges(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let ann = try await client.account(["email": "ann@example.com", "password": goodPassword])
            for body: [String: Any] in [
                ["email": NSNull()],
                ["email": ""],
                ["email": NSNull(), "phone": NSNull(), "username": NSNull()],
            ] {
                let reply = try await client.patchMe(ann, body)
                #expect(reply.status == .badRequest, "\(body): \(reply.text)")
                #expect(reply.code == "validation_error")
            }
            #expect(try await stored(app, ann.id).email == "ann@example.com")

            let invalid: [(String, String)] = [
                ("email", "not-an-email"), ("phone", "12ab"), ("phone", "123"), ("username", "bad name!"), ("username", "9187020987"),
            ]
            for (field, value) in invalid {
                let reply = try await client.patchMe(ann, [field: value])
                #expect(reply.status == .badRequest, "\(field)=\(value)")
                #expect(reply.code == "validation_error")
                #expect(reply.fields[field] != nil, "\(field)=\(value): \(reply.text)")
            }
            let row = try await stored(app, ann.id)
            #expect(row.email == "ann@example.com" && row.phone == nil && row.username == nil)

            let wrongType = try await client.patchMe(ann, ["email": 42])
            #expect(wrongType.status == .badRequest)

            // With another identifier in place, the e-mail may go.
            let swap = try await client.patchMe(ann, ["username": "ann", "email": NSNull()])
            #expect(swap.status == .ok, "\(swap.text)")
            #expect(swap["email"] is NSNull)
            #expect(swap.string("username") == "ann")
            let last = try await client.patchMe(ann, ["username": NSNull()])
            #expect(last.status == .badRequest)
            #expect(try await stored(app, ann.id).username == "ann")
        }
    }

    @Test("POST /api/v1/me/password", arguments: TestDatabase.all)
    func changePassword(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, hashing: nil)
        try await app.run { client in
            let ann = try await client.account(["email": "ann.lee@example.com", "username": "annlee", "password": goodPassword])
            let newPassword = "Fresh-Orbit-7319"

            let wrongCurrent = try await client.call(
                .post, "/api/v1/me/password", json: ["current_password": "not-it-at-all", "new_password": newPassword], token: ann.access)
            #expect(wrongCurrent.status == .badRequest)
            #expect(wrongCurrent.code == "validation_error")
            #expect(wrongCurrent.fields["current_password"] != nil, "\(wrongCurrent.text)")

            for weak in ["short", "password123", "73829104657", "annlee2024", "ann.lee@example.com", String(repeating: "ж", count: 513)] {
                let reply = try await client.call(
                    .post, "/api/v1/me/password", json: ["current_password": goodPassword, "new_password": weak], token: ann.access)
                #expect(reply.status == .badRequest, "\(weak.prefix(20))")
                #expect(reply.fields["new_password"] != nil, "\(weak.prefix(20)): \(reply.text)")
            }
            let hashBefore = try await stored(app, ann.id).passwordHash

            let anonymous = try await client.call(
                .post, "/api/v1/me/password", json: ["current_password": goodPassword, "new_password": newPassword])
            #expect(anonymous.status == .unauthorized)
            #expect(try await stored(app, ann.id).passwordHash == hashBefore, "nothing changed so far")

            let ok = try await client.call(
                .post, "/api/v1/me/password", json: ["current_password": goodPassword, "new_password": newPassword], token: ann.access)
            #expect(ok.status == .noContent, "\(ok.text)")
            #expect(ok.text.isEmpty)
            let hashAfter = try await stored(app, ann.id).passwordHash
            #expect(hashAfter != hashBefore)
            #expect(hashAfter.hasPrefix("$argon2id$v=19$m=7168,t=5,p=1$"))

            #expect(try await client.login("ann.lee@example.com", newPassword).status == .ok)
            let old = try await client.login("ann.lee@example.com", goodPassword)
            #expect(old.status == .unauthorized)
            #expect(old.code == "invalid_credentials")
            // The caller's own session goes on.
            #expect(try await client.call(.get, "/api/v1/me", token: ann.access).status == .ok)
        }
    }

    @Test("create-user grants extra roles and the user can sign in; unknown roles are refused", arguments: TestDatabase.all)
    func createUser(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await app.tessera.accounts.createUser(
                RegisterRequest(email: "root@example.com", password: goodPassword, first_name: "Root"), roles: ["admin"])
            let data = try JSONCoding.encoder.encode(admin)
            let user = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect(user["roles"] as? [String] == ["admin", "client"])
            #expect(user["role"] as? String == "client")
            #expect(user["status"] as? String == "active")
            #expect(user["email"] as? String == "root@example.com")

            let login = try await client.login("root@example.com", goodPassword)
            #expect(login.status == .ok, "\(login.text)")
            #expect((login["user"] as? [String: Any])?["roles"] as? [String] == ["admin", "client"])

            let specialist = try await app.tessera.accounts.createUser(
                RegisterRequest(username: "stylist", password: goodPassword, role: "specialist"), roles: ["supervisor"])
            let specialistJSON = try #require(
                try JSONSerialization.jsonObject(with: JSONCoding.encoder.encode(specialist)) as? [String: Any])
            #expect(specialistJSON["roles"] as? [String] == ["specialist", "supervisor"])

            let unknown = await #expect(throws: APIError.self) {
                try await app.tessera.accounts.createUser(
                    RegisterRequest(email: "ghost@example.com", password: goodPassword), roles: ["wizard"])
            }
            #expect(unknown?.fields?["roles"] != nil)
            let ghost = try await app.tessera.database.read { db in
                try await db.raw("SELECT COUNT(*) AS n FROM users WHERE email_key = 'ghost@example.com'").first(decodingColumn: "n", as: Int.self)
            }
            #expect(ghost == 0, "a refused create-user leaves no user behind")

            // The same checks as registration.
            await #expect(throws: APIError.self) {
                try await app.tessera.accounts.createUser(RegisterRequest(email: "root@example.com", password: goodPassword), roles: [])
            }
            await #expect(throws: APIError.self) {
                try await app.tessera.accounts.createUser(RegisterRequest(email: "weak@example.com", password: "password123"), roles: [])
            }
        }
    }
}
