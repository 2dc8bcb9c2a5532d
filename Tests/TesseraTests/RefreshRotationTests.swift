import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Tessera

/// SPEC §4 refresh rules: single-use refresh tokens, a reuse grace for clients that fired twice,
/// reuse after it ends the session, and concurrency never forks a session. Ported from GoTrue's
/// TestRefreshTokenReuseRevocation and friends.
@Suite("Refresh rotation", .throwawayDatabases)
struct RefreshRotationTests {
    /// The default `REFRESH_REUSE_GRACE`.
    static let grace: TimeInterval = 10

    @Test("rotating three times leaves one live token; the first one replayed after the grace ends the session", arguments: TestDatabase.all)
    func reuseOfTheFirstTokenRevokesTheSession(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let first = try await client.signUp("gotrue@example.com")
            var refreshTokens = [first.refresh]
            var accessTokens = [first.access]
            for round in 1...3 {
                let reply = try await client.refresh(refreshTokens.last!)
                #expect(reply.status == .ok, "rotation \(round): \(reply.text)")
                refreshTokens.append(try #require(reply.string("refresh")))
                accessTokens.append(try #require(reply.string("access")))
            }
            let jtis = refreshTokens.map { claims(of: $0)["jti"] as? String }
            #expect(Set(jtis.compactMap { $0 }).count == 4, "every rotation hands out a new refresh token")
            #expect(Set(refreshTokens.map { claims(of: $0)["sid"] as? String }).count == 1, "one session throughout")

            app.clock.advance(by: Self.grace + 1)
            let replay = try await client.refresh(refreshTokens[0])
            expectAPIError(replay, .unauthorized, "token_reused", "first token replayed after the grace")

            // The whole session is over: its newest refresh token and every access token are refused.
            let latest = try await client.refresh(refreshTokens[3])
            expectAPIError(latest, .unauthorized, nil, "latest refresh token after reuse")
            #expect(latest.code != "token_expired")
            for (index, access) in accessTokens.enumerated() {
                expectAPIError(try await client.call(.get, "/api/v1/me", token: access), .unauthorized, nil, "access token \(index) after reuse")
                expectAPIError(
                    try await client.call(.post, "/api/v1/auth/token/verify", json: ["token": access]), .unauthorized, nil,
                    "verify access token \(index) after reuse")
            }
        }
    }

    @Test("only the last token of a chain is live: it rotates, an older one is reuse", arguments: TestDatabase.all)
    func onlyTheLastTokenIsLive(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let first = try await client.signUp("chain@example.com")
            var refreshTokens = [first.refresh]
            for _ in 1...3 {
                refreshTokens.append(try #require(try await client.refresh(refreshTokens.last!).string("refresh")))
            }
            app.clock.advance(by: Self.grace + 1)

            // The last one is live: it rotates once more.
            let next = try await client.refresh(refreshTokens[3])
            #expect(next.status == .ok, "the last token of the chain is refused: \(next.text)")
            let nextAccess = try #require(next.string("access"))
            #expect(try await client.call(.get, "/api/v1/me", token: nextAccess).status == .ok)

            // A middle one (neither live nor the live one's parent) is reuse, and ends the session.
            let middle = try await client.refresh(refreshTokens[1])
            expectAPIError(middle, .unauthorized, "token_reused", "a middle token of the chain")
            expectAPIError(try await client.call(.get, "/api/v1/me", token: nextAccess), .unauthorized, nil, "access after reuse")
            expectAPIError(try await client.refresh(try #require(next.string("refresh"))), .unauthorized, nil, "live refresh after reuse")
        }
    }

    @Test("the parent replayed within the grace returns the live token and does not fork the session", arguments: TestDatabase.all)
    func parentWithinGraceReturnsTheActiveToken(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let first = try await client.signUp("twice@example.com")
            let rotated = try await client.refresh(first.refresh)
            #expect(rotated.status == .ok)
            let active = try #require(rotated.string("refresh"))

            app.clock.advance(by: Self.grace / 2)
            let replay = try await client.refresh(first.refresh)
            #expect(replay.status == .ok, "parent within the grace: \(replay.text)")
            let replayRefresh = try #require(replay.string("refresh"))
            let replayAccess = try #require(replay.string("access"))
            #expect(
                replayRefresh == active || claims(of: replayRefresh)["jti"] as? String == claims(of: active)["jti"] as? String,
                "the replay must hand out the live refresh token, not a new one")
            #expect(claims(of: replayRefresh)["sid"] as? String == claims(of: active)["sid"] as? String)
            #expect(claims(of: replayAccess)["sid"] as? String == claims(of: active)["sid"] as? String)
            #expect(replay.string("token_type") == "Bearer")
            #expect(replay["user"] as? [String: Any] != nil)

            // A working pair, and still one session.
            #expect(try await client.call(.get, "/api/v1/me", token: replayAccess).status == .ok)
            let sessions = try await client.call(.get, "/api/v1/me/sessions", token: replayAccess)
            #expect(sessions.status == .ok)
            #expect(sessions["count"] as? Int == 1, "the replay forked the session: \(sessions.text)")

            // The same parent once more, still within the grace: same answer.
            let again = try await client.refresh(first.refresh)
            #expect(again.status == .ok)
            #expect(claims(of: try #require(again.string("refresh")))["jti"] as? String == claims(of: active)["jti"] as? String)

            // The live token is still the one to use: it rotates normally, once.
            let onward = try await client.refresh(replayRefresh)
            #expect(onward.status == .ok, "the token handed out on replay does not rotate: \(onward.text)")
            let onwardRefresh = try #require(onward.string("refresh"))
            #expect(claims(of: onwardRefresh)["jti"] as? String != claims(of: active)["jti"] as? String)
            let onwardAccess = try #require(onward.string("access"))
            let after = try await client.call(.get, "/api/v1/me/sessions", token: onwardAccess)
            #expect(after["count"] as? Int == 1)
        }
    }

    @Test("the parent replayed after the grace is reuse", arguments: TestDatabase.all)
    func parentAfterGraceIsReuse(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["REFRESH_REUSE_GRACE": "30s"])
        try await app.run { client in
            let first = try await client.signUp("late@example.com")
            let rotated = try await client.refresh(first.refresh)
            #expect(rotated.status == .ok)
            let access = try #require(rotated.string("access"))

            app.clock.advance(by: 29)
            #expect(try await client.refresh(first.refresh).status == .ok, "parent 29 s after rotation with a 30 s grace")

            app.clock.advance(by: 2)
            expectAPIError(try await client.refresh(first.refresh), .unauthorized, "token_reused", "parent 31 s after rotation")
            expectAPIError(try await client.refresh(try #require(rotated.string("refresh"))), .unauthorized, nil, "live token after reuse")
            expectAPIError(try await client.call(.get, "/api/v1/me", token: access), .unauthorized, nil, "access after reuse")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/token/verify", json: ["token": access]), .unauthorized, nil, "verify after reuse")
        }
    }

    @Test("with REFRESH_REUSE_GRACE=0 any replay is reuse", arguments: TestDatabase.all)
    func zeroGraceMakesAnyReplayReuse(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["REFRESH_REUSE_GRACE": "0"])
        try await app.run { client in
            let first = try await client.signUp("strict@example.com")
            // On a whole second the rotation time survives the database exactly, so "no time has
            // passed" is exactly zero on both engines (not a rounding residue either way).
            alignToWholeSecond(app.clock)
            let rotated = try await client.refresh(first.refresh)
            #expect(rotated.status == .ok)
            let access = try #require(rotated.string("access"))

            // Immediately, without the clock moving at all.
            expectAPIError(try await client.refresh(first.refresh), .unauthorized, "token_reused", "immediate replay with grace 0")
            expectAPIError(try await client.call(.get, "/api/v1/me", token: access), .unauthorized, nil, "access after reuse")
            expectAPIError(try await client.refresh(try #require(rotated.string("refresh"))), .unauthorized, nil, "live token after reuse")
        }
    }

    @Test("with REFRESH_REUSE_GRACE=0 a replay one second later is reuse", arguments: TestDatabase.all)
    func zeroGraceReplayLater(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["REFRESH_REUSE_GRACE": "0"])
        try await app.run { client in
            let first = try await client.signUp("strict-later@example.com")
            let rotated = try await client.refresh(first.refresh)
            #expect(rotated.status == .ok)
            let access = try #require(rotated.string("access"))
            app.clock.advance(by: 1)
            expectAPIError(try await client.refresh(first.refresh), .unauthorized, "token_reused", "replay 1 s later with grace 0")
            expectAPIError(try await client.call(.get, "/api/v1/me", token: access), .unauthorized, nil, "access after reuse")
        }
    }

    @Test("20 concurrent refreshes of one token: one rotation, every answer the same token, one live branch", arguments: TestDatabase.all)
    func concurrentRefreshesNeverFork(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run(.live) { client in
            let first = try await client.signUp("race@example.com")
            let port = try #require(client.port)
            let refresh = try jsonRequest(.post, "/api/v1/auth/token/refresh", ["refresh": first.refresh])
            let replies = try await concurrently(port: port, Array(repeating: refresh, count: 20)).map { ($0.status, $0.body) }
            #expect(replies.count == 20)
            #expect(replies.allSatisfy { $0.0 < 500 }, "5xx under concurrency: \(replies.filter { $0.0 >= 500 })")
            // All twenty fall within the grace, so each is either the rotation or a replay of the parent.
            #expect(replies.allSatisfy { $0.0 == 200 }, "non-200 answers: \(replies.filter { $0.0 != 200 }.map { "\($0.0) \($0.1.prefix(120))" })")

            let grants = replies.filter { $0.0 == 200 }.compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.1.utf8))) as? [String: Any]
            }
            let refreshTokens = grants.compactMap { $0["refresh"] as? String }
            #expect(refreshTokens.count == grants.count)
            let nextJTIs = Set(refreshTokens.map { claims(of: $0)["jti"] as? String ?? "?" })
            #expect(nextJTIs.count == 1, "concurrent refreshes forked into \(nextJTIs.count) refresh tokens")
            #expect(!nextJTIs.contains(claims(of: first.refresh)["jti"] as? String ?? ""), "no rotation happened")

