import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// The built `tessera` binary as operators run it: its own process, settings from the environment,
/// ended by a signal. For what an in-process app cannot show: `kill -9` and SIGTERM's drain.
final class TesseraProcess: Sendable {
    static var binary: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/tessera").path
    }

    /// `swift test` rebuilds the tests, `swift build` the binary: a binary older than a source file
    /// would test yesterday's server.
    static func requireFresh() throws {
        let sources = URL(fileURLWithPath: binary).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources")
        func modified(_ url: URL) -> Date {
            (try? url.resourceValues(forKeys: [.contentModificationDateKey]))?.contentModificationDate ?? .distantPast
        }
        let built = modified(URL(fileURLWithPath: binary))
        let newest =
            (FileManager.default.enumerator(at: sources, includingPropertiesForKeys: [.contentModificationDateKey])?.allObjects as? [URL] ?? [])
            .map(modified).max() ?? .distantPast
        guard built >= newest else { throw SinkError(description: "\(binary) is older than Sources/: run `swift build` first") }
    }

    let port: Int
    let process: Process
    let log: URL

    var base: String { "http://127.0.0.1:\(port)" }

    /// Starts `tessera serve` and waits (up to a minute, on a loaded machine) for `/ready`.
    init(_ settings: [String: String]) async throws {
        try Self.requireFresh()
        port = try unusedLoopbackPort()
        log = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-process-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve"]
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("TESSERA_") }
        for (name, value) in settings.merging(["PORT": "\(port)", "RATE_LIMITS": "off", "LOG_LEVEL": "warning"], uniquingKeysWith: { a, _ in a }) {
            environment["TESSERA_" + name] = value
        }
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let answer = try? await HTTPClient.shared.execute(HTTPClientRequest(url: base + "/ready"), timeout: .seconds(2)),
                answer.status == .ok
            {
                return
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        throw SinkError(description: "tessera serve did not get ready: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
    }

    /// Polls `/metrics` (a minute at most) until all of `count` sign-ins have reached the server,
    /// answered or in progress, and some are still in progress: the moment to signal for a test of
    /// what happens to requests in flight. Not sooner: a request still connecting when the server
    /// stops listening is refused, rightly, and the test would blame the drain.
    func waitForSignInsReceived(_ count: Int) async throws {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let answer = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + "/metrics"), timeout: .seconds(10))
            let lines = String(buffer: try await answer.body.collect(upTo: 1 << 22)).split(separator: "\n")
            func value(_ series: String) -> Int {
                lines.first { $0.hasPrefix(series) }.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? 0
            }
            let inProgress = value("http_server_active_requests{http_request_method=\"POST\"}")
            let answered = value("hb_requests{http_route=\"/api/v1/auth/token\",http_request_method=\"POST\",http_response_status_code=\"200\"}")
            if inProgress > 0 && inProgress + answered >= count { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw SinkError(description: "never all \(count) sign-ins received with some in progress")
    }

    func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// Waits for the process to end (polling: the test's own threads serve its requests).
    func exitStatus(within seconds: TimeInterval) async throws -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        return process.isRunning ? nil : process.terminationStatus
    }

    func stop() {
        if process.isRunning { signal(SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: log)
    }
}

/// One JSON call with AsyncHTTPClient: status and parsed body, or an error when no answer came
/// (a cut connection; a refused one is retried until `timeout`).
func callJSON(
    _ base: String, _ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil, token: String? = nil,
    client: HTTPClient = .shared, timeout: TimeAmount = .seconds(60)
) async throws -> (status: Int, json: [String: Any]) {
    var request = HTTPClientRequest(url: base + path)
    request.method = method
    request.headers.add(name: "Content-Type", value: "application/json")
    if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
    if let body { request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body))) }
    let response = try await client.execute(request, timeout: timeout)
    let bytes = try await response.body.collect(upTo: 1 << 20)
    let json = (try? JSONSerialization.jsonObject(with: Data(buffer: bytes))) as? [String: Any] ?? [:]
    return (Int(response.status.code), json)
}
