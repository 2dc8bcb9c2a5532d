import AsyncHTTPClient
import Foundation
import Logging
import NIOCore

/// Where a text message (an SMS) leaves Tessera: the HTTP gateway when configured, otherwise the log.
protocol TextTransport: Sendable {
    func send(to phone: String, text: String) async throws
}

/// Development sink: without `TESSERA_SMS_URL` every text, codes included, goes to the log.
struct LogTextTransport: TextTransport {
    let logger: Logger

    func send(to phone: String, text: String) async throws {
        logger.info("sms (log sink)", metadata: ["to": "\(phone)", "text": "\(text)"])
    }
}

/// A gateway's refusal. 400 and 422 refuse this message (a number it cannot reach), so it fails
/// for good; anything else — a 5xx, a timeout, a refused token an operator will fix — is retried.
struct TextGatewayError: Error, CustomStringConvertible {
    let status: Int

    var isPermanent: Bool { status == 400 || status == 422 }
    var description: String { "the SMS gateway answered \(status)" }
}

/// `TESSERA_SMS_URL`: `POST {"to", "text"}` as JSON, with `Authorization: Bearer TESSERA_SMS_TOKEN`
/// when set; any 2xx means accepted.
struct SMSGateway: TextTransport {
    let url: String
    let token: String?
    let client: HTTPClient
    static let timeout = TimeAmount.seconds(10)

    private struct Body: Encodable {
        let to: String
        let text: String
    }

    func send(to phone: String, text: String) async throws {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(Body(to: phone, text: text))))
        let response = try await client.execute(request, timeout: Self.timeout)
        // The answer is read (and dropped) so the connection can be used again.
        _ = try await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(response.status.code) else { throw TextGatewayError(status: Int(response.status.code)) }
    }
}
