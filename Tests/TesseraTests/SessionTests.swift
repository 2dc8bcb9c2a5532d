import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Tessera

/// SPEC §4 sessions: what a login records, listing and ending sessions, and that every way of
/// ending one (logout, revoke, revoke-all, session delete, password change) is immediate.
@Suite("Sessions", .throwawayDatabases)
struct SessionTests {
    @Test("a login records the user agent; the list is paginated and marks the caller's session", arguments: TestDatabase.all)
    func listSessions(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let phone = try await client.signUp("lia@example.com", userAgent: "TesseraTests/1.0 (iPhone; iOS 18)")
            let web = try await client.signIn("lia@example.com", userAgent: "TesseraTests/2.0 (Macintosh; Safari)")
            let phoneSession = try #require(sessionID(of: phone.access))
            let webSession = try #require(sessionID(of: web.access))
            #expect(phoneSession != webSession, "a login must open a new session")

            let list = try await client.call(.get, "/api/v1/me/sessions", token: web.access)
            #expect(list.status == .ok)
            #expect(list["count"] as? Int == 2)
            #expect(list["next"] is NSNull, "next: \(String(describing: list["next"]))")
            #expect(list["previous"] is NSNull, "previous: \(String(describing: list["previous"]))")
            let results = try #require(list["results"] as? [[String: Any]])
            #expect(results.count == 2)
            for session in results {
                for key in ["id", "created_at", "last_used_at", "expires_at", "ip_address", "user_agent", "current"] {
                    #expect(session[key] != nil, "session lacks \(key): \(session)")
                }
                #expect(session["ip_address"] is String)
                let created = try #require(rfc3339(session["created_at"]), "created_at \(String(describing: session["created_at"]))")
                let expires = try #require(rfc3339(session["expires_at"]), "expires_at \(String(describing: session["expires_at"]))")
                #expect(rfc3339(session["last_used_at"]) != nil)
                #expect(abs(expires.timeIntervalSince(created) - 30 * 86400) < 2, "SESSION_TTL is 30 days by default")
                #expect(abs(created.timeIntervalSince(app.clock.clock.now())) < 2)
                #expect((session["created_at"] as? String)?.hasSuffix("Z") == true, "times are UTC")
            }
            let byID = Dictionary(
                uniqueKeysWithValues: results.compactMap { session in (session["id"] as? String).map { ($0.lowercased(), session) } })
            #expect(byID[phoneSession]?["user_agent"] as? String == "TesseraTests/1.0 (iPhone; iOS 18)")
            #expect(byID[webSession]?["user_agent"] as? String == "TesseraTests/2.0 (Macintosh; Safari)")
            #expect(byID[webSession]?["current"] as? Bool == true)
            #expect(byID[phoneSession]?["current"] as? Bool == false)

            // Seen from the other session, `current` moves with the caller.
            let fromPhone = try await client.call(.get, "/api/v1/me/sessions", token: phone.access)
            let phoneView = (fromPhone["results"] as? [[String: Any]] ?? []).filter { $0["current"] as? Bool == true }
            #expect(phoneView.count == 1)
            #expect((phoneView.first?["id"] as? String)?.lowercased() == phoneSession)

            // Pages of one.
            let page1 = try await client.call(.get, "/api/v1/me/sessions?page_size=1", token: web.access)
            #expect(page1.status == .ok)
            #expect(page1["count"] as? Int == 2)
            #expect((page1["results"] as? [Any])?.count == 1)
            let next = try #require(page1["next"] as? String, "page 1 of 2 has no next link: \(page1.text)")
            #expect(next.contains("page=2"))
            #expect(page1["previous"] is NSNull)
            let page2 = try await client.call(.get, "/api/v1/me/sessions?page=2&page_size=1", token: web.access)
            #expect(page2.status == .ok)
            #expect(page2["count"] as? Int == 2)
            #expect(page2["next"] is NSNull)
            #expect((page2["previous"] as? String) != nil, "page 2 has no previous link: \(page2.text)")
            let pagedIDs = [page1, page2].compactMap { (($0["results"] as? [[String: Any]])?.first?["id"] as? String)?.lowercased() }
            #expect(Set(pagedIDs) == [phoneSession, webSession])

            // A refresh is a use of the session.
            app.clock.advance(by: 120)
            #expect(try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": phone.refresh]).status == .ok)
            let later = try await client.call(.get, "/api/v1/me/sessions", token: web.access)
            let used = (later["results"] as? [[String: Any]] ?? []).first { ($0["id"] as? String)?.lowercased() == phoneSession }
            let usedAt = try #require(rfc3339(used?["last_used_at"]))
            let createdAt = try #require(rfc3339(used?["created_at"]))
            #expect(usedAt.timeIntervalSince(createdAt) >= 119, "last_used_at did not move on refresh")
        }
    }

    @Test("over a real socket the session records the caller's IP address", arguments: TestDatabase.all)
    func recordsIPAddress(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run(.live) { client in
            let user = try await client.signUp("ip@example.com", userAgent: "TesseraTests/live")
            let list = try await client.call(.get, "/api/v1/me/sessions", token: user.access)
            #expect(list.status == .ok)
            let session = try #require((list["results"] as? [[String: Any]])?.first)
            let ip = session["ip_address"] as? String ?? ""
            #expect(["127.0.0.1", "::1", "::ffff:127.0.0.1"].contains(ip), "ip_address \(ip)")
            #expect(session["user_agent"] as? String == "TesseraTests/live")
        }
    }

    @Test("another user's session cannot be deleted: 404, and it keeps working", arguments: TestDatabase.all)
    func deleteAnotherUsersSession(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let alice = try await client.signUp("alice@example.com")
            let bob = try await client.signUp("bob@example.com")
            let bobSession = try #require(sessionID(of: bob.access))

            let attempt = try await client.call(.delete, "/api/v1/me/sessions/\(bobSession)", token: alice.access)
            expectAPIError(attempt, .notFound, "not_found", "deleting another user's session")
            let unknown = try await client.call(.delete, "/api/v1/me/sessions/\(UUID().uuidString.lowercased())", token: alice.access)
            expectAPIError(unknown, .notFound, "not_found", "deleting an unknown session")
            let malformed = try await client.call(.delete, "/api/v1/me/sessions/not-a-uuid", token: alice.access)
            #expect([.notFound, .badRequest].contains(malformed.status), "malformed id: \(malformed.status)")

            #expect(try await client.call(.get, "/api/v1/me", token: bob.access).status == .ok, "Bob's session was ended by Alice")
            let bobs = try await client.call(.get, "/api/v1/me/sessions", token: bob.access)
            #expect(bobs["count"] as? Int == 1)
            #expect(try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": bob.refresh]).status == .ok)
        }
    }

    @Test("deleting one's other session: 204, and its tokens are refused at once", arguments: TestDatabase.all)
    func deleteOwnOtherSession(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let laptop = try await client.signUp("dan@example.com")
            let phone = try await client.signIn("dan@example.com")
            let phoneSession = try #require(sessionID(of: phone.access))
            #expect(try await client.call(.get, "/api/v1/me", token: phone.access).status == .ok)

            let deleted = try await client.call(.delete, "/api/v1/me/sessions/\(phoneSession)", token: laptop.access)
            #expect(deleted.status == .noContent, "delete: \(deleted.status) \(deleted.text)")

            expectAPIError(try await client.call(.get, "/api/v1/me", token: phone.access), .unauthorized, nil, "deleted session's access token")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/token/verify", json: ["token": phone.access]), .unauthorized, nil,
                "verify deleted session's access token")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": phone.refresh]), .unauthorized, nil,
                "deleted session's refresh token")

            #expect(try await client.call(.get, "/api/v1/me", token: laptop.access).status == .ok)
            let left = try await client.call(.get, "/api/v1/me/sessions", token: laptop.access)
            #expect(left["count"] as? Int == 1)
            #expect(((left["results"] as? [[String: Any]])?.first?["id"] as? String)?.lowercased() == sessionID(of: laptop.access))

            // The caller's own session can go the same way.
            let laptopSession = try #require(sessionID(of: laptop.access))
            #expect(try await client.call(.delete, "/api/v1/me/sessions/\(laptopSession)", token: laptop.access).status == .noContent)
            expectAPIError(try await client.call(.get, "/api/v1/me", token: laptop.access), .unauthorized, nil, "own deleted session")
        }
    }

    @Test("logout: 204, then that session's access and refresh tokens are refused immediately", arguments: TestDatabase.all)
    func logout(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let leaving = try await client.signUp("leo@example.com")
            let staying = try await client.signIn("leo@example.com")

            let reply = try await client.call(.post, "/api/v1/auth/logout", token: leaving.access)
            #expect(reply.status == .noContent, "logout: \(reply.status) \(reply.text)")

            // No clock movement: refused now, not at expiry.
            expectAPIError(try await client.call(.get, "/api/v1/me", token: leaving.access), .unauthorized, nil, "access after logout")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/token/verify", json: ["token": leaving.access]), .unauthorized, nil, "verify after logout")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": leaving.refresh]), .unauthorized, nil,
                "refresh after logout")
            expectAPIError(try await client.call(.post, "/api/v1/auth/logout", token: leaving.access), .unauthorized, nil, "second logout")

            // Only the caller's session ended.
            #expect(try await client.call(.get, "/api/v1/me", token: staying.access).status == .ok)
            #expect(try await client.call(.get, "/api/v1/me/sessions", token: staying.access)["count"] as? Int == 1)
            #expect(try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": staying.refresh]).status == .ok)
        }
    }

    @Test("revoke by refresh token: 204, idempotent, immediate; forged tokens 401", arguments: TestDatabase.all)
    func revokeByRefreshToken(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let user = try await client.signUp("rita@example.com")

            // Forgeries first: they must not end anything.
            let parts = user.refresh.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            #expect(parts.count == 3)
            let forged = [
                parts[0] + "." + parts[1] + ".",
                parts[0] + "." + parts[1] + "." + String(parts[2].reversed()),
                "not-a-token",
                user.access,
            ]
            for token in forged {
                expectAPIError(
                    try await client.call(.post, "/api/v1/auth/token/revoke", json: ["refresh": token]), .unauthorized, nil,
                    "revoke with \(token.prefix(30))")
            }
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/token/revoke", json: [:] as [String: Any]), .badRequest, "validation_error", "revoke {}")
            #expect(try await client.call(.get, "/api/v1/me", token: user.access).status == .ok, "a forged revoke ended the session")

            let first = try await client.call(.post, "/api/v1/auth/token/revoke", json: ["refresh": user.refresh])
            #expect(first.status == .noContent, "revoke: \(first.status) \(first.text)")
            let second = try await client.call(.post, "/api/v1/auth/token/revoke", json: ["refresh": user.refresh])
            #expect(second.status == .noContent, "revoke is not idempotent: \(second.status) \(second.text)")

            expectAPIError(try await client.call(.get, "/api/v1/me", token: user.access), .unauthorized, nil, "access after revoke")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": user.refresh]), .unauthorized, nil,
                "refresh after revoke")
        }
    }

    @Test("revoke-all ends every session of the caller and says how many", arguments: TestDatabase.all)
    func revokeAll(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let one = try await client.signUp("ray@example.com")
            let two = try await client.signIn("ray@example.com")
            let three = try await client.signIn("ray@example.com")
            let bystander = try await client.signUp("someone-else@example.com")

            let reply = try await client.call(.post, "/api/v1/auth/token/revoke-all", token: one.access)
            #expect(reply.status == .ok, "revoke-all: \(reply.status) \(reply.text)")
            #expect(reply["revoked"] as? Int == 3, "revoked: \(reply.text)")

            for (name, pair) in [("first", one), ("second", two), ("third", three)] {
                expectAPIError(try await client.call(.get, "/api/v1/me", token: pair.access), .unauthorized, nil, "\(name) session's access")
                expectAPIError(
                    try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": pair.refresh]), .unauthorized, nil,
                    "\(name) session's refresh")
            }
            #expect(try await client.call(.get, "/api/v1/me", token: bystander.access).status == .ok, "another user's session ended")
        }
    }

    @Test("revoke-all with keep_current spares the caller's session", arguments: TestDatabase.all)
    func revokeAllKeepingCurrent(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let old = try await client.signUp("kim@example.com")
            let current = try await client.signIn("kim@example.com")

            let reply = try await client.call(.post, "/api/v1/auth/token/revoke-all", json: ["keep_current": true], token: current.access)
            #expect(reply.status == .ok)
            #expect(reply["revoked"] as? Int == 1, "revoked: \(reply.text)")

            expectAPIError(try await client.call(.get, "/api/v1/me", token: old.access), .unauthorized, nil, "the other session's access")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": old.refresh]), .unauthorized, nil,
                "the other session's refresh")

            #expect(try await client.call(.get, "/api/v1/me", token: current.access).status == .ok)
            let list = try await client.call(.get, "/api/v1/me/sessions", token: current.access)
            #expect(list["count"] as? Int == 1)
            let only = (list["results"] as? [[String: Any]])?.first
            #expect((only?["id"] as? String)?.lowercased() == sessionID(of: current.access))
            #expect(only?["current"] as? Bool == true)
            #expect(try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": current.refresh]).status == .ok)
        }
    }

    @Test("a password change ends every other session, keeps the current one, and retires the old password", arguments: TestDatabase.all)
    func passwordChange(_ database: TestDatabase) async throws {
        let newPassword = "Lantern-Orchid-57-Quarry"
        let app = try await TestApp.make(database)
        try await app.run { client in
            let other = try await client.signUp("pat@example.com")
            let current = try await client.signIn("pat@example.com")

            let wrong = try await client.call(
                .post, "/api/v1/me/password", json: ["current_password": "not-my-password-1", "new_password": newPassword], token: current.access)
            expectAPIError(wrong, .badRequest, "validation_error", "wrong current password")
            #expect(wrong.fields["current_password"] != nil, "fields: \(wrong.text)")
            #expect(try await client.call(.get, "/api/v1/me", token: other.access).status == .ok, "a refused change ended a session")

            let changed = try await client.call(
                .post, "/api/v1/me/password", json: ["current_password": goodPassword, "new_password": newPassword], token: current.access)
            #expect(changed.status == .noContent, "password change: \(changed.status) \(changed.text)")

            expectAPIError(try await client.call(.get, "/api/v1/me", token: other.access), .unauthorized, nil, "other session's access")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": other.refresh]), .unauthorized, nil,
                "other session's refresh")

            #expect(try await client.call(.get, "/api/v1/me", token: current.access).status == .ok, "the current session ended")
            #expect(try await client.call(.get, "/api/v1/me/sessions", token: current.access)["count"] as? Int == 1)
            #expect(try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": current.refresh]).status == .ok)

            expectAPIError(try await client.login("pat@example.com", goodPassword), .unauthorized, "invalid_credentials", "the old password")
            #expect(try await client.login("pat@example.com", newPassword).status == .ok, "the new password does not log in")
        }
    }
}

// MARK: - Helpers

/// The `sid` claim of a token, lowercased.
private func sessionID(of token: String) -> String? {
    (claims(of: token)["sid"] as? String)?.lowercased()
}

private func rfc3339(_ value: Any?) -> Date? {
    guard let text = value as? String else { return nil }
    let plain = ISO8601DateFormatter()
    let fractional = ISO8601DateFormatter()
    fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return plain.date(from: text) ?? fractional.date(from: text)
}
