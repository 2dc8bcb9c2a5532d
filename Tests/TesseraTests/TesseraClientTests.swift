import Foundation
import HummingbirdTesting
import Testing
import TesseraClient

@testable import Tessera

/// `TesseraClient` (SPEC §9) against a running Tessera on a real socket.
@Suite("TesseraClient", .throwawayDatabases)
struct TesseraClientTests {
    /// A store that counts what it is given: after signing in, each save is one refresh.
    actor CountingStore: TokenStore {
        private(set) var tokens: Tokens?
        private(set) var saves = 0

        func load() -> Tokens? { tokens }
        func save(_ tokens: Tokens?) {
            self.tokens = tokens
            saves += 1
        }
    }

    @Test("sign-up, sign-in, /me, sessions and sign-out, with the API's errors typed", arguments: TestDatabase.all)
    func calls(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run(.live) { client in
            let base = "http://127.0.0.1:\(try #require(client.port))/"
            let phone = TesseraClient(baseURL: base)
            let registered = try await phone.register(email: "app@example.com", password: goodPassword, firstName: "Ann")
            #expect(registered.email == "app@example.com" && registered.firstName == "Ann" && registered.roles == ["client"])
            #expect(try await phone.me().id == registered.id)

            let laptop = TesseraClient(baseURL: base)
            guard case .signedIn(let user, let created) = try await laptop.signIn(login: "APP@example.com", password: goodPassword) else {
                Issue.record("no sign-in")
                return
            }
            #expect(user.id == registered.id && !created)
            let sessions = try await laptop.sessions()
            #expect(sessions.count == 2 && sessions.results.filter(\.current).count == 1)
            let other = try #require(sessions.results.first { !$0.current })
            try await laptop.endSession(id: other.id)
            await #expect(throws: TesseraError.signedOut) { try await phone.me() }
            #expect(await phone.store.load() == nil, "a refused session empties the store")

            await #expect(
                throws: TesseraError.api(
                    status: 401, code: "invalid_credentials", detail: "No active account found with the given credentials.", fields: [:])
            ) {
                try await TesseraClient(baseURL: base).signIn(login: "app@example.com", password: "wrong-password-1")
            }
            #expect(try await laptop.updateMe(["last_name": "Lee"]).lastName == "Lee")
            try await laptop.signOut()
            #expect(await laptop.store.load() == nil)
            await #expect(throws: TesseraError.signedOut) { try await laptop.me() }
        }
    }

    @Test("100 concurrent calls with an expired access token cause exactly one refresh; a refused refresh signs out", arguments: TestDatabase.all)
    func oneRefresh(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run(.live) { client in
            let store = CountingStore()
            let api = TesseraClient(baseURL: "http://127.0.0.1:\(try #require(client.port))", store: store)
            let me = try await api.register(email: "many@example.com", password: goodPassword)
            let before = try #require(await store.tokens)
            #expect(await store.saves == 1)
            app.clock.advance(by: app.tessera.settings.tokens.accessTTL + 1)
            let ids = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<100 { group.addTask { try await api.me().id } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(ids.count == 100 && Set(ids) == [me.id])
            let saves = await store.saves
            #expect(saves == 2, "one refresh for 100 calls, not \(saves - 1)")
            #expect(await store.tokens?.refresh != before.refresh)

            // The session ends elsewhere; the next expiry's refresh is refused: signed out, cleanly.
            let current = try #require(await store.tokens)
            #expect(try await client.call(.post, "/api/v1/auth/logout", token: current.access).status == .noContent)
            app.clock.advance(by: app.tessera.settings.tokens.accessTTL + 1)
            await #expect(throws: TesseraError.signedOut) { try await api.me() }
            #expect(await store.tokens == nil)
        }
    }
}
