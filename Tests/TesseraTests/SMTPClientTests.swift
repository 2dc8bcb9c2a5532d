import Foundation
import NIOCore
import NIOExtras
import NIOPosix
import Synchronization
import Testing

@testable import Tessera
@testable import TesseraSMTP

/// End-to-end tests against a real SMTP server (Tests/smtp_sink.py, aiosmtpd) on loopback, plus
/// a scripted NIO server for misbehaviour aiosmtpd cannot produce.
@Suite("SMTPClient", .serialized)
struct SMTPClientTests {
    static let text =
        "Hello Ann,\n\n.a line that starts with a dot\n..two dots\n.\n\n"
        + String(repeating: "0123456789", count: 200)
        + "\r\nПривет, мир! Ünïcödé 🎉\rlast line without a newline"

    static let message = MailMessage(
        from: "Tessera Ünïcödé <noreply@example.com>",
        to: "Ann Example <ann@example.org>",
        subject: "Код подтверждения: 123456 — ваш вход в Tessera, пожалуйста, не сообщайте его никому 🎉",
        text: text
    )

    // MARK: Delivery over the supported transports

    @Test("plain SMTP on loopback delivers a well-formed message")
    func plainLoopback() async throws {
        let sink = try await SMTPSink()
        defer { sink.stop() }
        let client = SMTPClient(configuration: .init(host: "127.0.0.1", port: sink.port, security: .plain))
        try await client.send(Self.message)

        let received = try sink.onlyMessage()
        #expect(received.mailFrom == "noreply@example.com")
        #expect(received.recipients == ["ann@example.org"])
        #expect(received.mailOptions.contains("BODY=8BITMIME"))
        #expect(received.tls == false)
        try Self.expectWellFormed(received, as: Self.message)
    }

    @Test("STARTTLS with AUTH PLAIN, settings from a URL with a percent-encoded password")
    func startTLSWithAuthPlain() async throws {
        let certificate = try await TestCertificate()
        let sink = try await SMTPSink(
            "--tls-cert", certificate.certPath, "--tls-key", certificate.keyPath,
            "--require-starttls", "--auth", "mailer:s3cr@t:pw", "--auth-mechanisms", "PLAIN"
        )
        defer { sink.stop() }
        var configuration = try #require(
            SMTPConfiguration(url: "smtp://mailer:s3cr%40t%3Apw@localhost:\(sink.port)?starttls=require")
        )
        configuration.trustedCertificatesPEM = certificate.pem
        try await SMTPClient(configuration: configuration).send(Self.message)

