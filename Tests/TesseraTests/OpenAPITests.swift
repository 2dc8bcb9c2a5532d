import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Tessera

/// The OpenAPI document is generated from the route table, so comparing the two proves nothing.
/// These hold it to what it cannot produce by itself: SPEC's list of operations, and the bodies
/// the server really sends.
@Suite("OpenAPI document", .throwawayDatabases)
struct OpenAPITests {
    /// The operations SPEC promises, written out from SPEC (§2–§5) rather than read from the code:
    /// one that goes missing, is renamed or is left out of the document fails here.
    static let specified: [(HTTPRequest.Method, String)] = [
        (.post, "/api/v1/auth/register"), (.post, "/api/v1/auth/token"), (.post, "/api/v1/token"),
        (.post, "/api/v1/auth/token/refresh"), (.post, "/api/v1/auth/token/verify"), (.post, "/api/v1/auth/logout"),
        (.post, "/api/v1/auth/token/revoke"), (.post, "/api/v1/auth/token/revoke-all"),
        (.get, "/api/v1/me"), (.patch, "/api/v1/me"), (.post, "/api/v1/me/password"),
        (.get, "/api/v1/me/sessions"), (.delete, "/api/v1/me/sessions/{id}"), (.get, "/api/v1/me/permissions"),
        (.get, "/api/v1/authz/check"), (.put, "/api/v1/users/{id}/roles"),
        (.get, "/api/v1/users"), (.get, "/api/v1/users/{id}"), (.patch, "/api/v1/users/{id}"),
        (.get, "/api/v1/users/{id}/sessions"), (.post, "/api/v1/users/{id}/sessions/revoke-all"),
        (.get, "/api/v1/registrations"), (.patch, "/api/v1/registrations/{id}"),
        (.post, "/api/v1/auth/email/verify/request"), (.post, "/api/v1/auth/email/verify"),
        (.post, "/api/v1/auth/password/reset"), (.post, "/api/v1/auth/password/reset/confirm"), (.get, "/api/v1/audit"),
        // §6
        (.get, "/api/v1/me/profile"), (.patch, "/api/v1/me/profile"), (.get, "/api/v1/specialists"), (.get, "/api/v1/specialists/{id}"),
        (.put, "/api/v1/me/profile/avatar"), (.delete, "/api/v1/me/profile/avatar"), (.get, "/api/v1/specialists/{id}/avatar"),
        (.get, "/api/v1/services"), (.post, "/api/v1/services"), (.get, "/api/v1/services/{id}"), (.patch, "/api/v1/services/{id}"),
        (.delete, "/api/v1/services/{id}"), (.get, "/api/v1/me/schedule"), (.put, "/api/v1/me/schedule"),
        (.get, "/api/v1/specialists/{id}/availability"), (.post, "/api/v1/bookings"), (.get, "/api/v1/bookings"),
        (.patch, "/api/v1/bookings/{id}"),
        // §7
        (.get, "/api/v1/me/balance"), (.get, "/api/v1/me/balance/transactions"), (.patch, "/api/v1/balance"),
        (.get, "/api/v1/users/{id}/balance"), (.get, "/api/v1/users/{id}/balance/transactions"),
    ]
    static let catalogue: [(HTTPRequest.Method, String)] = ["resources", "actions", "permissions", "roles"].flatMap { kind in
        [
            (.get, "/api/v1/\(kind)"), (.post, "/api/v1/\(kind)"), (.get, "/api/v1/\(kind)/{id}"), (.patch, "/api/v1/\(kind)/{id}"),
            (.delete, "/api/v1/\(kind)/{id}"),
        ] as [(HTTPRequest.Method, String)]
    }

