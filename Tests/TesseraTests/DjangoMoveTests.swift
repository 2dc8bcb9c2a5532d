import Foundation
import HummingbirdTesting
import Logging
import SQLKit
import TesseraClient
import Testing

@testable import Tessera

/// SPEC §9 "Moving from Django" and "No one is logged out by the move", against a real Django
/// database and real SimpleJWT tokens made by the Django peer (`Tests/django_fixture.py`).
@Suite("Moving from Django", .throwawayDatabases, .serialized)
struct DjangoMoveTests {
    /// The peer's `SECRET_KEY` (../shared/peers/django_seed/config/settings.py), SimpleJWT's key.
    static let djangoKey = "bench-only-secret-key-8f2b1c3d4e5f60718293a4b5c6d7e8f9-not-for-prod"

    struct Fixture {
        let ids: [String: Int]
        let password: String
        let tokens: [String: String]
    }

    /// Runs the fixture script with `arguments`; its JSON.
    static func fixture(_ arguments: [String]) async throws -> Fixture {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
            "django_fixture.py")
        let run = try await ChildProcess.run(["python3", script.path] + arguments)
        guard run.status == 0, let json = try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any] else {
            throw SinkError(description: "django_fixture.py failed (pip install -r ../shared/peers/django_seed/requirements.txt?): \(run.errors)")
        }
        return Fixture(
            ids: json["ids"] as? [String: Int] ?? [:], password: json["password"] as? String ?? "",
            tokens: json.compactMapValues { $0 as? String })
    }

    static func importUsers(_ app: TestApp, from: String) async throws -> DjangoImport.Report {
        let logger = Logger(label: "import-test")
        let source = try await DjangoSource.open(from, table: nil, logger: logger)
        return try await source.database.whileRunning {
            try await DjangoImport(
                database: app.tessera.database, users: app.tessera.accounts.users, sessions: app.tessera.sessions,
                region: app.tessera.settings.accounts.defaultPhoneRegion,
                clock: app.tessera.clock
            ).run(from: try await source.described()) { _ in }
        }
    }

    static func refresh(_ client: any TestClientProtocol, _ token: String) async throws -> Reply {
        try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": token])
    }

    @Test(
        "a Django SQLite database: users imported as SPEC lists, old passwords sign in, a rerun updates; SimpleJWT refresh tokens become sessions once",
        arguments: TestDatabase.all)
    func fromSQLite(_ database: TestDatabase) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("django-\(UUID().uuidString).sqlite3").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let django = try await Self.fixture(["--sqlite", path])
        let app = try await TestApp.make(database, ["DJANGO_SECRET_KEY": Self.djangoKey])
        try await app.run { client in
            let report = try await Self.importUsers(app, from: path)
            #expect(report.read == 6 && report.created == 4 && report.updated == 0, "\(report.summary)")
            let skipped = Dictionary(uniqueKeysWithValues: report.skipped.map { ($0.legacyID, $0.reason) })
            #expect(skipped[String(django.ids["carol"] ?? 0)]?.contains("duplicate e-mail") == true, "\(report.summary)")
            #expect(skipped[String(django.ids["dave"] ?? 0)]?.contains("unreadable phone") == true, "\(report.summary)")
            #expect(report.withoutPassword == 1 && report.droppedUsernames == 1 && report.refusedTokens == 1, "\(report.summary)")

            // Alice keeps her Django password; the sign-in rehashes it to Argon2id.
            let signedIn = try await client.login("+7 918 702 09 87", django.password)
            #expect(signedIn.status == .ok, "\(signedIn.text)")
            let alice = try #require(signedIn["user"] as? [String: Any])
            #expect(alice["email"] as? String == "alice@example.com" && alice["role"] as? String == "specialist")
            #expect(alice["first_name"] as? String == "Alice" && alice["phone"] as? String == "+79187020987")
            let aliceID = try #require(alice["id"] as? String)
            let joinedText = try #require(alice["date_joined"] as? String)
            let joined = try #require(DjangoUser.parseTime(joinedText))
            #expect(abs(joined.timeIntervalSinceNow) < 3600, "date_joined read from Django's text: \(joined)")
            let hash = try await app.tessera.database.read { db in
                try await db.raw("SELECT password_hash FROM users WHERE email_key = 'alice@example.com'").first(
                    decodingColumn: "password_hash", as: String.self)
            }
            #expect(hash?.hasPrefix("$argon2id$") == true)
            let bob = try await client.login("bob", django.password)
            #expect((bob["user"] as? [String: Any])?["roles"] as? [String] == ["admin", "client"], "is_superuser is the admin role: \(bob.text)")
            expectAPIError(
                try await client.login("erin@example.com", "anything-at-all"), .unauthorized, "invalid_credentials", "an unusable password")
            let frank = try await client.login("frank@example.com", django.password)
            #expect((frank["user"] as? [String: Any])?["username"] is NSNull, "a username Tessera cannot take is left out")

            // A rerun updates and never duplicates; Alice's new hash stays.
            let again = try await Self.importUsers(app, from: path)
            #expect(again.created == 0 && again.updated == 4 && again.skipped.count == 2, "\(again.summary)")
            let count = try await app.tessera.database.read { db in
                try await db.raw("SELECT COUNT(*) AS n FROM users WHERE legacy_id IS NOT NULL").first(decodingColumn: "n", as: Int.self)
            }
            #expect(count == 4)
            #expect(try await client.login("alice@example.com", django.password).status == .ok)

            // The mobile app's SimpleJWT refresh token becomes a Tessera session, once.
            let exchanged = try await Self.refresh(client, try #require(django.tokens["refresh"]))
            #expect(exchanged.status == .ok, "\(exchanged.text)")
            let pair = try TokenPair(exchanged)
            #expect(claims(of: pair.access)["user_id"] as? String == aliceID)
            #expect(try await client.call(.get, "/api/v1/me", token: pair.access).string("id") == aliceID)
            #expect(try await Self.refresh(client, pair.refresh).status == .ok, "the new session refreshes as any other")
            expectAPIError(
                try await Self.refresh(client, try #require(django.tokens["refresh"])), .unauthorized, "token_not_valid", "the same token again")
            expectAPIError(try await Self.refresh(client, try #require(django.tokens["expired"])), .unauthorized, "token_expired", "an expired one")
            expectAPIError(try await Self.refresh(client, try #require(django.tokens["access"])), .unauthorized, "token_not_valid", "an access token")
            expectAPIError(
                try await Self.refresh(client, try #require(django.tokens["blacklisted"])), .unauthorized, "token_not_valid",
                "a token Django had blacklisted")
            let bobToken = try #require(django.tokens["refresh_bob"])
            let forged = bobToken.dropLast(4) + (bobToken.hasSuffix("AAAA") ? "BBBB" : "AAAA")
            expectAPIError(try await Self.refresh(client, String(forged)), .unauthorized, "token_not_valid", "a token with a wrong signature")
            // Ending every session of Bob's ends his tokens from before the move too.
            let bobNow = try TokenPair(try await client.login("bob", django.password))
            #expect(try await client.call(.post, "/api/v1/auth/token/revoke-all", token: bobNow.access).status == .ok)
            expectAPIError(try await Self.refresh(client, bobToken), .unauthorized, "token_not_valid", "a token from before revoke-all")
        }
        // Without Django's key, SimpleJWT tokens are nobody's.
        try await TestApp.make(database).run { client in
            expectAPIError(
                try await Self.refresh(client, try #require(django.tokens["refresh"])), .unauthorized, "token_not_valid", "no DJANGO_SECRET_KEY")
        }
    }

    @Test(
        "an app holding a SimpleJWT pair moves to a Tessera session through TesseraClient, and disabling in Django ends it",
        arguments: TestDatabase.all)
    func appMoves(_ database: TestDatabase) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("django-\(UUID().uuidString).sqlite3").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let django = try await Self.fixture(["--sqlite", path])
        let app = try await TestApp.make(database, ["DJANGO_SECRET_KEY": Self.djangoKey])
        try await app.run(.live) { client in
            _ = try await Self.importUsers(app, from: path)
            let store = InMemoryTokenStore(
                Tokens(access: try #require(django.tokens["access"]), refresh: try #require(django.tokens["refresh"])))
            let api = TesseraClient(baseURL: "http://127.0.0.1:\(try #require(client.port))", store: store)
            // The old HS256 access token is refused; the client refreshes with the SimpleJWT refresh token.
            #expect(try await api.me().email == "alice@example.com")
            let moved = try #require(await store.load())
            #expect(moved.refresh != django.tokens["refresh"] && JOSEHeader.of(moved.access)?.kid != nil, "a Tessera pair now")

            // Until the switch, Django is the source: disabled there and imported again, she is out at once.
            let update = try await ChildProcess.run([
                "python3", "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE accounts_user SET is_active = 0 WHERE username = 'alice'\"); c.commit()",
                path,
            ])
            try #require(update.status == 0, "\(update.errors)")
            #expect(try await Self.importUsers(app, from: path).updated == 4)
            await #expect(throws: TesseraError.signedOut) { try await api.me() }
        }
    }

    @Test("a Django PostgreSQL database imports the same way", arguments: TestDatabase.sharedByInstances)
    func fromPostgreSQL(_ database: TestDatabase) async throws {
        let server = try #require(TestDatabase.postgresURL, "scripts/test provides PostgreSQL")
        var url = try #require(URLComponents(string: server))
        url.path = "/django_\(UUID().uuidString.prefix(8).lowercased())"
        let django = try await Self.fixture(["--postgres", try #require(url.string)])
        let app = try await TestApp.make(database)
        let source = try #require(url.string)
        try await app.run { client in
            let report = try await Self.importUsers(app, from: source)
            #expect(report.read == 6 && report.created == 4 && report.skipped.count == 2, "\(report.summary)")
            let signedIn = try await client.login("alice@example.com", django.password)
            #expect(signedIn.status == .ok, "\(signedIn.text)")
        }
    }
}
