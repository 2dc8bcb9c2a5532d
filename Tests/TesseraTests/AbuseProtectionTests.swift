import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import SQLKit
import Testing

@testable import Tessera

/// SPEC §5 abuse protection: account lockout with growing waits, per-address and per-login rate
/// limits on token, register and reset, general throttles, and which address counts behind
/// trusted proxies. Every refusal is 429 `rate_limited` with `Retry-After`.
@Suite("Abuse protection", .throwawayDatabases)
struct AbuseProtectionTests {
    static let lockout = ["RATE_LIMITS": "on", "LOCKOUT_FAILURES": "3", "LOCKOUT_WAIT": "1m", "LOCKOUT_MAX_WAIT": "5m"]
    /// Loopback in every spelling the live test server may see.
    static let loopback = "127.0.0.1,::1,::ffff:127.0.0.1"

    @Test("three wrong passwords lock the account: even the right one gets 429 until the wait is over", arguments: TestDatabase.all)
    func lockout(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, Self.lockout)
        try await app.run { client in
            try await makeUser(app, email: "lou@example.com", username: "lou")
            #expect(try await client.login("lou@example.com", goodPassword).status == .ok, "a fresh account cannot sign in")
            for attempt in 1...3 {
                expectAPIError(
                    try await client.login("lou@example.com", "wrong-password-\(attempt)"), .unauthorized, "invalid_credentials", "wrong #\(attempt)")
            }
            let locked = try await client.login("lou@example.com", goodPassword)
            expectRateLimited(locked, within: 55...61, "right password while locked")
            // The lock is the account's, whichever identifier names it.
            expectRateLimited(try await client.login("lou", goodPassword), within: 55...61, "by username while locked")
            expectRateLimited(try await client.login("LOU@example.com", "wrong-password-4"), within: 55...61, "wrong password while locked")

            app.clock.advance(by: 30)
            expectRateLimited(try await client.login("lou@example.com", goodPassword), within: 25...31, "half-way through the wait")
            app.clock.advance(by: 31)
            let after = try await client.login("lou@example.com", goodPassword)
            #expect(after.status == .ok, "after the wait: \(after.status) \(after.text)")
            #expect(after.string("access") != nil)

            // A success clears the count: the next lock again takes three failures.
            for attempt in 1...2 {
                expectAPIError(
                    try await client.login("lou@example.com", "wrong-again-\(attempt)"), .unauthorized, "invalid_credentials",
                    "after success #\(attempt)")
            }
            #expect(try await client.login("lou@example.com", goodPassword).status == .ok, "two failures after a success locked the account")
        }
    }

    @Test("waits grow with each run of failures and stop at LOCKOUT_MAX_WAIT", arguments: TestDatabase.all)
    func growingWaits(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, Self.lockout)
        try await app.run { client in
            try await makeUser(app, email: "gus@example.com")
            // Runs of three failures, each after the previous lock ended: 1, 2, 3, 4, 5 minutes, then capped at 5.
            let expected: [TimeInterval] = [60, 120, 180, 240, 300, 300]
            for (run, wait) in expected.enumerated() {
                for attempt in 1...3 {
                    expectAPIError(
                        try await client.login("gus@example.com", "wrong-\(run)-\(attempt)"), .unauthorized, "invalid_credentials",
                        "run \(run + 1) wrong #\(attempt)")
                }
                let locked = try await client.login("gus@example.com", goodPassword)
                expectRateLimited(locked, within: Int(wait) - 5...Int(wait) + 1, "after run \(run + 1)")
                if run == 1 {
                    // After six failures the lock is about two minutes: one minute in, still locked.
                    app.clock.advance(by: 61)
                    expectRateLimited(try await client.login("gus@example.com", goodPassword), within: 50...60, "a minute into the second lock")
                    app.clock.advance(by: wait - 61 + 1)
                } else {
                    app.clock.advance(by: wait + 1)
                }
            }
            #expect(try await client.login("gus@example.com", goodPassword).status == .ok, "the account stayed locked past the wait")
        }
    }

    @Test("an unknown login locks exactly like an account, so a lockout reveals nothing", arguments: TestDatabase.all)
    func unknownLoginLocks(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, Self.lockout)
        try await app.run { client in
            try await makeUser(app, email: "real@example.com")
            var real: [Reply] = []
            var ghost: [Reply] = []
            for attempt in 1...4 {
                real.append(try await client.login("real@example.com", "wrong-password-\(attempt)"))
                ghost.append(try await client.login("ghost@example.com", "wrong-password-\(attempt)"))
            }
            for index in 0..<3 {
                expectAPIError(real[index], .unauthorized, "invalid_credentials", "real #\(index + 1)")
                expectAPIError(ghost[index], .unauthorized, "invalid_credentials", "ghost #\(index + 1)")
                #expect(real[index].text == ghost[index].text, "failure #\(index + 1) differs: \(real[index].text) vs \(ghost[index].text)")
            }
            expectRateLimited(real[3], within: 55...61, "real account locked")
            expectRateLimited(ghost[3], within: 55...61, "unknown login locked")
            #expect(real[3].text == ghost[3].text, "the lockouts differ: \(real[3].text) vs \(ghost[3].text)")
            #expect(real[3].headers[.retryAfter] == ghost[3].headers[.retryAfter])
            // Another unknown name is not locked by the first one's failures.
            expectAPIError(
                try await client.login("ghost2@example.com", "wrong-password"), .unauthorized, "invalid_credentials", "another unknown name")
        }
    }

    @Test("guesses from many forwarded addresses still lock the one account", arguments: TestDatabase.all)
    func manyAddressesOneAccount(_ database: TestDatabase) async throws {
        var settings = Self.lockout
        settings["TRUSTED_PROXIES"] = Self.loopback
        settings["RATE_LIMIT_TOKEN"] = "2/1m"  // per address: never reached with one attempt per address
        settings["RATE_LIMIT_TOKEN_LOGIN"] = "off"  // so only the lockout can refuse
        let app = try await TestApp.make(database, settings)
        try await app.run(.live) { client in
            try await makeUser(app, email: "target@example.com")
            for attempt in 1...3 {
                let reply = try await client.call(
                    .post, "/api/v1/auth/token", json: ["login": "target@example.com", "password": "guess-\(attempt)"],
                    headers: [forwardedFor: "203.0.113.\(attempt)"])
                expectAPIError(reply, .unauthorized, "invalid_credentials", "guess from 203.0.113.\(attempt)")
            }
            let right = try await client.call(
                .post, "/api/v1/auth/token", json: ["login": "target@example.com", "password": goodPassword], headers: [forwardedFor: "203.0.113.99"])
            expectRateLimited(right, within: 55...61, "right password from a fresh address")

            // The forwarded addresses were honoured (each guess counted under its own address), so the lock is per account.
            let addresses = try await app.tessera.database.read { db in
                try await db.raw("SELECT ip_address FROM audit_events WHERE event = 'login.failed'").all(
                    decodingColumn: "ip_address", as: String.self)
            }
            #expect(Set(addresses).isSuperset(of: ["203.0.113.1", "203.0.113.2", "203.0.113.3"]), "audit addresses: \(addresses)")
        }
    }

    @Test("failed logins that arrive together still lock the account", arguments: TestDatabase.all)
    func concurrentFailuresLock(_ database: TestDatabase) async throws {
        var settings = Self.lockout
        settings["RATE_LIMIT_TOKEN"] = "off"
        settings["RATE_LIMIT_TOKEN_LOGIN"] = "off"
        let app = try await TestApp.make(database, settings)
        try await app.run { client in
            try await makeUser(app, email: "swarm@example.com")
            let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                for attempt in 1...5 {
                    group.addTask { try await client.login("swarm@example.com", "parallel-guess-\(attempt)") }
                }
                return try await group.reduce(into: [Reply]()) { $0.append($1) }
            }
            for reply in replies {
                #expect(
                    reply.status == .unauthorized || reply.status == .tooManyRequests,
                    "a concurrent failure answered \(reply.status.code): \(reply.text.prefix(200))")
            }
            #expect(replies.filter { $0.status == .unauthorized }.count >= 3, "statuses: \(replies.map(\.status.code))")
            let right = try await client.login("swarm@example.com", goodPassword)
            expectRateLimited(right, within: 1...300, "right password after \(replies.count) concurrent failures")
        }
    }

    @Test("RATE_LIMIT_TOKEN counts per address: the 4th login is 429 until the window passes", arguments: TestDatabase.all)
    func tokenLimitPerAddress(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["RATE_LIMITS": "on", "RATE_LIMIT_TOKEN": "3/1m"])
        try await app.run { client in
            try await makeUser(app, email: "tara@example.com")
            try await makeUser(app, email: "uma@example.com")
            for attempt in 1...3 {
                #expect(try await client.login("tara@example.com", goodPassword).status == .ok, "login #\(attempt)")
            }
            expectRateLimited(try await client.login("tara@example.com", goodPassword), within: 1...61, "4th login")
            expectRateLimited(try await client.login("uma@example.com", goodPassword), within: 1...61, "another account from the same address")
            expectRateLimited(
                try await client.call(.post, "/api/v1/token", json: ["login": "uma@example.com", "password": goodPassword]), within: 1...61,
                "the /api/v1/token alias")
            app.clock.advance(by: 61)
            let again = try await client.login("tara@example.com", goodPassword)
            #expect(again.status == .ok, "after the window: \(again.status) \(again.text)")
        }
    }

    @Test("RATE_LIMIT_TOKEN_LOGIN counts per login, however it is spelled", arguments: TestDatabase.all)
    func tokenLimitPerLogin(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["RATE_LIMITS": "on", "RATE_LIMIT_TOKEN_LOGIN": "2/1m"])
        try await app.run { client in
            try await makeUser(app, email: "vic@example.com")
            try await makeUser(app, email: "wes@example.com")
            #expect(try await client.login("vic@example.com", goodPassword).status == .ok)
            #expect(try await client.login("VIC@Example.com", goodPassword).status == .ok)
            expectRateLimited(try await client.login(" vic@EXAMPLE.com", goodPassword), within: 1...61, "3rd login for one name")
            #expect(try await client.login("wes@example.com", goodPassword).status == .ok, "another login from the same address")
            // Unknown names are limited the same way.
            for _ in 1...2 {
                expectAPIError(try await client.login("nobody@example.com", "x-password-1"), .unauthorized, "invalid_credentials", "unknown")
            }
            expectRateLimited(try await client.login("nobody@example.com", "x-password-1"), within: 1...61, "3rd try for an unknown name")
            app.clock.advance(by: 61)
            #expect(try await client.login("vic@example.com", goodPassword).status == .ok, "after the window")
        }
    }

    @Test("RATE_LIMIT_REGISTER: the 3rd sign-up in a window is 429 and creates nothing", arguments: TestDatabase.all)
    func registerLimit(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["RATE_LIMITS": "on", "RATE_LIMIT_REGISTER": "2/1m"])
        try await app.run { client in
            #expect(try await client.register(["email": "r1@example.com", "password": goodPassword]).status == .created)
            #expect(try await client.register(["email": "r2@example.com", "password": goodPassword]).status == .created)
            expectRateLimited(try await client.register(["email": "r3@example.com", "password": goodPassword]), within: 1...61, "3rd sign-up")
            expectAPIError(try await client.login("r3@example.com", goodPassword), .unauthorized, "invalid_credentials", "the refused sign-up")
            app.clock.advance(by: 61)
            #expect(try await client.register(["email": "r3@example.com", "password": goodPassword]).status == .created, "after the window")
        }
    }

    @Test("RATE_LIMIT_RESET limits reset requests per address; a refused one queues no mail", arguments: TestDatabase.all)
    func resetLimitPerAddress(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["RATE_LIMITS": "on", "RATE_LIMIT_RESET": "2/1m"])
        try await app.run { client in
            for name in ["ra", "rb", "rc"] { try await makeUser(app, email: "\(name)@example.com") }
            #expect(try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "ra@example.com"]).status == .accepted)
            #expect(try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "rb@example.com"]).status == .accepted)
            expectRateLimited(
                try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "rc@example.com"]), within: 1...61, "3rd reset request")
            #expect(try await mailCount(app, to: "rc@example.com") == 0, "a refused reset queued mail")
            app.clock.advance(by: 61)
            #expect(try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "rc@example.com"]).status == .accepted)
            #expect(try await mailCount(app, to: "rc@example.com") == 1)
        }
    }

    @Test("reset requests are limited per login too, across forwarded addresses", arguments: TestDatabase.all)
    func resetLimitPerLogin(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["RATE_LIMITS": "on", "RATE_LIMIT_RESET": "2/1m", "TRUSTED_PROXIES": Self.loopback])
        try await app.run(.live) { client in
            try await makeUser(app, email: "flood@example.com")
            for attempt in 1...2 {
                let reply = try await client.call(
                    .post, "/api/v1/auth/password/reset", json: ["login": "flood@example.com"], headers: [forwardedFor: "198.51.100.\(attempt)"])
                #expect(reply.status == .accepted, "reset #\(attempt): \(reply.status) \(reply.text)")
            }
            let third = try await client.call(
                .post, "/api/v1/auth/password/reset", json: ["login": "FLOOD@example.com"], headers: [forwardedFor: "198.51.100.3"])
            expectRateLimited(third, within: 1...61, "3rd reset for one login from a third address")
            let floodMail = try await mailCount(app, to: "flood@example.com")
            #expect(floodMail == 2, "reset mails to one address: \(floodMail)")
        }
    }

    @Test("THROTTLE limits every /api/ request per address, not /health", arguments: TestDatabase.all)
    func generalThrottle(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["RATE_LIMITS": "on", "THROTTLE": "5/1m"])
        try await app.run { client in
            try await makeUser(app, email: "thea@example.com")
            let access = try #require(try await client.login("thea@example.com", goodPassword).string("access"))  // 1
            for call in 2...5 {
                #expect(try await client.call(.get, "/api/v1/me", token: access).status == .ok, "API call #\(call)")
            }
            expectRateLimited(try await client.call(.get, "/api/v1/me", token: access), within: 1...61, "6th API call")
            expectRateLimited(try await client.call(.get, "/api/v1/me/sessions", token: access), within: 1...61, "another API path")
            expectRateLimited(try await client.login("thea@example.com", goodPassword), within: 1...61, "the token endpoint")
            for _ in 1...10 {
                #expect(try await client.call(.get, "/health").status == .ok, "/health is throttled")
            }
            app.clock.advance(by: 61)
            #expect(try await client.call(.get, "/api/v1/me", token: access).status == .ok, "after the window")
        }
    }

    @Test("X-Forwarded-For from a peer that is not a trusted proxy is ignored", arguments: TestDatabase.all)
    func untrustedForwardedFor(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["RATE_LIMITS": "on", "RATE_LIMIT_TOKEN": "2/1m", "TRUSTED_PROXIES": "10.0.0.0/8"])
        try await app.run(.live) { client in
            try await makeUser(app, email: "una@example.com")
            for attempt in 1...2 {
                let reply = try await client.call(
                    .post, "/api/v1/auth/token", json: ["login": "una@example.com", "password": goodPassword],
                    headers: [forwardedFor: "192.0.2.\(attempt)"])
                #expect(reply.status == .ok, "login #\(attempt): \(reply.status) \(reply.text)")
            }
            let third = try await client.call(
                .post, "/api/v1/auth/token", json: ["login": "una@example.com", "password": goodPassword], headers: [forwardedFor: "192.0.2.3"])
            expectRateLimited(third, within: 1...61, "a new X-Forwarded-For from an untrusted peer")

            let addresses = try await app.tessera.database.read { db in
                try await db.raw("SELECT ip_address FROM sessions").all(decodingColumn: "ip_address", as: String.self)
            }
            #expect(
                !addresses.isEmpty && addresses.allSatisfy { !$0.hasPrefix("192.0.2.") }, "an untrusted X-Forwarded-For was recorded: \(addresses)")
        }
    }

    @Test("X-Forwarded-For from a trusted proxy picks the client: separate buckets, and prepended hops do not escape", arguments: TestDatabase.all)
    func trustedForwardedFor(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["RATE_LIMITS": "on", "RATE_LIMIT_TOKEN": "2/1m", "TRUSTED_PROXIES": Self.loopback])
        try await app.run(.live) { client in
            try await makeUser(app, email: "vio@example.com")
            func login(_ forwarded: String) async throws -> Reply {
                try await client.call(
                    .post, "/api/v1/auth/token", json: ["login": "vio@example.com", "password": goodPassword], headers: [forwardedFor: forwarded])
            }
            for attempt in 1...4 {
                let reply = try await login("192.0.2.\(attempt)")
                #expect(reply.status == .ok, "client 192.0.2.\(attempt): \(reply.status) \(reply.text)")
            }
            #expect(try await login("192.0.2.50").status == .ok)
            #expect(try await login("192.0.2.50").status == .ok)
            expectRateLimited(try await login("192.0.2.50"), within: 1...61, "3rd login of one forwarded client")
            // The proxy appends the real address; what the client put in front does not make a new bucket.
            expectRateLimited(try await login("6.6.6.6, 192.0.2.50"), within: 1...61, "spoofed first hop")

            let addresses = try await app.tessera.database.read { db in
                try await db.raw("SELECT ip_address FROM sessions").all(decodingColumn: "ip_address", as: String.self)
            }
            #expect(Set(addresses) == ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.50"], "session addresses: \(addresses)")
        }
    }

    @Test("RATE_LIMITS=off turns off every limit and the lockout", arguments: TestDatabase.all)
    func everythingOff(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(
            database,
            [
                "RATE_LIMITS": "off", "LOCKOUT_FAILURES": "3", "RATE_LIMIT_TOKEN": "1/1m", "RATE_LIMIT_TOKEN_LOGIN": "1/1m",
                "RATE_LIMIT_REGISTER": "1/1m",
                "RATE_LIMIT_RESET": "1/1m", "THROTTLE": "1/1m",
            ])
        try await app.run { client in
            try await makeUser(app, email: "free@example.com")
            for attempt in 1...20 {
                expectAPIError(
                    try await client.login("free@example.com", "wrong-\(attempt)"), .unauthorized, "invalid_credentials", "wrong #\(attempt)")
            }
            let right = try await client.login("free@example.com", goodPassword)
            #expect(right.status == .ok, "the right password after 20 failures: \(right.status) \(right.text)")
            let access = try #require(right.string("access"))
            for index in 1...3 {
                #expect(try await client.register(["email": "free\(index)@example.com", "password": goodPassword]).status == .created)
                #expect(try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "free@example.com"]).status == .accepted)
                #expect(try await client.call(.get, "/api/v1/me", token: access).status == .ok)
            }
        }
    }
}

