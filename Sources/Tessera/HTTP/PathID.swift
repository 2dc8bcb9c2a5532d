import Foundation
import Hummingbird

extension SignedInContext {
    /// The `{id}` path parameter; anything that is not a UUID names nothing, so 404.
    func pathID() throws -> UUID {
        guard let id = parameters.get("id", as: UUID.self) else { throw APIError.notFound }
        return id
    }
}

extension APIOperation.Parameter {
    static let id = APIOperation.Parameter(
        name: "id", location: "path", schema: ["type": "string", "format": "uuid"], description: "Id", required: true)
}
