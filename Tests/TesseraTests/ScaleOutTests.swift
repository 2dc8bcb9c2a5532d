import Foundation
import HummingbirdTesting
import Logging
import Testing

@testable import Tessera

/// SPEC §8: three instances on one PostgreSQL, with requests spread across them, behave as one.
@Suite("Three instances on one PostgreSQL", .throwawayDatabases)
struct ScaleOutTests {
    /// Runs `body` with three instances of Tessera on one fresh database, each following its feeds.
    static func threeInstances(
        _ settings: [String: String], _ body: @Sendable ([TestApp], [any TestClientProtocol]) async throws -> Void
    ) async throws {
        let url = try await TestDatabase.postgres.freshURL()
        let apps = [
            try await TestApp.make(.postgres, settings, url: url), try await TestApp.make(.postgres, settings, url: url),
            try await TestApp.make(.postgres, settings, url: url),
        ]
        try await apps[0].run { a in
            try await apps[1].run { b in
                try await apps[2].run { c in try await body(apps, [a, b, c]) }
            }
        }
    }

    /// Polls for up to one second (SPEC §8's promise), recording `what` if it never holds.
    static func withinASecond(_ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(1)
        while Date() < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("not within a second: \(what)")
    }

    @Test("a logout or a disable on one is refused on the others within a second; a key rotation reaches all three")
    func revocationsAndKeys() async throws {
        try #require(TestDatabase.postgresURL != nil, "scripts/test provides PostgreSQL")
        try await Self.threeInstances([:]) { apps, clients in
            let (a, b, c) = (clients[0], clients[1], clients[2])
            let ann = try await a.signUp("ann@example.com")
            for client in [b, c] { #expect(try await client.call(.get, "/api/v1/me", token: ann.access).status == .ok) }
            #expect(try await b.call(.post, "/api/v1/auth/logout", token: ann.access).status == .noContent)
            for (name, client) in [("a", a), ("c", c)] {
                try await Self.withinASecond("the logout on b refused on \(name)") {
                    try await client.call(.get, "/api/v1/me", token: ann.access).status == .unauthorized
                }
            }

            _ = try await apps[0].tessera.accounts.createUser(RegisterRequest(email: "root@example.com", password: goodPassword), roles: ["admin"])
            let admin = try await c.signIn("root@example.com")
            let bob = try await b.signUp("bob@example.com")
            let bobID = try #require(try await b.call(.get, "/api/v1/me", token: bob.access).string("id"))
            #expect(try await a.call(.get, "/api/v1/me", token: bob.access).status == .ok)
            let disabled = try await c.call(.patch, "/api/v1/users/\(bobID)", json: ["status": "disabled"], token: admin.access)
            #expect(disabled.status == .ok, "\(disabled.text)")
            for (name, client) in [("a", a), ("b", b)] {
                try await Self.withinASecond("the disable on c refused on \(name)") {
                    try await client.call(.get, "/api/v1/me", token: bob.access).status == .unauthorized
                }
            }
            expectAPIError(try await a.login("bob@example.com", goodPassword), .forbidden, "account_disabled", "bob signing in on a")

            // `tessera keys rotate` is a process of its own, with its own connection.
            let settings = apps[0].tessera.settings
            let cli = try await openDatabase(settings.database.url, logger: Logger(label: "keys-rotate"))
            let kid = try await cli.whileRunning { try await SigningKeys.rotate(settings: settings.tokens, database: cli) }
            for (index, app) in apps.enumerated() {
                try await Self.withinASecond("the rotation reached instance \(index)") { app.tessera.keys.activeKid == kid }
            }
            let fresh = try await b.signIn("ann@example.com")
            #expect(JOSEHeader.of(fresh.access)?.kid == kid)
            for client in [a, c] { #expect(try await client.call(.get, "/api/v1/me", token: fresh.access).status == .ok) }
        }
    }

    @Test("rate limits and lockouts count across instances; each text is sent once while all three deliver")
    func sharedCountsAndOutbox() async throws {
        try #require(TestDatabase.postgresURL != nil, "scripts/test provides PostgreSQL")
        let peers = try SignInPeers()
        defer { peers.stop() }
        var settings = peers.settings
        settings["RATE_LIMITS"] = "on"
        settings["RATE_LIMIT_REGISTER"] = "3/1m"
        settings["RATE_LIMIT_SMS"] = "100/1h"
        settings["LOCKOUT_FAILURES"] = "3"
        try await Self.threeInstances(settings) { apps, clients in
            _ = try await clients[0].signUp("carl@example.com")
            // Three wrong passwords, one per instance, lock the account on all of them.
            for client in clients {
                expectAPIError(
                    try await client.login("carl@example.com", "wrong-password-1"), .unauthorized, "invalid_credentials", "a wrong password")
            }
            for client in clients {
                expectAPIError(try await client.login("carl@example.com", goodPassword), .tooManyRequests, "rate_limited", "locked everywhere")
            }
            // Registrations per address (3 a minute, carl's included) count on every instance together.
            #expect(try await clients[1].register(["email": "dora@example.com", "password": goodPassword]).status == .created)
            #expect(try await clients[2].register(["email": "emil@example.com", "password": goodPassword]).status == .created)
            expectAPIError(
                try await clients[0].register(["email": "fay@example.com", "password": goodPassword]), .tooManyRequests, "rate_limited",
                "the fourth sign-up from one address, on another instance")

            // Twelve texts queued on different instances; all three workers deliver at once.
            let phones = (0..<12).map { "+7999000\(String(format: "%04d", $0))" }
            for (index, phone) in phones.enumerated() {
                #expect(try await clients[index % 3].call(.post, "/api/v1/auth/otp/request", json: ["phone": phone]).status == .accepted)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for app in apps { group.addTask { for _ in 0..<3 { try await app.tessera.outbox.deliverDue() } } }
                try await group.waitForAll()
            }
            // The instances' own workers deliver too: wait for every text, then check none came twice.
            for app in apps { try await SignInTests.deliver(app) }
            let delivered = try await peers.texts().map(\.to)
            #expect(delivered.count == phones.count && Set(delivered) == Set(phones), "\(delivered.sorted())")
        }
    }
}
