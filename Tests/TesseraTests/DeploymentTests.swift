import AsyncHTTPClient
import Foundation
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

@testable import Tessera

/// The deployment guide's files are the ones that run: nginx from Debian's packages, with
/// `deploy/nginx-tessera.conf` as it is (its `@…@` names filled in), in front of a running Tessera.
@Suite("Deployment", .throwawayDatabases)
struct DeploymentTests {
    static let nginx = "/usr/sbin/nginx"
    static var repository: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    /// nginx in the foreground in its own directory, serving the repository's site file.
    final class Nginx: Sendable {
        let process: Process
        let directory: URL

        init(tesseraPort: Int, httpPort: Int, httpsPort: Int, certificate: TestCertificate) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("nginx-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            var site = try String(contentsOf: DeploymentTests.repository.appendingPathComponent("deploy/nginx-tessera.conf"), encoding: .utf8)
            for (name, value) in [
                ("@TESSERA_PORT@", "\(tesseraPort)"), ("@HTTP_PORT@", "127.0.0.1:\(httpPort)"), ("@HTTPS_PORT@", "127.0.0.1:\(httpsPort)"),
                ("@SERVER_NAME@", "localhost"), ("@CERT@", certificate.certPath), ("@KEY@", certificate.keyPath),
            ] {
                site = site.replacingOccurrences(of: name, with: value)
            }
            // The redirect names the port alone, as a browser would be sent to it.
            site = site.replacingOccurrences(of: "$host:127.0.0.1:\(httpsPort)", with: "$host:\(httpsPort)")
            try site.write(to: directory.appendingPathComponent("site.conf"), atomically: true, encoding: .utf8)
            let dir = directory.path
            let main = """
                \(getuid() == 0 ? "user root;" : "")
                pid \(dir)/nginx.pid;
                error_log \(dir)/error.log;
                events { worker_connections 64; }
                http {
                    access_log off;
                    client_body_temp_path \(dir)/body; proxy_temp_path \(dir)/proxy; fastcgi_temp_path \(dir)/fastcgi;
                    uwsgi_temp_path \(dir)/uwsgi; scgi_temp_path \(dir)/scgi;
                    include \(dir)/site.conf;
                }
                """
            try main.write(to: directory.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
            process = Process()
            process.executableURL = URL(fileURLWithPath: DeploymentTests.nginx)
            process.arguments = ["-p", dir, "-c", "\(dir)/nginx.conf", "-g", "daemon off;"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
        }

        var errorLog: String { (try? String(contentsOf: directory.appendingPathComponent("error.log"), encoding: .utf8)) ?? "" }

        func stop() {
            process.terminate()
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    @Test("nginx with deploy/nginx-tessera.conf: HTTPS with HTTP/2, HSTS, HTTP sent to HTTPS, and a client cannot choose its own address")
    func behindNginx() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.nginx), "scripts/test installs nginx (Debian's nginx-light)")
        let app = try await TestApp.make(.sqlite, ["TRUSTED_PROXIES": "127.0.0.1"])
        try await app.run(.live) { client in
            let certificate = try await TestCertificate()
            let (httpPort, httpsPort) = (try unusedLoopbackPort(), try unusedLoopbackPort())
            let nginx = try Nginx(tesseraPort: try #require(client.port), httpPort: httpPort, httpsPort: httpsPort, certificate: certificate)
            defer { nginx.stop() }
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(certificate.pem.utf8)))
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls, redirectConfiguration: .disallow))
            do {
                try await Self.throughNginx(http, client: client, nginx: nginx, httpPort: httpPort, httpsPort: httpsPort)
            } catch {
                try? await http.shutdown()
                throw error
            }
            try await http.shutdown()
        }
    }

    private static func throughNginx(
        _ http: HTTPClient, client: any TestClientProtocol, nginx: Nginx, httpPort: Int, httpsPort: Int
    ) async throws {
        func get(_ url: String, headers: [(String, String)] = [], body: String? = nil) async throws -> HTTPClientResponse {
            var request = HTTPClientRequest(url: url)
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let body {
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body))
            }
            // A minute: the suite loads two cores, and a sign-up hashes a password.
            return try await http.execute(request, timeout: .seconds(60))
        }
        // nginx starts in the background: wait until it answers.
        var health: HTTPClientResponse?
        for _ in 0..<100 where health == nil {
            health = try? await get("https://localhost:\(httpsPort)/health")
            if health == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let answer = try #require(health, "nginx did not answer: \(nginx.errorLog)")
        #expect(answer.status == .ok && answer.version == .http2, "\(answer.status) over \(answer.version)")
        #expect(answer.headers.first(name: "Strict-Transport-Security") == "max-age=31536000")
        #expect(answer.headers.first(name: "X-Content-Type-Options") == "nosniff")

        let redirect = try await get("http://127.0.0.1:\(httpPort)/health")
        #expect(redirect.status == .movedPermanently)
        #expect(
            redirect.headers.first(name: "Location") == "https://localhost:\(httpsPort)/health"
                || redirect.headers.first(name: "Location") == "https://127.0.0.1:\(httpsPort)/health")

        // A forged X-Forwarded-For is replaced by nginx: the session records who really called.
        let registered = try await get(
            "https://localhost:\(httpsPort)/api/v1/auth/register", headers: [("X-Forwarded-For", "203.0.113.66")],
            body: #"{"email": "proxied@example.com", "password": "\#(goodPassword)"}"#)
        let body = try await registered.body.collect(upTo: 1 << 20)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any])
        let access = try #require(json["access"] as? String, "\(json)")
        let sessions = try await client.call(.get, "/api/v1/me/sessions", token: access)
        let address = (sessions["results"] as? [[String: Any]])?.first?["ip_address"] as? String
        #expect(address == "127.0.0.1", "the address a client claimed was believed: \(address ?? "none")")
    }
}
