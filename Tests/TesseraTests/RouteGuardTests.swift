import Foundation
import Hummingbird
import HummingbirdTesting
import SQLKit
import Testing

@testable import Tessera

/// SPEC §5: Tessera guards its own endpoints with its own RBAC. These tests walk the route table
/// itself, so a route added later is covered without anyone remembering to add it here.
@Suite("AccessControl route guards", .throwawayDatabases)
struct AccessControlRouteGuardTests {
    /// Paths under /api/v1 that act on the caller only (or sign in) and so need no RBAC permission.
    /// Anything else under /api/v1 must declare `.requiring(resource, action)`.
    static func isCallersOwn(_ path: String) -> Bool {
        // `PATCH /api/v1/balance` acts on the caller's own balance; a credit or someone else's
        // balance needs `balances:update`, which the service checks (BalanceTests).
        let own = ["/api/v1/me", "/api/v1/auth", "/api/v1/token", "/api/v1/balance"]
        return own.contains { path == $0 || path.hasPrefix($0 + "/") } || path == "/api/v1/authz/check"
    }

    /// What the built-in roles of the kinds of account hold (migration 5): specialists manage
    /// their services and answer bookings, clients book.
    static let builtIn: [String: Set<PermissionKey>] = [
        "specialist": [
            PermissionKey("services", "create"), PermissionKey("services", "update"), PermissionKey("services", "delete"),
            PermissionKey("bookings", "read"), PermissionKey("bookings", "update"),
        ],
        "client": [PermissionKey("bookings", "create"), PermissionKey("bookings", "read"), PermissionKey("bookings", "update")],
    ]

    /// The marketplace's shop window, open to everyone on purpose (SPEC §6): listed here one by
    /// one, so a route does not become public by forgetting its permission.
    static let publicRoutes: Set<String> = [
        "GET /api/v1/services", "GET /api/v1/services/{id}", "GET /api/v1/specialists", "GET /api/v1/specialists/{id}",
        "GET /api/v1/specialists/{id}/availability", "GET /api/v1/specialists/{id}/avatar",
    ]

