import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// `Tests/signin_peers.py`: a real SMS gateway, OpenID Connect providers and a VK-ID-style server
/// on loopback, driven through their control calls (see the script's docstring).
final class SignInPeers: Sendable {
    private let peer: PythonPeer
    private let directory: URL
    var port: Int { peer.port }
    var base: String { "http://127.0.0.1:\(port)" }
    static let vkClientID = "51234567"
    static let vkClientSecret = "vk-secret"

    init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("signin-peers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        peer = try await PythonPeer(
            script: "signin_peers.py", arguments: ["--vk-client-id", Self.vkClientID, "--vk-client-secret", Self.vkClientSecret],
            stderr: directory.appendingPathComponent("stderr.txt"), hint: "pip install cryptography?")
    }

    func stop() {
        peer.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Settings that point Tessera at these peers: the SMS gateway, OIDC providers `google`
    /// (found by discovery) and `apple` (by its JWKS URL), and VK.
    var settings: [String: String] {
        [
            "SMS_URL": "\(base)/sms", "SMS_TOKEN": "gateway-token",
            "OIDC_PROVIDERS": "google,apple",
            "OIDC_GOOGLE_ISSUER": "\(base)/oidc/google", "OIDC_GOOGLE_CLIENT_IDS": "web-client,ios-client",
            "OIDC_APPLE_ISSUER": "\(base)/oidc/apple", "OIDC_APPLE_CLIENT_IDS": "com.example.app",
            "OIDC_APPLE_JWKS_URL": "\(base)/oidc/apple/jwks",
            "VK_CLIENT_ID": Self.vkClientID, "VK_CLIENT_SECRET": Self.vkClientSecret,
            "VK_TOKEN_URL": "\(base)/vk/token", "VK_USERINFO_URL": "\(base)/vk/user_info",
        ]
    }

    /// A control call; the answer's JSON (or nil for an empty body).
    @discardableResult
    func call(_ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil) async throws -> Any? {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let data = Data(try await response.body.collect(upTo: 1 << 20).readableBytesView)
        guard (200..<300).contains(response.status.code) else {
            throw SinkError(description: "\(path) answered \(response.status.code): \(String(decoding: data, as: UTF8.self))")
        }
        return data.isEmpty ? nil : try JSONSerialization.jsonObject(with: data)
    }

    /// The texts the gateway accepted, oldest first.
    func texts(to phone: String? = nil) async throws -> [(to: String, text: String, authorization: String?)] {
        let query = phone.map { "?to=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)" } ?? ""
        let list = try await call(.GET, "/sms/messages" + query) as? [[String: Any]] ?? []
        return list.map { ($0["to"] as? String ?? "", $0["text"] as? String ?? "", $0["authorization"] as? String) }
    }

    /// The six-digit code of the last text to `phone`.
    func lastCode(to phone: String) async throws -> String {
        guard let text = try await texts(to: phone).last?.text,
            let range = text.range(of: "[0-9]{6}", options: .regularExpression)
        else { throw SinkError(description: "no code was texted to \(phone)") }
        return String(text[range])
    }

    /// An id_token from provider `name`, signed with `key`, with `claims` over the defaults: issued
    /// `at` (the app's clock, which tests move), valid ten minutes.
    func idToken(_ name: String, at now: Date, _ claims: [String: Any], key: String = "rsa", extra: [String: Any] = [:]) async throws -> String {
        let issued = Int(now.timeIntervalSince1970)
        let dated = ["iat": issued, "exp": issued + 600].merging(claims) { $1 }
        let body = ["claims": dated, "key": key].merging(extra) { $1 }
        guard let answer = try await call(.POST, "/oidc/\(name)/id-token", body) as? [String: Any], let token = answer["id_token"] as? String
        else { throw SinkError(description: "no id_token") }
        return token
    }

    func stats(_ name: String) async throws -> (discovery: Int, jwks: Int) {
        let answer = try await call(.GET, "/oidc/\(name)/stats") as? [String: Any] ?? [:]
        return (answer["discovery_fetches"] as? Int ?? -1, answer["jwks_fetches"] as? Int ?? -1)
    }
}
