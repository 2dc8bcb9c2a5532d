import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import Tessera

/// SPEC §7 on both databases: exact amounts, the ledger, idempotency, authority, and races that
/// must end with every balance equal to its ledger.
@Suite("Balances", .throwawayDatabases)
struct BalanceTests {
    @Test(
        "amounts are exact and checked; credits need the permission; owners take out and convert; the ledger says it all", arguments: TestDatabase.all
    )
    func rules(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let carl = try await rbacSignUp(client, "carl@example.com", kind: "client")
            let dora = try await rbacSignUp(client, "dora@example.com", kind: "specialist")
            let empty = try await client.call(.get, "/api/v1/me/balance", token: carl.access)
            #expect(empty.status == .ok && empty.string("real") == "0.00" && empty.string("virtual") == "0.00", "\(empty.text)")

            expectAPIError(
                try await client.change(["action": "in", "value_type": "real", "value": 5], carl), .forbidden, "permission_denied", "own credit")
            let credited = try await client.change(["action": "in", "value_type": "real", "value": 100, "user_id": carl.id], admin)
            #expect(credited.status == .ok && credited.string("real") == "100.00", "\(credited.text)")
            expectAPIError(
                try await client.change(["action": "out", "value_type": "real", "value": 1, "user_id": dora.id], carl), .forbidden,
                "permission_denied", "someone else's balance")

            #expect(try await client.change(["action": "out", "value_type": "real", "value": "10.01"], carl).string("real") == "89.99")
            let converted = try await client.change(["action": "convert", "value_type": "real", "value": 10.01], carl)
            #expect(converted.string("real") == "79.98", "\(converted.text)")
            #expect(converted.string("virtual") == "10.51", "10.01 and 5% rounded down: \(converted.text)")
            let entry = try #require(converted["transaction"] as? [String: Any])
            #expect(entry["real_change"] as? String == "-10.01" && entry["virtual_change"] as? String == "10.51")
            #expect(entry["actor"] as? String == carl.id && entry["sequence"] as? Int == 3)
            #expect(try await client.change(["action": "out", "value_type": "virtual", "value": "0.51"], carl).string("virtual") == "10.00")
            #expect(
                try await client.change(["action": "convert", "value_type": "real", "value": "0.19"], carl).string("virtual") == "10.19",
                "0.19 + 5% = 0.1995: the bonus rounds down to nothing")

            for (body, field) in [
                (["action": "out", "value_type": "real", "value": -1], "value"), (["action": "out", "value_type": "real", "value": 0], "value"),
                (["action": "out", "value_type": "real", "value": NSNull()], "value"), (["action": "out", "value_type": "real"], "value"),
                (["action": "out", "value_type": "real", "value": "ten"], "value"),
                (["action": "out", "value_type": "real", "value": "1.005"], "value"),
                (["action": "out", "value_type": "real", "value": 1.005], "value"),
                (["action": "out", "value_type": "real", "value": "1e3"], "value"),
                (["action": "out", "value_type": "real", "value": "1000000000.01"], "value"),
                (["action": "steal", "value_type": "real", "value": 1], "action"),
                (["action": "out", "value_type": "gold", "value": 1], "value_type"),
                (["action": "convert", "value_type": "virtual", "value": 1], "value_type"),
                (["action": "out", "value_type": "real", "value": 1, "user_id": "nobody"], "user_id"),
            ] as [([String: Any], String)] {
                let reply = try await client.change(body, carl)
                expectAPIError(reply, .badRequest, "validation_error", "\(body)")
                #expect(reply.fields[field] != nil, "\(body): \(reply.text)")
            }
            expectAPIError(
                try await client.change(["action": "out", "value_type": "real", "value": true], carl), .badRequest, "validation_error", "a boolean")
            expectAPIError(
                try await client.change(["action": "in", "value_type": "real", "value": 1, "user_id": UUID().uuidString], admin), .badRequest,
                "validation_error", "an unknown user")
            let overdrawn = try await client.change(["action": "out", "value_type": "real", "value": "79.99"], carl)
            expectAPIError(overdrawn, .conflict, "insufficient_funds", "more than the balance")
            expectAPIError(
                try await client.change(["action": "convert", "value_type": "real", "value": 80], carl), .conflict, "insufficient_funds", "convert")

