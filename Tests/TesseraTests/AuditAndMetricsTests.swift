import Foundation
import Hummingbird
import HummingbirdTesting
import SQLKit
import Testing

@testable import Tessera

/// SPEC §5 audit log (security events with ip, user agent and time, for admins, never a secret)
/// and SPEC §2/§8 Prometheus metrics.
@Suite("Audit and metrics", .throwawayDatabases)
struct AuditAndMetricsTests {
    static let userAgent = "AuditTests/1.0 (Flutter)"
    static let wrongPassword = "Wrong-Horse-Battery-1"
    static let secondPassword = "Juniper-Falcon-Orbit-62"
    static let thirdPassword = "Marble-Cactus-Voyage-37"

    @Test("security events are recorded with ip, user agent and time, newest first, filterable, and admins only", arguments: TestDatabase.all)
    func auditTrail(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["REGISTRATION": "approval"])
        try await app.run(.live) { client in
            let ua: HTTPFields = [.userAgent: Self.userAgent]
            func step() { app.clock.advance(by: 1) }
            var secrets: [String] = [goodPassword, Self.wrongPassword, Self.secondPassword, Self.thirdPassword]

            _ = try await app.tessera.accounts.createUser(RegisterRequest(email: "admin@example.com", password: goodPassword), roles: ["admin"])
            let adminLogin = try await client.call(
                .post, "/api/v1/auth/token", json: ["login": "admin@example.com", "password": goodPassword], headers: ua)
            let admin = try #require(adminLogin.string("access"))
            let adminID = try #require((adminLogin["user"] as? [String: Any])?["id"] as? String)
            secrets += [admin, try #require(adminLogin.string("refresh"))]
            step()

            // A sign-up, approved.
            let registered = try await client.call(
                .post, "/api/v1/auth/register", json: ["email": "una@example.com", "password": goodPassword], headers: ua)
            let una = try #require((registered["user"] as? [String: Any])?["id"] as? String)
            step()
            #expect(
                try await client.call(.patch, "/api/v1/registrations/\(una)", json: ["action": "accept"], token: admin, headers: ua).status == .ok)
            step()

            // Failed logins: an unknown name, a wrong password.
            #expect(
                try await client.call(
                    .post, "/api/v1/auth/token", json: ["login": "nobody@example.com", "password": Self.wrongPassword], headers: ua
                ).status
                    == .unauthorized)
            step()
            #expect(
                try await client.call(.post, "/api/v1/auth/token", json: ["login": "una@example.com", "password": Self.wrongPassword], headers: ua)
                    .status
                    == .unauthorized)
            step()

            // A successful login, then a refresh token replayed after the grace.
            let first = try await client.call(.post, "/api/v1/auth/token", json: ["login": "una@example.com", "password": goodPassword], headers: ua)
            let firstRefresh = try #require(first.string("refresh"))
            secrets += [try #require(first.string("access")), firstRefresh]
            step()
            let rotated = try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": firstRefresh], headers: ua)
            #expect(rotated.status == .ok)
            secrets += [rotated.string("access"), rotated.string("refresh")].compactMap { $0 }
            app.clock.advance(by: 11)
            let replay = try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": firstRefresh], headers: ua)
            #expect(replay.status == .unauthorized && replay.code == "token_reused", "replay: \(replay.status) \(replay.text)")
            step()

            // A logout.
            let second = try await client.call(
                .post, "/api/v1/auth/token", json: ["login": "una@example.com", "password": goodPassword], headers: ua)
            let secondAccess = try #require(second.string("access"))
            secrets += [secondAccess, second.string("refresh") ?? ""]
            step()
            #expect(try await client.call(.post, "/api/v1/auth/logout", token: secondAccess, headers: ua).status == .noContent)
            step()

            // A password change, then a reset.
            let third = try await client.call(.post, "/api/v1/auth/token", json: ["login": "una@example.com", "password": goodPassword], headers: ua)
            let thirdAccess = try #require(third.string("access"))
            secrets += [thirdAccess, third.string("refresh") ?? ""]
            step()
            let changed = try await client.call(
                .post, "/api/v1/me/password", json: ["current_password": goodPassword, "new_password": Self.secondPassword], token: thirdAccess,
                headers: ua)
            #expect(changed.status == .noContent, "password change: \(changed.status) \(changed.text)")
            step()
            #expect(try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "una@example.com"], headers: ua).status == .accepted)
            let mailTokens = try await app.tessera.database.read { db in
                try await db.raw("SELECT body FROM mail_outbox").all(decodingColumn: "body", as: String.self)
            }.compactMap { body in body.firstMatch(of: /token=([A-Za-z0-9_\-]+)/).map { String($0.1) } }
            secrets += mailTokens
            let resetToken = try #require(
                try await app.tessera.database.read { db in
                    try await db.raw("SELECT body FROM mail_outbox WHERE subject LIKE '%assword%'").all(decodingColumn: "body", as: String.self)
                }.first?.firstMatch(of: /token=([A-Za-z0-9_\-]+)/).map { String($0.1) })
            step()
            #expect(
                try await client.call(
                    .post, "/api/v1/auth/password/reset/confirm", json: ["token": resetToken, "new_password": Self.thirdPassword], headers: ua
                ).status == .noContent)
            step()

            // An admin changes roles, then the status.
            // A role of this installation's own (built-in ones are covered in UserAdministrationTests).
            let role = try await client.call(
                .post, "/api/v1/roles", json: ["code_name": "auditor", "name": "Auditor", "permissions": [String]()], token: admin)
            #expect(role.status == .created, "create role: \(role.status) \(role.text)")
            let roles = try await client.call(.put, "/api/v1/users/\(una)/roles", json: ["roles": ["client", "auditor"]], token: admin, headers: ua)
            #expect(roles.status == .ok, "roles: \(roles.status) \(roles.text)")
            step()
            let disabled = try await client.call(.patch, "/api/v1/users/\(una)", json: ["status": "disabled"], token: admin, headers: ua)
            #expect(disabled.status == .ok)

            // The log, newest first.
            let log = try await client.call(.get, "/api/v1/audit?page_size=100", token: admin, headers: ua)
            #expect(log.status == .ok, "audit: \(log.status) \(log.text.prefix(300))")
            let entries = log["results"] as? [[String: Any]] ?? []
            #expect(log["count"] as? Int == entries.count)
            for entry in entries {
                for key in ["id", "at", "event", "user_id", "actor_id", "ip_address", "user_agent", "detail"] {
                    #expect(entry.keys.contains(key), "audit entry lacks \(key): \(entry)")
                }
            }
            let events = entries.compactMap { $0["event"] as? String }
            let times = entries.compactMap { ($0["at"] as? String).flatMap(rfc3339) }
            #expect(times.count == entries.count, "unreadable times: \(entries.map { $0["at"] ?? "nil" })")
            #expect(zip(times, times.dropFirst()).allSatisfy { $0 >= $1 }, "not newest first: \(zip(events, times).map { "\($0) \($1)" })")
            #expect(events.first == "user.status_changed", "the newest event is \(events.first ?? "none"): \(events)")
            #expect(abs((times.first ?? .distantPast).timeIntervalSince(app.clock.clock.now())) < 2, "times follow the server clock")

            let wanted = [
                "login.succeeded", "registration.accepted", "login.failed", "refresh.reused", "session.revoked", "password.changed", "password.reset",
                "roles.changed", "user.status_changed",
            ]
            for name in wanted {
                #expect(events.contains(name), "no \(name) in \(events)")
            }
            // The order in which they happened, read from the end of the list.
            let happened = [
                "registration.accepted", "login.failed", "refresh.reused", "session.revoked", "password.changed", "roles.changed",
                "user.status_changed",
            ]
            let positions = happened.compactMap { name in events.firstIndex(of: name) }
            #expect(positions == positions.sorted(by: >), "order: \(events)")

            func entry(_ event: String, where condition: ([String: Any]) -> Bool = { _ in true }) -> [String: Any]? {
                entries.first { $0["event"] as? String == event && condition($0) }
            }
            let unknownFailure = entry("login.failed") { ($0["detail"] as? [String: String])?["reason"] == "unknown_login" }
            #expect(
                unknownFailure != nil, "no login.failed with reason unknown_login: \(entries.filter { $0["event"] as? String == "login.failed" })")
            #expect(unknownFailure?["user_id"] is NSNull, "an unknown login names a user: \(unknownFailure ?? [:])")
            let wrongFailure = entry("login.failed") { ($0["detail"] as? [String: String])?["reason"] == "wrong_password" }
            #expect(wrongFailure != nil, "no login.failed with reason wrong_password")
            #expect(wrongFailure?["user_id"] as? String == una)
            #expect(entry("login.succeeded") { $0["user_id"] as? String == una } != nil)
            #expect(entry("login.succeeded") { $0["user_id"] as? String == adminID } != nil)
            #expect(entry("refresh.reused")?["user_id"] as? String == una)
            #expect(entry("session.revoked")?["user_id"] as? String == una)
            #expect(entry("password.changed")?["user_id"] as? String == una)
            let roleChange = entry("roles.changed")
            #expect(roleChange?["user_id"] as? String == una)
            #expect(roleChange?["actor_id"] as? String == adminID, "roles.changed actor: \(roleChange ?? [:])")
            #expect((roleChange?["detail"] as? [String: String])?["to"]?.contains("auditor") == true, "roles.changed detail: \(roleChange ?? [:])")
            let statusChange = entry("user.status_changed")
            #expect(statusChange?["user_id"] as? String == una)
            #expect(statusChange?["actor_id"] as? String == adminID)
            #expect((statusChange?["detail"] as? [String: String])?["to"] == "disabled", "status detail: \(statusChange ?? [:])")
            let acceptance = entry("registration.accepted")
            #expect(acceptance?["user_id"] as? String == una)
            #expect(acceptance?["actor_id"] as? String == adminID)

            // Every event these requests caused carries their address and user agent.
            for name in wanted {
                for found in entries where found["event"] as? String == name {
                    #expect(found["user_agent"] as? String == Self.userAgent, "\(name) user_agent: \(found["user_agent"] ?? "nil")")
                    let ip = found["ip_address"] as? String ?? ""
                    #expect(["127.0.0.1", "::1", "::ffff:127.0.0.1"].contains(ip), "\(name) ip_address: '\(ip)'")
                }
            }

            // Filters.
            let failures = try await client.call(.get, "/api/v1/audit?event=login.failed", token: admin)
            #expect(failures.status == .ok)
            #expect(failures["count"] as? Int == 2, "event=login.failed: \(failures.text.prefix(300))")
            #expect((failures["results"] as? [[String: Any]] ?? []).allSatisfy { $0["event"] as? String == "login.failed" })
            let aboutUna = try await client.call(.get, "/api/v1/audit?user_id=\(una)&page_size=100", token: admin)
            let unaEvents = (aboutUna["results"] as? [[String: Any]] ?? [])
            #expect(!unaEvents.isEmpty && unaEvents.allSatisfy { $0["user_id"] as? String == una }, "user_id filter: \(aboutUna.text.prefix(300))")
            for name in ["login.succeeded", "login.failed", "refresh.reused", "password.changed", "roles.changed", "user.status_changed"] {
                #expect(unaEvents.contains { $0["event"] as? String == name }, "user_id filter lost \(name)")
            }
            #expect(!unaEvents.contains { ($0["detail"] as? [String: String])?["reason"] == "unknown_login" })
            let both = try await client.call(.get, "/api/v1/audit?user_id=\(una)&event=login.failed", token: admin)
            #expect(both["count"] as? Int == 1, "both filters: \(both.text.prefix(300))")
            let none = try await client.call(.get, "/api/v1/audit?event=no.such.event", token: admin)
            #expect(none.status == .ok && none["count"] as? Int == 0)
            let bad = try await client.call(.get, "/api/v1/audit?user_id=not-a-uuid", token: admin)
            #expect(bad.status == .badRequest && bad.code == "validation_error", "bad user_id: \(bad.status) \(bad.text)")
            #expect(bad.fields == ["user_id": ["Must be a user id."]], "\(bad.text)")
            let page = try await client.call(.get, "/api/v1/audit?page_size=3", token: admin)
            #expect((page["results"] as? [Any])?.count == 3)
            #expect(page["next"] is String)
            #expect(page["count"] as? Int == entries.count)

            // Not for clients.
            _ = try await app.tessera.accounts.createUser(RegisterRequest(email: "cal@example.com", password: goodPassword), roles: [])
            let cal = try #require(try await client.login("cal@example.com", goodPassword).string("access"))
            let refused = try await client.call(.get, "/api/v1/audit", token: cal)
            #expect(refused.status == .forbidden && refused.code == "permission_denied", "client: \(refused.status) \(refused.text.prefix(200))")
            #expect(try await client.call(.get, "/api/v1/audit").status == .unauthorized)

            // No password, token or hash anywhere in the log.
            let stored = try await app.tessera.database.read { db in
                try await db.raw("SELECT id, at, event, user_id, actor_id, ip_address, user_agent, detail FROM audit_events").all().map { row in
                    [
                        try row.decode(column: "id", as: UUID.self).uuidString, try row.decode(column: "event", as: String.self),
                        try row.decode(column: "user_id", as: UUID?.self)?.uuidString ?? "",
                        try row.decode(column: "actor_id", as: UUID?.self)?.uuidString ?? "",
                        try row.decode(column: "ip_address", as: String.self), try row.decode(column: "user_agent", as: String.self),
                        try row.decode(column: "detail", as: String.self),
                    ].joined(separator: "\u{1F}")
                }
            }
            #expect(stored.count >= entries.count, "audit rows: \(stored.count), listed: \(entries.count)")
            let columns = try await app.tessera.database.read { db in
                try await db.raw("SELECT * FROM audit_events").all().first?.allColumns ?? []
            }
            #expect(
                Set(columns).isSubset(of: ["id", "at", "event", "user_id", "actor_id", "ip_address", "user_agent", "detail"]),
                "unscanned columns: \(columns)")
            let fetched = try await client.call(.get, "/api/v1/audit?page_size=100", token: admin).text
            let hashes = try await app.tessera.database.read { db in
                try await db.raw("SELECT password_hash FROM users").all(decodingColumn: "password_hash", as: String.self)
            }
            #expect(secrets.count >= 12 && mailTokens.count >= 2)
            for secret in secrets + hashes + ["$argon2", "eyJ"] where !secret.isEmpty {
                #expect(!stored.contains { $0.contains(secret) }, "the audit table holds a secret: \(secret.prefix(16))…")
                #expect(!fetched.contains(secret), "GET /audit shows a secret: \(secret.prefix(16))…")
            }
        }
    }

    @Test("/metrics speaks Prometheus: login, refresh and mail counters that move, and request metrics", arguments: TestDatabase.all)
    func metrics(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let before = try await client.call(.get, "/metrics")
            #expect(before.status == .ok)
            #expect(before.headers[.contentType]?.hasPrefix("text/plain") == true, "content type: \(before.headers[.contentType] ?? "none")")

            let registered = try await client.register(["email": "metric@example.com", "password": goodPassword])  // queues a verification mail
            let refresh = try #require(registered.string("refresh"))
            #expect(try await client.login("metric@example.com", goodPassword).status == .ok)
            #expect(try await client.login("metric@example.com", "wrong-password-1").status == .unauthorized)
            #expect(try await client.login("nobody@example.com", "wrong-password-1").status == .unauthorized)
            #expect(try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": refresh]).status == .ok)

            let after = try await client.call(.get, "/metrics")
            #expect(after.status == .ok)
            let text = after.text
            for type in ["# TYPE tessera_logins_total counter", "# TYPE tessera_refreshes_total counter", "# TYPE tessera_mail_total counter"] {
                #expect(text.contains(type), "missing '\(type)' in /metrics")
            }
            let old = samples(before.text)
            let new = samples(text)
            for (series, increase) in [
                (#"tessera_logins_total{result="ok"}"#, 1.0), (#"tessera_logins_total{result="failed"}"#, 2.0), ("tessera_refreshes_total", 1.0),
                (#"tessera_mail_total{state="queued"}"#, 1.0),
            ] {
                let now = new[series]
                #expect(now != nil, "no series \(series) in /metrics")
                #expect((now ?? 0) >= (old[series] ?? 0) + increase, "\(series): \(old[series] ?? 0) → \(now ?? 0), expected +\(increase)")
            }
            // Hummingbird's request metrics, by route.
            let requestSeries = new.keys.filter { $0.hasPrefix("hb_requests") || $0.hasPrefix("http_server_request_duration") }
            #expect(!requestSeries.isEmpty, "no request metrics: \(new.keys.sorted().prefix(20))")
            #expect(
                requestSeries.contains { $0.contains("/api/v1/auth/token") },
                "no request series for the token route: \(requestSeries.sorted().prefix(10))")
            // Every sample line is valid exposition text: a metric name of [a-zA-Z_:][a-zA-Z0-9_:]* and a number.
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                let name = line.prefix { $0 != "{" && $0 != " " }
                #expect(name.wholeMatch(of: /[a-zA-Z_:][a-zA-Z0-9_:]*/) != nil, "bad metric name in: \(line)")
                #expect(
                    line.split(separator: " ").last.flatMap { Double($0) } != nil || line.hasSuffix("+Inf") || line.hasSuffix("NaN"),
                    "bad value in: \(line)")
            }
            #expect(!text.contains(goodPassword) && !text.contains("eyJ"), "a secret in /metrics")
        }
    }
}

// MARK: - Helpers

/// Sample lines of Prometheus text, by series (name and labels as written) to value.
private func samples(_ text: String) -> [String: Double] {
    var result: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.isEmpty {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
        result[String(line[..<space])] = value
    }
    return result
}

private func rfc3339(_ text: String) -> Date? {
    let plain = ISO8601DateFormatter()
    let fractional = ISO8601DateFormatter()
    fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return plain.date(from: text) ?? fractional.date(from: text)
}
