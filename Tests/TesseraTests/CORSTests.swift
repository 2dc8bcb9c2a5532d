import Foundation
import HummingbirdTesting
import Testing

@testable import Tessera

@Suite("CORS", .throwawayDatabases)
struct CORSTests {
    @Test("allowed origins get CORS headers and preflights; others get none")
    func origins() async throws {
        let app = try await TestApp.make(.sqlite, ["CORS_ORIGINS": "https://app.example.com"])
        try await app.run { client in
            let preflight = try await client.call(
                .options, "/api/v1/auth/token",
                headers: [.origin: "https://app.example.com", .accessControlRequestMethod: "POST", .accessControlRequestHeaders: "content-type"])
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://app.example.com")
            #expect(preflight.headers[.accessControlAllowMethods]?.contains("POST") == true)

            let error = try await client.call(.get, "/api/v1/me", headers: [.origin: "https://app.example.com"])
            #expect(error.status == .unauthorized)
            #expect(error.headers[.accessControlAllowOrigin] == "https://app.example.com")

            let foreign = try await client.call(.get, "/health", headers: [.origin: "https://evil.example.net"])
            #expect(foreign.status == .ok)
            #expect(foreign.headers[.accessControlAllowOrigin] == nil)
        }
    }

    @Test("no origins configured, no CORS headers")
    func off() async throws {
        let app = try await TestApp.make(.sqlite)
        try await app.run { client in
            let reply = try await client.call(.get, "/health", headers: [.origin: "https://app.example.com"])
            #expect(reply.headers[.accessControlAllowOrigin] == nil)
        }
    }
}
