import Foundation
import Hummingbird
import HummingbirdTesting
import SQLKit
import Testing

@testable import Tessera

/// The columns of a user row the registration tests look at underneath the API.
private struct UserRow: Sendable {
    let id: UUID
    let passwordHash: String
    let status: String
    let kind: String
    let emailVerified: Bool
    let phoneVerified: Bool
}

private func userRows(_ app: TestApp) async throws -> [UserRow] {
    try await app.tessera.database.read { db in
        try await db.raw("SELECT id, password_hash, status, kind, email_verified, phone_verified FROM users").all().map { row in
            UserRow(
                id: try row.decode(column: "id", as: UUID.self),
                passwordHash: try row.decode(column: "password_hash", as: String.self),
                status: try row.decode(column: "status", as: String.self),
                kind: try row.decode(column: "kind", as: String.self),
                emailVerified: try row.decode(column: "email_verified", as: Bool.self),
                phoneVerified: try row.decode(column: "phone_verified", as: Bool.self))
        }
    }
}

private func roleCodes(_ app: TestApp) async throws -> [String] {
    try await app.tessera.database.read { db in
        try await db.raw("SELECT r.code_name FROM user_roles ur JOIN roles r ON r.id = ur.role_id ORDER BY r.code_name").all()
            .map { try $0.decode(column: "code_name", as: String.self) }
    }
}

private let userKeys: Set<String> = [
    "id", "email", "phone", "username", "first_name", "last_name", "middle_name", "role", "roles", "status", "email_verified",
    "phone_verified", "date_joined", "last_login",
]

private func isRFC3339(_ value: Any?) -> Bool {
    guard let text = value as? String else { return false }
    let formatter = ISO8601DateFormatter()
    if formatter.date(from: text) != nil { return true }
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.date(from: text) != nil
}