    @Test("every operation SPEC names is documented and routed, with and without a trailing slash")
    func specifiedOperationsAreServed() async throws {
        let app = try await TestApp.make(.sqlite)
        try await app.run { client in
            let document = try await client.call(.get, "/openapi.json").json
            #expect((document["openapi"] as? String)?.hasPrefix("3.1") == true)
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            let dummyID = UUID().uuidString.lowercased()
            for (method, path) in Self.specified + Self.catalogue {
                let entry = paths[path]?[method.rawValue.lowercased()] as? [String: Any]
                #expect(entry != nil, "\(method) \(path) is in SPEC but not in /openapi.json")
                let declared = (entry?["parameters"] as? [[String: Any]] ?? []).filter { $0["in"] as? String == "path" }
                #expect(declared.count == path.split(separator: "{").count - 1, "\(method) \(path): path parameters \(declared)")

                let concrete = path.replacingOccurrences(of: #"\{[^}]+\}"#, with: dummyID, options: .regularExpression)
                for probe in [concrete, concrete + "/"] {
                    // No token and no body: a signed-in route answers 401 and an open one its own 4xx
                    // (an open one naming an id that does not exist: 404).
                    let reply = try await client.call(method, probe)
                    let open = entry?["security"] == nil && path.contains("{")
                    #expect(
                        reply.status != .methodNotAllowed && (open || reply.status != .notFound), "\(method) \(probe) is not routed: \(reply.status)")
                    #expect(reply.status.code < 500)
                }
            }
        }
    }