            let mine = try await client.call(.get, "/api/v1/me/balance/transactions", token: carl.access)
            #expect(mine["count"] as? Int == 5, "\(mine.text)")
            let entries = mine["results"] as? [[String: Any]] ?? []
            #expect(entries.compactMap { $0["sequence"] as? Int } == [5, 4, 3, 2, 1], "newest first")
            #expect(entries.last?["actor"] as? String == admin.id && entries.last?["action"] as? String == "in")
            #expect(entries.first?["real_after"] as? String == "79.79" && entries.first?["virtual_after"] as? String == "10.19")
            #expect(entries.allSatisfy { $0["idempotency_key"] is NSNull })

            let seen = try await client.call(.get, "/api/v1/users/\(carl.id)/balance", token: admin.access)
            #expect(seen.string("real") == "79.79" && seen.string("virtual") == "10.19", "\(seen.text)")
            #expect(try await client.call(.get, "/api/v1/users/\(carl.id)/balance/transactions", token: admin.access)["count"] as? Int == 5)
            for path in ["/api/v1/users/\(dora.id)/balance", "/api/v1/users/\(dora.id)/balance/transactions"] {
                expectAPIError(try await client.call(.get, path, token: carl.access), .forbidden, "permission_denied", "another user's \(path)")
            }
            expectAPIError(
                try await client.call(.get, "/api/v1/users/\(UUID().uuidString)/balance", token: admin.access), .notFound, "not_found", "no user")

