import Foundation
import Hummingbird

/// Health, readiness, metrics, published keys and the OpenAPI document.
struct OperationsRoutes: Sendable {
    let database: any Database
    let keys: SigningKeys
    /// The operations `/openapi.json` describes: every route, including those registered after these.
    let catalog: RouteCatalog

    private struct Health: ResponseEncodable {
        let status: String
        var database: String?
    }

    func addRoutes(to routes: RouteTable) {
        routes.open(APIOperation(.get, "/health", "The process is up", tag: "Operations", responses: [(200, "Health")]), use: reportHealth)
        routes.open(
            APIOperation(.get, "/ready", "The database answers", tag: "Operations", responses: [(200, "Ready"), (503, "Error")]),
            use: reportReadiness)
        routes.open(
            APIOperation(.get, "/.well-known/jwks.json", "Public keys that sign tokens", tag: "Operations", responses: [(200, "JWKS")]),
            use: publishKeys)
        routes.open(
            APIOperation(.get, "/openapi.json", "This API's OpenAPI 3.1 document", tag: "Operations", responses: [(200, "OpenAPI")]),
            use: describeAPI)
        routes.open(APIOperation(.get, "/metrics", "Prometheus metrics", tag: "Operations", responses: [(200, "Metrics")]), use: exportMetrics)
    }

    private func reportHealth(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        Health(status: "ok")
    }

    private func reportReadiness(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        guard await database.isReachable() else {
            throw APIError(.serviceUnavailable, "not_ready", "The database is unreachable.")
        }
        return Health(status: "ready", database: "ok")
    }

    private func publishKeys(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        keys.jwks
    }

    private func describeAPI(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        openAPIDocument(catalog.operations)
    }

    private func exportMetrics(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: TesseraMetrics.registry.emitToBuffer())))
    }

}