            let next = try #require(refreshTokens.first)
            let access = try #require(grants.first?["access"] as? String)
            let sessions = try await client.call(.get, "/api/v1/me/sessions", token: access)
            #expect(sessions.status == .ok)
            #expect(sessions["count"] as? Int == 1, "sessions after the race: \(sessions.text)")

            // The one live branch rotates once more, normally.
            let onward = try await client.refresh(next)
            #expect(onward.status == .ok, "the token every racer got does not refresh: \(onward.text)")
            #expect(claims(of: try #require(onward.string("refresh")))["jti"] as? String != claims(of: next)["jti"] as? String)
            let onwardAccess = try #require(onward.string("access"))
            #expect(try await client.call(.get, "/api/v1/me", token: onwardAccess).status == .ok)
        }
    }

    @Test("a refresh token past REFRESH_TTL answers token_expired; rotation restarts the clock", arguments: TestDatabase.all)
    func refreshTokenExpiry(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["REFRESH_TTL": "1h", "ACCESS_TTL": "5m"])
        try await app.run { client in
            let first = try await client.signUp("expiry@example.com")
            let firstClaims = claims(of: first.refresh)
            #expect(((firstClaims["exp"] as? Int) ?? 0) - ((firstClaims["iat"] as? Int) ?? 0) == 3600)

            // Rotated at 50 min: the new token lives an hour from then, past the first one's expiry.
            app.clock.advance(by: 50 * 60)
            let rotated = try await client.refresh(first.refresh)
            #expect(rotated.status == .ok)
            #expect(rotated["refresh_expires_in"] as? Int == 3600)
            #expect(rotated["expires_in"] as? Int == 300)
            let second = try #require(rotated.string("refresh"))

            app.clock.advance(by: 50 * 60)  // 100 min after login, 50 after rotation
            let renewed = try await client.refresh(second)
            #expect(renewed.status == .ok, "a rotated token expired on its parent's schedule: \(renewed.text)")
            let third = try #require(renewed.string("refresh"))

            app.clock.advance(by: 3600 + 1)
            expectAPIError(try await client.refresh(third), .unauthorized, "token_expired", "refresh token past REFRESH_TTL")
        }
    }

    @Test("a session never outlives SESSION_TTL, however often it is refreshed", arguments: TestDatabase.all)
    func sessionLifetimeIsAbsolute(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["SESSION_TTL": "2h", "REFRESH_TTL": "1h", "ACCESS_TTL": "15m"])
        try await app.run { client in
            let first = try await client.signUp("absolute@example.com")
            let loginTime = try #require(claims(of: first.access)["iat"] as? Int)
            var refresh = first.refresh
            var access = first.access
            for _ in 1...2 {
                app.clock.advance(by: 50 * 60)
                let reply = try await client.refresh(refresh)
                #expect(reply.status == .ok)
                refresh = try #require(reply.string("refresh"))
                access = try #require(reply.string("access"))
            }
            // At 100 min: the refresh token may not reach past the session's end at 120 min.
            let refreshExpiry = try #require(claims(of: refresh)["exp"] as? Int)
            #expect(refreshExpiry <= loginTime + 7200, "refresh token outlives the session by \(refreshExpiry - loginTime - 7200) s")

            app.clock.advance(by: 15 * 60)  // 115 min: a fresh access token still works
            let late = try await client.refresh(refresh)
            #expect(late.status == .ok)
            let lateAccess = try #require(late.string("access"))
            let lateRefresh = try #require(late.string("refresh"))
            #expect(((late["refresh_expires_in"] as? Int) ?? .max) <= 5 * 60 + 1, "refresh_expires_in past the session's end")
            #expect(((late["expires_in"] as? Int) ?? .max) <= 5 * 60 + 1, "expires_in past the session's end")
            #expect(try await client.call(.get, "/api/v1/me", token: lateAccess).status == .ok)

            app.clock.advance(by: 5 * 60 + 1)  // past 120 min
            expectAPIError(try await client.refresh(lateRefresh), .unauthorized, nil, "refresh after SESSION_TTL")
            expectAPIError(try await client.call(.get, "/api/v1/me", token: lateAccess), .unauthorized, nil, "access after SESSION_TTL")
            expectAPIError(try await client.call(.get, "/api/v1/me", token: access), .unauthorized, nil, "older access after SESSION_TTL")
        }
    }
}

// MARK: - Helpers

extension TestClientProtocol {
    fileprivate func refresh(_ token: String) async throws -> Reply {
        try await call(.post, "/api/v1/auth/token/refresh", json: ["refresh": token])
    }
}

/// Moves the test clock forward to the next whole second (in Date's own reference time).
private func alignToWholeSecond(_ clock: TestClock) {
    let now = clock.clock.now().timeIntervalSinceReferenceDate
    clock.advance(by: now.rounded(.up) - now)
    clock.advance(by: 1)
}
