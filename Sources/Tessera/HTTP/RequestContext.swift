import Foundation
import Hummingbird
import HummingbirdAuth
import NIOCore

/// The request context of every route: who is calling (once authenticated) and from where.
public struct AppRequestContext: AuthRequestContext, RemoteAddressRequestContext, RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: Identity?
    public let remoteAddress: SocketAddress?
    /// Set by `ClientAddressMiddleware`: the peer, or the client behind a trusted proxy.
    public var clientIP: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.identity = nil
        self.remoteAddress = source.channel.remoteAddress
        self.clientIP = nil
    }

    /// JSON bodies of this API are small; anything larger is refused with 413 before it is read.
    public var maxUploadSize: Int { 64 * 1024 }

    public var responseEncoder: JSONEncoder { JSONCoding.encoder }
}

/// A context that knows which address its request counts as coming from.
protocol ClientAddressContext {
    var clientIP: String? { get }
}

extension ClientAddressContext {
    /// The caller's address and user agent, as sessions and the audit log record them.
    func client(_ request: Request) -> ClientInfo {
        ClientInfo(ipAddress: clientIP ?? "", userAgent: String((request.headers[.userAgent] ?? "").prefix(512)))
    }
}

extension AppRequestContext: ClientAddressContext {}
extension SignedInContext: ClientAddressContext {}

/// The authenticated caller: the access token's user and session, checked live against the database.
public struct Identity: Sendable {
    public let userID: UUID
    public let sessionID: UUID
    public let roles: [String]
}

/// Routes that need a caller: the context's identity is guaranteed, not optional.
public struct SignedInContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let identity: Identity
    public let clientIP: String?

    public init(context: AppRequestContext) throws {
        guard let identity = context.identity else { throw APIError.notAuthenticated }
        self.coreContext = context.coreContext
        self.identity = identity
        self.clientIP = context.clientIP
    }

    public var maxUploadSize: Int { 64 * 1024 }
    public var responseEncoder: JSONEncoder { JSONCoding.encoder }
}

/// Where a request came from, as a session records it.
public struct ClientInfo: Sendable {
    public var ipAddress: String
    public var userAgent: String
}

enum JSONCoding {
    /// RFC 3339 in UTC, as SPEC §3 asks.
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}
