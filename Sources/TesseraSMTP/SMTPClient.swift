import Foundation
import NIOCore
import NIOExtras
import NIOPosix
import NIOSSL

/// Where and how ``SMTPClient`` delivers mail.
public struct SMTPConfiguration: Sendable {
    public enum Security: Sendable, Equatable {
        /// No TLS at all.
        case plain
        /// STARTTLS when the server offers it, otherwise plain text. Credentials are still only sent
        /// over TLS, or in plain text to a loopback server.
        case startTLSIfAvailable
        /// STARTTLS, failing when the server does not offer it.
        case startTLS
        /// TLS from the first byte ("smtps", usually port 465).
        case implicitTLS
    }

    public var host: String
    public var port: Int
    public var security: Security
    public var username: String?
    public var password: String?
    /// The name sent with EHLO/HELO.
    public var heloName: String
    /// Extra PEM certificates to trust besides the system roots (e.g. a self-signed test server).
    public var trustedCertificatesPEM: String?
    /// How long to wait for each reply (and for the TCP connection).
    public var timeout: Duration

    public init(
        host: String,
        port: Int,
        security: Security = .startTLS,
        username: String? = nil,
        password: String? = nil,
        heloName: String = "localhost",
        trustedCertificatesPEM: String? = nil,
        timeout: Duration = .seconds(30)
    ) {
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.heloName = heloName
        self.trustedCertificatesPEM = trustedCertificatesPEM
        self.timeout = timeout
    }

    /// Parses `TESSERA_SMTP_URL`:
    /// - `smtp://user:pass@host:port`: STARTTLS required, or, to a loopback host, used when the server
    ///   offers it; `?starttls=require` insists on it, `?starttls=never` never uses it. Default port 587 when credentials are given (submission),
    ///   25 otherwise.
    /// - `smtps://user:pass@host:port`: implicit TLS, default port 465.
    ///
    /// User and password are percent-decoded (write `@` as `%40`, `:` as `%3A`). Returns nil for other
    /// schemes, a missing host, or unknown query parameters.
    public init?(url: String) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            var host = components.host, !host.isEmpty
        else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }

        var username: String?
        var password: String?
        if let encoded = components.percentEncodedUser, !encoded.isEmpty {
            guard let decoded = encoded.removingPercentEncoding else { return nil }
            username = decoded
        }
        if let encoded = components.percentEncodedPassword {
            guard let decoded = encoded.removingPercentEncoding else { return nil }
            password = decoded
        }

        var startTLS: String?
        for item in components.queryItems ?? [] {
            guard item.name.lowercased() == "starttls", let value = item.value?.lowercased() else { return nil }
            startTLS = value
        }

        let security: Security
        let defaultPort: Int
        switch (scheme, startTLS) {
        case ("smtp", nil), ("smtp", "auto"):
            // Mail carries live links: past this machine it is never sent in clear text unless the
            // URL says so.
            security = Self.isLoopback(host) ? .startTLSIfAvailable : .startTLS
        case ("smtp", "require"), ("smtp", "required"), ("smtp", "always"):
            security = .startTLS
        case ("smtp", "never"), ("smtp", "none"), ("smtp", "off"):
            security = .plain
        case ("smtps", nil):
            security = .implicitTLS
        default:
            return nil
        }
        if security == .implicitTLS {
            defaultPort = 465
        } else {
            defaultPort = username == nil ? 25 : 587
        }
        self.init(
            host: host,
            port: components.port ?? defaultPort,
            security: security,
            username: username,
            password: password
        )
    }
}

