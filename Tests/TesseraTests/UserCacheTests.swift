import Foundation
import Hummingbird
import HummingbirdTesting
import SQLKit
import Synchronization
import Testing

@testable import Tessera

/// `GET /api/v1/me` answers from memory, and every change to what it shows — the profile, the
/// account kind and status, the last login, the user's roles, a role's code name — is there on the
/// next request: on this instance as the change commits, on other PostgreSQL instances through NOTIFY.
@Suite("User cache", .throwawayDatabases)
struct UserCacheTests {
    @Test("/me comes from memory; every change through the API shows on the next request", arguments: TestDatabase.all)
    func changesShowAtOnce(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let user = try await rbacSignUp(client, "cy@example.com", kind: "client")

            // Served from memory: a change behind Tessera's back (never done in production) is not seen.
            #expect(try await me(client, user)["first_name"] as? String == "")
            try await app.tessera.database.transaction { db in
                try await db.update("users").set("first_name", to: SQLBind("Behind")).where("email_key", .equal, SQLBind("cy@example.com")).run()
            }
            #expect(try await me(client, user)["first_name"] as? String == "", "GET /me read the row again")

            // Through the API, at once: the profile…
            let patched = try await client.call(.patch, "/api/v1/me", json: ["first_name": "Cy"], token: user.access)
            #expect(patched.status == .ok, "PATCH /me: \(patched.text)")
            #expect(try await me(client, user)["first_name"] as? String == "Cy")

            // …an administrator's change of kind…
            let kind = try await client.call(.patch, "/api/v1/users/\(user.id)", json: ["role": "specialist"], token: admin.access)
            #expect(kind.status == .ok, "PATCH user: \(kind.text)")
            #expect(try await me(client, user)["role"] as? String == "specialist")

            // …the user's roles…
            let roles = try await client.call(.put, "/api/v1/users/\(user.id)/roles", json: ["roles": ["client", "supervisor"]], token: admin.access)
            #expect(roles.status == .ok, "PUT roles: \(roles.text)")
            #expect(try await me(client, user)["roles"] as? [String] == ["client", "supervisor"])

            // …a role's code name, which any cached user may show…
            let created = try await client.call(.post, "/api/v1/roles", json: ["code_name": "helper", "name": "Helper"], token: admin.access)
            let roleID = try #require(created.string("id"), "POST role: \(created.text)")
            #expect(try await client.call(.put, "/api/v1/users/\(user.id)/roles", json: ["roles": ["helper"]], token: admin.access).status == .ok)
            #expect(try await me(client, user)["roles"] as? [String] == ["helper"])
            #expect(try await client.call(.patch, "/api/v1/roles/\(roleID)", json: ["code_name": "aide"], token: admin.access).status == .ok)
            #expect(try await me(client, user)["roles"] as? [String] == ["aide"])
            #expect(try await client.call(.delete, "/api/v1/roles/\(roleID)", token: admin.access).status == .noContent)
            #expect(try await me(client, user)["roles"] as? [String] == [])

            // …and a new sign-in's time, moved forward in the cached copy rather than dropping it (the
            // change made behind Tessera's back is still not seen).
            let before = try await me(client, user)
            try await app.tessera.database.transaction { db in
                try await db.update("users").set("middle_name", to: SQLBind("Behind")).where("email_key", .equal, SQLBind("cy@example.com")).run()
            }
            app.clock.advance(by: 60)
            #expect(try await client.login("cy@example.com", goodPassword).status == .ok)
            let after = try await me(client, user)
            let (was, now) = (before["last_login"] as? String, after["last_login"] as? String)
            #expect(now != nil && now != was, "last_login \(String(describing: was)) → \(String(describing: now))")
            #expect(after["middle_name"] as? String == "", "a sign-in reloaded the user")
        }
    }

    @Test("a load that overlaps a change is not kept", arguments: TestDatabase.all)
    func overlappingLoadIsNotKept(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let user = try await rbacSignUp(client, "ola@example.com", kind: "client")
            let id = try #require(UUID(uuidString: user.id))
            let users = app.tessera.accounts.users
            let loads = Counter()
            func load() async throws -> UserResponse? {
                loads.add()
                return try await app.tessera.database.read { db in try await users.withRoles(id, db) }
            }
            // The change commits while the first load runs: what it read may be old, so it is dropped.
            _ = try await users.cache.user(id) {
                let loaded = try await load()
                try await app.tessera.database.transaction { db in try await users.cache.changed(id, db) }
                return loaded
            }
            _ = try await users.cache.user(id, load: load)
            _ = try await users.cache.user(id, load: load)
            #expect(loads.value == 2, "the overlapping load was kept, or the next one was not")
        }
    }

    @Test("PostgreSQL: a change on one instance reaches the others' caches through NOTIFY")
    func reachesOtherInstances() async throws {
        try #require(TestDatabase.all.contains(.postgres), "TESSERA_TEST_POSTGRES_URL is not set; run scripts/test")
        let url = try await TestDatabase.postgres.freshURL()
        let a = try await TestApp.make(.postgres, url: url)
        try await a.run { clientA in
            let b = try await TestApp.make(.postgres, url: url)
            try await b.run { clientB in
                let user = try await rbacSignUp(clientA, "pia@example.com", kind: "client")
                #expect(try await me(clientB, user)["first_name"] as? String == "", "B caches the user")
                #expect(try await clientA.call(.patch, "/api/v1/me", json: ["first_name": "Pia"], token: user.access).status == .ok)
                try await eventually("B shows the new first name") { try await me(clientB, user)["first_name"] as? String == "Pia" }

                // A sign-in on A moves last_login forward in B's copy.
                let before = try await me(clientB, user)["last_login"] as? String
                a.clock.advance(by: 60)
                #expect(try await clientA.login("pia@example.com", goodPassword).status == .ok)
                try await eventually("B shows the new last_login") { try await me(clientB, user)["last_login"] as? String != before }
            }
        }
    }
}

private func me(_ client: any TestClientProtocol, _ user: RBACMember) async throws -> [String: Any] {
    let reply = try await client.call(.get, "/api/v1/me", token: user.access)
    try #require(reply.status == .ok, "GET /me: \(reply.status.code) \(reply.text.prefix(200))")
    return reply.json
}

private final class Counter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func add() { count.withLock { $0 += 1 } }
}