    @Test("every /api/v1 route that is not the caller's own declares a permission")
    func everyAdminRouteIsGuarded() async throws {
        let app = try await TestApp.make(.sqlite)
        // Run it once, so the database it opened is closed again.
        let operations = try await app.run { _ in app.tessera.operations }
        #expect(operations.count > 20, "the route table looks empty: \(operations.count) operations")
        var unguarded: [String] = []
        for operation in operations where operation.path.hasPrefix("/api/v1/") && !Self.isCallersOwn(operation.path) {
            let route = "\(operation.method) \(operation.path)"
            if Self.publicRoutes.contains(route) {
                #expect(operation.access == .open, "\(route) is listed as public but needs a token")
            } else if operation.permission == nil {
                unguarded.append(route)
            }
        }
        #expect(unguarded.isEmpty, "routes under /api/v1 without .requiring(resource, action): \(unguarded)")
        // A permission on an open route would never be checked: guarded routes must be signed-in ones.
        for operation in operations where operation.permission != nil {
            #expect(operation.access == .signedIn, "\(operation.method) \(operation.path) names a permission but is open")
        }
        // Spot checks of what the catalogue promises (SPEC §5).
        let byRoute = Dictionary(operations.map { ("\($0.method) \($0.path)", $0.permission) }, uniquingKeysWith: { first, _ in first })
        let expected: [String: PermissionKey] = [
            "GET /api/v1/users": PermissionKey("users", "read"),
            "PATCH /api/v1/users/{id}": PermissionKey("users", "update"),
            "PUT /api/v1/users/{id}/roles": PermissionKey("users", "update"),
            "GET /api/v1/roles": PermissionKey("roles", "read"),
            "POST /api/v1/roles": PermissionKey("roles", "create"),
            "PATCH /api/v1/roles/{id}": PermissionKey("roles", "update"),
            "DELETE /api/v1/roles/{id}": PermissionKey("roles", "delete"),
            "POST /api/v1/resources": PermissionKey("resources", "create"),
            "DELETE /api/v1/actions/{id}": PermissionKey("actions", "delete"),
            "GET /api/v1/permissions": PermissionKey("permissions", "read"),
            "PATCH /api/v1/registrations/{id}": PermissionKey("registrations", "approve"),
            "GET /api/v1/audit": PermissionKey("audit", "read"),
        ]
        for (route, permission) in expected {
            #expect(
                byRoute[route] == .some(permission),
                "\(route) should require \(permission.resource):\(permission.action), has \(String(describing: byRoute[route]))")
        }
        // The caller's own routes need no permission: a plain client must be able to use them.
        for route in ["GET /api/v1/me", "GET /api/v1/me/permissions", "GET /api/v1/authz/check", "GET /api/v1/me/sessions"] {
            #expect(byRoute.keys.contains(route), "\(route) is missing from the route table")
            #expect(byRoute[route] == .some(nil), "\(route) must not require a permission")
        }
    }

    @Test("a request's method maps to an action: GET/HEAD read, POST create, PUT/PATCH update, DELETE delete")
    func methodToAction() {
        #expect(PermissionKey.action(for: .get) == "read")
        #expect(PermissionKey.action(for: .head) == "read")
        #expect(PermissionKey.action(for: .post) == "create")
        #expect(PermissionKey.action(for: .put) == "update")
        #expect(PermissionKey.action(for: .patch) == "update")
        #expect(PermissionKey.action(for: .delete) == "delete")
    }

    @Test(
        "every guarded route: 401 without a token, 403 permission_denied for a client and a specialist, never 403 for admin",
        arguments: TestDatabase.all)
    func guardedRoutesRefuseTheUnprivileged(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        let guarded = app.tessera.operations.filter { $0.permission != nil }
        #expect(guarded.count >= 25, "only \(guarded.count) guarded operations")
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let customer = try await rbacSignUp(client, "customer@example.com", kind: "client")
            let specialist = try await rbacSignUp(client, "masseur@example.com", kind: "specialist")

            for operation in guarded {
                let route = "\(operation.method) \(operation.path)"
                let path = rbacFilledPath(operation.path)
                let body: [String: Any]? = [.post, .put, .patch].contains(operation.method) ? [:] : nil

                let anonymous = try await client.call(operation.method, path, json: body)
                #expect(anonymous.status == .unauthorized, "\(route) without a token: \(anonymous.status.code) \(anonymous.text.prefix(200))")
                #expect(anonymous.code == "not_authenticated", "\(route) without a token: code \(anonymous.code ?? "nil")")

                for (who, member) in [("client", customer), ("specialist", specialist)] {
                    let reply = try await client.call(operation.method, path, json: body, token: member.access)
                    if Self.builtIn[who]?.contains(operation.permission!) == true {
                        #expect(passedGuard(reply), "\(route) as a \(who), whose role holds it: \(reply.status.code) \(reply.text.prefix(200))")
                        continue
                    }
                    #expect(reply.status == .forbidden, "\(route) as a \(who): \(reply.status.code) \(reply.text.prefix(200))")
                    #expect(reply.code == "permission_denied", "\(route) as a \(who): code \(reply.code ?? "nil")")
                }

                let asAdmin = try await client.call(operation.method, path, json: body, token: admin.access)
                #expect(passedGuard(asAdmin), "\(route) as admin: 403 \(asAdmin.text.prefix(200))")
                #expect(asAdmin.status != .unauthorized, "\(route) as admin: 401 \(asAdmin.text.prefix(200))")
                #expect(asAdmin.status.code < 500, "\(route) as admin: \(asAdmin.status.code) \(asAdmin.text.prefix(200))")
            }
        }
    }

    @Test(
        "each guard is satisfied by exactly its permission (or `all` on its resource), and every guard is a seeded permission",
        arguments: TestDatabase.all)
    func guardsAreGrantable(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        let guarded = app.tessera.operations.filter { $0.permission != nil }
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let holder = try await rbacSignUp(client, "holder@example.com", kind: "client")
            let required = Set(guarded.compactMap(\.permission))
            let grants = required.union(Set(required.map { PermissionKey($0.resource, "all") }))
                .sorted { ($0.resource, $0.action) < ($1.resource, $1.action) }
            let permissions = try await rbacAll(client, "/api/v1/permissions", admin.access)
            let idByKey = Dictionary(
                permissions.compactMap { entry -> (PermissionKey, String)? in
                    guard let resource = entry["resource"] as? String, let action = entry["action"] as? String, let id = entry["id"] as? String
                    else { return nil }
                    return (PermissionKey(resource, action), id)
                }, uniquingKeysWith: { first, _ in first })

            for (index, grant) in grants.enumerated() {
                guard let permissionID = idByKey[grant] else {
                    Issue.record(
                        "routes require \(grant.resource):\(grant.action) but the catalogue has no such permission: nobody but admin could call them")
                    continue
                }
                let role = try await client.rbacCreated(
                    "/api/v1/roles", ["code_name": "only-\(index)", "name": "Only \(grant.resource):\(grant.action)", "permissions": [permissionID]],
                    token: admin.access)
                #expect((role["permissions"] as? [String]) == [permissionID])
                let assigned = try await client.call(
                    .put, "/api/v1/users/\(holder.id)/roles", json: ["roles": ["client", "only-\(index)"]], token: admin.access)
                #expect(assigned.status == .ok, "assigning only-\(index): \(assigned.status.code) \(assigned.text.prefix(200))")

                for operation in guarded {
                    guard let needed = operation.permission else { continue }
                    let route = "\(operation.method) \(operation.path)"
                    let body: [String: Any]? = [.post, .put, .patch].contains(operation.method) ? [:] : nil
                    // The same token throughout: permissions are checked live, not read from the token.
                    let reply = try await client.call(operation.method, rbacFilledPath(operation.path), json: body, token: holder.access)
                    let covered =
                        needed.resource == grant.resource && (needed.action == grant.action || grant.action == "all")
                        || Self.builtIn["client"]!.contains(needed)
                    if covered {
                        #expect(passedGuard(reply), "\(route) holding \(grant.resource):\(grant.action): 403 \(reply.text.prefix(200))")
                        #expect(reply.status.code < 500, "\(route) holding \(grant.resource):\(grant.action): \(reply.status.code)")
                    } else {
                        #expect(
                            reply.status == .forbidden && reply.code == "permission_denied",
                            "\(route) needs \(needed.resource):\(needed.action); holding only \(grant.resource):\(grant.action) gave \(reply.status.code) \(reply.text.prefix(200))"
                        )
                    }
                }
            }
        }
    }

    @Test("HEAD is a read: it needs the read permission like GET", arguments: TestDatabase.all)
    func headIsRead(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let reader = try await rbacSignUp(client, "reader@example.com", kind: "client")
            #expect(try await client.call(.head, "/api/v1/roles", token: reader.access).status == .forbidden)
            let readID = try await rbacPermissionID(client, "roles", "read", admin.access)
            _ = try await client.rbacCreated(
                "/api/v1/roles", ["code_name": "role-reader", "name": "Role reader", "permissions": [readID]], token: admin.access)
            let assigned = try await client.call(
                .put, "/api/v1/users/\(reader.id)/roles", json: ["roles": ["client", "role-reader"]], token: admin.access)
            #expect(assigned.status == .ok, "\(assigned.text)")
            #expect(try await client.call(.head, "/api/v1/roles", token: reader.access).status == .ok)
            #expect(try await client.call(.get, "/api/v1/roles", token: reader.access).status == .ok)
            let post = try await client.call(.post, "/api/v1/roles", json: ["code_name": "x", "name": "X"], token: reader.access)
            #expect(post.status == .forbidden && post.code == "permission_denied", "POST with roles:read only: \(post.status.code)")
        }
    }
}

