import Hummingbird

/// The OpenAPI 3.1 document, generated from the registered operations: a route cannot exist
/// without appearing here.
func openAPIDocument(_ operations: [APIOperation]) -> JSON {
    var paths: [(String, JSON)] = []
    for operation in operations {
        let entry = (operation.method.rawValue.lowercased(), describe(operation))
        if let index = paths.firstIndex(where: { $0.0 == operation.path }), case .object(var methods) = paths[index].1 {
            methods.append(entry)
            paths[index].1 = .object(methods)
        } else {
            paths.append((operation.path, .object([entry])))
        }
    }
    return [
        "openapi": "3.1.0",
        "info": [
            "title": "Tessera",
            "version": "1",
            "description":
                "Authentication and user management. Errors are {\"detail\", \"code\"} (+ \"fields\" for validation errors); every path also answers with a trailing slash.",
        ],
        "paths": .object(paths),
        "components": [
            "schemas": .object(Schemas.all),
            "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer", "bearerFormat": "JWT"]],
        ],
    ]
}

private func describe(_ operation: APIOperation) -> JSON {
    var fields: [(String, JSON)] = [
        ("summary", .string(operation.summary)),
        ("tags", [.string(operation.tag)]),
        ("operationId", .string(operationID(operation))),
    ]
    let needs = operation.permission.map { "Needs permission `\($0.resource):\($0.action)`." }
    if let description = [operation.description, needs].compactMap({ $0 }).joined(separator: " ").nilIfEmpty {
        fields.append(("description", .string(description)))
    }
    if let permission = operation.permission {
        fields.append(("x-permission", ["resource": .string(permission.resource), "action": .string(permission.action)]))
    }
    if operation.access == .signedIn { fields.append(("security", .array([["bearer": []]]))) }
    if !operation.parameters.isEmpty {
        fields.append(
            (
                "parameters",
                .array(
                    operation.parameters.map { p in
                        [
                            "name": .string(p.name), "in": .string(p.location), "required": .bool(p.required), "schema": p.schema,
                            "description": .string(p.description),
                        ]
                    })
            ))
    }
    if let request = operation.request {
        fields.append(("requestBody", ["required": true, "content": Schemas.content(request)]))
    }
    var responses: [(String, JSON)] = []
    for (status, schema) in operation.documentedResponses {
        var response: [(String, JSON)] = [("description", .string(HTTPResponse.Status(code: status).reasonPhrase))]
        if let schema {
            response.append(("content", Schemas.content(schema)))
        }
        responses.append((String(status), .object(response)))
    }
    fields.append(("responses", .object(responses)))
    return .object(fields)
}

extension APIOperation {
    /// The answers an operation declares, and the errors every operation of its kind can give
    /// whether it says so or not: 400 for a bad body or query, 413 and 415 for a body, 401 behind
    /// a token, 403 behind a permission, 404 for an id in the path, 429 for the general throttle
    /// and 503 while the database is away. Clients (and the fuzzer in CI) may rely on the list.
    var documentedResponses: [(Int, String?)] {
        var statuses = Set(responses.map(\.0))
        var all = responses
        func add(_ status: Int, when condition: Bool) {
            if condition, statuses.insert(status).inserted { all.append((status, "Error")) }
        }
        let api = path.hasPrefix("/api/")
        add(400, when: request != nil || parameters.contains { $0.location == "query" })
        add(401, when: access == .signedIn)
        add(403, when: permission != nil)
        add(404, when: path.contains("{") || parameters.contains { $0.name == "page" })
        add(413, when: request != nil)
        add(415, when: request != nil)
        add(429, when: api)
        add(503, when: api)
        return all.sorted { $0.0 < $1.0 }
    }
}

/// `post /api/v1/auth/token/refresh` → `post_auth_token_refresh`.
private func operationID(_ operation: APIOperation) -> String {
    let words = operation.path.split(separator: "/").filter { $0 != "api" && $0 != "v1" }.map {
        $0.replacingOccurrences(of: "{", with: "by_").replacingOccurrences(of: "}", with: "")
            .replacingOccurrences(of: "-", with: "_").replacingOccurrences(of: ".", with: "")
    }
    return ([operation.method.rawValue.lowercased()] + words).joined(separator: "_")
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
