import Foundation
import Hummingbird
import HummingbirdTesting
import SQLKit
import Testing

@testable import Tessera

/// SPEC §5 users admin and approval: listing and filtering users, changing them (disabling ends
/// every session at once), their sessions, and deciding on pending sign-ups with a mail either way.
@Suite("User administration", .throwawayDatabases)
struct UserAdministrationTests {
    @Test("GET /users filters by status, role and text (case-insensitive) and paginates", arguments: TestDatabase.all)
    func listAndFilter(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await adminToken(app, client)
            let anna = try await registeredID(
                client,
                [
                    "email": "anna.k@example.com", "username": "annak", "phone": "+7 (918) 702-09-87", "first_name": "Anna",
                    "last_name": "Karenina", "password": goodPassword,
                ])
            let boris = try await app.tessera.accounts.createUser(
                RegisterRequest(email: "boris@example.com", username: "bgodunov", password: goodPassword, first_name: "Boris", last_name: "Godunov"),
                roles: ["supervisor"]
            ).user.id.uuidString.lowercased()
            let clara = try await registeredID(
                client, ["email": "clara@example.org", "username": "CLARA_Z", "last_name": "Zetkin", "password": goodPassword])
            let dmitri = try await registeredID(client, ["email": "dmitri@example.com", "first_name": "Dmitri", "password": goodPassword])
            let adminID = try #require(try await client.call(.get, "/api/v1/me", token: admin).string("id"))
            let disabled = try await client.call(.patch, "/api/v1/users/\(clara)", json: ["status": "disabled"], token: admin)
            #expect(disabled.status == .ok, "disable clara: \(disabled.status) \(disabled.text)")

            // Everyone, then by status.
            let all = try await client.call(.get, "/api/v1/users", token: admin)
            #expect(all.status == .ok, "list: \(all.status) \(all.text)")
            #expect(all["count"] as? Int == 5, "count: \(all.text.prefix(300))")
            #expect(Set(ids(all)) == [adminID, anna, boris, clara, dmitri])
            for user in all["results"] as? [[String: Any]] ?? [] {
                for key in [
                    "id", "email", "phone", "username", "first_name", "last_name", "role", "roles", "status", "email_verified", "date_joined",
                ] {
                    #expect(user.keys.contains(key), "user lacks \(key): \(user)")
                }
            }
            #expect(!all.text.contains("password") && !all.text.contains("$argon2"), "the list exposes a password hash: \(all.text.prefix(300))")

            let onlyDisabled = try await client.call(.get, "/api/v1/users?status=disabled", token: admin)
            #expect(onlyDisabled.status == .ok)
            #expect(ids(onlyDisabled) == [clara], "status=disabled: \(onlyDisabled.text.prefix(300))")
            #expect(onlyDisabled["count"] as? Int == 1)
            let onlyActive = try await client.call(.get, "/api/v1/users?status=active", token: admin)
            #expect(Set(ids(onlyActive)) == [adminID, anna, boris, dmitri], "status=active: \(onlyActive.text.prefix(300))")
            #expect(onlyActive["count"] as? Int == 4)
            let nonePending = try await client.call(.get, "/api/v1/users?status=pending", token: admin)
            #expect(nonePending.status == .ok)
            #expect(nonePending["count"] as? Int == 0)
            #expect(ids(nonePending).isEmpty)
            let sleeping = try await client.call(.get, "/api/v1/users?status=sleeping", token: admin)
            expectAPIError(sleeping, .badRequest, "validation_error", "status=sleeping")
            #expect(sleeping.fields == ["status": ["Unknown status."]], "\(sleeping.text)")

            // By RBAC role.
            let admins = try await client.call(.get, "/api/v1/users?role=admin", token: admin)
            #expect(ids(admins) == [adminID], "role=admin: \(admins.text.prefix(300))")
            #expect(admins["count"] as? Int == 1)
            let supervisors = try await client.call(.get, "/api/v1/users?role=supervisor", token: admin)
            #expect(ids(supervisors) == [boris], "role=supervisor: \(supervisors.text.prefix(300))")
            let nobody = try await client.call(.get, "/api/v1/users?role=no-such-role", token: admin)
            #expect(nobody.status == .ok)
            #expect(nobody["count"] as? Int == 0)

            // By text, in any case, over e-mail, username, phone and names.
            let searches: [(String, Set<String>)] = [
                ("KARENINA", [anna]),  // last name
                ("anna", [anna]),  // first name and e-mail
                ("AnNaK", [anna]),  // username
                ("9187020", [anna]),  // phone digits
                ("Example.ORG", [clara]),  // e-mail domain
                ("clara_z", [clara]),  // username stored in another case
                ("zetk", [clara]),  // part of a last name
                ("GODUNOV", [boris]),
                ("dmitri", [dmitri]),
                ("example.com", [adminID, anna, boris, dmitri]),
                ("nobody-like-this", []),
                ("a_k", []),  // `_` is a character here, not a wildcard (it would match "a.k" in anna.k@)
                ("%", []),
            ]
            for (text, expected) in searches {
                let query = queryEscaped(text)
                let found = try await client.call(.get, "/api/v1/users?q=\(query)", token: admin)
                #expect(found.status == .ok, "q=\(text): \(found.status) \(found.text.prefix(200))")
                #expect(Set(ids(found)) == expected, "q=\(text) found \(ids(found)), expected \(expected)")
                #expect(found["count"] as? Int == expected.count, "q=\(text) count: \(String(describing: found["count"]))")
            }

            // Filters combine.
            let activeOrg = try await client.call(.get, "/api/v1/users?status=active&q=example.org", token: admin)
            #expect(activeOrg["count"] as? Int == 0, "status=active&q=example.org: \(activeOrg.text.prefix(300))")
            let disabledOrg = try await client.call(.get, "/api/v1/users?status=disabled&q=zetkin", token: admin)
            #expect(ids(disabledOrg) == [clara])

            // Pages of two: 2 + 2 + 1, every user exactly once; past the end is a 404.
            var seen: [String] = []
            for number in 1...3 {
                let page = try await client.call(.get, "/api/v1/users?page_size=2&page=\(number)", token: admin)
                #expect(page.status == .ok, "page \(number): \(page.status) \(page.text.prefix(200))")
                #expect(page["count"] as? Int == 5)
                #expect(ids(page).count == (number < 3 ? 2 : 1), "page \(number) size: \(ids(page))")
                if number < 3 {
                    #expect(
                        (page["next"] as? String)?.contains("page=\(number + 1)") == true, "page \(number) next: \(String(describing: page["next"]))")
                } else {
                    #expect(page["next"] is NSNull, "last page next: \(String(describing: page["next"]))")
                }
                if number > 1 {
                    #expect(page["previous"] is String, "page \(number) previous: \(String(describing: page["previous"]))")
                }
                seen += ids(page)
            }
            #expect(seen.count == 5 && Set(seen) == [adminID, anna, boris, clara, dmitri], "pages repeat or skip users: \(seen)")
            #expect(try await client.call(.get, "/api/v1/users?page_size=2&page=4", token: admin).status == .notFound)
            let filteredPage = try await client.call(.get, "/api/v1/users?q=example.com&page_size=3&page=2", token: admin)
            #expect(filteredPage["count"] as? Int == 4, "count must follow the filter: \(filteredPage.text.prefix(200))")
            #expect(ids(filteredPage).count == 1)
        }
    }

    @Test("?q= matches names case-insensitively in Cyrillic too", arguments: TestDatabase.all)
    func searchCyrillicNames(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await adminToken(app, client)
            let olga = try await registeredID(
                client, ["email": "olga@example.com", "first_name": "Ольга", "last_name": "Иванова", "password": goodPassword])
            _ = try await registeredID(client, ["email": "petr@example.com", "first_name": "Пётр", "last_name": "Смирнов", "password": goodPassword])
            for text in ["Иванова", "иванова", "ИВАНОВА", "ольга", "ОЛЬГА"] {
                let query = queryEscaped(text)
                let found = try await client.call(.get, "/api/v1/users?q=\(query)", token: admin)
                #expect(found.status == .ok)
                #expect(ids(found) == [olga], "q=\(text) found \(ids(found)) (\(found.text.prefix(200)))")
            }
        }
    }

    @Test("?q= matches the middle name as well as the other names", arguments: TestDatabase.all)
    func searchMiddleName(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await adminToken(app, client)
            let ivan = try await registeredID(
                client,
                ["email": "ivan@example.com", "first_name": "Ivan", "middle_name": "Sergeevich", "last_name": "Petrov", "password": goodPassword])
            let found = try await client.call(.get, "/api/v1/users?q=sergeevich", token: admin)
            #expect(found.status == .ok)
            #expect(ids(found) == [ivan], "q=sergeevich found \(ids(found))")
        }
    }

    @Test("?role= follows roles an admin grants and takes away, built-in or not", arguments: TestDatabase.all)
    func roleFilterFollowsAssignments(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await adminToken(app, client)
            let id = try await registeredID(client, ["email": "gwen@example.com", "password": goodPassword])
            let custom = try await client.call(
                .post, "/api/v1/roles", json: ["code_name": "moderator", "name": "Moderator", "permissions": [String]()], token: admin)
            #expect(custom.status == .created, "create role: \(custom.status) \(custom.text)")
            #expect(ids(try await client.call(.get, "/api/v1/users?role=supervisor", token: admin)).isEmpty)

            for (roles, supervisors, moderators) in [
                (["client", "supervisor"], [id], [String]()), (["client", "moderator"], [], [id]),
                (["client", "supervisor", "moderator"], [id], [id]),
                (["client"], [], []),
            ] {
                let assigned = try await client.call(.put, "/api/v1/users/\(id)/roles", json: ["roles": roles], token: admin)
                #expect(assigned.status == .ok, "PUT roles \(roles): \(assigned.status) \(assigned.text)")
                #expect(Set(assigned["roles"] as? [String] ?? []) == Set(roles), "assigned: \(assigned.text)")
                #expect(Set(try await client.call(.get, "/api/v1/users/\(id)", token: admin)["roles"] as? [String] ?? []) == Set(roles))
                #expect(
                    ids(try await client.call(.get, "/api/v1/users?role=supervisor", token: admin)) == supervisors, "role=supervisor after \(roles)")
                #expect(ids(try await client.call(.get, "/api/v1/users?role=moderator", token: admin)) == moderators, "role=moderator after \(roles)")
            }
        }
    }

    @Test("GET and PATCH /users/{id}; fields an admin may not set are ignored; unknown ids are 404", arguments: TestDatabase.all)
    func getAndPatch(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await adminToken(app, client)
            let id = try await registeredID(
                client, ["email": "lena@example.com", "username": "lena", "first_name": "Lena", "password": goodPassword])

            let one = try await client.call(.get, "/api/v1/users/\(id)", token: admin)
            #expect(one.status == .ok, "get: \(one.status) \(one.text)")
            #expect(one.string("id") == id)
            #expect(one.string("email") == "lena@example.com")
            #expect(one.string("username") == "lena")
            #expect(one.string("status") == "active")
            #expect(one.string("role") == "client")
            #expect(one["roles"] as? [String] == ["client"], "roles: \(String(describing: one["roles"]))")
            #expect(one["email_verified"] as? Bool == false)
            #expect(!one.text.contains("password"), "a password field in \(one.text)")
            #expect(try await client.call(.get, "/api/v1/users/\(id)/", token: admin).status == .ok, "trailing slash")

            let patched = try await client.call(
                .patch, "/api/v1/users/\(id)",
                json: [
                    "first_name": "Elena", "last_name": "Sokolova", "email_verified": true, "role": "specialist",
                    // Not an admin's to set here: identifiers, RBAC roles (PUT /users/{id}/roles), ids, timestamps.
                    "email": "hijack@example.com", "roles": ["admin"], "id": UUID().uuidString, "date_joined": "2001-01-01T00:00:00Z",
                    "password": "Another-Strong-Pass-42",
                ], token: admin)
            #expect(patched.status == .ok, "patch: \(patched.status) \(patched.text)")
            #expect(patched.string("first_name") == "Elena")
            #expect(patched.string("last_name") == "Sokolova")
            #expect(patched["email_verified"] as? Bool == true)
            #expect(patched.string("role") == "specialist")
            #expect(patched.string("id") == id)
            #expect(patched.string("email") == "lena@example.com", "PATCH changed the e-mail: \(patched.text)")
            #expect((patched["roles"] as? [String])?.contains("admin") == false, "PATCH granted admin: \(patched.text)")
            #expect(patched.string("date_joined")?.hasPrefix("2001") == false)

            // It stuck, and the password did not change.
            let again = try await client.call(.get, "/api/v1/users/\(id)", token: admin)
            #expect(again.string("first_name") == "Elena")
            #expect(again["email_verified"] as? Bool == true)
            #expect(try await client.login("lena@example.com", goodPassword).status == .ok)
            expectAPIError(
                try await client.login("lena@example.com", "Another-Strong-Pass-42"), .unauthorized, "invalid_credentials", "password via admin PATCH"
            )
            let lenaToken = try #require(try await client.login("lena@example.com", goodPassword).string("access"))
            #expect(try await client.call(.get, "/api/v1/me/permissions", token: lenaToken)["admin"] as? Bool != true)

            expectAPIError(
                try await client.call(.patch, "/api/v1/users/\(id)", json: ["status": "sleeping"], token: admin), .badRequest, "validation_error",
                "unknown status")
            #expect(try await client.call(.get, "/api/v1/users/\(id)", token: admin).string("status") == "active")

            let unknown = UUID().uuidString.lowercased()
            expectAPIError(try await client.call(.get, "/api/v1/users/\(unknown)", token: admin), .notFound, "not_found", "GET unknown")
            expectAPIError(
                try await client.call(.patch, "/api/v1/users/\(unknown)", json: ["status": "disabled"], token: admin), .notFound, "not_found",
                "PATCH unknown")
            expectAPIError(
                try await client.call(.get, "/api/v1/users/\(unknown)/sessions", token: admin), .notFound, "not_found", "sessions of unknown")
            expectAPIError(
                try await client.call(.post, "/api/v1/users/\(unknown)/sessions/revoke-all", token: admin), .notFound, "not_found",
                "revoke-all of unknown")
            expectAPIError(try await client.call(.get, "/api/v1/users/not-a-uuid", token: admin), .notFound, "not_found", "GET non-uuid")
        }
    }

    @Test("status disabled ends every session at once; re-enabling lets the user sign in again", arguments: TestDatabase.all)
    func disableEndsSessions(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await adminToken(app, client)
            let registered = try await client.register(["email": "dora@example.com", "password": goodPassword])
            let id = try #require((registered["user"] as? [String: Any])?["id"] as? String)
            let first = try TokenPair(registered)
            let second = try TokenPair(try await client.login("dora@example.com", goodPassword))
            let bystander = try TokenPair(try await client.register(["email": "bystander@example.com", "password": goodPassword]))
            #expect(try await client.call(.get, "/api/v1/me", token: first.access).status == .ok)

            let before = try await client.call(.get, "/api/v1/users/\(id)/sessions", token: admin)
            #expect(before["count"] as? Int == 2, "sessions before: \(before.text.prefix(300))")

            let disabled = try await client.call(.patch, "/api/v1/users/\(id)", json: ["status": "disabled"], token: admin)
            #expect(disabled.status == .ok, "disable: \(disabled.status) \(disabled.text)")
            #expect(disabled.string("status") == "disabled")

            // No clock movement: refused on the very next request, not at expiry.
            for (name, pair) in [("first", first), ("second", second)] {
                expectAPIError(try await client.call(.get, "/api/v1/me", token: pair.access), .unauthorized, nil, "\(name) access after disable")
                expectAPIError(
                    try await client.call(.post, "/api/v1/auth/token/verify", json: ["token": pair.access]), .unauthorized, nil,
                    "\(name) verify after disable")
                expectAPIError(
                    try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": pair.refresh]), .unauthorized, nil,
                    "\(name) refresh after disable")
            }
            expectAPIError(try await client.login("dora@example.com", goodPassword), .forbidden, "account_disabled", "login while disabled")
            let after = try await client.call(.get, "/api/v1/users/\(id)/sessions", token: admin)
            #expect(after["count"] as? Int == 0, "sessions after disable: \(after.text.prefix(300))")
            #expect(try await client.call(.get, "/api/v1/me", token: bystander.access).status == .ok, "another user's session ended")

            // Back to active: a new login works, the old sessions stay ended.
            let enabled = try await client.call(.patch, "/api/v1/users/\(id)", json: ["status": "active"], token: admin)
            #expect(enabled.status == .ok)
            #expect(enabled.string("status") == "active")
            let fresh = try await client.login("dora@example.com", goodPassword)
            #expect(fresh.status == .ok, "login after re-enabling: \(fresh.status) \(fresh.text)")
            #expect(try await client.call(.get, "/api/v1/me", token: try TokenPair(fresh).access).status == .ok)
            expectAPIError(try await client.call(.get, "/api/v1/me", token: first.access), .unauthorized, nil, "old session after re-enabling")
        }
    }

    @Test("an admin lists a user's sessions and ends them all: {\"revoked\": n}", arguments: TestDatabase.all)
    func userSessions(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await adminToken(app, client)
            let registered = try await client.call(
                .post, "/api/v1/auth/register", json: ["email": "sam@example.com", "password": goodPassword], headers: [.userAgent: "SamPhone/1.0"])
            let id = try #require((registered["user"] as? [String: Any])?["id"] as? String)
            let pairs =
                [try TokenPair(registered)] + [
                    try TokenPair(try await client.login("sam@example.com", goodPassword)),
                    try TokenPair(try await client.login("sam@example.com", goodPassword)),
                ]
            let other = try TokenPair(try await client.register(["email": "other@example.com", "password": goodPassword]))

            let list = try await client.call(.get, "/api/v1/users/\(id)/sessions", token: admin)
            #expect(list.status == .ok, "sessions: \(list.status) \(list.text)")
            #expect(list["count"] as? Int == 3)
            let results = list["results"] as? [[String: Any]] ?? []
            #expect(results.count == 3)
            for session in results {
                for key in ["id", "created_at", "last_used_at", "expires_at", "ip_address", "user_agent", "current"] {
                    #expect(session.keys.contains(key), "session lacks \(key): \(session)")
                }
                #expect(session["current"] as? Bool == false, "the admin's session is not one of these: \(session)")
            }
            #expect(results.contains { $0["user_agent"] as? String == "SamPhone/1.0" })
            let paged = try await client.call(.get, "/api/v1/users/\(id)/sessions?page_size=2", token: admin)
            #expect((paged["results"] as? [Any])?.count == 2)
            #expect(paged["next"] is String)

            let revoked = try await client.call(.post, "/api/v1/users/\(id)/sessions/revoke-all", token: admin)
            #expect(revoked.status == .ok, "revoke-all: \(revoked.status) \(revoked.text)")
            #expect(revoked["revoked"] as? Int == 3, "revoked: \(revoked.text)")
            for pair in pairs {
                expectAPIError(try await client.call(.get, "/api/v1/me", token: pair.access), .unauthorized, nil, "access after admin revoke-all")
                expectAPIError(
                    try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": pair.refresh]), .unauthorized, nil,
                    "refresh after admin revoke-all")
            }
            #expect(try await client.call(.get, "/api/v1/users/\(id)/sessions", token: admin)["count"] as? Int == 0)
            let twice = try await client.call(.post, "/api/v1/users/\(id)/sessions/revoke-all", token: admin)
            #expect(twice.status == .ok)
            #expect(twice["revoked"] as? Int == 0, "second revoke-all: \(twice.text)")

            // The admin's own session and other users' survive; the account itself stays usable.
            #expect(try await client.call(.get, "/api/v1/me", token: admin).status == .ok)
            #expect(try await client.call(.get, "/api/v1/me", token: other.access).status == .ok)
            #expect(try await client.login("sam@example.com", goodPassword).status == .ok)
            #expect(try await client.call(.get, "/api/v1/users/\(id)", token: admin).string("status") == "active")
        }
    }

    @Test("clients get 403 from every admin endpoint and change nothing; no token is 401", arguments: TestDatabase.all)
    func clientsAreRefused(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["REGISTRATION": "approval"])
        try await app.run { client in
            let admin = try await adminToken(app, client)
            _ = try await app.tessera.accounts.createUser(RegisterRequest(email: "cleo@example.com", password: goodPassword), roles: [])
            let cleo = try TokenPair(try await client.login("cleo@example.com", goodPassword))
            let cleoID = try #require(try await client.call(.get, "/api/v1/me", token: cleo.access).string("id"))
            let pending = try await client.register(["email": "waiting@example.com", "password": goodPassword])
            let pendingID = try #require((pending["user"] as? [String: Any])?["id"] as? String)
            let victimID = try #require(try await client.call(.get, "/api/v1/me", token: admin).string("id"))

            let calls: [(HTTPRequest.Method, String, [String: Any]?)] = [
                (.get, "/api/v1/users", nil),
                (.get, "/api/v1/users?q=example", nil),
                (.get, "/api/v1/users/\(victimID)", nil),
                (.patch, "/api/v1/users/\(victimID)", ["status": "disabled"]),
                (.patch, "/api/v1/users/\(cleoID)", ["status": "active", "email_verified": true]),
                (.get, "/api/v1/users/\(victimID)/sessions", nil),
                (.post, "/api/v1/users/\(victimID)/sessions/revoke-all", nil),
                (.get, "/api/v1/registrations", nil),
                (.patch, "/api/v1/registrations/\(pendingID)", ["action": "accept"]),
            ]
            for (method, path, body) in calls {
                expectAPIError(
                    try await client.call(method, path, json: body, token: cleo.access), .forbidden, "permission_denied", "client \(method) \(path)")
                expectAPIError(try await client.call(method, path, json: body), .unauthorized, "not_authenticated", "anonymous \(method) \(path)")
            }
            #expect(try await client.call(.get, "/api/v1/me", token: admin).status == .ok, "a client's revoke-all ended the admin's session")
            #expect(try await client.call(.get, "/api/v1/users/\(victimID)", token: admin).string("status") == "active")
            #expect(try await client.call(.get, "/api/v1/users/\(pendingID)", token: admin).string("status") == "pending")
            #expect(try await client.call(.get, "/api/v1/me", token: cleo.access)["email_verified"] as? Bool == false)
            #expect(try await queuedMail(app).filter { $0.recipient == "waiting@example.com" && $0.isDecision }.isEmpty)
        }
    }

    @Test("approval: sign-ups wait; accept activates, mails the user once, and twice is 409", arguments: TestDatabase.all)
    func acceptRegistration(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["REGISTRATION": "approval"])
        try await app.run { client in
            let admin = try await adminToken(app, client)
            let reply = try await client.register(["email": "pia@example.com", "first_name": "Pia", "password": goodPassword])
            #expect(reply.status == .created, "register: \(reply.status) \(reply.text)")
            let user = try #require(reply["user"] as? [String: Any])
            let id = try #require(user["id"] as? String)
            #expect(user["status"] as? String == "pending")
            #expect(reply["access"] == nil && reply["refresh"] == nil, "a pending sign-up got tokens: \(reply.text)")
            let other = try await client.register(["email": "quinn@example.com", "password": goodPassword])
            let otherID = try #require((other["user"] as? [String: Any])?["id"] as? String)
            expectAPIError(try await client.login("pia@example.com", goodPassword), .forbidden, "account_pending", "login while pending")

            let waiting = try await client.call(.get, "/api/v1/registrations", token: admin)
            #expect(waiting.status == .ok, "registrations: \(waiting.status) \(waiting.text)")
            #expect(Set(ids(waiting)) == [id, otherID], "pending list: \(waiting.text.prefix(300))")
            #expect(waiting["count"] as? Int == 2)
            #expect((waiting["results"] as? [[String: Any]] ?? []).allSatisfy { $0["status"] as? String == "pending" })
            let explicit = try await client.call(.get, "/api/v1/registrations?status=pending", token: admin)
            #expect(Set(ids(explicit)) == [id, otherID])
            #expect(decisionMail(try await queuedMail(app), to: "pia@example.com").isEmpty, "a decision mail before the decision")

            let accepted = try await client.call(.patch, "/api/v1/registrations/\(id)", json: ["action": "accept"], token: admin)
            #expect(accepted.status == .ok, "accept: \(accepted.status) \(accepted.text)")
            #expect(accepted.string("status") == "active")
            #expect(try await client.call(.get, "/api/v1/users/\(id)", token: admin).string("status") == "active")

            let login = try await client.login("pia@example.com", goodPassword)
            #expect(login.status == .ok, "login after accept: \(login.status) \(login.text)")
            #expect(login.string("access") != nil)

            let mails = decisionMail(try await queuedMail(app), to: "pia@example.com")
            #expect(mails.count == 1, "decision mails to pia: \(mails)")
            #expect(mails.first.map { ($0.subject + " " + $0.body).lowercased().contains("approved") } == true, "not an approval: \(mails)")
            #expect(decisionMail(try await queuedMail(app), to: "quinn@example.com").isEmpty, "the other sign-up was mailed")

            #expect(ids(try await client.call(.get, "/api/v1/registrations", token: admin)) == [otherID], "accepted sign-up still pending")

            let twice = try await client.call(.patch, "/api/v1/registrations/\(id)", json: ["action": "accept"], token: admin)
            #expect(twice.status == .conflict, "accept twice: \(twice.status) \(twice.text)")
            #expect(twice.code != nil && (twice["detail"] as? String)?.isEmpty == false)
            expectAPIError(
                try await client.call(.patch, "/api/v1/registrations/\(id)", json: ["action": "reject"], token: admin), .conflict, nil,
                "reject an accepted account")
            #expect(try await client.call(.get, "/api/v1/users/\(id)", token: admin).string("status") == "active")
            #expect(decisionMail(try await queuedMail(app), to: "pia@example.com").count == 1, "a refused decision queued mail")
        }
    }

    @Test("approval: reject with a reason; the mail carries it; bad actions are 400", arguments: TestDatabase.all)
    func rejectRegistration(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["REGISTRATION": "approval"])
        try await app.run { client in
            let admin = try await adminToken(app, client)
            let reply = try await client.register(["email": "rex@example.com", "password": goodPassword])
            let id = try #require((reply["user"] as? [String: Any])?["id"] as? String)

            for body: [String: Any] in [["action": "maybe"], [:], ["action": 1], ["reason": "no action"]] {
                expectAPIError(
                    try await client.call(.patch, "/api/v1/registrations/\(id)", json: body, token: admin), .badRequest, nil, "decision \(body)")
            }
            #expect(try await client.call(.get, "/api/v1/users/\(id)", token: admin).string("status") == "pending")
            expectAPIError(
                try await client.call(.patch, "/api/v1/registrations/\(UUID().uuidString)", json: ["action": "accept"], token: admin), .notFound,
                "not_found", "decide an unknown id")

            let rejected = try await client.call(
                .patch, "/api/v1/registrations/\(id)", json: ["action": "reject", "reason": "Incomplete profile"], token: admin)
            #expect(rejected.status == .ok, "reject: \(rejected.status) \(rejected.text)")
            #expect(rejected.string("status") == "rejected")

            let login = try await client.login("rex@example.com", goodPassword)
            #expect(login.status == .forbidden, "login after reject: \(login.status) \(login.text)")
            #expect(login.string("access") == nil)
            expectAPIError(
                try await client.login("rex@example.com", "wrong-password-1"), .unauthorized, "invalid_credentials", "wrong password, rejected")

            #expect(ids(try await client.call(.get, "/api/v1/registrations", token: admin)).isEmpty, "rejected sign-up still pending")
            let rejectedList = try await client.call(.get, "/api/v1/registrations?status=rejected", token: admin)
            #expect(rejectedList.status == .ok)
            #expect(ids(rejectedList) == [id], "status=rejected: \(rejectedList.text.prefix(300))")
            for status in ["sleeping", "disabled"] {
                let bad = try await client.call(.get, "/api/v1/registrations?status=\(status)", token: admin)
                expectAPIError(bad, .badRequest, "validation_error", "registrations?status=\(status)")
                #expect(bad.fields == ["status": ["Unknown status."]], "\(bad.text)")
            }

            let mails = decisionMail(try await queuedMail(app), to: "rex@example.com")
            #expect(mails.count == 1, "decision mails to rex: \(mails)")
            #expect(mails.first?.body.contains("Incomplete profile") == true, "the reason is not in the mail: \(mails)")
            #expect(mails.first.map { ($0.subject + $0.body).lowercased().contains("approved") } == false)

            expectAPIError(
                try await client.call(.patch, "/api/v1/registrations/\(id)", json: ["action": "reject", "reason": "again"], token: admin), .conflict,
                nil,
                "reject twice")
            #expect(decisionMail(try await queuedMail(app), to: "rex@example.com").count == 1, "a refused decision queued mail")
        }
    }
}