extension SMTPConfiguration {
    static func isLoopback(_ host: String) -> Bool {
        host.lowercased() == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// A failed delivery: an unexpected server reply (with its code), or a local, network, TLS or timeout
/// problem (`code == nil`).
public struct SMTPError: Error, Sendable, CustomStringConvertible {
    public let code: Int?
    public let message: String
    /// True when retrying the same message cannot help: a 5xx reply, or a message we refuse to send.
    public let isPermanent: Bool

    public init(code: Int?, message: String, isPermanent: Bool? = nil) {
        self.code = code
        self.message = message
        self.isPermanent = isPermanent ?? code.map { (500..<600).contains($0) } ?? false
    }

    public var description: String {
        code.map { "SMTP \($0): \(message)" } ?? "SMTP: \(message)"
    }

    static func invalidMessage(_ message: String) -> SMTPError {
        SMTPError(code: nil, message: message, isPermanent: true)
    }
}

/// Sends mail over SMTP (RFC 5321) with STARTTLS (RFC 3207) or implicit TLS, and AUTH PLAIN/LOGIN
/// (RFC 4954). Each ``send(_:)`` opens and closes its own connection.
public struct SMTPClient: Sendable {
    public let configuration: SMTPConfiguration
    private let eventLoopGroup: any EventLoopGroup

    public init(
        configuration: SMTPConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
    }

    /// Delivers one message. Throws ``SMTPError`` for a malformed message (before connecting), for any
    /// reply the server should not have given, and for network, TLS and timeout failures.
    public func send(_ message: MailMessage) async throws {
        let composer = try SMTPMessageComposer(message)
        let messageID = composer.makeMessageID(fallbackDomain: configuration.heloName)
        let payload = composer.render(date: Date(), messageID: messageID)
        try await deliver(payload, from: composer.from.mailbox, to: composer.to.mailbox)
    }

    /// Runs one SMTP session that delivers `payload` (a complete RFC 5322 message, CRLF line endings).
    func deliver(_ payload: String, from: String, to: String) async throws {
        do {
            let channel = try await connect()
            try await channel.executeThenClose { inbound, outbound in
                var connection = SMTPConnection(
                    channel: channel.channel,
                    replies: inbound.makeAsyncIterator(),
                    outbound: outbound,
                    isEncrypted: configuration.security == .implicitTLS
                )
                try await converse(&connection, payload: payload, from: from, to: to)
            }
        } catch let error as SMTPError {
            throw error
        } catch let error as CancellationError {
            throw error
        } catch {
            throw SMTPError(code: nil, message: "\(configuration.host):\(configuration.port): \(error)")
        }
    }

    private func converse(_ connection: inout SMTPConnection, payload: String, from: String, to: String) async throws {
        try await connection.expectGreeting()
        var extensions = try await connection.hello(configuration.heloName)

        let wantsStartTLS: Bool
        switch configuration.security {
        case .plain, .implicitTLS: wantsStartTLS = false
        case .startTLSIfAvailable: wantsStartTLS = extensions.supports("STARTTLS")
        case .startTLS: wantsStartTLS = true
        }
        if wantsStartTLS {
            guard extensions.supports("STARTTLS") else {
                throw SMTPError(code: nil, message: "\(configuration.host) does not offer STARTTLS")
            }
            try await connection.command("STARTTLS", expecting: [220])
            try await connection.startTLS(makeTLSContext(), serverHostname: serverNameIndication)
            extensions = try await connection.hello(configuration.heloName)
        }

        if let username = configuration.username {
            guard connection.isEncrypted || connection.isLoopback else {
                throw SMTPError(
                    code: nil,
                    message: "refusing to send credentials to \(configuration.host) over an unencrypted connection"
                )
            }
            try await authenticate(&connection, extensions, username: username, password: configuration.password ?? "")
        }

        var parameters = ""
        if extensions.supports("8BITMIME") { parameters += " BODY=8BITMIME" }
        if !(from + to).unicodeScalars.allSatisfy(\.isASCII) {
            guard extensions.supports("SMTPUTF8") else {
                throw SMTPError.invalidMessage(
                    "\(configuration.host) does not accept non-ASCII addresses (no SMTPUTF8)"
                )
            }
            parameters += " SMTPUTF8"
        }
        try await connection.command("MAIL FROM:<\(from)>\(parameters)", expecting: [250])
        try await connection.command("RCPT TO:<\(to)>", expecting: [250, 251])
        try await connection.command("DATA", expecting: [354])
        try await connection.sendData(payload)
        // The message is accepted at this point; a failed QUIT must not make the caller send it again.
        _ = try? await connection.command("QUIT", expecting: [221])
    }

    private func authenticate(
        _ connection: inout SMTPConnection,
        _ extensions: SMTPExtensions,
        username: String,
        password: String
    ) async throws {
        let mechanisms = extensions.authMechanisms
        if mechanisms.contains("PLAIN") {
            let token = Data("\0\(username)\0\(password)".utf8).base64EncodedString()
            try await connection.command("AUTH PLAIN \(token)", expecting: [235], describedAs: "AUTH PLAIN")
        } else if mechanisms.contains("LOGIN") {
            try await connection.command("AUTH LOGIN", expecting: [334])
            let user = Data(username.utf8).base64EncodedString()
            try await connection.command(user, expecting: [334], describedAs: "AUTH LOGIN username")
            let pass = Data(password.utf8).base64EncodedString()
            try await connection.command(pass, expecting: [235], describedAs: "AUTH LOGIN password")
        } else {
            throw SMTPError(
                code: nil,
                message: "\(configuration.host) offers no supported AUTH mechanism (PLAIN, LOGIN); it offers: "
                    + (mechanisms.isEmpty ? "none" : mechanisms.sorted().joined(separator: " "))
            )
        }
    }

    private func connect() async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        let implicitTLS = configuration.security == .implicitTLS ? try makeTLSContext() : nil
        let serverName = serverNameIndication
        let timeout = TimeAmount(configuration.timeout)
        return try await ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(timeout)
            .connect(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let implicitTLS {
                        try pipeline.addHandler(NIOSSLClientHandler(context: implicitTLS, serverHostname: serverName))
                    }
                    try pipeline.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                    try pipeline.addHandler(SMTPReplyWatchdog(timeout: configuration.timeout))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
    }

    /// Verifies against the system roots plus ``SMTPConfiguration/trustedCertificatesPEM``.
    private func makeTLSContext() throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let pem = configuration.trustedCertificatesPEM {
            let certificates = try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8))
            guard !certificates.isEmpty else {
                throw SMTPError(code: nil, message: "trustedCertificatesPEM contains no certificate")
            }
            tls.additionalTrustRoots = [.certificates(certificates)]
        }
        return try NIOSSLContext(configuration: tls)
    }

    /// SNI must not be an IP address; without it NIOSSL checks the certificate against the peer's IP.
    private var serverNameIndication: String? {
        (try? SocketAddress(ipAddress: configuration.host, port: 0)) == nil ? configuration.host : nil
    }
}