// MARK: - Helpers

private let forwardedFor = HTTPField.Name("X-Forwarded-For")!

private func makeUser(_ app: TestApp, email: String, username: String? = nil) async throws {
    _ = try await app.tessera.accounts.createUser(RegisterRequest(email: email, username: username, password: goodPassword), roles: [])
}

private func mailCount(_ app: TestApp, to recipient: String) async throws -> Int {
    try await app.tessera.database.read { db in
        try await db.raw("SELECT COUNT(*) AS n FROM mail_outbox WHERE recipient = \(bind: recipient)").first(decodingColumn: "n", as: Int.self) ?? -1
    }
}

/// A 429 as SPEC §3 has it: `detail`, `code` rate_limited, a whole-second `Retry-After` in `seconds`, and no tokens.
/// Ranges allow one second over the exact wait: Retry-After rounds up, and SQLite keeps times to the millisecond.
private func expectRateLimited(_ reply: Reply, within seconds: ClosedRange<Int>, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(reply.status == .tooManyRequests, "\(what): status \(reply.status.code), body \(reply.text.prefix(200))", sourceLocation: sourceLocation)
    #expect(reply.code == "rate_limited", "\(what): code \(reply.code ?? "nil")", sourceLocation: sourceLocation)
    #expect((reply["detail"] as? String)?.isEmpty == false, "\(what): no detail in \(reply.text.prefix(200))", sourceLocation: sourceLocation)
    let retryAfter = reply.headers[.retryAfter]
    #expect(
        retryAfter.flatMap { Int($0) }.map { seconds.contains($0) } == true, "\(what): Retry-After \(retryAfter ?? "missing"), expected \(seconds)",
        sourceLocation: sourceLocation)
    #expect(reply["access"] == nil && reply["refresh"] == nil, "\(what): tokens in a refusal", sourceLocation: sourceLocation)
}
