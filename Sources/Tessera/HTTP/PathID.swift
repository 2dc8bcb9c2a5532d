import Foundation
import Hummingbird

extension RequestContext {
    /// The `{id}` path parameter; anything that is not a UUID names nothing, so 404.
    func pathID() throws -> UUID {
        guard let id = parameters.get("id", as: UUID.self) else { throw APIError.notFound }
        return id
    }
}

extension APIOperation.Parameter {
    /// A query parameter of a list or a check.
    static func query(_ name: String, _ schema: JSON, _ description: String) -> APIOperation.Parameter {
        APIOperation.Parameter(name: name, location: "query", schema: schema, description: description)
    }

    static let id = APIOperation.Parameter(
        name: "id", location: "path", schema: ["type": "string", "format": "uuid"], description: "Id", required: true)
}