@Suite("Registration", .throwawayDatabases)
struct RegistrationTests {
    @Test("201 with the user of SPEC §4 and a token pair", arguments: TestDatabase.all)
    func registers(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let reply = try await client.register([
                "email": "Anna.Petrova@Example.com", "password": goodPassword, "password2": goodPassword, "first_name": "Anna",
                "last_name": "Petrova", "middle_name": "Sergeevna",
            ])
            #expect(reply.status == .created)
            #expect(Set(reply.json.keys) == ["user", "access", "refresh"])
            #expect((reply.string("access") ?? "").split(separator: ".").count == 3)
            #expect((reply.string("refresh") ?? "").split(separator: ".").count == 3)

            let user = try #require(reply["user"] as? [String: Any])
            #expect(Set(user.keys) == userKeys, "keys: \(user.keys.sorted())")
            let id = try #require(user["id"] as? String)
            #expect(UUID(uuidString: id) != nil && id == id.lowercased(), "\(id)")
            #expect(user["email"] as? String == "Anna.Petrova@Example.com")
            #expect(user["phone"] is NSNull, "absent identifiers are explicit nulls")
            #expect(user["username"] is NSNull, "absent identifiers are explicit nulls")
            #expect(user["first_name"] as? String == "Anna")
            #expect(user["last_name"] as? String == "Petrova")
            #expect(user["middle_name"] as? String == "Sergeevna")
            #expect(user["role"] as? String == "client")
            #expect(user["roles"] as? [String] == ["client"])
            #expect(user["status"] as? String == "active")
            #expect(user["email_verified"] as? Bool == false)
            #expect(user["phone_verified"] as? Bool == false)
            #expect(isRFC3339(user["date_joined"]), "\(user["date_joined"] ?? "nil")")
            #expect(user.keys.contains("last_login"))
            #expect(user["last_login"] is NSNull || isRFC3339(user["last_login"]))

            // The pair works: /me answers for the new user.
            let me = try await client.call(.get, "/api/v1/me", token: reply.string("access"))
            #expect(me.status == .ok)
            #expect(me.string("id") == id)
            #expect(Set(me.json.keys) == userKeys)
            #expect(me["phone"] is NSNull)
        }
    }

    @Test("phone and username accounts; the phone is stored in E.164", arguments: TestDatabase.all)
    func phoneAndUsername(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let byPhone = try await client.register(["phone": "8 (918) 702-09-87", "password": goodPassword])
            #expect(byPhone.status == .created)
            let phoneUser = try #require(byPhone["user"] as? [String: Any])
            #expect(phoneUser["phone"] as? String == "+79187020987")
            #expect(phoneUser["email"] is NSNull)
            #expect(phoneUser["username"] is NSNull)

            let byUsername = try await client.register(["username": "Ivan_Petrov", "password": goodPassword])
            #expect(byUsername.status == .created)
            let usernameUser = try #require(byUsername["user"] as? [String: Any])
            #expect(usernameUser["username"] as? String == "Ivan_Petrov")
            #expect(usernameUser["email"] is NSNull)
            #expect(usernameUser["phone"] is NSNull)
        }
    }

    @Test("role specialist gets roles [specialist]; admin is refused", arguments: TestDatabase.all)
    func roles(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let specialist = try await client.register(["email": "masha@example.com", "password": goodPassword, "role": "specialist"])
            #expect(specialist.status == .created)
            let user = try #require(specialist["user"] as? [String: Any])
            #expect(user["role"] as? String == "specialist")
            #expect(user["roles"] as? [String] == ["specialist"])

            for role in ["admin", "supervisor", "Specialist", "", "root"] {
                let refused = try await client.register(["email": "boss-\(role.count)@example.com", "password": goodPassword, "role": role])
                #expect(refused.status == .badRequest, "role \(role)")
                #expect(refused.code == "validation_error")
                #expect(refused.fields["role"] != nil, "role \(role): \(refused.text)")
            }
            #expect(try await userRows(app).count == 1)
            #expect(try await roleCodes(app) == ["specialist"])
        }
    }

    @Test("status, roles, id and verification flags in the body are ignored", arguments: TestDatabase.all)
    func ignoresProtectedFields(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        let chosenID = UUID()
        try await app.run { client in
            let reply = try await client.register([
                "email": "mallory@example.com", "password": goodPassword, "status": "disabled", "roles": ["admin"],
                "id": chosenID.uuidString.lowercased(), "email_verified": true, "phone_verified": true,
                "date_joined": "2001-01-01T00:00:00Z", "last_login": "2001-01-01T00:00:00Z", "is_staff": true, "is_superuser": true,
            ])
            #expect(reply.status == .created)
            let user = try #require(reply["user"] as? [String: Any])
            #expect(user["status"] as? String == "active")
            #expect(user["roles"] as? [String] == ["client"])
            #expect(user["id"] as? String != chosenID.uuidString.lowercased())
            #expect(user["email_verified"] as? Bool == false)
            #expect(user["phone_verified"] as? Bool == false)
            #expect(user["date_joined"] as? String != "2001-01-01T00:00:00Z")

            let rows = try await userRows(app)
            #expect(rows.count == 1)
            #expect(rows.first?.id != chosenID)
            #expect(rows.first?.status == "active")
            #expect(rows.first?.emailVerified == false)
            #expect(rows.first?.phoneVerified == false)
            #expect(try await roleCodes(app) == ["client"])
        }
    }

    @Test("at least one of email, phone, username", arguments: TestDatabase.all)
    func needsAnIdentifier(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            for body: [String: Any] in [
                ["password": goodPassword],
                ["password": goodPassword, "email": "", "phone": "", "username": ""],
                ["password": goodPassword, "first_name": "Anna"],
            ] {
                let reply = try await client.register(body)
                #expect(reply.status == .badRequest, "\(body)")
                #expect(reply.code == "validation_error")
                #expect(reply.json["detail"] is String)
            }
            let noPassword = try await client.register(["email": "a@example.com"])
            #expect(noPassword.status == .badRequest)
            #expect(noPassword.fields["password"] != nil, "\(noPassword.text)")
            #expect(try await userRows(app).isEmpty)
        }
    }

    @Test("invalid identifiers are named in fields", arguments: TestDatabase.all)
    func invalidIdentifiers(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let cases: [(String, String)] = [
                ("email", "not-an-email"),
                ("email", "a@b"),
                ("email", "two@@example.com"),
                ("email", "spaces in@example.com"),
                ("email", "@example.com"),
                ("phone", "12ab34"),
                ("phone", "123"),
                ("phone", "+7 918 702 09 8"),
                ("username", "bad name!"),
                ("username", "ann@example"),
                ("username", String(repeating: "u", count: 151)),
                ("username", "9187020987"),
                ("username", "+79187020987"),
            ]
            for (field, value) in cases {
                let reply = try await client.register([field: value, "password": goodPassword])
                #expect(reply.status == .badRequest, "\(field)=\(value)")
                #expect(reply.code == "validation_error")
                #expect(reply.fields[field] != nil, "\(field)=\(value): \(reply.text)")
            }
            // A valid identifier next to an invalid one does not save the request.
            let mixed = try await client.register(["email": "ok@example.com", "phone": "not a phone", "password": goodPassword])
            #expect(mixed.status == .badRequest)
            #expect(mixed.fields["phone"] != nil)
            #expect(try await userRows(app).isEmpty)
        }
    }

    @Test("duplicates are 409 already_exists naming the field", arguments: TestDatabase.all)
    func duplicates(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let first = try await client.register([
                "email": "dup@example.com", "phone": "79187020987", "username": "Ivan_P", "password": goodPassword,
            ])
            #expect(first.status == .created)

            let cases: [(String, String)] = [
                ("email", "dup@example.com"),
                ("email", "DUP@Example.COM"),
                ("email", " dup@example.com "),
                ("phone", "+79187020987"),
                ("phone", "+7 (918) 702-09-87"),
                ("phone", "8 918 702 09 87"),
                ("phone", "9187020987"),
                ("username", "Ivan_P"),
                ("username", "ivan_p"),
                ("username", "IVAN_P"),
            ]
            for (field, value) in cases {
                let reply = try await client.register([field: value, "password": goodPassword])
                #expect(reply.status == .conflict, "\(field)=\(value): \(reply.text)")
                #expect(reply.code == "already_exists", "\(field)=\(value)")
                #expect(Array(reply.fields.keys) == [field], "\(field)=\(value): \(reply.text)")
            }
            #expect(try await userRows(app).count == 1)
        }
    }

    @Test("password policy at registration", arguments: TestDatabase.all)
    func passwordPolicy(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let cases: [(String, [String: Any])] = [
                ("too short", ["email": "short@example.com", "password": "Xy7!abc"]),
                ("common", ["email": "common@example.com", "password": "password123"]),
                ("common, other case", ["email": "common2@example.com", "password": "PASSWORD123"]),
                ("numeric", ["email": "numeric@example.com", "password": "83920174652"]),
                ("like the username", ["username": "alexander.k", "password": "alexander.k1"]),
                ("like the email", ["email": "katerina.s@example.com", "password": "katerina.s!"]),
                ("like the email, whole", ["email": "sergey.ivanov@example.com", "password": "sergey.ivanov@example.com"]),
                ("over 1024 bytes", ["email": "long@example.com", "password": String(repeating: "ж", count: 513)]),
                ("far over 1024 bytes", ["email": "long2@example.com", "password": String(repeating: "x9!", count: 1000)]),
                ("empty", ["email": "empty@example.com", "password": ""]),
            ]
            for (name, body) in cases {
                let reply = try await client.register(body)
                #expect(reply.status == .badRequest, "\(name)")
                #expect(reply.code == "validation_error", "\(name)")
                #expect(reply.fields["password"]?.isEmpty == false, "\(name): \(reply.text)")
            }
            let mismatch = try await client.register(["email": "p2@example.com", "password": goodPassword, "password2": goodPassword + "x"])
            #expect(mismatch.status == .badRequest)
            #expect(mismatch.code == "validation_error")
            #expect(mismatch.fields["password2"]?.isEmpty == false, "\(mismatch.text)")
            #expect(try await userRows(app).isEmpty)

            // Exactly 1024 bytes is still allowed.
            let longest = try await client.register(["email": "longest@example.com", "password": String(repeating: "Zq8#", count: 256)])
            #expect(longest.status == .created, "\(longest.text)")
        }
    }

    @Test("approval mode: pending, no tokens, and login says account_pending", arguments: TestDatabase.all)
    func approval(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["REGISTRATION": "approval"])
        try await app.run { client in
            let reply = try await client.register(["email": "wait@example.com", "password": goodPassword, "status": "active"])
            #expect(reply.status == .created)
            #expect(Set(reply.json.keys) == ["user"], "\(reply.text)")
            let user = try #require(reply["user"] as? [String: Any])
            #expect(user["status"] as? String == "pending")
            #expect(Set(user.keys) == userKeys)

            let right = try await client.login("wait@example.com", goodPassword)
            #expect(right.status == .forbidden)
            #expect(right.code == "account_pending")
            #expect(right["access"] == nil)

            let wrong = try await client.login("wait@example.com", goodPassword + "x")
            #expect(wrong.status == .unauthorized)
            #expect(wrong.code == "invalid_credentials")

            let rows = try await userRows(app)
            #expect(rows.map(\.status) == ["pending"])
            let sessions = try await app.tessera.database.read { db in
                try await db.raw("SELECT COUNT(*) AS n FROM sessions").first(decodingColumn: "n", as: Int.self)
            }
            #expect(sessions == 0, "a pending sign-up opens no session")
        }
    }

    @Test("ten concurrent sign-ups with one email: one 201, nine 409, no 500", arguments: TestDatabase.all)
    func concurrentDuplicates(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let statuses = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                for index in 0..<10 {
                    // The same address, in other cases too: the unique key is case-insensitive.
                    let email = index.isMultiple(of: 2) ? "race@example.com" : "Race@Example.com"
                    group.addTask {
                        let reply = try await client.register(["email": email, "password": goodPassword])
                        return (reply.status, reply.code)
                    }
                }
                var all: [(HTTPResponse.Status, String?)] = []
                for try await result in group { all.append(result) }
                return all
            }
            #expect(statuses.filter { $0.0 == .created }.count == 1, "\(statuses.map(\.0.code))")
            #expect(statuses.filter { $0.0 == .conflict }.count == 9, "\(statuses.map(\.0.code))")
            #expect(statuses.allSatisfy { $0.0 == .created || $0.1 == "already_exists" })
            #expect(!statuses.contains { $0.0.code >= 500 })
            #expect(try await userRows(app).count == 1)
            #expect(try await roleCodes(app) == ["client"])
        }
    }

    @Test("concurrent sign-ups with one phone or username in different forms", arguments: TestDatabase.all)
    func concurrentDuplicatePhone(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        let bodies: [[String: String]] = [
            ["phone": "+79187020987"], ["phone": "8 918 702 09 87"], ["phone": "79187020987"], ["phone": "9187020987"],
            ["phone": "+7 (918) 702-09-87"], ["username": "twin"], ["username": "TWIN"], ["username": "Twin"],
        ]
        try await app.run { client in
            let statuses = try await withThrowingTaskGroup(of: (String, HTTPResponse.Status).self) { group in
                for body in bodies {
                    group.addTask {
                        var fields: [String: Any] = body
                        fields["password"] = goodPassword
                        return (body.keys.first!, try await client.register(fields).status)
                    }
                }
                var all: [(String, HTTPResponse.Status)] = []
                for try await result in group { all.append(result) }
                return all
            }
            #expect(statuses.filter { $0.0 == "phone" && $0.1 == .created }.count == 1, "\(statuses)")
            #expect(statuses.filter { $0.0 == "username" && $0.1 == .created }.count == 1, "\(statuses)")
            #expect(statuses.filter { $0.1 == .conflict }.count == bodies.count - 2, "\(statuses)")
            #expect(try await userRows(app).count == 2)
        }
    }

    @Test("the password is stored as an Argon2id PHC string, never plain", arguments: TestDatabase.all)
    func storedHash(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, hashing: nil)
        try await app.run { client in
            let reply = try await client.register(["email": "hash@example.com", "password": goodPassword])
            #expect(reply.status == .created)
            #expect(!reply.text.contains(goodPassword))
            #expect(!reply.text.contains("argon2"))
            #expect(!reply.text.contains("password"))

            let rows = try await userRows(app)
            let hash = try #require(rows.first?.passwordHash)
            #expect(hash.hasPrefix("$argon2id$v=19$m=7168,t=5,p=1$"), "\(hash)")
            #expect(!hash.contains(goodPassword))
            #expect(hash.split(separator: "$").count == 5)
        }
    }
}