            let audit = try await client.call(.get, "/api/v1/audit?event=balance.in", token: admin.access)
            let credits = audit["results"] as? [[String: Any]] ?? []
            #expect(
                credits.count == 1 && credits.first?["user_id"] as? String == carl.id && credits.first?["actor_id"] as? String == admin.id,
                "\(audit.text)")
            #expect(try await app.tessera.balances.verify().mismatches.isEmpty)
        }
    }

    @Test("an Idempotency-Key applies a change once and answers retries alike; another body is 422; a running one 409", arguments: TestDatabase.all)
    func idempotency(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let carl = try await rbacSignUp(client, "carl@example.com", kind: "client")
            _ = try await client.change(["action": "in", "value_type": "real", "value": 50, "user_id": carl.id], admin)

            let first = try await client.change(["action": "out", "value_type": "real", "value": 10], carl, key: "order-1")
            #expect(first.status == .ok && first.string("real") == "40.00", "\(first.text)")
            #expect(first.headers[.init("Idempotent-Replayed")!] == nil)
            let retry = try await client.change(["action": "out", "value_type": "real", "value": "10.00"], carl, key: "order-1")
            #expect(retry.status == .ok && retry.text == first.text, "the same answer, the same change however it is spelled")
            #expect(retry.headers[.init("Idempotent-Replayed")!] == "true")
            expectAPIError(
                try await client.change(["action": "out", "value_type": "real", "value": 11], carl, key: "order-1"), .unprocessableContent,
                "idempotency_key_reused", "another body")
            #expect(try await client.call(.get, "/api/v1/me/balance", token: carl.access).string("real") == "40.00", "applied once")
            let ledger = try await client.call(.get, "/api/v1/me/balance/transactions", token: carl.access)
            #expect(ledger["count"] as? Int == 2)
            #expect((ledger["results"] as? [[String: Any]])?.first?["idempotency_key"] as? String == "order-1")

            // Keys are the caller's own: the same key is new for someone else.
            let dora = try await rbacSignUp(client, "dora@example.com", kind: "client")
            _ = try await client.change(["action": "in", "value_type": "real", "value": 5, "user_id": dora.id], admin)
            #expect(try await client.change(["action": "out", "value_type": "real", "value": 1], dora, key: "order-1").string("real") == "4.00")

            // A refusal is an answer: the retry gets it again even once the money is there.
            expectAPIError(
                try await client.change(["action": "out", "value_type": "real", "value": 100], carl, key: "order-2"), .conflict, "insufficient_funds",
                "too much")
            _ = try await client.change(["action": "in", "value_type": "real", "value": 100, "user_id": carl.id], admin)
            let refusedAgain = try await client.change(["action": "out", "value_type": "real", "value": 100], carl, key: "order-2")
            expectAPIError(refusedAgain, .conflict, "insufficient_funds", "replayed refusal")
            #expect(refusedAgain.headers[.init("Idempotent-Replayed")!] == "true")

            for bad in [String(repeating: "k", count: 256), "with space", ""] {
                expectAPIError(
                    try await client.change(["action": "out", "value_type": "real", "value": 1], carl, key: bad), .badRequest, "validation_error",
                    "key '\(bad.prefix(10))'")
            }

            // A claim whose request still runs, and one whose process died a while ago.
            let owner = try #require(UUID(uuidString: carl.id))
            let now = app.clock.clock.now()
            try await app.tessera.database.transaction { db in
                _ = try await IdempotencyStore().claim(
                    "running", owner: owner, fingerprint: "\(owner.uuidString.lowercased()) out real 100", at: now, db)
                _ = try await IdempotencyStore().claim("abandoned", owner: owner, fingerprint: "y", at: now.addingTimeInterval(-120), db)
            }
            expectAPIError(
                try await client.change(["action": "out", "value_type": "real", "value": 1], carl, key: "running"), .conflict, "request_in_progress",
                "in flight")
            // A takeover runs the request afresh only if it is the same one; the fingerprint says whose it was.
            expectAPIError(
                try await client.change(["action": "out", "value_type": "real", "value": 1], carl, key: "abandoned"), .unprocessableContent,
                "idempotency_key_reused", "an abandoned key of another request")
            try await app.tessera.database.transaction { db in
                _ = try await IdempotencyStore().claim(
                    "stale", owner: owner, fingerprint: "\(owner.uuidString.lowercased()) out real 100", at: now.addingTimeInterval(-120), db)
            }
            #expect(try await client.change(["action": "out", "value_type": "real", "value": 1], carl, key: "stale").status == .ok, "taken over")

            // The request that seemed abandoned wakes up after the takeover: it may neither answer
            // (which would roll its change back) nor give the key up.
            let fingerprint = "\(owner.uuidString.lowercased()) out real 100"
            let slowClaim = try await app.tessera.database.transaction { db in
                try await IdempotencyStore().claim("slow", owner: owner, fingerprint: fingerprint, at: now.addingTimeInterval(-120), db)
            }
            guard case .claimed(let slowToken) = slowClaim else { Issue.record("no claim: \(slowClaim)"); return }
            #expect(try await client.change(["action": "out", "value_type": "real", "value": 1], carl, key: "slow").status == .ok, "taken over")
            await #expect(throws: IdempotencyStore.Superseded.self) {
                try await app.tessera.database.transaction { db in
                    try await IdempotencyStore().answer("slow", owner: owner, token: slowToken, status: 200, body: "{}", db)
                }
            }
            try await app.tessera.database.transaction { db in try await IdempotencyStore().release("slow", owner: owner, token: slowToken, db) }
            let replay = try await client.change(["action": "out", "value_type": "real", "value": 1], carl, key: "slow")
            #expect(replay.headers[.init("Idempotent-Replayed")!] == "true", "the answer of the request that took over stays")

            // Kept 24 hours, then pruned: the key is new again.
            app.clock.advance(by: 25 * 3600)
            let pruned = try await app.tessera.housekeeping.prune()
            #expect((pruned["idempotency_keys"] ?? 0) >= 5, "\(pruned)")
            let signedIn = try await client.login("carl@example.com", goodPassword)
            let carlAgain = RBACMember(id: carl.id, access: try #require(signedIn.string("access"), "\(signedIn.text)"))
            let again = try await client.change(["action": "out", "value_type": "real", "value": 10], carlAgain, key: "order-1")
            #expect(again.status == .ok && again.headers[.init("Idempotent-Replayed")!] == nil)
            #expect(try await app.tessera.balances.verify().mismatches.isEmpty)
        }
    }

    @Test(
        "races: 50 converts and 20 outs on a balance that allows 10 each, and 5 retries of one key: exact, and the ledger agrees",
        arguments: TestDatabase.all)
    func races(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run(.live) { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let carl = try await rbacSignUp(client, "carl@example.com", kind: "client")
            let port = try #require(client.port)
            _ = try await client.change(["action": "in", "value_type": "real", "value": 100, "user_id": carl.id], admin)

            let converts = try await concurrently(
                port, Array(repeating: (["action": "convert", "value_type": "real", "value": 10], nil), count: 50), carl)
            #expect(converts.filter { $0 == 200 }.count == 10, "\(converts)")
            #expect(converts.filter { $0 == 409 }.count == 40, "\(converts)")
            let afterConverts = try await client.call(.get, "/api/v1/me/balance", token: carl.access)
            #expect(afterConverts.string("real") == "0.00" && afterConverts.string("virtual") == "105.00", "\(afterConverts.text)")

            let outs = try await concurrently(
                port, Array(repeating: (["action": "out", "value_type": "virtual", "value": "10.50"], nil), count: 20), carl)
            #expect(outs.filter { $0 == 200 }.count == 10 && outs.filter { $0 == 409 }.count == 10, "\(outs)")

            _ = try await client.change(["action": "in", "value_type": "real", "value": 30, "user_id": carl.id], admin)
            let retries = try await concurrently(
                port, Array(repeating: (["action": "out", "value_type": "real", "value": 7], "retried"), count: 5), carl)
            #expect(retries.allSatisfy { $0 == 200 || $0 == 409 } && retries.contains(200), "\(retries)")
            let final = try await client.call(.get, "/api/v1/me/balance", token: carl.access)
            #expect(final.string("real") == "23.00" && final.string("virtual") == "0.00", "applied once: \(final.text)")

            let count = try await app.tessera.database.read { db in
                try await db.raw("SELECT COUNT(*) AS n FROM balance_ledger WHERE idempotency_key = 'retried'").first(
                    decodingColumn: "n", as: Int.self)
            }
            #expect(count == 1)
            let (checked, mismatches) = try await app.tessera.balances.verify()
            #expect(checked == 1 && mismatches.isEmpty, "\(mismatches)")
        }
    }

    @Test(
        "`tessera balances verify` finds a balance that is not its ledger's sum, and the database refuses a negative one", arguments: TestDatabase.all
    )
    func verifyFindsTampering(_ database: TestDatabase) async throws {
        let url = try await database.freshURL()
        let app = try await TestApp.make(database, url: url)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let carl = try await rbacSignUp(client, "carl@example.com", kind: "client")
            _ = try await client.change(["action": "in", "value_type": "real", "value": 20, "user_id": carl.id], admin)
            _ = try await client.change(["action": "convert", "value_type": "real", "value": 10], carl)
            let hasBinary = FileManager.default.isExecutableFile(atPath: binary)
            if hasBinary {
                let (status, output) = try await runVerify(url)
                #expect(status == 0 && output.contains("1 balances checked against the ledger, 0 differ"), "\(output)")
            }
            try await app.tessera.database.transaction { db in try await db.raw("UPDATE balances SET virtual_minor = virtual_minor + 1").run() }
            #expect(try await app.tessera.balances.verify().mismatches.count == 1)
            await #expect(throws: (any Error).self, "a CHECK constraint") {
                try await app.tessera.database.transaction { db in try await db.raw("UPDATE balances SET real_minor = -1").run() }
            }
            if hasBinary {
                let (status, output) = try await runVerify(url)
                #expect(status == 1 && output.contains("MISMATCH") && output.contains("1 differ"), "\(output)")
            }
        }
    }

    @Test("no binary floating point on the money path: Money/ and Balances/ never name Double or Float")
    func noFloatingPoint() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/Tessera")
        var offenders: [String] = []
        for folder in ["Money", "Balances"] {
            let directory = sources.appendingPathComponent(folder)
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) where name.hasSuffix(".swift") {
                let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
                for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
                where line.range(of: #"\b(Double|Float|CGFloat|Float80)\b"#, options: .regularExpression) != nil {
                    offenders.append("\(folder)/\(name):\(number + 1): \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        #expect(offenders.isEmpty, "\(offenders)")
    }

    private let binary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/tessera").path

    /// `tessera balances verify` on `url`: its exit status and what it printed.
    private func runVerify(_ url: String) async throws -> (Int32, String) {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("TESSERA_") }
        environment["TESSERA_DATABASE_URL"] = url
        let run = try await ChildProcess.run([binary, "balances", "verify"], environment: environment)
        return (run.status, run.output + run.errors)
    }
}

/// Sends every change at once (`concurrently`); their statuses.
private func concurrently(_ port: Int, _ changes: [([String: Any], String?)], _ member: RBACMember) async throws -> [Int] {
    try await concurrently(
        port: port,
        changes.map { body, key in
            try jsonRequest(.patch, "/api/v1/balance", body, token: member.access, headers: key.map { [.init("Idempotency-Key")!: $0] } ?? [:])
        }
    ).map(\.status)
}

extension TestClientProtocol {
    /// `PATCH /api/v1/balance` as `member`, with an `Idempotency-Key` if given.
    fileprivate func change(_ body: [String: Any], _ member: RBACMember, key: String? = nil) async throws -> Reply {
        var headers: HTTPFields = [:]
        if let key { headers[.init("Idempotency-Key")!] = key }
        return try await call(.patch, "/api/v1/balance", json: body, token: member.access, headers: headers)
    }
}