// MARK: - Helpers shared by the access-control tests

/// Whether a reply got past a route's permission check: anything but the guard's own 403 (a
/// service may still refuse, e.g. an admin who is not a specialist offering a service).
func passedGuard(_ reply: Reply) -> Bool {
    reply.status.code < 500 && reply.status != .unauthorized
        && !(reply.status == .forbidden && reply["detail"] as? String == APIError.permissionDenied.detail)
}

/// A signed-in user: id and access token.
struct RBACMember: Sendable {
    let id: String
    let access: String
}

/// A route path with every `{parameter}` filled by a fresh UUID.
func rbacFilledPath(_ path: String) -> String {
    path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
        segment.hasPrefix("{") && segment.hasSuffix("}") ? UUID().uuidString.lowercased() : String(segment)
    }.joined(separator: "/")
}

/// Creates an active user with RBAC roles (as `tessera create-user --roles` does) and signs in.
func rbacMember(_ app: TestApp, _ client: any TestClientProtocol, _ email: String, roles: [String]) async throws -> RBACMember {
    let created = try await app.tessera.accounts.createUser(RegisterRequest(email: email, password: goodPassword, role: "client"), roles: roles)
    let login = try await client.login(email, goodPassword)
    try #require(login.status == .ok, "login \(email): \(login.status.code) \(login.text.prefix(200))")
    return RBACMember(id: created.user.id.uuidString.lowercased(), access: try #require(login.string("access")))
}

/// Registers through the API (a plain client or specialist).
func rbacSignUp(_ client: any TestClientProtocol, _ email: String, kind: String) async throws -> RBACMember {
    let reply = try await client.register(["email": email, "password": goodPassword, "role": kind])
    try #require(reply.status == .created, "register \(email): \(reply.status.code) \(reply.text.prefix(200))")
    let user = try #require(reply["user"] as? [String: Any])
    let id = try #require(user["id"] as? String)
    return RBACMember(id: id.lowercased(), access: try #require(reply.string("access")))
}

/// Every entry of a paginated list, following pages of 100.
func rbacAll(_ client: any TestClientProtocol, _ path: String, _ token: String) async throws -> [[String: Any]] {
    var results: [[String: Any]] = []
    var page = 1
    while true {
        let separator = path.contains("?") ? "&" : "?"
        let reply = try await client.call(.get, "\(path)\(separator)page=\(page)&page_size=100", token: token)
        try #require(reply.status == .ok, "GET \(path) page \(page): \(reply.status.code) \(reply.text.prefix(200))")
        results += reply["results"] as? [[String: Any]] ?? []
        if reply["next"] is String { page += 1 } else { break }
    }
    return results
}

/// The id of the permission `resource:action`.
func rbacPermissionID(_ client: any TestClientProtocol, _ resource: String, _ action: String, _ token: String) async throws -> String {
    let list = try await rbacAll(client, "/api/v1/permissions?resource=\(resource)&action=\(action)", token)
    let match = list.first { $0["resource"] as? String == resource && $0["action"] as? String == action }
    return try #require(match?["id"] as? String, "no permission \(resource):\(action)")
}

/// The id of the entry with `code` in a catalogue list (`resources`, `actions`, `roles`).
func rbacEntryID(_ client: any TestClientProtocol, _ list: String, _ code: String, _ token: String) async throws -> String {
    let entries = try await rbacAll(client, "/api/v1/\(list)", token)
    return try #require(entries.first { $0["code_name"] as? String == code }?["id"] as? String, "no \(list) entry \(code)")
}

extension TestClientProtocol {
    /// POSTs and requires 201; returns the body.
    func rbacCreated(_ path: String, _ body: [String: Any], token: String, sourceLocation: SourceLocation = #_sourceLocation) async throws
        -> [String: Any]
    {
        let reply = try await call(.post, path, json: body, token: token)
        try #require(reply.status == .created, "POST \(path): \(reply.status.code) \(reply.text.prefix(300))", sourceLocation: sourceLocation)
        return reply.json
    }
}