// MARK: - Helpers

/// Creates the admin and signs in: the admin's access token.
private func adminToken(_ app: TestApp, _ client: any TestClientProtocol) async throws -> String {
    _ = try await app.tessera.accounts.createUser(RegisterRequest(email: "admin@example.com", password: goodPassword), roles: ["admin"])
    let reply = try await client.login("admin@example.com", goodPassword)
    try #require(reply.status == .ok, "admin login: \(reply.text)")
    return try #require(reply.string("access"))
}

private func registeredID(_ client: any TestClientProtocol, _ fields: [String: Any]) async throws -> String {
    let reply = try await client.register(fields)
    try #require(reply.status == .created, "register \(fields["email"] ?? ""): \(reply.status) \(reply.text)")
    return try #require((reply["user"] as? [String: Any])?["id"] as? String).lowercased()
}

/// `text` for a query string: everything but ASCII letters and digits percent-encoded.
private func queryEscaped(_ text: String) -> String {
    text.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
        ?? text
}

/// The ids of a page's results, lowercased, in order.
private func ids(_ page: Reply) -> [String] {
    (page["results"] as? [[String: Any]] ?? []).compactMap { ($0["id"] as? String)?.lowercased() }
}

private struct QueuedMail: CustomStringConvertible {
    let recipient: String
    let subject: String
    let body: String

    /// An approval or rejection, as opposed to a verification or reset mail.
    var isDecision: Bool { subject.lowercased().contains("registration") }

    var description: String { "<\(recipient)> \(subject)" }
}

private func queuedMail(_ app: TestApp) async throws -> [QueuedMail] {
    try await app.tessera.database.read { db in
        try await db.raw("SELECT recipient, subject, body FROM mail_outbox ORDER BY created_at").all().map { row in
            QueuedMail(
                recipient: try row.decode(column: "recipient", as: String.self), subject: try row.decode(column: "subject", as: String.self),
                body: try row.decode(column: "body", as: String.self))
        }
    }
}

private func decisionMail(_ mails: [QueuedMail], to recipient: String) -> [QueuedMail] {
    mails.filter { $0.recipient == recipient && $0.isDecision }
}
