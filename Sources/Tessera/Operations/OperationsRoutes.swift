import Foundation
import Hummingbird

/// Health, readiness, published keys and the API's own documentation.
struct OperationsRoutes: Sendable {
    let database: any Database
    let keys: SigningKeys

    private struct Health: ResponseEncodable {
        let status: String
        var database: String?
    }

    static let docsPage: String = {
        guard let url = Bundle.module.url(forResource: "docs", withExtension: "html"),
            let page = try? String(contentsOf: url, encoding: .utf8)
        else { return "<!doctype html><title>Tessera API</title><p>See <a href=\"/openapi.json\">/openapi.json</a>.</p>" }
        return page
    }()

    func addRoutes(to routes: RouteTable) {
        routes.open(APIOperation(.get, "/health", "The process is up", tag: "Operations", responses: [(200, "Health")])) { _, _ in
            Health(status: "ok")
        }
        routes.open(
            APIOperation(.get, "/ready", "The database answers", tag: "Operations", responses: [(200, "Ready"), (503, "Error")])
        ) { _, _ in
            guard await database.isReachable() else {
                throw APIError(.serviceUnavailable, "not_ready", "The database is unreachable.")
            }
            return Health(status: "ready", database: "ok")
        }
        routes.open(
            APIOperation(.get, "/.well-known/jwks.json", "Public keys that sign tokens", tag: "Operations", responses: [(200, "JWKS")])
        ) { _, _ in
            keys.jwks
        }
        let catalog = routes.catalog
        routes.open(APIOperation(.get, "/openapi.json", "This API's OpenAPI 3.1 document", tag: "Operations", responses: [(200, "OpenAPI")])) {
            _, _ in
            openAPIDocument(catalog.operations)
        }
        routes.open(APIOperation(.get, "/metrics", "Prometheus metrics", tag: "Operations", responses: [(200, "Metrics")])) { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: TesseraMetrics.registry.emitToBuffer())))
        }
        routes.open(APIOperation(.get, "/docs", "A page to read and try the API", tag: "Operations", responses: [(200, "HTML")])) { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: Self.docsPage)))
        }
    }
}