        let received = try sink.onlyMessage()
        #expect(received.tls)
        #expect(received.authenticated)
        try Self.expectWellFormed(received, as: Self.message)
    }

    @Test("STARTTLS with AUTH LOGIN when the server offers only LOGIN")
    func startTLSWithAuthLogin() async throws {
        let certificate = try await TestCertificate()
        let sink = try await SMTPSink(
            "--tls-cert", certificate.certPath, "--tls-key", certificate.keyPath,
            "--require-starttls", "--auth", "mailer:pw", "--auth-mechanisms", "LOGIN"
        )
        defer { sink.stop() }
        let client = SMTPClient(
            configuration: .init(
                host: "127.0.0.1", port: sink.port, security: .startTLS, username: "mailer", password: "pw",
                trustedCertificatesPEM: certificate.pem
            )
        )
        try await client.send(Self.message)

        let received = try sink.onlyMessage()
        #expect(received.tls)
        #expect(received.authenticated)
    }

    @Test("smtp:// without parameters upgrades with STARTTLS when offered")
    func opportunisticStartTLS() async throws {
        let certificate = try await TestCertificate()
        let sink = try await SMTPSink("--tls-cert", certificate.certPath, "--tls-key", certificate.keyPath)
        defer { sink.stop() }
        var configuration = try #require(SMTPConfiguration(url: "smtp://127.0.0.1:\(sink.port)"))
        #expect(configuration.security == .startTLSIfAvailable)
        configuration.trustedCertificatesPEM = certificate.pem
        try await SMTPClient(configuration: configuration).send(Self.message)
        #expect(try sink.onlyMessage().tls)
    }

    @Test("implicit TLS (smtps) with AUTH PLAIN")
    func implicitTLS() async throws {
        let certificate = try await TestCertificate()
        let sink = try await SMTPSink(
            "--tls-cert", certificate.certPath, "--tls-key", certificate.keyPath, "--implicit-tls",
            "--auth", "mailer:pw"
        )
        defer { sink.stop() }
        var configuration = try #require(SMTPConfiguration(url: "smtps://mailer:pw@127.0.0.1:\(sink.port)"))
        configuration.trustedCertificatesPEM = certificate.pem
        try await SMTPClient(configuration: configuration).send(Self.message)

        let received = try sink.onlyMessage()
        #expect(received.authenticated)
        try Self.expectWellFormed(received, as: Self.message)
    }

    @Test("credentials may go unencrypted to a loopback server")
    func authOverPlainLoopback() async throws {
        let sink = try await SMTPSink("--auth", "mailer:pw", "--auth-without-tls")
        defer { sink.stop() }
        let client = SMTPClient(
            configuration: .init(host: "127.0.0.1", port: sink.port, security: .plain, username: "mailer", password: "pw")
        )
        try await client.send(Self.message)
        #expect(try sink.onlyMessage().authenticated)
    }

    @Test("lines starting with a dot survive the DATA transparency procedure")
    func dotStuffingEndToEnd() async throws {
        let sink = try await SMTPSink()
        defer { sink.stop() }
        let payload = "Subject: dots\r\n\r\n.\r\n..\r\n.hidden\r\nnot.a.dot\r\n\r\n. \r\nend\r\n"
        let client = SMTPClient(configuration: .init(host: "127.0.0.1", port: sink.port, security: .plain))
        try await client.deliver(payload, from: "a@example.com", to: "b@example.com")
        #expect(try String(decoding: sink.onlyMessage().raw, as: UTF8.self) == payload)
    }

    // MARK: Failures

    @Test("a wrong password is a permanent 535")
    func wrongPassword() async throws {
        let certificate = try await TestCertificate()
        let sink = try await SMTPSink(
            "--tls-cert", certificate.certPath, "--tls-key", certificate.keyPath, "--require-starttls",
            "--auth", "mailer:right"
        )
        defer { sink.stop() }
        let client = SMTPClient(
            configuration: .init(
                host: "127.0.0.1", port: sink.port, security: .startTLS, username: "mailer", password: "wrong",
                trustedCertificatesPEM: certificate.pem
            )
        )
        let error = try await #require(throws: SMTPError.self) { try await client.send(Self.message) }
        #expect(error.code == 535)
        #expect(error.isPermanent)
        #expect(!error.description.contains("wrong"))
        #expect(try sink.messages().isEmpty)
    }

    @Test("a rejected recipient is a permanent 550")
    func rejectedRecipient() async throws {
        let sink = try await SMTPSink("--reject", "ann@example.org")
        defer { sink.stop() }
        let client = SMTPClient(configuration: .init(host: "127.0.0.1", port: sink.port, security: .plain))
        let error = try await #require(throws: SMTPError.self) { try await client.send(Self.message) }
        #expect(error.code == 550)
        #expect(error.isPermanent)
        #expect(error.message.contains("RCPT TO:<ann@example.org>"))
        #expect(error.message.contains("User unknown"))
    }

    @Test("a certificate the client does not trust fails the delivery, temporarily")
    func untrustedCertificate() async throws {
        let certificate = try await TestCertificate()
        let sink = try await SMTPSink("--tls-cert", certificate.certPath, "--tls-key", certificate.keyPath, "--require-starttls")
        defer { sink.stop() }
        let client = SMTPClient(configuration: .init(host: "127.0.0.1", port: sink.port, security: .startTLS))
        let error = try await #require(throws: SMTPError.self) { try await client.send(Self.message) }
        #expect(error.code == nil)
        #expect(!error.isPermanent)
        #expect(try sink.messages().isEmpty)
    }

    @Test("STARTTLS required but not offered")
    func startTLSNotOffered() async throws {
        let sink = try await SMTPSink()
        defer { sink.stop() }
        let configuration = try #require(SMTPConfiguration(url: "smtp://127.0.0.1:\(sink.port)?starttls=require"))
        let error = try await #require(throws: SMTPError.self) {
            try await SMTPClient(configuration: configuration).send(Self.message)
        }
        #expect(error.message.contains("does not offer STARTTLS"))
        #expect(try sink.messages().isEmpty)
    }

    @Test("nothing listening: an error, not a hang")
    func serverDown() async throws {
        let port = try unusedLoopbackPort()
        let client = SMTPClient(
            configuration: .init(host: "127.0.0.1", port: port, security: .plain, timeout: .seconds(5))
        )
        let started = ContinuousClock.now
        let error = try await #require(throws: SMTPError.self) { try await client.send(Self.message) }
        #expect(error.code == nil)
        #expect(!error.isPermanent)
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test("a server that never answers times out")
    func silentServer() async throws {
        let server = try await ScriptedServer(greeting: nil, replies: [:])
        defer { server.stop() }
        let client = SMTPClient(
            configuration: .init(host: "127.0.0.1", port: server.port, security: .plain, timeout: .milliseconds(300))
        )
        let started = ContinuousClock.now
        let error = try await #require(throws: SMTPError.self) { try await client.send(Self.message) }
        #expect(error.message.contains("no reply within"))
        #expect(!error.isPermanent)
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test("a reply injected behind the 220 to STARTTLS is refused")
    func injectedReplyAfterStartTLS() async throws {
        let server = try await ScriptedServer(
            greeting: "220 fake ESMTP",
            replies: ["EHLO": "250-fake\r\n250 STARTTLS", "STARTTLS": "220 go ahead\r\n250-fake\r\n250 AUTH PLAIN"]
        )
        defer { server.stop() }
        let client = SMTPClient(configuration: .init(host: "127.0.0.1", port: server.port, security: .startTLS))
        let error = try await #require(throws: SMTPError.self) { try await client.send(Self.message) }
        #expect(error.message.contains("unexpected reply"))
        #expect(!error.isPermanent)
    }

    @Test("EHLO rejected: falls back to HELO and sends without extensions")
    func heloFallback() async throws {
        let server = try await ScriptedServer(
            greeting: "220-old.example\r\n220 multi-line greeting",
            replies: [
                "EHLO": "502 5.5.1 command not implemented", "HELO": "250 old.example", "MAIL": "250 ok",
                "RCPT": "250 ok", "DATA": "354 go ahead", ".": "250 queued", "QUIT": "221 bye",
            ]
        )
        defer { server.stop() }
        let client = SMTPClient(configuration: .init(host: "127.0.0.1", port: server.port, security: .plain, heloName: "tessera.test"))
        try await client.send(Self.message)
        let received = server.received
        #expect(
            Array(received.prefix(4)) == ["EHLO tessera.test", "HELO tessera.test", "MAIL FROM:<noreply@example.com>", "RCPT TO:<ann@example.org>"])
        #expect(Array(received.suffix(2)) == [".", "QUIT"])
    }

    @Test(
        "CR or LF in From, To or Subject is refused before connecting",
        arguments: [
            MailMessage(from: "a@example.com", to: "b@example.com", subject: "Hi\r\nBcc: victim@example.net", text: "x"),
            MailMessage(from: "a@example.com", to: "b@example.com\nBcc: victim@example.net", subject: "Hi", text: "x"),
            MailMessage(from: "Evil\r\nBcc: victim@example.net <a@example.com>", to: "b@example.com", subject: "Hi", text: "x"),
            MailMessage(from: "not an address", to: "b@example.com", subject: "Hi", text: "x"),
            MailMessage(from: "a@example.com", to: "<b@example.com> x", subject: "Hi", text: "x"),
        ])
    func headerInjection(_ message: MailMessage) async throws {
        // Port 1 on loopback: a connection attempt would fail with a different error.
        let client = SMTPClient(configuration: .init(host: "127.0.0.1", port: 1, security: .plain))
        let error = try await #require(throws: SMTPError.self) { try await client.send(message) }
        #expect(error.isPermanent)
        #expect(!error.message.contains("127.0.0.1"))
    }

    // MARK: Units

    @Test("TESSERA_SMTP_URL parsing")
    func urlParsing() throws {
        let plain = try #require(SMTPConfiguration(url: "smtp://mail.example.com"))
        #expect(plain.host == "mail.example.com")
        #expect(plain.port == 25)
        #expect(plain.security == .startTLS, "mail to another host is never sent in clear text by default")
        #expect(plain.username == nil && plain.password == nil)
        #expect(plain.heloName == "localhost")
        #expect(plain.timeout == .seconds(30))

        let submission = try #require(SMTPConfiguration(url: "smtp://us%40er:p%40ss%3Aw%2Frd@mail.example.com"))
        #expect(submission.port == 587)
        #expect(submission.username == "us@er")
        #expect(submission.password == "p@ss:w/rd")

        let required = try #require(SMTPConfiguration(url: "SMTP://u:p@mail.example.com:2525?starttls=require"))
        #expect(required.port == 2525)
        #expect(required.security == .startTLS)

        #expect(SMTPConfiguration(url: "smtp://mail.example.com?starttls=never")?.security == .plain)

        let implicit = try #require(SMTPConfiguration(url: "smtps://u:p@mail.example.com"))
        #expect(implicit.security == .implicitTLS)
        #expect(implicit.port == 465)

        let ipv6 = try #require(SMTPConfiguration(url: "smtp://[::1]:2525"))
        #expect(ipv6.host == "::1")

        #expect(SMTPConfiguration(url: "http://mail.example.com") == nil)
        #expect(SMTPConfiguration(url: "smtp://") == nil)
        #expect(SMTPConfiguration(url: "smtp://mail.example.com?starttls=maybe") == nil)
        #expect(SMTPConfiguration(url: "smtp://mail.example.com?tls=yes") == nil)
        #expect(SMTPConfiguration(url: "smtps://mail.example.com?starttls=require") == nil)
        #expect(SMTPConfiguration(url: "not a url") == nil)
    }

    @Test("reply lines")
    func replyParsing() {
        #expect(SMTPConnection.parse("250-mail.example.com")! == (250, false, "mail.example.com"))
        #expect(SMTPConnection.parse("250 AUTH PLAIN LOGIN")! == (250, true, "AUTH PLAIN LOGIN"))
        #expect(SMTPConnection.parse("354")! == (354, true, ""))
        #expect(SMTPConnection.parse("25") == nil)
        #expect(SMTPConnection.parse("abc hello") == nil)
        #expect(SMTPConnection.parse("250:x") == nil)
        #expect(SMTPConnection.parse("999 x") == nil)

        let extensions = SMTPExtensions(
            ehloReply: SMTPReply(code: 250, lines: ["mail.example.com", "8bitmime", "AUTH=LOGIN", "AUTH PLAIN xoauth2", "STARTTLS"])
        )
        #expect(extensions.supports("8BITMIME"))
        #expect(extensions.supports("STARTTLS"))
        #expect(!extensions.supports("SMTPUTF8"))
        #expect(!extensions.supports("MAIL.EXAMPLE.COM"))
        #expect(extensions.authMechanisms == ["LOGIN", "PLAIN", "XOAUTH2"])
    }

    @Test("dot-stuffing and line endings")
    func dotStuffing() {
        #expect(SMTPConnection.dotStuffed("a\n.b\r\n..c\r.\r\nd") == "a\r\n..b\r\n...c\r\n..\r\nd\r\n")
        #expect(SMTPConnection.dotStuffed("x\r\n") == "x\r\n")
        #expect(SMTPConnection.dotStuffed("") == "")
        #expect(SMTPMessageComposer.normalizedLineEndings("a\r\rb\n\nc\r\n") == "a\r\n\r\nb\r\n\r\nc\r\n")
    }

    @Test("loopback detection")
    func loopback() throws {
        #expect(SMTPConnection.isLoopback(try SocketAddress(ipAddress: "127.0.0.1", port: 25)))
        #expect(SMTPConnection.isLoopback(try SocketAddress(ipAddress: "127.8.9.10", port: 25)))
        #expect(SMTPConnection.isLoopback(try SocketAddress(ipAddress: "::1", port: 25)))
        #expect(!SMTPConnection.isLoopback(try SocketAddress(ipAddress: "10.0.0.1", port: 25)))
        #expect(!SMTPConnection.isLoopback(try SocketAddress(ipAddress: "::2", port: 25)))
        #expect(!SMTPConnection.isLoopback(nil))
    }

    @Test("encoded-words stay within 75 characters and keep characters whole")
    func encodedWords() {
        let subject = String(repeating: "Ж🎉a", count: 40)
        let header = SMTPMessageComposer.folded("Subject", SMTPMessageComposer.headerWords(subject))
        #expect(header.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 78 })
        let words = String(header.dropFirst("Subject: ".count)).components(separatedBy: "\r\n ")
        #expect(words.count > 1)
        var decoded = Data()
        for word in words {
            #expect(word.count <= 75)
            #expect(word.hasPrefix("=?UTF-8?B?") && word.hasSuffix("?="))
            let chunk = Data(base64Encoded: String(word.dropFirst(10).dropLast(2)))!
            #expect(String(data: chunk, encoding: .utf8) != nil)
            decoded += chunk
        }
        #expect(String(decoding: decoded, as: UTF8.self) == subject)
        #expect(SMTPMessageComposer.folded("Subject", SMTPMessageComposer.headerWords("Plain  ASCII")) == "Subject: Plain  ASCII")
        let long = String(repeating: "word ", count: 30) + "end"
        let folded = SMTPMessageComposer.folded("Subject", SMTPMessageComposer.headerWords(long))
        #expect(folded.components(separatedBy: "\r\n").count > 1)
        #expect(folded.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 78 })
        #expect(folded.replacingOccurrences(of: "\r\n", with: "") == "Subject: " + long)
        #expect(SMTPMessageComposer.headerWords("looks like =?an?encoded?= word")[0].hasPrefix("=?UTF-8?B?"))
        #expect(SMTPMessageComposer.rfc5322Date(Date(timeIntervalSince1970: 0)) == "Thu, 01 Jan 1970 00:00:00 +0000")
    }

    // MARK: Checks on a received message

    static func expectWellFormed(_ received: SMTPSink.Received, as message: MailMessage) throws {
        let raw = received.raw
        let text = String(decoding: raw, as: UTF8.self)
        #expect(raw.allSatisfy { $0 < 0x80 }, "the rendered message is 7-bit")
        let lines = text.components(separatedBy: "\r\n")
        #expect(!lines.contains { $0.contains("\n") || $0.contains("\r") }, "CRLF line endings only")
        #expect(lines.allSatisfy { $0.utf8.count <= 78 }, "no line longer than 78 characters")

        let parts = text.components(separatedBy: "\r\n\r\n")
        let headerBlock = try #require(parts.first)
        let headerNames = headerBlock.components(separatedBy: "\r\n").filter { !$0.hasPrefix(" ") }
            .map { String($0.prefix { $0 != ":" }) }
        #expect(
            headerNames == [
                "Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
            ]
        )
        let body = parts.dropFirst().joined(separator: "\r\n\r\n")
        #expect(body.components(separatedBy: "\r\n").allSatisfy { $0.count <= 76 })
        let decodedBody = try #require(Data(base64Encoded: body.replacingOccurrences(of: "\r\n", with: "")))
        let expectedText = SMTPMessageComposer.normalizedLineEndings(message.text)
        #expect(String(decoding: decodedBody, as: UTF8.self) == expectedText)

        let parsed = received.parsed
        #expect(parsed.defects.isEmpty)
        #expect(parsed.subject == message.subject)
        #expect(parsed.from == message.from)
        #expect(parsed.to == message.to)
        #expect(parsed.content_type == "text/plain")
        #expect(parsed.charset == "utf-8")
        #expect(parsed.transfer_encoding == "base64")
        #expect(parsed.text == expectedText)
        let messageID = try #require(parsed.message_id)
        #expect(messageID.wholeMatch(of: /<[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}@example\.com>/) != nil)
        let date = try #require(parsed.date.flatMap { try? Date($0, strategy: .iso8601) })
        #expect(abs(date.timeIntervalSinceNow) < 300)
        #expect(try #require(parsed.date).hasSuffix("+00:00"))
    }
}

