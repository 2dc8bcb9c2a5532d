import Foundation
import Hummingbird
import HummingbirdTesting
import SQLKit
import Testing

@testable import Tessera

/// SPEC §1 and §4 together: an access token is checked against an in-memory revocation list
/// (CPU-only), yet a revoked session is refused on the next request — on this instance as the
/// revoking response returns, on every other PostgreSQL instance as soon as the NOTIFY arrives,
/// and through the database whenever the list cannot answer.
@Suite("Revocation list", .throwawayDatabases)
struct RevocationTests {
    @Test("a revocation is in the list as its response returns; a live session is not", arguments: TestDatabase.all)
    func revokedOnThisInstance(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let leaving = try await client.signUp("ria@example.com").access
            let staying = try await client.signIn("ria@example.com").access
            let revocations = app.tessera.revocations
            #expect(revocations.isRevoked(try session(of: leaving), tokenLifetime: 300) == false)

            #expect(try await client.call(.post, "/api/v1/auth/logout", token: leaving).status == .noContent)
            #expect(revocations.isRevoked(try session(of: leaving), tokenLifetime: 300) == true)
            #expect(revocations.isRevoked(try session(of: staying), tokenLifetime: 300) == false)
            #expect(try await client.call(.get, "/api/v1/me", token: leaving).status == .unauthorized)
            #expect(try await client.call(.get, "/api/v1/me", token: staying).status == .ok)

            // revoke-all reaches the list for every session it ends.
            let other = try await client.signIn("ria@example.com").access
            let all = try await client.call(.post, "/api/v1/auth/token/revoke-all", token: staying)
            #expect(all.status == .ok, "revoke-all: \(all.text)")
            #expect(revocations.isRevoked(try session(of: other), tokenLifetime: 300) == true)
            #expect(revocations.isRevoked(try session(of: staying), tokenLifetime: 300) == true)
        }
    }

    @Test("a revocation that rolls back is not remembered, and the session keeps working", arguments: TestDatabase.all)
    func rolledBack(_ database: TestDatabase) async throws {
        struct Abort: Error {}
        let app = try await TestApp.make(database)
        try await app.run { client in
            let token = try await client.signUp("rolf@example.com").access
            let id = try session(of: token)
            let store = app.tessera.sessions.store
            let now = app.clock.clock.now()
            await #expect(throws: Abort.self) {
                try await app.tessera.database.transaction { db in
                    #expect(try await store.revoke(id, at: now, db))
                    throw Abort()
                }
            }
            #expect(app.tessera.revocations.isRevoked(id, tokenLifetime: 300) == false)
            #expect(try await client.call(.get, "/api/v1/me", token: token).status == .ok)
        }
    }

    @Test("an instance started later loads the sessions ended before it", arguments: TestDatabase.all)
    func loadedAtStart(_ database: TestDatabase) async throws {
        let url = try await database.freshURL()
        let first = try await TestApp.make(database, url: url)
        let token = try await first.run { client in
            let token = try await client.signUp("lou@example.com").access
            #expect(try await client.call(.post, "/api/v1/auth/logout", token: token).status == .noContent)
            return token
        }
        let id = try session(of: token)
        let second = try await TestApp.make(database, url: url)
        try await second.run { client in
            #expect(second.tessera.revocations.isRevoked(id, tokenLifetime: 300) == true)
            let me = try await client.call(.get, "/api/v1/me", token: token)
            #expect(me.status == .unauthorized)
        }
    }

    @Test("while the list cannot answer, the database does", arguments: TestDatabase.all)
    func fallsBackToTheDatabase(_ database: TestDatabase) async throws {
        let url = try await database.freshURL()
        let first = try await TestApp.make(database, url: url)
        let (ended, live) = try await first.run { client in
            let ended = try await client.signUp("fay@example.com").access
            let live = try await client.signIn("fay@example.com").access
            #expect(try await client.call(.post, "/api/v1/auth/logout", token: ended).status == .noContent)
            return (ended, live)
        }
        // Its services never run, so its list is never loaded.
        let (endedID, liveID) = (try session(of: ended), try session(of: live))
        let cold = try await TestApp.make(database, url: url)
        try await cold.tessera.database.whileRunning {
            try await cold.tessera.keys.load()
            #expect(cold.tessera.revocations.isRevoked(endedID, tokenLifetime: 300) == nil)
            await #expect(throws: APIError.self) { try await cold.tessera.sessions.authenticate(ended) }
            #expect(try await cold.tessera.sessions.authenticate(live).sessionID == liveID)
        }
        // A token that outlives what the list remembers (issued under a longer ACCESS_TTL) is
        // checked in the database too.
        let shortMemory = try await TestApp.make(database, ["ACCESS_TTL": "60"], url: url)
        try await shortMemory.run { _ in
            let lifetime = TimeInterval(300)
            #expect(shortMemory.tessera.revocations.retention < lifetime)
            #expect(shortMemory.tessera.revocations.isRevoked(endedID, tokenLifetime: lifetime) == nil)
            await #expect(throws: APIError.self) { try await shortMemory.tessera.sessions.authenticate(ended) }
        }
    }

    @Test("PostgreSQL: a revocation on one instance reaches the others through NOTIFY")
    func reachesOtherInstances() async throws {
        try #require(TestDatabase.all.contains(.postgres), "TESSERA_TEST_POSTGRES_URL is not set; run scripts/test")
        let url = try await TestDatabase.postgres.freshURL()
        let a = try await TestApp.make(.postgres, url: url)
        try await a.run { clientA in
            let b = try await TestApp.make(.postgres, url: url)
            try await b.run { clientB in
                let token = try await clientA.signUp("nia@example.com").access
                let many = [try await clientA.signIn("nia@example.com").access, try await clientA.signIn("nia@example.com").access]
                #expect(try await clientB.call(.get, "/api/v1/me", token: token).status == .ok, "tokens work on every instance")

                #expect(try await clientA.call(.post, "/api/v1/auth/logout", token: token).status == .noContent)
                try await eventually("the revocation arrives") { b.tessera.revocations.isRevoked(try session(of: token), tokenLifetime: 300) == true }
                #expect(try await clientB.call(.get, "/api/v1/me", token: token).status == .unauthorized)

                // revoke-all from B reaches A.
                #expect(try await clientB.call(.post, "/api/v1/auth/token/revoke-all", token: many[0]).status == .ok)
                for token in many {
                    try await eventually("the revocation arrives") {
                        a.tessera.revocations.isRevoked(try session(of: token), tokenLifetime: 300) == true
                    }
                    #expect(try await clientA.call(.get, "/api/v1/me", token: token).status == .unauthorized)
                }
            }
        }
    }
}

