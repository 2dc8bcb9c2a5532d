import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Tessera

/// SPEC §8: when PostgreSQL goes away under a running server, every request that needs it answers
/// 503 within seconds instead of hanging, `/health` stays 200, and service resumes by itself once
/// the database is back. A real cluster of the test's own is stopped and started again.
@Suite("Database outage", .throwawayDatabases, .enabled(if: TestDatabase.postgresURL != nil, "needs PostgreSQL: run scripts/test"))
struct DatabaseOutageTests {
    @Test("PostgreSQL stopped: 503 within seconds, /health stays up; started again: service resumes without a restart")
    func postgresStopsAndComesBack() async throws {
        try await PostgresCluster.with { cluster in
            try await outage(cluster)
        }
    }

    private func outage(_ cluster: PostgresCluster) async throws {
        let app = try await TestApp.make(.postgres, ["DATABASE_TIMEOUT": "3s"], url: cluster.url)
        try await app.run { client in
            let pair = try await client.signUp("outage@example.com")
            #expect(try await client.call(.get, "/ready").status == .ok)

            try await cluster.stop()
            let health = try await within(.seconds(10), "health while down") { try await client.call(.get, "/health") }
            #expect(health.status == .ok)
            let ready = try await within(.seconds(10), "ready while down") { try await client.call(.get, "/ready") }
            expectAPIError(ready, .serviceUnavailable, "not_ready", "/ready while down")
            let login = try await within(.seconds(10), "sign-in while down") { try await client.login("outage@example.com", goodPassword) }
            expectAPIError(login, .serviceUnavailable, "database_unavailable", "sign-in while down")
            #expect(login.headers[.retryAfter] != nil)
            // The feed is lost with the server, so a token check falls back to the database too.
            let me = try await within(.seconds(10), "/me while down") { try await client.call(.get, "/api/v1/me", token: pair.access) }
            expectAPIError(me, .serviceUnavailable, "database_unavailable", "/me while down")
            let register = try await within(.seconds(10), "register while down") {
                try await client.register(["email": "later@example.com", "password": goodPassword])
            }
            expectAPIError(register, .serviceUnavailable, "database_unavailable", "register while down")

            try await cluster.start()
            try await eventually("ready once the database is back", timeout: .seconds(60)) {
                try await client.call(.get, "/ready").status == .ok
            }
            try await eventually("sign-in once the database is back", timeout: .seconds(30)) {
                try await client.login("outage@example.com", goodPassword).status == .ok
            }
            #expect(try await client.call(.get, "/api/v1/me", token: pair.access).status == .ok)
            // Nothing acknowledged before the outage was lost; what was refused during it never happened.
            #expect(try await client.login("later@example.com", goodPassword).status == .unauthorized)
        }
    }

    /// Runs `body`, recording an issue if it took longer than `limit`.
    private func within(_ limit: Duration, _ what: String, _ body: () async throws -> Reply) async throws -> Reply {
        let start = ContinuousClock.now
        let reply = try await body()
        let took = ContinuousClock.now - start
        #expect(took < limit, "\(what) took \(took)")
        return reply
    }

    private func eventually(_ what: String, timeout: Duration, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("never held within \(timeout): \(what)")
    }
}

/// A PostgreSQL cluster of one test's own, through Tests/pg_cluster.sh.
struct PostgresCluster {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-pg-\(UUID().uuidString.prefix(8))").path
    let port: Int

    /// Runs `body` with a started cluster of its own, removed afterwards whatever happens.
    static func with<R>(_ body: (PostgresCluster) async throws -> R) async throws -> R {
        let cluster = PostgresCluster(port: try unusedLoopbackPort())
        try await cluster.start()
        let result: Result<R, any Error>
        do { result = .success(try await body(cluster)) } catch { result = .failure(error) }
        try? await cluster.script(["remove", cluster.directory])
        return try result.get()
    }

    var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    func start() async throws { try await script(["start", directory, String(port)]) }
    func stop() async throws { try await script(["stop", directory]) }

    private static let scriptPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("pg_cluster.sh").path

    private func script(_ arguments: [String]) async throws {
        let run = try await ChildProcess.run(["bash", Self.scriptPath] + arguments)
        guard run.status == 0 else {
            throw CocoaError(
                .executableLoad, userInfo: [NSLocalizedDescriptionKey: "pg_cluster.sh \(arguments.joined(separator: " ")) failed: \(run.errors)"])
        }
    }
}
