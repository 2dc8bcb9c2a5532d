import Foundation
import HummingbirdTesting
import Testing

@testable import Tessera

@Suite("Smoke", .throwawayDatabases)
struct SmokeTests {
    @Test("register, sign in and read /me", arguments: TestDatabase.all)
    func registerLoginMe(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let registered = try await client.register(["email": "ann@example.com", "password": goodPassword])
            #expect(registered.status == .created)
            let token = try await client.login("ANN@example.com", goodPassword)
            #expect(token.status == .ok)
            let me = try await client.call(.get, "/api/v1/me", token: token.string("access"))
            #expect(me.status == .ok)
            #expect(me.string("email") == "ann@example.com")
        }
    }
}
