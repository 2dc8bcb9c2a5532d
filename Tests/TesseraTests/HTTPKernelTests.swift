import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Tessera

/// SPEC §1-§3 conventions every endpoint shares: the error body, JSON input handling, 404/405,
/// trailing slashes, the operational endpoints, and an OpenAPI document provably in sync with the
/// route table.
@Suite("HTTP kernel", .throwawayDatabases)
struct HTTPKernelTests {
    // MARK: JSON input

    @Test("malformed JSON, non-object bodies and wrong types are 400 validation_error", arguments: TestDatabase.once)
    func badJSONBodies(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            for path in ["/api/v1/auth/token", "/api/v1/auth/register", "/api/v1/auth/token/refresh"] {
                for body in [
                    "{not json", "{\"login\": ", "[]", "[{\"login\": \"a@b.c\", \"password\": \"x\"}]", "42", "\"text\"", "true", "null", "{'a': 1}",
                ] {
                    let reply = try await client.call(.post, path, json: body)
                    expectAPIError(reply, .badRequest, "validation_error", "POST \(path) with \(body)")
                }
            }

            let login = try await client.call(.post, "/api/v1/auth/token", json: ["login": "a@example.com", "password": 12_345_678])
            expectAPIError(login, .badRequest, "validation_error", "login with a numeric password")
            #expect(login.fields["password"]?.isEmpty == false, "fields: \(login.text)")

            let register = try await client.call(.post, "/api/v1/auth/register", json: ["email": "a@example.com", "password": ["x"]])
            expectAPIError(register, .badRequest, "validation_error", "register with a list as password")
            #expect(register.fields["password"]?.isEmpty == false, "fields: \(register.text)")

            let refresh = try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": 7])
            expectAPIError(refresh, .badRequest, "validation_error", "refresh with a number")
            #expect(refresh.fields["refresh"]?.isEmpty == false, "fields: \(refresh.text)")

            let missing = try await client.call(.post, "/api/v1/auth/token/refresh", json: [:] as [String: Any])
            expectAPIError(missing, .badRequest, "validation_error", "refresh without the field")
            #expect(missing.fields["refresh"]?.isEmpty == false, "fields: \(missing.text)")

            let empty = try await client.call(.post, "/api/v1/auth/token/refresh", headers: [.contentType: "application/json"])
            expectAPIError(empty, .badRequest, "validation_error", "refresh with no body")
        }
    }

    @Test("a body that is not JSON by its content type is 415", arguments: TestDatabase.once)
    func wrongContentType(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let body = #"{"refresh": "x"}"#
            for type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"] {
                let reply = try await client.call(.post, "/api/v1/auth/token/refresh", json: body, headers: [.contentType: type])
                expectAPIError(reply, .unsupportedMediaType, nil, "Content-Type \(type)")
            }
            // JSON with a charset parameter is JSON.
            let charset = try await client.call(
                .post, "/api/v1/auth/token/refresh", json: body, headers: [.contentType: "application/json; charset=utf-8"])
            expectAPIError(charset, .unauthorized, "token_not_valid", "application/json; charset=utf-8")
        }
    }

    @Test("a body over 64 KiB is 413 payload_too_large, never 500; 64 KiB itself is read", arguments: TestDatabase.once)
    func oversizedBodies(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            for path in [
                "/api/v1/auth/token/refresh", "/api/v1/auth/token", "/api/v1/auth/register", "/api/v1/auth/token/verify", "/api/v1/auth/token/revoke",
            ] {
                for size in [64 * 1024 + 1, 200 * 1024, 2 * 1024 * 1024] {
                    let reply = try await client.call(.post, path, json: paddedJSON(size: size))
                    expectAPIError(reply, .contentTooLarge, "payload_too_large", "POST \(path) with \(size) bytes")
                }
            }
            // Garbage is still too large before it is malformed.
            let garbage = try await client.call(.post, "/api/v1/auth/token/refresh", json: String(repeating: "x", count: 70 * 1024))
            expectAPIError(garbage, .contentTooLarge, "payload_too_large", "70 KiB of garbage")

            let limit = try await client.call(.post, "/api/v1/auth/token/refresh", json: paddedJSON(size: 64 * 1024))
            #expect(limit.status != .contentTooLarge, "exactly 64 KiB was refused")
            expectAPIError(limit, .unauthorized, "token_not_valid", "64 KiB body")
        }
    }

    @Test("an oversized body over a real socket is 413 too", arguments: TestDatabase.once)
    func oversizedBodyLive(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run(.live) { client in
            let reply = try await client.call(.post, "/api/v1/auth/token/refresh", json: paddedJSON(size: 256 * 1024))
            expectAPIError(reply, .contentTooLarge, "payload_too_large", "256 KiB over a socket")
        }
    }

    // MARK: Routing

    @Test("unknown routes are 404 not_found; a wrong method on a known path is 405 with Allow", arguments: TestDatabase.once)
    func notFoundAndMethodNotAllowed(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            for path in ["/api/v1/nope", "/nope", "/api/v2/auth/token", "/api/v1/auth/token/refresh/extra", "/api/v1/me/sessions/a/b"] {
                for method: HTTPRequest.Method in [.get, .post, .delete] {
                    expectAPIError(try await client.call(method, path), .notFound, "not_found", "\(method) \(path)")
                }
            }

            let cases: [(HTTPRequest.Method, String, Set<String>)] = [
                (.delete, "/api/v1/auth/token", ["POST"]),
                (.get, "/api/v1/auth/token", ["POST"]),
                (.delete, "/api/v1/auth/token/", ["POST"]),
                (.get, "/api/v1/auth/token/refresh", ["POST"]),
                (.put, "/api/v1/me", ["GET", "PATCH"]),
                (.delete, "/api/v1/me/", ["GET", "PATCH"]),
                (.post, "/api/v1/me/sessions", ["GET"]),
                (.get, "/api/v1/me/sessions/\(UUID().uuidString)", ["DELETE"]),
                (.post, "/health", ["GET"]),
            ]
            for (method, path, allowed) in cases {
                let reply = try await client.call(method, path)
                expectAPIError(reply, .methodNotAllowed, nil, "\(method) \(path)")
                let allow = reply.headers[.allow] ?? ""
                let listed = Set(allow.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).uppercased() })
                #expect(allowed.isSubset(of: listed), "\(method) \(path): Allow \"\(allow)\", expected \(allowed.sorted())")
                #expect(!listed.contains(method.rawValue), "\(method) \(path): Allow lists the refused method")
            }
        }
    }

    @Test("paths answer with a trailing slash too", arguments: TestDatabase.once)
    func trailingSlashes(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            // Reaching the handler: a body-level validation error, not a 404/405.
            let token = try await client.call(.post, "/api/v1/auth/token/", json: [:] as [String: Any])
            expectAPIError(token, .badRequest, "validation_error", "POST /api/v1/auth/token/ with {}")
            let registered = try await client.call(.post, "/api/v1/auth/register/", json: ["email": "slash@example.com", "password": goodPassword])
            #expect(registered.status == .created, "POST /api/v1/auth/register/: \(registered.status) \(registered.text)")
            let access = try #require(registered.string("access"))
            let refresh = try #require(registered.string("refresh"))

            let me = try await client.call(.get, "/api/v1/me/", token: access)
            #expect(me.status == .ok, "GET /api/v1/me/: \(me.status) \(me.text)")
            #expect(me.string("email") == "slash@example.com")
            #expect(try await client.call(.get, "/api/v1/me/sessions/", token: access)["count"] as? Int == 1)
            #expect(try await client.call(.post, "/api/v1/auth/token/verify/", json: ["token": access]).status == .ok)
            #expect(try await client.call(.post, "/api/v1/auth/token/refresh/", json: ["refresh": refresh]).status == .ok)
            #expect(try await client.call(.get, "/health/").status == .ok)
            #expect(try await client.call(.get, "/.well-known/jwks.json/").status == .ok)
        }
    }

    // MARK: Operations endpoints

    @Test("/health, /ready, /docs and /.well-known/jwks.json answer", arguments: TestDatabase.all)
    func operationalEndpoints(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let health = try await client.call(.get, "/health")
            #expect(health.status == .ok)
            #expect(health.string("status") == "ok")
            #expect(health.headers[.contentType]?.hasPrefix("application/json") == true)

            let ready = try await client.call(.get, "/ready")
            #expect(ready.status == .ok, "ready: \(ready.text)")

            let docs = try await client.call(.get, "/docs")
            #expect(docs.status == .ok)
            #expect(
                docs.headers[.contentType]?.lowercased().hasPrefix("text/html") == true, "docs Content-Type \(docs.headers[.contentType] ?? "nil")")
            #expect(docs.text.lowercased().contains("<html"))

            let jwks = try await client.call(.get, "/.well-known/jwks.json")
            #expect(jwks.status == .ok)
            #expect((jwks["keys"] as? [Any])?.count == 1)
        }
    }

    @Test("every answer, errors included, says nosniff and no-referrer; pages may not be framed", arguments: TestDatabase.once)
    func securityHeaders(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let answers = [
                try await client.call(.get, "/health"), try await client.call(.get, "/docs"), try await client.call(.get, "/api/v1/me"),
                try await client.call(.get, "/api/v1/nowhere"), try await client.call(.post, "/api/v1/auth/token", json: "{"),
                try await client.register(["email": "headers@example.com", "password": goodPassword]),
            ]
            for answer in answers {
                #expect(answer.headers[.xContentTypeOptions] == "nosniff", "\(answer.status) \(answer.text.prefix(80))")
                #expect(answer.headers[SecurityHeadersMiddleware<AppRequestContext>.referrerPolicy] == "no-referrer", "\(answer.status)")
                // Plain HTTP is for a proxy's TLS end to wrap; HSTS is that end's to say.
                #expect(answer.headers[SecurityHeadersMiddleware<AppRequestContext>.strictTransportSecurity] == nil)
            }
            #expect(answers[1].headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
            #expect(answers[0].headers[.contentSecurityPolicy] == nil, "JSON needs no page policy")
        }
    }

    // MARK: JSON output

    @Test("a sign-in's answer, written directly, is byte for byte what the JSON encoder writes, whatever the account holds")
    func grantJSONMatchesTheEncoder() throws {
        let awkward = ["plain", "quote \" and \\ backslash", "\u{8}\u{C}\n\r\t\u{0}\u{1F}\u{7F}", "a/b </script>", "Ünïcödé ✓ 🎟️", ""]
        let instants = [Date(timeIntervalSince1970: 1_764_672_000), Date(timeIntervalSince1970: 1_764_672_000.999_9), Date(timeIntervalSince1970: 0)]
        for (index, text) in awkward.enumerated() {
            var user = User(
                email: index % 2 == 0 ? "\(text)@example.com" : nil, phone: index % 3 == 0 ? "+79187020987" : nil, username: text,
                passwordHash: "x", firstName: text, lastName: text, middleName: "", kind: index % 2 == 0 ? .client : .specialist,
                status: .active, dateJoined: instants[index % instants.count])
            user.lastLogin = index % 2 == 0 ? nil : instants[(index + 1) % instants.count]
            user.emailVerified = index % 2 == 0
            for created in [nil, true] as [Bool?] {
                let grant = SessionService.Grant(
                    access: text, refresh: "r." + text, expires_in: 900, refresh_expires_in: index * 86_400,
                    user: UserResponse(user: user, roles: index == 0 ? [] : ["admin", text]), created: created)
                let expected = String(decoding: try JSONCoding.encoder.encode(grant), as: UTF8.self)
                #expect(grant.json.closed == expected)
            }
        }
    }
}

// MARK: - Helpers

/// A JSON object of exactly `size` bytes: a refresh field padded with spaces.
private func paddedJSON(size: Int) -> String {
    let head = #"{"refresh": "not-a-token"}"#
    return String(head.dropLast()) + String(repeating: " ", count: max(0, size - head.utf8.count)) + "}"
}