extension RevocationTests {
    @Test("PostgreSQL: a killed feed connection is noticed, and listening again reloads what was missed")
    func feedReconnects() async throws {
        try #require(TestDatabase.all.contains(.postgres), "TESSERA_TEST_POSTGRES_URL is not set; run scripts/test")
        let app = try await TestApp.make(.postgres)
        try await app.run { client in
            let token = try await client.signUp("kit@example.com").access
            let id = try session(of: token)
            let killed = try await retryingWhileUnavailable {
                try await app.tessera.database.read { db in
                    try await db.raw(
                        """
                        SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
                        WHERE datname = current_database() AND pid <> pg_backend_pid()
                            AND (query LIKE 'LISTEN%' OR query LIKE '%change_feed_heartbeat%')
                        """
                    ).all()
                }
            }
            #expect(killed.count == 1, "the feed's LISTEN connection")
            // Another instance's revocation whose NOTIFY this instance, deaf, cannot hear.
            let now = app.clock.clock.now()
            try await retryingWhileUnavailable {
                try await app.tessera.database.transaction { db in
                    try await db.update("sessions").set("revoked_at", to: SQLBind(now)).where("id", .equal, SQLBind(id)).run()
                }
            }
            try await eventually("the revocation arrives") { app.tessera.revocations.isRevoked(id, tokenLifetime: 300) == true }
            #expect(try await client.call(.get, "/api/v1/me", token: token).status == .unauthorized)
        }
    }
}

/// A pooled connection may go down with a killed one: that use is refused as unavailable (what a
/// request would answer 503), and the next gets a live connection.
private func retryingWhileUnavailable<R>(_ body: () async throws -> R) async throws -> R {
    for _ in 1..<3 {
        do { return try await body() } catch is DatabaseUnavailable { try await Task.sleep(for: .milliseconds(200)) }
    }
    return try await body()
}

private func session(of token: String) throws -> UUID {
    try #require(UUID(uuidString: claims(of: token)["sid"] as? String ?? ""))
}
