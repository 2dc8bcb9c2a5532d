import AsyncHTTPClient
import Foundation
import HummingbirdTesting
import Logging
import Synchronization
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
        let peers = try await SignInPeers()
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

    /// What a load run was told, and whether a survivor ever failed it.
    final class Acknowledged: Sendable {
        private struct State {
            var chains: [Int: String] = [:]
            var signIns: [String] = []
            var afterKill = 0
            var survivorFailures: [String] = []
        }
        private let state = Mutex(State())
        let killed = Mutex(false)

        func rotated(_ chain: Int, to refresh: String) {
            state.withLock {
                $0.chains[chain] = refresh; $0.afterKill += killed.withLock { $0 } ? 1 : 0
            }
        }
        func signedIn(_ refresh: String) { state.withLock { $0.signIns.append(refresh) } }
        func failed(_ what: String) { state.withLock { $0.survivorFailures.append(what) } }
        var chains: [Int: String] { state.withLock { $0.chains } }
        var signIns: [String] { state.withLock { $0.signIns } }
        var afterKill: Int { state.withLock { $0.afterKill } }
        var survivorFailures: [String] { state.withLock { $0.survivorFailures } }
    }

    @Test("kill -9 of one instance under refresh and sign-in load loses no acknowledged write, and the others go on serving")
    func killNine() async throws {
        try #require(TestDatabase.postgresURL != nil, "scripts/test provides PostgreSQL")
        let settings = ["DATABASE_URL": try await TestDatabase.postgres.freshURL()]
        let instances = [try await TesseraProcess(settings), try await TesseraProcess(settings), try await TesseraProcess(settings)]
        defer { instances.forEach { $0.stop() } }
        let emails = (0..<6).map { "load\($0)@example.com" }
        var refreshes: [String] = []
        for (index, email) in emails.enumerated() {
            let reply = try await callJSON(instances[index % 3].base, .POST, "/api/v1/auth/register", ["email": email, "password": goodPassword])
            refreshes.append(try #require(reply.json["refresh"] as? String, "\(reply)"))
        }
        let victim = instances[0]
        let acknowledged = Acknowledged()
        let (killAt, stopAt) = (Date().addingTimeInterval(1.5), Date().addingTimeInterval(4))
        /// Loops until `stopAt`, each call on the next instance in turn, skipping the victim once it is
        /// dead (as a proxy's health check would); returns a refresh token the call was acknowledged
        /// with, and counts any other answer from a survivor as a failure.
        @Sendable func load(from turn: Int, _ what: String, _ call: @escaping @Sendable (TesseraProcess) async throws -> (Int, [String: Any])) async {
            var turn = turn
            while Date() < stopAt {
                let instance = instances[turn % 3]
                turn += 1
                if instance === victim && acknowledged.killed.withLock({ $0 }) { continue }
                do {
                    let (status, json) = try await call(instance)
                    if status != 200 || json["refresh"] == nil, instance !== victim { acknowledged.failed("\(what) \(status) \(json)") }
                } catch {
                    if instance !== victim { acknowledged.failed("\(what): \(error)") }
                }
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Six refresh chains; an answer lost with the victim is retried with the same token on the
            // next instance, as a client would.
            for (chain, first) in refreshes.enumerated() {
                group.addTask {
                    let token = Mutex(first)
                    await load(from: chain, "refresh") { instance in
                        let reply = try await callJSON(
                            instance.base, .POST, "/api/v1/auth/token/refresh", ["refresh": token.withLock { $0 }], timeout: .seconds(10))
                        if reply.status == 200, let next = reply.json["refresh"] as? String {
                            token.withLock { $0 = next }
                            acknowledged.rotated(chain, to: next)
                        }
                        return (reply.status, reply.json)
                    }
                }
            }
            for worker in 0..<2 {
                group.addTask {
                    await load(from: worker, "sign-in") { instance in
                        let reply = try await callJSON(
                            instance.base, .POST, "/api/v1/auth/token",
                            ["login": emails[Int.random(in: 0..<emails.count)], "password": goodPassword],
                            timeout: .seconds(10))
                        if reply.status == 200, let refresh = reply.json["refresh"] as? String { acknowledged.signedIn(refresh) }
                        return (reply.status, reply.json)
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: .seconds(killAt.timeIntervalSinceNow))
                victim.signal(SIGKILL)
                acknowledged.killed.withLock { $0 = true }
            }
            try await group.waitForAll()
        }
        #expect(try await victim.exitStatus(within: 5) != nil, "the victim survived SIGKILL")
        #expect(acknowledged.survivorFailures.isEmpty, "\(acknowledged.survivorFailures.prefix(5))")
        #expect(acknowledged.afterKill > 10, "the survivors served \(acknowledged.afterKill) refreshes after the kill")
        // Every session whose tokens were handed out exists: its refresh token still works on a survivor
        // (a chain's last token may have been spent by an answer that died with the victim: within
        // REFRESH_REUSE_GRACE that returns the session's live pair).
        let survivor = instances[1].base
        for (chain, token) in acknowledged.chains.sorted(by: { $0.key < $1.key }) {
            let reply = try await callJSON(survivor, .POST, "/api/v1/auth/token/refresh", ["refresh": token])
            #expect(reply.status == 200, "chain \(chain): \(reply.json)")
        }
        #expect(acknowledged.chains.count == refreshes.count)
        let signIns = acknowledged.signIns
        #expect(signIns.count > 10, "\(signIns.count) sign-ins")
        for refresh in signIns {
            let reply = try await callJSON(survivor, .POST, "/api/v1/auth/token/refresh", ["refresh": refresh])
            #expect(reply.status == 200, "an acknowledged sign-in lost: \(reply.json)")
        }
    }

    @Test("SIGTERM: every request in flight is answered, then the process exits 0 and takes no more")
    func gracefulDrain() async throws {
        try #require(TestDatabase.postgresURL != nil, "scripts/test provides PostgreSQL")
        let instance = try await TesseraProcess(["DATABASE_URL": try await TestDatabase.postgres.freshURL()])
        defer { instance.stop() }
        #expect(
            try await callJSON(instance.base, .POST, "/api/v1/auth/register", ["email": "drain@example.com", "password": goodPassword]).status == 201)
        // One connection a request, all opened at once: none waits in the client's queue.
        var pool = HTTPClient.Configuration.ConnectionPool()
        pool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(connectionPool: pool))
        // Each sign-in hashes for about 20 ms on one of two hashing threads: 24 take a quarter of a
        // second or more. SIGTERM goes once the server has all 24, some still in progress (its own
        // metrics); the signal's task reports its moment as status 0.
        let moments: [(status: Int, at: Date)]
        do {
            moments = try await withThrowingTaskGroup(of: (status: Int, at: Date).self) { group in
                for _ in 0..<24 {
                    group.addTask {
                        let reply = try await callJSON(
                            instance.base, .POST, "/api/v1/auth/token", ["login": "drain@example.com", "password": goodPassword], client: client)
                        return (reply.status, Date())
                    }
                }
                group.addTask {
                    try await instance.waitForSignInsReceived(24)
                    instance.signal(SIGTERM)
                    return (0, Date())
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        } catch {
            // A client dropped unshut stops the whole test process; this test's failure is enough.
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
        let answers = moments.filter { $0.status != 0 }
        #expect(answers.map(\.status) == Array(repeating: 200, count: 24))
        let sentAt = try #require(moments.first { $0.status == 0 }?.at)
        #expect(answers.contains { $0.at > sentAt }, "every answer came before SIGTERM: nothing was in flight to drain")
        #expect(try await instance.exitStatus(within: 30) == 0)
        await #expect(throws: (any Error).self, "a stopped instance took a request") {
            _ = try await callJSON(instance.base, .GET, "/health", timeout: .seconds(2))
        }
    }
}