// MARK: - Test servers

/// `Tests/smtp_sink.py` running in a subprocess on a free loopback port, storing mail in a temp dir.
final class SMTPSink: Sendable {
    struct Received {
        var raw: Data
        var mailFrom: String
        var recipients: [String]
        var mailOptions: [String]
        var tls: Bool
        var authenticated: Bool
        var parsed: Parsed
    }

    /// What Python's email package made of the message.
    struct Parsed: Decodable {
        var subject: String?
        var from: String?
        var to: String?
        var message_id: String?
        var date: String?
        var content_type: String
        var charset: String?
        var transfer_encoding: String?
        var text: String?
        var defects: [String]
    }

    private struct Sidecar: Decodable {
        var mail_from: String
        var mail_options: [String]
        var rcpt_tos: [String]
        var tls: Bool
        var authenticated: Bool
        var parsed: Parsed
    }

    let directory: URL
    private let peer: PythonPeer
    var port: Int { peer.port }

    init(_ arguments: String...) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("smtp-sink-\(UUID().uuidString)")
        let maildir = directory.appendingPathComponent("mail")
        try FileManager.default.createDirectory(at: maildir, withIntermediateDirectories: true)
        peer = try await PythonPeer(
            script: "smtp_sink.py", arguments: ["--maildir", maildir.path] + arguments, stderr: directory.appendingPathComponent("stderr.txt"),
            hint: "pip install aiosmtpd?")
    }

    func stop() {
        peer.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    func messages() throws -> [Received] {
        let maildir = directory.appendingPathComponent("mail")
        let sidecars = try FileManager.default.contentsOfDirectory(atPath: maildir.path)
            .filter { $0.hasSuffix(".json") }
            .sorted { Int($0.dropLast(5))! < Int($1.dropLast(5))! }
        return try sidecars.map { name in
            let sidecar = try JSONDecoder().decode(Sidecar.self, from: Data(contentsOf: maildir.appendingPathComponent(name)))
            let raw = try Data(contentsOf: maildir.appendingPathComponent(name.dropLast(5) + ".eml"))
            return Received(
                raw: raw, mailFrom: sidecar.mail_from, recipients: sidecar.rcpt_tos, mailOptions: sidecar.mail_options,
                tls: sidecar.tls, authenticated: sidecar.authenticated, parsed: sidecar.parsed
            )
        }
    }

    func onlyMessage() throws -> Received {
        let messages = try messages()
        guard messages.count == 1 else { throw SinkError(description: "expected 1 message, got \(messages.count)") }
        return messages[0]
    }
}

