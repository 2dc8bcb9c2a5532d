import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Synchronization
import Testing

@testable import Tessera

/// A clock tests move by hand.
final class TestClock: Sendable {
    private let current = Mutex(Date())

    var clock: WallClock { WallClock { self.current.withLock { $0 } } }

    func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}

/// One Tessera per test, built from in-test settings on the chosen database.
struct TestApp {
    let tessera: TesseraServer
    let clock: TestClock

    /// Argon2id at its lowest cost, for apps of tests that are not about the cost (Django's own
    /// test runs swap in a fast hasher the same way). At the production cost the suite's thousands
    /// of sign-ups queued on two hashing threads for up to 20 s when many tests started at once —
    /// past the live test client's read timeout. `PasswordHasherTests` and the tests that pass
    /// `hashing: nil` (the server's own cost, what the binary runs) hold the production cost to account.
    static let fastHashing: PasswordHasher.Parameters = {
        var parameters = PasswordHasher.Parameters()
        parameters.memoryKiB = 64
        parameters.iterations = 1
        return parameters
    }()

    /// `url` shares a database with another instance; by default each app gets a fresh one.
    /// `hashing: nil` leaves the hashing cost to the server.
    static func make(
        _ database: TestDatabase, _ settings: [String: String] = [:], url: String? = nil, hashing: PasswordHasher.Parameters? = fastHashing
    ) async throws -> TestApp {
        var values = settings
        if let url { values["DATABASE_URL"] = url } else { values["DATABASE_URL"] = try await database.freshURL() }
        // Feature tests make bursts of logins from one address; the abuse-protection tests turn limits on.
        values["RATE_LIMITS"] = values["RATE_LIMITS"] ?? "off"
        // Mail stays in the outbox (a delivered body is dropped), so tests read links there; an
        // SMTP server that refuses keeps it queued. The outbox tests bring a real one.
        values["SMTP_URL"] = values["SMTP_URL"] ?? "smtp://127.0.0.1:9?starttls=never"
        // Hundreds of tests share two cores and one PostgreSQL: a connection may take a while.
        values["DATABASE_TIMEOUT"] = values["DATABASE_TIMEOUT"] ?? "60s"
        let clock = TestClock()
        var logger = Logger(label: "tessera-test")
        logger.logLevel = .error
        let tessera =
            if let hashing {
                try await TesseraServer.make(settings: try Settings(values), clock: clock.clock, hashing: hashing, logger: logger)
            } else {
                try await TesseraServer.make(settings: try Settings(values), clock: clock.clock, logger: logger)
            }
        return TestApp(tessera: tessera, clock: clock)
    }

    /// Runs `body` against the app through the router (`.router`) or real sockets (`.live`), once
    /// its revocation list and user cache follow their feeds, so tests see the path production
    /// requests take.
    func run<Value: Sendable>(_ mode: TestingSetup = .router, _ body: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value
    {
        try await tessera.application().test(mode) { client in
            try await feedsFollowed()
            return try await body(client)
        }
    }

    /// Waits (up to 30 s, for a loaded machine) until the in-memory state answers instead of the database.
    func feedsFollowed() async throws {
        func followed() -> Bool {
            tessera.revocations.isRevoked(UUID(), tokenLifetime: 0) != nil && tessera.accounts.users.cache.isCurrent
        }
        var waits = 0
        while !followed() && waits < 3000 {
            try await Task.sleep(for: .milliseconds(10))
            waits += 1
        }
        try #require(followed(), "the revocation list or the user cache never started")
    }
}

/// A JSON answer: status, headers and the body parsed into Foundation values.
struct Reply: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let text: String

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    subscript(key: String) -> Any? { json[key] }

    var code: String? { json["code"] as? String }

    func string(_ key: String) -> String? { json[key] as? String }

    var fields: [String: [String]] { json["fields"] as? [String: [String]] ?? [:] }
}

extension TestClientProtocol {
    /// Sends a JSON body (a dictionary, or a raw string sent as it is) with an optional bearer token.
    func call(
        _ method: HTTPRequest.Method, _ path: String, json body: Any? = nil, token: String? = nil, headers extra: HTTPFields = [:]
    ) async throws -> Reply {
        var headers = extra
        var buffer: ByteBuffer?
        if let body {
            let data = body is String ? Data((body as! String).utf8) : try JSONSerialization.data(withJSONObject: body)
            buffer = ByteBuffer(bytes: data)
            if headers[.contentType] == nil { headers[.contentType] = "application/json" }
        }
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await execute(uri: path, method: method, headers: headers, body: buffer) { response in
            Reply(status: response.status, headers: response.headers, text: String(buffer: response.body))
        }
    }