/// One reply: a three-digit code and the text of each of its lines.
struct SMTPReply {
    var code: Int
    var lines: [String]

    var text: String { lines.joined(separator: " ") }
}

/// The extensions a server listed in its EHLO reply, keyed by upper-cased keyword.
struct SMTPExtensions {
    var parameters: [String: [String]] = [:]

    init() {}

    init(ehloReply reply: SMTPReply) {
        // The first line is the server's greeting, not an extension.
        for line in reply.lines.dropFirst() {
            var words = line.split(separator: " ").map(String.init)
            guard !words.isEmpty else { continue }
            var keyword = words.removeFirst().uppercased()
            // Some old servers advertise "AUTH=LOGIN PLAIN".
            if keyword.hasPrefix("AUTH=") {
                words.insert(String(keyword.dropFirst(5)), at: 0)
                keyword = "AUTH"
            }
            parameters[keyword, default: []] += words
        }
    }

    func supports(_ keyword: String) -> Bool { parameters[keyword] != nil }

    var authMechanisms: Set<String> { Set((parameters["AUTH"] ?? []).map { $0.uppercased() }) }
}

/// The line-level SMTP conversation on one connected channel: writes commands, reads replies.
struct SMTPConnection {
    let channel: any Channel
    var replies: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private(set) var isEncrypted: Bool

    init(
        channel: any Channel,
        replies: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        isEncrypted: Bool
    ) {
        self.channel = channel
        self.replies = replies
        self.outbound = outbound
        self.isEncrypted = isEncrypted
    }

    var isLoopback: Bool { Self.isLoopback(channel.remoteAddress) }