    @Test("the bodies the server sends match the schemas the document gives them", arguments: TestDatabase.all)
    func answersMatchTheirSchemas(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let document = try await client.call(.get, "/openapi.json").json
            let checker = try SchemaChecker(document)
            var checked = 0
            func check(_ method: HTTPRequest.Method, _ path: String, _ reply: Reply, sourceLocation: SourceLocation = #_sourceLocation) {
                let problems = checker.problems(method, path, reply)
                #expect(problems.isEmpty, "\(method) \(path) → \(reply.status.code): \(problems)", sourceLocation: sourceLocation)
                checked += 1
            }

            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"]).access
            let registered = try await client.register(["email": "schema@example.com", "password": goodPassword, "first_name": "Ann"])
            check(.post, "/api/v1/auth/register", registered)
            let login = try await client.login("schema@example.com", goodPassword)
            check(.post, "/api/v1/auth/token", login)
            let user = try TokenPair(login)
            let refreshed = try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": user.refresh])
            check(.post, "/api/v1/auth/token/refresh", refreshed)
            check(.post, "/api/v1/auth/token/verify", try await client.call(.post, "/api/v1/auth/token/verify", json: ["token": user.access]))
            check(.get, "/api/v1/me", try await client.call(.get, "/api/v1/me", token: user.access))
            check(.patch, "/api/v1/me", try await client.call(.patch, "/api/v1/me", json: ["last_name": "Lee"], token: user.access))
            check(.get, "/api/v1/me/sessions", try await client.call(.get, "/api/v1/me/sessions", token: user.access))
            check(.get, "/api/v1/me/permissions", try await client.call(.get, "/api/v1/me/permissions", token: user.access))
            check(.get, "/api/v1/authz/check", try await client.call(.get, "/api/v1/authz/check?resource=users&action=read", token: user.access))
            for kind in ["resources", "actions", "permissions", "roles"] {
                let list = try await client.call(.get, "/api/v1/\(kind)", token: admin)
                check(.get, "/api/v1/\(kind)", list)
                let first = try #require((list["results"] as? [[String: Any]])?.first?["id"] as? String)
                check(.get, "/api/v1/\(kind)/{id}", try await client.call(.get, "/api/v1/\(kind)/\(first)", token: admin))
            }
            let users = try await client.call(.get, "/api/v1/users?q=schema", token: admin)
            check(.get, "/api/v1/users", users)
            let id = try #require((users["results"] as? [[String: Any]])?.first?["id"] as? String)
            check(.get, "/api/v1/users/{id}", try await client.call(.get, "/api/v1/users/\(id)", token: admin))
            check(.get, "/api/v1/users/{id}/sessions", try await client.call(.get, "/api/v1/users/\(id)/sessions", token: admin))
            check(.get, "/api/v1/audit", try await client.call(.get, "/api/v1/audit", token: admin))
            check(.get, "/api/v1/registrations", try await client.call(.get, "/api/v1/registrations", token: admin))
            // Errors have their schema too.
            check(.post, "/api/v1/auth/token", try await client.login("schema@example.com", "wrong-password"))
            check(.post, "/api/v1/auth/register", try await client.register(["email": "schema@example.com", "password": goodPassword]))
            check(.get, "/api/v1/users/{id}", try await client.call(.get, "/api/v1/users/\(UUID())", token: admin))
            check(
                .post, "/api/v1/auth/token/revoke-all", try await client.call(.post, "/api/v1/auth/token/revoke-all", json: [:], token: user.access))

            // §6, as a specialist and a client see it.
            let specialist = try await rbacSignUp(client, "anna@example.com", kind: "specialist")
            let customer = try await rbacSignUp(client, "carl@example.com", kind: "client")
            let week: [String: Any] = [
                "timezone": "Europe/Moscow", "weekly": [["weekday": 1, "start": "09:00", "end": "12:00"]], "days_off": ["2027-12-31"],
            ]
            check(.put, "/api/v1/me/schedule", try await client.call(.put, "/api/v1/me/schedule", json: week, token: specialist.access))
            check(.get, "/api/v1/me/schedule", try await client.call(.get, "/api/v1/me/schedule", token: specialist.access))
            check(
                .patch, "/api/v1/me/profile", try await client.call(.patch, "/api/v1/me/profile", json: ["city": "Kazan"], token: specialist.access))
            check(.get, "/api/v1/me/profile", try await client.call(.get, "/api/v1/me/profile", token: specialist.access))
            let service = try await client.call(
                .post, "/api/v1/services", json: ["name": "Massage", "price": 1500, "duration_minutes": 60], token: specialist.access)
            check(.post, "/api/v1/services", service)
            let serviceID = try #require(service.string("id"))
            check(.get, "/api/v1/services", try await client.call(.get, "/api/v1/services?ordering=price"))
            check(.get, "/api/v1/services/{id}", try await client.call(.get, "/api/v1/services/\(serviceID)"))
            check(.get, "/api/v1/specialists", try await client.call(.get, "/api/v1/specialists"))
            check(.get, "/api/v1/specialists/{id}", try await client.call(.get, "/api/v1/specialists/\(specialist.id)"))
            check(
                .get, "/api/v1/specialists/{id}/availability",
                try await client.call(.get, "/api/v1/specialists/\(specialist.id)/availability?service=\(serviceID)&date=2027-02-01"))
            let booking = try await client.call(
                .post, "/api/v1/bookings", json: ["service": serviceID, "start": "2027-02-01T06:00:00Z"], token: customer.access)
            check(.post, "/api/v1/bookings", booking)
            check(.get, "/api/v1/bookings", try await client.call(.get, "/api/v1/bookings", token: customer.access))
            let bookingID = try #require(booking.string("id"))
            check(
                .patch, "/api/v1/bookings/{id}",
                try await client.call(.patch, "/api/v1/bookings/\(bookingID)", json: ["action": "confirm"], token: specialist.access))
            check(
                .post, "/api/v1/bookings",
                try await client.call(
                    .post, "/api/v1/bookings", json: ["service": serviceID, "start": "2027-02-01T06:00:00Z"], token: customer.access))
            #expect(checked >= 40)
        }
    }
}

/// Checks a JSON body against the OpenAPI document's schema for its operation and status: the
/// subset of JSON Schema the document uses (`type`, `enum`, `const`, `properties`, `required`,
/// `items`, `additionalProperties`, `$ref`, the `uuid` and `date-time` formats, `maxLength`).
struct SchemaChecker {
    let paths: [String: [String: Any]]
    let schemas: [String: Any]