    /// Registers a user and returns the registration reply.
    func register(_ fields: [String: Any]) async throws -> Reply {
        try await call(.post, "/api/v1/auth/register", json: fields)
    }

    /// Signs in and returns the token reply.
    func login(_ login: String, _ password: String) async throws -> Reply {
        try await call(.post, "/api/v1/auth/token", json: ["login": login, "password": password])
    }
}

/// A password the policy accepts.
let goodPassword = "Tr0ub4dor&3-horse"

/// The two tokens of a sign-up or sign-in reply.
struct TokenPair: Sendable {
    let access: String
    let refresh: String

    init(_ reply: Reply) throws {
        try #require(reply.status == .ok || reply.status == .created, "no tokens: \(reply.status) \(reply.text)")
        access = try #require(reply.string("access"))
        refresh = try #require(reply.string("refresh"))
    }
}

extension TestClientProtocol {
    /// Registers `email` with the good password; the registration opens the first session.
    func signUp(_ email: String, userAgent: String? = nil) async throws -> TokenPair {
        var headers: HTTPFields = [:]
        if let userAgent { headers[.userAgent] = userAgent }
        return try TokenPair(try await call(.post, "/api/v1/auth/register", json: ["email": email, "password": goodPassword], headers: headers))
    }

    /// Signs in once more: a new session.
    func signIn(_ email: String, userAgent: String? = nil) async throws -> TokenPair {
        var headers: HTTPFields = [:]
        if let userAgent { headers[.userAgent] = userAgent }
        return try TokenPair(try await call(.post, "/api/v1/auth/token", json: ["login": email, "password": goodPassword], headers: headers))
    }
}

/// The claims of a JWT, decoded by hand (no verification).
func claims(of token: String) -> [String: Any] {
    let parts = token.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 3 else { return [:] }
    var base64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
    guard let data = Data(base64Encoded: base64) else { return [:] }
    return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
}

/// Polls `condition` for up to 5 s (what another instance hears by NOTIFY arrives well within it);
/// records `what` as an issue if it never holds.
func eventually(_ what: String, sourceLocation: SourceLocation = #_sourceLocation, _ condition: () async throws -> Bool) async throws {
    for _ in 0..<500 {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("never held: \(what)", sourceLocation: sourceLocation)
}

/// An error as SPEC §3 has it: the status, a non-empty `detail`, a `code` (and `code` itself if given).
func expectAPIError(
    _ reply: Reply, _ status: HTTPResponse.Status, _ code: String?, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(reply.status == status, "\(what): status \(reply.status.code), body \(reply.text.prefix(200))", sourceLocation: sourceLocation)
    #expect((reply["detail"] as? String)?.isEmpty == false, "\(what): no detail in \(reply.text.prefix(200))", sourceLocation: sourceLocation)
    #expect(reply.code != nil, "\(what): no code in \(reply.text.prefix(200))", sourceLocation: sourceLocation)
    if let code { #expect(reply.code == code, "\(what): code \(reply.code ?? "nil")", sourceLocation: sourceLocation) }
}

/// Sends every request at once over a connection each, so they really run concurrently (one
/// connection would queue them); each answer's status and body.
func concurrently(port: Int, _ requests: [TestClient.Request]) async throws -> [(status: Int, body: String)] {
    try await withThrowingTaskGroup(of: (status: Int, body: String).self) { group in
        for request in requests {
            group.addTask {
                // A race queues its requests behind one another (SQLite's single writer) while the
                // rest of the suite loads two cores: a minute, not the client's default 15 s.
                try await TestClient.withClient(host: "localhost", port: port, configuration: .init(timeout: .seconds(60))) { connection in
                    let response = try await connection.execute(request)
                    return (response.status.code, response.body.map { String(buffer: $0) } ?? "")
                }
            }
        }
        return try await group.reduce(into: []) { $0.append($1) }
    }
}

/// A JSON request for `concurrently`.
func jsonRequest(_ method: HTTPRequest.Method, _ path: String, _ body: [String: Any], token: String? = nil, headers extra: HTTPFields = [:]) throws
    -> TestClient.Request
{
    var headers = extra
    headers[.contentType] = "application/json"
    if let token { headers[.authorization] = "Bearer \(token)" }
    return TestClient.Request(
        path, method: method, authority: "localhost", headers: headers, body: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
}