    static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let ip = address?.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.lowercased().hasPrefix("::ffff:127.")
    }

    mutating func expectGreeting() async throws {
        let reply = try await readReply(describedAs: "greeting")
        guard reply.code == 220 else { throw SMTPError(code: reply.code, message: "greeting: \(reply.text)") }
    }

    /// EHLO, falling back to HELO (and no extensions) when the server rejects EHLO with 5xx.
    mutating func hello(_ name: String) async throws -> SMTPExtensions {
        let reply = try await send("EHLO \(name)", describedAs: "EHLO \(name)")
        switch reply.code {
        case 250:
            return SMTPExtensions(ehloReply: reply)
        case 500..<600:
            try await command("HELO \(name)", expecting: [250])
            return SMTPExtensions()
        default:
            throw SMTPError(code: reply.code, message: "EHLO \(name): \(reply.text)")
        }
    }

    /// Sends `line` and throws unless the reply code is one of `expected`. `describedAs` replaces the
    /// line in error messages (so credentials never end up in logs).
    @discardableResult
    mutating func command(
        _ line: String,
        expecting expected: Set<Int>,
        describedAs description: String? = nil
    ) async throws -> SMTPReply {
        let description = description ?? line
        let reply = try await send(line, describedAs: description)
        guard expected.contains(reply.code) else {
            throw SMTPError(code: reply.code, message: "\(description): \(reply.text)")
        }
        return reply
    }

    /// Sends the message after a 354, dot-stuffed and terminated by `<CRLF>.<CRLF>`, and expects 250.
    mutating func sendData(_ message: String) async throws {
        let reply = try await send(Self.dotStuffed(message) + ".", describedAs: "end of DATA")
        guard reply.code == 250 else { throw SMTPError(code: reply.code, message: "DATA: \(reply.text)") }
    }

    /// Puts TLS in front of the line decoder; the next thing sent (EHLO) is the first encrypted byte.
    mutating func startTLS(_ context: NIOSSLContext, serverHostname: String?) async throws {
        let channel = self.channel
        try await channel.eventLoop.submit {
            let handler = try NIOSSLClientHandler(context: context, serverHostname: serverHostname)
            try channel.pipeline.syncOperations.addHandler(handler, position: .first)
        }.get()
        isEncrypted = true
    }

    private mutating func send(_ line: String, describedAs description: String) async throws -> SMTPReply {
        do {
            try await outbound.write(ByteBuffer(string: line + "\r\n"))
        } catch let error as SMTPError {
            throw error
        } catch {
            throw SMTPError(code: nil, message: "\(description): \(error)")
        }
        return try await readReply(describedAs: description)
    }

    /// Reads `ddd-text` continuation lines up to the final `ddd text` line.
    private mutating func readReply(describedAs description: String) async throws -> SMTPReply {
        var lines: [String] = []
        var replyCode: Int?
        while true {
            let next: ByteBuffer?
            do {
                next = try await replies.next()
            } catch let error as SMTPError {
                throw SMTPError(
                    code: error.code, message: "\(description): \(error.message)", isPermanent: error.isPermanent
                )
            } catch {
                throw SMTPError(code: nil, message: "\(description): \(error)")
            }
            guard let buffer = next else {
                throw SMTPError(code: nil, message: "\(description): the server closed the connection")
            }
            let line = String(buffer: buffer)
            guard let (code, isLast, text) = Self.parse(line) else {
                throw SMTPError(code: nil, message: "\(description): malformed reply \(line.debugDescription)")
            }
            guard replyCode == nil || replyCode == code else {
                throw SMTPError(code: nil, message: "\(description): reply code changed mid-reply \(line.debugDescription)")
            }
            replyCode = code
            lines.append(text)
            if isLast {
                return SMTPReply(code: code, lines: lines)
            }
        }
    }

    /// Splits `250-text` / `250 text` / `250` into code, whether it is the last line, and text.
    static func parse(_ line: String) -> (code: Int, isLast: Bool, text: String)? {
        let utf8 = Array(line.utf8)
        guard utf8.count >= 3, utf8[0..<3].allSatisfy({ (0x30...0x39).contains($0) }), let code = Int(line.prefix(3)),
            (200...599).contains(code)
        else { return nil }
        guard utf8.count > 3 else { return (code, true, "") }
        guard utf8[3] == UInt8(ascii: " ") || utf8[3] == UInt8(ascii: "-") else { return nil }
        return (code, utf8[3] == UInt8(ascii: " "), String(decoding: utf8[4...], as: UTF8.self))
    }

    /// RFC 5321 §4.5.2 transparency: CRLF line endings throughout, a leading "." doubled, and the
    /// message ending in CRLF so that the terminating "." sits on its own line.
    static func dotStuffed(_ message: String) -> String {
        var lines = SMTPMessageComposer.normalizedLineEndings(message).components(separatedBy: "\r\n")
        if lines.last == "" { lines.removeLast() }
        return lines.map { $0.hasPrefix(".") ? "." + $0 : $0 }.joined(separator: "\r\n") + (lines.isEmpty ? "" : "\r\n")
    }
}

/// Guards the reply stream between the line decoder and the async channel:
/// - every write starts a timer; the reply's final line must arrive before it fires, otherwise the
///   stream fails with a timeout and the connection closes;
/// - a line that arrives while no reply is due fails the stream. This catches replies injected
///   in plain text right behind the 220 to STARTTLS, which would otherwise be read as if they had
///   come over TLS.
final class SMTPReplyWatchdog: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let timeout: Duration
    // The greeting is due as soon as the connection is up.
    private var isReplyDue = true
    private var deadline: Scheduled<Void>?

    init(timeout: Duration) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = unwrapInboundIn(data)
        guard isReplyDue else {
            let text = String(buffer: line)
            deadline?.cancel()
            // Never permanent: an injected 5xx must not make the outbox drop the message.
            let code = SMTPConnection.parse(text)?.code
            // Failing the stream is enough: the next read throws this, whatever the conversation did meanwhile.
            let error = SMTPError(code: code, message: "unexpected reply \(text.debugDescription)", isPermanent: false)
            context.fireErrorCaught(error)
            return
        }
        if SMTPConnection.parse(String(buffer: line))?.isLast ?? false {
            isReplyDue = false
            deadline?.cancel()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        isReplyDue = true
        arm(context)
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext) {
        deadline?.cancel()
        let timeout = self.timeout
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) {
            context.fireErrorCaught(SMTPError(code: nil, message: "no reply within \(timeout)"))
            context.close(promise: nil)
        }
    }
}
