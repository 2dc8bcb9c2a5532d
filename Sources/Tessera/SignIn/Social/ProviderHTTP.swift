import AsyncHTTPClient
import Foundation
import NIOCore

/// Calls to sign-in providers (discovery, keys, VK's code exchange): bounded in time and size, and
/// any failure is the provider's, never a crash or a hang of the request that waits for it.
struct ProviderHTTP: Sendable {
    let client: HTTPClient
    static let timeout = TimeAmount.seconds(10)
    static let maximumBody = 1 << 20

    struct Answer: Sendable {
        let status: Int
        let body: Data
    }

    func get(_ url: String) async throws -> Answer {
        try await send(HTTPClientRequest(url: url))
    }

    /// POSTs `fields` as `application/x-www-form-urlencoded`.
    func postForm(_ url: String, _ fields: [(String, String)]) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: fields.map { "\(Self.formEncoded($0.0))=\(Self.formEncoded($0.1))" }.joined(separator: "&")))
        return try await send(request)
    }

    private func send(_ request: HTTPClientRequest) async throws -> Answer {
        let response = try await client.execute(request, timeout: Self.timeout)
        let body = try await response.body.collect(upTo: Self.maximumBody)
        return Answer(status: Int(response.status.code), body: Data(body.readableBytesView))
    }

    /// Form encoding leaves only unreserved characters as they are.
    static func formEncoded(_ text: String) -> String {
        var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}

/// A provider that did not answer, or answered nonsense: the sign-in cannot be judged now.
extension APIError {
    static func providerUnavailable(_ name: String) -> APIError {
        var error = APIError(.badGateway, "provider_unavailable", "The sign-in provider '\(name)' could not be reached; try again shortly.")
        error.headers[.retryAfter] = "5"
        return error
    }
}
