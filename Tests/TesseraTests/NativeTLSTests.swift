import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import Testing

@testable import Tessera

/// SPEC §8: native TLS when `TLS_CERT` and `TLS_KEY` are set, with HTTP/2 by ALPN, and a
/// certificate renewed on disk serving the next connection without a restart.
@Suite("Native TLS", .throwawayDatabases)
struct NativeTLSTests {
    /// A client that trusts only `certificates` and keeps no connection between calls, so each call
    /// is a new handshake.
    static func get(
        _ port: Int, trusting certificates: [TestCertificate], version: HTTPClient.Configuration.HTTPVersion = .automatic
    ) async throws -> HTTPClientResponse {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try certificates.flatMap { try NIOSSLCertificate.fromPEMBytes(Array($0.pem.utf8)) })
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.httpVersion = version
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let response = try await client.execute(HTTPClientRequest(url: "https://localhost:\(port)/health"), timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 16)
            try await client.shutdown()
            return response
        } catch {
            try await client.shutdown()
            throw error
        }
    }

    static func replace(_ target: TestCertificate, with source: TestCertificate, keyToo: Bool) throws {
        try FileManager.default.removeItem(atPath: target.certPath)
        try FileManager.default.copyItem(atPath: source.certPath, toPath: target.certPath)
        if keyToo {
            try FileManager.default.removeItem(atPath: target.keyPath)
            try FileManager.default.copyItem(atPath: source.keyPath, toPath: target.keyPath)
        }
    }

    @Test("HTTPS with HTTP/2 by ALPN (HTTP/1.1 for clients that ask), HSTS, and a renewed certificate used without a restart")
    func servesAndReloads() async throws {
        let (served, renewed) = (try await TestCertificate(), try await TestCertificate())
        let app = try await TestApp.make(.sqlite, ["TLS_CERT": served.certPath, "TLS_KEY": served.keyPath])
        try await app.run(.live) { client in
            let port = try #require(client.port)
            let answer = try await Self.get(port, trusting: [served])
            #expect(answer.status == .ok)
            #expect(answer.version == .http2)
            #expect(answer.headers["Strict-Transport-Security"].first == "max-age=31536000")
            #expect(answer.headers["X-Content-Type-Options"].first == "nosniff")
            let http1 = try await Self.get(port, trusting: [served], version: .http1Only)
            #expect(http1.status == .ok)
            #expect(http1.version == .http1_1)

            // certbot writes the certificate, then the key: between the two, the old pair serves.
            // (`served.pem` is the first certificate's text, read before the files changed.)
            try Self.replace(served, with: renewed, keyToo: false)
            #expect(try await Self.get(port, trusting: [served]).status == .ok)
            try Self.replace(served, with: renewed, keyToo: true)
            #expect(try await Self.get(port, trusting: [renewed]).status == .ok)
            await #expect(throws: (any Error).self, "the old certificate still served after renewal") {
                _ = try await Self.get(port, trusting: [served])
            }
        }
    }

    @Test("a pair reached through symbolic links, as a mounted secret is, is followed when the links swap")
    func followsLinks() async throws {
        let (first, second) = (try await TestCertificate(), try await TestCertificate())
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tls-links-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let (certificate, key) = (folder.appendingPathComponent("tls.crt").path, folder.appendingPathComponent("tls.key").path)
        @Sendable func link(_ pair: TestCertificate) throws {
            for (path, target) in [(certificate, pair.certPath), (key, pair.keyPath)] {
                try? FileManager.default.removeItem(atPath: path)
                try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
            }
        }
        try link(first)
        let app = try await TestApp.make(.sqlite, ["TLS_CERT": certificate, "TLS_KEY": key])
        try await app.run(.live) { client in
            let port = try #require(client.port)
            #expect(try await Self.get(port, trusting: [first]).status == .ok)
            try link(second)
            #expect(try await Self.get(port, trusting: [second]).status == .ok)
        }
    }

    @Test("TLS settings: both files or neither, readable, and a key that belongs to the certificate")
    func refusesBadFiles() async throws {
        let (one, other) = (try await TestCertificate(), try await TestCertificate())
        #expect(throws: SettingsError.self) { try Settings(["TLS_CERT": one.certPath]) }
        #expect(throws: SettingsError.self) { try Settings(["TLS_KEY": one.keyPath]) }
        for (certificate, key) in [(one.certPath, other.keyPath), (one.certPath, "/nonexistent/key.pem"), (one.keyPath, one.keyPath)] {
            await #expect(throws: (any Error).self, "\(certificate) with \(key)") {
                _ = try await TestApp.make(.sqlite, ["TLS_CERT": certificate, "TLS_KEY": key])
            }
        }
        let settings = try Settings(["TLS_CERT": one.certPath, "TLS_KEY": one.keyPath, "PORT": "8443"])
        #expect(settings.mail.publicURL == "https://127.0.0.1:8443")
    }
}