    init(_ document: [String: Any]) throws {
        paths = try #require(document["paths"] as? [String: [String: Any]])
        schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
    }

    func problems(_ method: HTTPRequest.Method, _ path: String, _ reply: Reply) -> [String] {
        guard let operation = paths[path]?[method.rawValue.lowercased()] as? [String: Any] else { return ["not documented"] }
        guard let response = (operation["responses"] as? [String: Any])?[String(reply.status.code)] as? [String: Any] else {
            return ["status \(reply.status.code) is not documented"]
        }
        guard let schema = ((response["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] else {
            return reply.text.isEmpty ? [] : ["a body where the document says none: \(reply.text.prefix(80))"]
        }
        guard let body = try? JSONSerialization.jsonObject(with: Data(reply.text.utf8), options: .fragmentsAllowed) else {
            return ["not JSON: \(reply.text.prefix(80))"]
        }
        return problems(body, schema, at: "$")
    }

    private func problems(_ value: Any, _ schema: Any, at path: String) -> [String] {
        guard var schema = schema as? [String: Any] else { return ["\(path): schema is not an object"] }
        if let ref = schema["$ref"] as? String {
            guard let target = schemas[String(ref.dropFirst("#/components/schemas/".count))] as? [String: Any] else {
                return ["\(path): dangling \(ref)"]
            }
            schema = target
        }
        var found: [String] = []
        let types = (schema["type"] as? [String]) ?? (schema["type"] as? String).map { [$0] } ?? []
        if !types.isEmpty && !types.contains(where: { Self.value(value, is: $0) }) {
            return ["\(path): \(Self.describe(value)) is not \(types.joined(separator: " or "))"]
        }
        if let options = schema["enum"] as? [Any], !options.contains(where: { "\($0)" == "\(value)" }) {
            found.append("\(path): \(value) not in \(options)")
        }
        if let constant = schema["const"], "\(constant)" != "\(value)" { found.append("\(path): \(value) is not \(constant)") }
        if let text = value as? String {
            if schema["format"] as? String == "uuid", UUID(uuidString: text) == nil { found.append("\(path): \(text) is not a uuid") }
            if schema["format"] as? String == "date-time", (try? Date(text, strategy: .iso8601)) == nil {
                found.append("\(path): \(text) is not RFC 3339")
            }
            if let max = schema["maxLength"] as? Int, text.count > max { found.append("\(path): longer than \(max)") }
        }
        if let object = value as? [String: Any] {
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for name in schema["required"] as? [String] ?? [] where object[name] == nil { found.append("\(path): required \(name) missing") }
            for (name, child) in object {
                if let property = properties[name] {
                    found += problems(child, property, at: "\(path).\(name)")
                } else if let extra = schema["additionalProperties"] as? [String: Any] {
                    found += problems(child, extra, at: "\(path).\(name)")
                } else if !properties.isEmpty {
                    found.append("\(path): \(name) is not documented")
                }
            }
        }
        if let array = value as? [Any], let items = schema["items"] {
            for (index, child) in array.enumerated() { found += problems(child, items, at: "\(path)[\(index)]") }
        }
        return found
    }

    private static func value(_ value: Any, is type: String) -> Bool {
        switch type {
        case "null": value is NSNull
        case "boolean": (value as? NSNumber).map(isBoolean) ?? false
        case "integer": (value as? NSNumber).map { !isBoolean($0) && $0.doubleValue == $0.doubleValue.rounded() } ?? false
        case "number": (value as? NSNumber).map { !isBoolean($0) } ?? false
        case "string": value is String
        case "array": value is [Any]
        case "object": value is [String: Any]
        default: false
        }
    }

    /// Foundation parses `true` into an NSNumber too; its type code tells it from a 1.
    private static func isBoolean(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c"
    }

    private static func describe(_ value: Any) -> String {
        "\(value)".prefix(60).description
    }
}