struct SinkError: Error, CustomStringConvertible {
    var description: String
}

/// A self-signed certificate for localhost and 127.0.0.1, made with the openssl CLI.
struct TestCertificate {
    let certPath: String
    let keyPath: String
    let pem: String

    init() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("smtp-cert-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        certPath = directory.appendingPathComponent("cert.pem").path
        keyPath = directory.appendingPathComponent("key.pem").path
        let run = try await ChildProcess.run([
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", keyPath, "-out", certPath, "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        guard run.status == 0 else { throw SinkError(description: "openssl req failed: \(run.errors)") }
        pem = try String(contentsOfFile: certPath, encoding: .utf8)
    }
}

/// A loopback TCP server that plays a fixed script: an optional greeting, then for each received line
/// the reply registered for its first word (lines after DATA are collected until ".").
final class ScriptedServer: Sendable {
    private final class Log: Sendable {
        let lines = Mutex<[String]>([])
    }

    let port: Int
    private let channel: any Channel
    private let log: Log

    var received: [String] { log.lines.withLock { $0 } }

    init(greeting: String?, replies: [String: String]) async throws {
        let log = Log()
        self.log = log
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(
                        ScriptHandler(greeting: greeting, replies: replies, log: { line in log.lines.withLock { $0.append(line) } })
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress!.port!
    }

    func stop() {
        try? channel.close().wait()
    }

    private final class ScriptHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        let greeting: String?
        let replies: [String: String]
        let log: (String) -> Void
        var inData = false

        init(greeting: String?, replies: [String: String], log: @escaping (String) -> Void) {
            self.greeting = greeting
            self.replies = replies
            self.log = log
        }

        func channelActive(context: ChannelHandlerContext) {
            if let greeting { reply(greeting, context: context) }
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let line = String(buffer: unwrapInboundIn(data))
            log(line)
            if inData && line != "." { return }
            let verb = line == "." ? "." : String(line.prefix { $0 != " " }).uppercased()
            inData = verb == "DATA"
            if let response = replies[verb] {
                reply(response, context: context)
            }
        }

        private func reply(_ text: String, context: ChannelHandlerContext) {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text + "\r\n")), promise: nil)
        }
    }
}
