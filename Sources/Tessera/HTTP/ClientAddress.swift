import Foundation
import Hummingbird
import NIOCore

/// An address or CIDR range (`10.0.0.0/8`, `::1`), for `TESSERA_TRUSTED_PROXIES`.
public struct IPRange: Sendable, Equatable {
    let network: [UInt8]
    let prefix: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let first = parts.first, let address = IPRange.bytes(String(first)) else { return nil }
        let bits = address.count * 8
        let prefix = parts.count == 2 ? Int(parts[1]) : bits
        guard let prefix, (0...bits).contains(prefix) else { return nil }
        self.network = address
        self.prefix = prefix
    }

    func contains(_ text: String) -> Bool {
        guard let address = IPRange.bytes(text), address.count == network.count else { return false }
        var remaining = prefix
        for (a, b) in zip(address, network) where remaining > 0 {
            let mask: UInt8 = remaining >= 8 ? 0xFF : ~(0xFF >> UInt8(remaining))
            if a & mask != b & mask { return false }
            remaining -= 8
        }
        return true
    }

    /// An address's bytes; an IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, what a dual-stack
    /// socket reports for an IPv4 peer) is its IPv4 address, so it matches IPv4 ranges.
    static func bytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        return bytes.starts(with: mappedPrefix) ? Array(bytes.suffix(4)) : bytes
    }

    private static let mappedPrefix: [UInt8] = Array(repeating: 0, count: 10) + [0xFF, 0xFF]

    /// The address an `X-Forwarded-For` hop or a peer names, in its plain form: a port
    /// (`1.2.3.4:5678`, `[2001:db8::1]:443`) dropped and an IPv4-mapped address written as IPv4.
    /// nil when it names no address.
    static func address(_ text: String) -> String? {
        var host = Substring(text.trimmingCharacters(in: .whitespaces))
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            host = host[host.index(after: host.startIndex)..<close]
        } else if host.filter({ $0 == ":" }).count == 1, let colon = host.firstIndex(of: ":") {
            host = host[..<colon]
        }
        guard let bytes = bytes(String(host)) else { return nil }
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        return String(host)
    }
}

/// The address a request counts as coming from: the peer, or — when the peer is a trusted proxy —
/// the nearest `X-Forwarded-For` hop that is not one.
struct ClientAddressMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let trusted: [IPRange]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.clientIP = resolve(peer: context.remoteAddress?.ipAddress, forwarded: request.headers[values: .init("X-Forwarded-For")!])
        return try await next(request, context)
    }

    func resolve(peer: String?, forwarded: [String]) -> String {
        guard let peer = peer.map({ IPRange.address($0) ?? $0 }) else { return "" }
        guard !trusted.isEmpty, trusted.contains(where: { $0.contains(peer) }) else { return peer }
        let hops = forwarded.flatMap { $0.split(separator: ",") }.compactMap { IPRange.address(String($0)) }
        for hop in hops.reversed() where !trusted.contains(where: { $0.contains(hop) }) {
            return hop
        }
        return hops.first ?? peer
    }
}
