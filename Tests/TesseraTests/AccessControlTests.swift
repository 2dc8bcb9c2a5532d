import Foundation
import Hummingbird
import HummingbirdTesting
import SQLKit
import Testing

@testable import Tessera

/// SPEC §5 RBAC: the built-in catalogue, CRUD of resources, actions, permissions and roles,
/// `authz/check` and `me/permissions`, escalation rules, and that changes hold on the next request.
@Suite("AccessControl", .throwawayDatabases)
struct AccessControlTests {
    static let builtInRoles = ["admin", "supervisor", "specialist", "client"]
    static let builtInResources = [
        "users", "roles", "permissions", "resources", "actions", "sessions", "registrations", "audit", "profiles", "services", "bookings",
    ]
    static let builtInActions = ["read", "create", "update", "delete", "all", "approve", "export"]

    // MARK: Built-in catalogue

    @Test("the built-in catalogue: roles, resources, actions and permissions, each seeded once", arguments: TestDatabase.all)
    func builtInCatalogue(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])

            let roles = try await rbacAll(client, "/api/v1/roles", admin.access)
            let roleCodes = roles.compactMap { $0["code_name"] as? String }
            #expect(Set(roleCodes) == Set(Self.builtInRoles), "roles: \(roleCodes)")
            #expect(roleCodes.count == Self.builtInRoles.count, "a built-in role is listed twice: \(roleCodes)")
            for role in roles {
                #expect(role["built_in"] as? Bool == true, "\(role["code_name"] ?? "?") is not built_in")
                for key in ["id", "code_name", "name", "description", "built_in", "permissions"] {
                    #expect(role[key] != nil, "role lacks \(key): \(role)")
                }
            }

            let resources = try await rbacAll(client, "/api/v1/resources", admin.access)
            let resourceCodes = resources.compactMap { $0["code_name"] as? String }
            for code in Self.builtInResources {
                #expect(resourceCodes.filter { $0 == code }.count == 1, "resource \(code) in \(resourceCodes)")
            }
            #expect(resources.allSatisfy { $0["built_in"] as? Bool == true })
            let actions = try await rbacAll(client, "/api/v1/actions", admin.access)
            let actionCodes = actions.compactMap { $0["code_name"] as? String }
            for code in Self.builtInActions {
                #expect(actionCodes.filter { $0 == code }.count == 1, "action \(code) in \(actionCodes)")
            }
            #expect(actions.allSatisfy { $0["built_in"] as? Bool == true })

            // Permissions: every built-in resource × read/create/update/delete/all, plus approve and export.
            let permissions = try await rbacAll(client, "/api/v1/permissions", admin.access)
            let keys = permissions.compactMap { entry -> String? in
                guard let r = entry["resource"] as? String, let a = entry["action"] as? String else { return nil }
                return "\(r):\(a)"
            }
            #expect(Set(keys).count == keys.count, "duplicate permissions: \(keys)")
            for resource in Self.builtInResources {
                for action in ["read", "create", "update", "delete", "all"] {
                    #expect(keys.contains("\(resource):\(action)"), "missing permission \(resource):\(action)")
                }
            }
            #expect(keys.contains("registrations:approve"))
            #expect(keys.contains("audit:export"))

            // What the built-in roles hold.
            let keyByID = Dictionary(
                uniqueKeysWithValues: permissions.compactMap { entry -> (String, String)? in
                    guard let id = entry["id"] as? String, let r = entry["resource"] as? String, let a = entry["action"] as? String else {
                        return nil
                    }
                    return (id, "\(r):\(a)")
                })
            func held(_ code: String) -> Set<String> {
                let ids = roles.first { $0["code_name"] as? String == code }?["permissions"] as? [String] ?? []
                return Set(ids.compactMap { keyByID[$0] })
            }
            #expect(held("supervisor") == ["resources:all", "actions:all", "permissions:all", "roles:all"], "supervisor holds \(held("supervisor"))")
            #expect(held("client") == ["bookings:create", "bookings:read", "bookings:update"], "client holds \(held("client"))")
            #expect(
                held("specialist") == ["services:create", "services:update", "services:delete", "bookings:read", "bookings:update"],
                "specialist holds \(held("specialist"))")

            // Every seeded entry is reachable by the id the list gives.
            for (list, entries) in [("roles", roles), ("resources", resources), ("actions", actions), ("permissions", permissions)] {
                var unreachable: [String] = []
                for entry in entries {
                    guard let id = entry["id"] as? String else { continue }
                    let reply = try await client.call(.get, "/api/v1/\(list)/\(id)", token: admin.access)
                    if reply.status != .ok || reply.string("id") != id {
                        unreachable.append("\(entry["code_name"] ?? entry["resource"] ?? "?"):\(entry["action"] ?? "") \(id) → \(reply.status.code)")
                    }
                }
                #expect(unreachable.isEmpty, "seeded \(list) not found by their own id: \(unreachable)")
            }

            // Underneath: one row per built-in role, and migrating again adds nothing.
            let again = try await Migrator(database: app.tessera.database, logger: app.tessera.logger).migrate()
            #expect(again.isEmpty, "migrating a migrated database applied \(again)")
            let counts = try await app.tessera.database.read { db in
                try await db.raw("SELECT code_name, COUNT(*) AS n FROM roles GROUP BY code_name").all().map {
                    (try $0.decode(column: "code_name", as: String.self), try $0.decode(column: "n", as: Int.self))
                }
            }
            for role in Self.builtInRoles {
                #expect(counts.first { $0.0 == role }?.1 == 1, "role \(role) rows: \(counts)")
            }
            let builtInRows = try await app.tessera.database.read { db in
                try await db.raw("SELECT COUNT(*) AS n FROM roles WHERE built_in = \(bind: true)").first(decodingColumn: "n", as: Int.self)
            }
            #expect(builtInRows == 4)
        }
    }

    // MARK: Resources and actions

    @Test(
        "resources and actions: create, duplicate, invalid code names, read, rename, delete; built-ins are protected",
        arguments: TestDatabase.all)
    func resourceAndActionCRUD(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            for list in ["resources", "actions"] {
                let path = "/api/v1/\(list)"
                let created = try await client.rbacCreated(
                    path, ["code_name": "documents", "name": "Documents", "description": "Files"], token: admin.access)
                let id = try #require(created["id"] as? String)
                #expect(UUID(uuidString: id) != nil, "\(list) id \(id)")
                #expect(created["code_name"] as? String == "documents")
                #expect(created["name"] as? String == "Documents")
                #expect(created["description"] as? String == "Files")
                #expect(created["built_in"] as? Bool == false)

                let duplicate = try await client.call(.post, path, json: ["code_name": "documents", "name": "Again"], token: admin.access)
                expectAPIError(duplicate, .conflict, "already_exists", "duplicate \(list) code_name")
                #expect(duplicate.fields["code_name"] != nil, "409 without the field: \(duplicate.text)")

                for bad in ["Documents", "1docs", "has space", "", "docs/../x", "docs;drop", String(repeating: "a", count: 65)] {
                    let reply = try await client.call(.post, path, json: ["code_name": bad, "name": "Bad"], token: admin.access)
                    expectAPIError(reply, .badRequest, "validation_error", "\(list) code_name '\(bad)'")
                    #expect(reply.fields["code_name"] != nil, "\(list) code_name '\(bad)': \(reply.text)")
                }
                let noName = try await client.call(.post, path, json: ["code_name": "nameless"], token: admin.access)
                expectAPIError(noName, .badRequest, "validation_error", "\(list) without a name")
                let noCode = try await client.call(.post, path, json: ["name": "No code"], token: admin.access)
                expectAPIError(noCode, .badRequest, "validation_error", "\(list) without a code_name")

                let fetched = try await client.call(.get, "\(path)/\(id)", token: admin.access)
                #expect(fetched.status == .ok)
                #expect(fetched.string("code_name") == "documents")

                let renamed = try await client.call(.patch, "\(path)/\(id)", json: ["name": "Papers"], token: admin.access)
                #expect(renamed.status == .ok, "PATCH name: \(renamed.text)")
                #expect(renamed.string("name") == "Papers")
                #expect(renamed.string("code_name") == "documents")
                #expect(try await client.call(.get, "\(path)/\(id)", token: admin.access).string("name") == "Papers")
                let badRename = try await client.call(.patch, "\(path)/\(id)", json: ["code_name": "Not Valid"], token: admin.access)
                expectAPIError(badRename, .badRequest, "validation_error", "PATCH \(list) to an invalid code_name")

                // Built-ins: neither deleted nor renamed.
                let builtIn = list == "resources" ? "users" : "read"
                let builtInID = try await rbacEntryID(client, list, builtIn, admin.access)
                let deleteBuiltIn = try await client.call(.delete, "\(path)/\(builtInID)", token: admin.access)
                expectAPIError(deleteBuiltIn, .forbidden, "permission_denied", "DELETE built-in \(list) \(builtIn)")
                let renameBuiltIn = try await client.call(.patch, "\(path)/\(builtInID)", json: ["code_name": "\(builtIn)-x"], token: admin.access)
                expectAPIError(renameBuiltIn, .forbidden, "permission_denied", "renaming built-in \(list) \(builtIn)")
                let still = try await client.call(.get, "\(path)/\(builtInID)", token: admin.access)
                #expect(still.status == .ok && still.string("code_name") == builtIn, "built-in \(builtIn) after the attempts: \(still.text)")

                let deleted = try await client.call(.delete, "\(path)/\(id)", token: admin.access)
                #expect(deleted.status == .noContent, "DELETE \(list): \(deleted.status.code) \(deleted.text)")
                expectAPIError(try await client.call(.get, "\(path)/\(id)", token: admin.access), .notFound, "not_found", "GET deleted \(list)")
                expectAPIError(try await client.call(.delete, "\(path)/\(id)", token: admin.access), .notFound, "not_found", "DELETE deleted \(list)")
                expectAPIError(
                    try await client.call(.get, "\(path)/\(UUID().uuidString.lowercased())", token: admin.access), .notFound, "not_found",
                    "GET unknown \(list)")
            }
        }
    }

    @Test("catalogue lists are paginated: count, next, previous, results", arguments: TestDatabase.all)
    func cataloguePagination(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            for (path, total) in [("/api/v1/resources", 12), ("/api/v1/actions", 7), ("/api/v1/permissions", 62), ("/api/v1/roles", 4)] {
                let first = try await client.call(.get, "\(path)?page_size=3", token: admin.access)
                #expect(first.status == .ok, "\(path): \(first.text.prefix(200))")
                #expect(first["count"] as? Int == total, "\(path) count \(String(describing: first["count"]))")
                #expect((first["results"] as? [Any])?.count == 3, "\(path) page of 3")
                #expect((first["next"] as? String)?.contains("page=2") == true, "\(path) next: \(String(describing: first["next"]))")
                #expect(first["previous"] is NSNull, "\(path) previous on page 1")
                let lastPage = (total + 2) / 3
                let last = try await client.call(.get, "\(path)?page=\(lastPage)&page_size=3", token: admin.access)
                #expect(last.status == .ok)
                #expect(last["next"] is NSNull, "\(path) next on the last page")
                #expect(last["previous"] is String, "\(path) previous on the last page")
                #expect((last["results"] as? [Any])?.count == total - 3 * (lastPage - 1))
                let whole = try await client.call(.get, path, token: admin.access)
                #expect((whole["results"] as? [Any])?.count == min(total, 20), "\(path) default page size is 20")
                let past = try await client.call(.get, "\(path)?page=\(lastPage + 1)&page_size=3", token: admin.access)
                #expect(past.status == .notFound, "\(path) page past the end: \(past.status.code)")
                let bad = try await client.call(.get, "\(path)?page=0", token: admin.access)
                #expect(bad.status == .badRequest, "\(path)?page=0: \(bad.status.code)")
            }
        }
    }

    // MARK: Permissions

    @Test("permissions: create a resource × action pair, duplicate 409, unknown parts 400, filter, read, delete", arguments: TestDatabase.all)
    func permissionCRUD(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            _ = try await client.rbacCreated("/api/v1/resources", ["code_name": "documents", "name": "Documents"], token: admin.access)

            let read = try await client.rbacCreated("/api/v1/permissions", ["resource": "documents", "action": "read"], token: admin.access)
            let readID = try #require(read["id"] as? String)
            #expect(read["resource"] as? String == "documents")
            #expect(read["action"] as? String == "read")
            _ = try await client.rbacCreated("/api/v1/permissions", ["resource": "documents", "action": "all"], token: admin.access)

            let duplicate = try await client.call(
                .post, "/api/v1/permissions", json: ["resource": "documents", "action": "read"], token: admin.access)
            expectAPIError(duplicate, .conflict, "already_exists", "duplicate permission")
            let seededDuplicate = try await client.call(
                .post, "/api/v1/permissions", json: ["resource": "users", "action": "read"], token: admin.access)
            expectAPIError(seededDuplicate, .conflict, "already_exists", "duplicate of a seeded permission")

            let unknownResource = try await client.call(
                .post, "/api/v1/permissions", json: ["resource": "nope", "action": "read"], token: admin.access)
            expectAPIError(unknownResource, .badRequest, "validation_error", "unknown resource")
            #expect(unknownResource.fields["resource"] != nil, "\(unknownResource.text)")
            let unknownAction = try await client.call(
                .post, "/api/v1/permissions", json: ["resource": "documents", "action": "nope"], token: admin.access)
            expectAPIError(unknownAction, .badRequest, "validation_error", "unknown action")
            #expect(unknownAction.fields["action"] != nil, "\(unknownAction.text)")
            let missing = try await client.call(.post, "/api/v1/permissions", json: [:], token: admin.access)
            expectAPIError(missing, .badRequest, "validation_error", "permission without resource and action")
            #expect(missing.fields["resource"] != nil && missing.fields["action"] != nil, "\(missing.text)")

            let filtered = try await client.call(.get, "/api/v1/permissions?resource=documents", token: admin.access)
            #expect(filtered.status == .ok)
            #expect(filtered["count"] as? Int == 2, "documents permissions: \(filtered.text)")
            let results = filtered["results"] as? [[String: Any]] ?? []
            #expect(results.allSatisfy { $0["resource"] as? String == "documents" }, "filter leaked: \(filtered.text)")
            #expect(Set(results.compactMap { $0["action"] as? String }) == ["read", "all"])
            let users = try await client.call(.get, "/api/v1/permissions?resource=users", token: admin.access)
            #expect(users["count"] as? Int == 5, "users permissions: \(users.text)")
            let byAction = try await client.call(.get, "/api/v1/permissions?action=approve", token: admin.access)
            #expect((byAction["results"] as? [[String: Any]])?.compactMap { $0["resource"] as? String } == ["registrations"], "\(byAction.text)")

            let fetched = try await client.call(.get, "/api/v1/permissions/\(readID)", token: admin.access)
            #expect(fetched.status == .ok && fetched.string("resource") == "documents" && fetched.string("action") == "read", "\(fetched.text)")

            let deleted = try await client.call(.delete, "/api/v1/permissions/\(readID)", token: admin.access)
            #expect(deleted.status == .noContent, "\(deleted.status.code) \(deleted.text)")
            expectAPIError(
                try await client.call(.get, "/api/v1/permissions/\(readID)", token: admin.access), .notFound, "not_found", "deleted permission")

            // Deleting a resource takes its permissions with it.
            let documentsID = try await rbacEntryID(client, "resources", "documents", admin.access)
            #expect(try await client.call(.delete, "/api/v1/resources/\(documentsID)", token: admin.access).status == .noContent)
            let after = try await client.call(.get, "/api/v1/permissions?resource=documents", token: admin.access)
            #expect(after["count"] as? Int == 0, "permissions outlived their resource: \(after.text)")
        }
    }

    // MARK: Roles

    @Test(
        "roles: create with permissions, replace them, rename, delete; built-ins cannot be deleted, admin cannot be changed",
        arguments: TestDatabase.all)
    func roleCRUD(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let usersRead = try await rbacPermissionID(client, "users", "read", admin.access)
            let auditRead = try await rbacPermissionID(client, "audit", "read", admin.access)

            let role = try await client.rbacCreated(
                "/api/v1/roles", ["code_name": "auditor", "name": "Auditor", "description": "Reads logs", "permissions": [usersRead, auditRead]],
                token: admin.access)
            let roleID = try #require(role["id"] as? String)
            #expect(role["code_name"] as? String == "auditor")
            #expect(role["built_in"] as? Bool == false)
            #expect(Set(role["permissions"] as? [String] ?? []) == [usersRead, auditRead], "\(role)")

            expectAPIError(
                try await client.call(.post, "/api/v1/roles", json: ["code_name": "auditor", "name": "Again"], token: admin.access), .conflict,
                "already_exists", "duplicate role")
            expectAPIError(
                try await client.call(.post, "/api/v1/roles", json: ["code_name": "Bad Role", "name": "Bad"], token: admin.access), .badRequest,
                "validation_error", "invalid role code_name")
            let unknownPermission = try await client.call(
                .post, "/api/v1/roles", json: ["code_name": "ghost", "name": "Ghost", "permissions": [UUID().uuidString.lowercased()]],
                token: admin.access)
            expectAPIError(unknownPermission, .badRequest, "validation_error", "role with an unknown permission id")
            let notAnID = try await client.call(
                .post, "/api/v1/roles", json: ["code_name": "ghost", "name": "Ghost", "permissions": ["users:read"]], token: admin.access)
            expectAPIError(notAnID, .badRequest, "validation_error", "role with a permission that is not an id")
            #expect(
                !(try await rbacAll(client, "/api/v1/roles", admin.access)).contains { $0["code_name"] as? String == "ghost" },
                "a refused role was created")

            let replaced = try await client.call(.patch, "/api/v1/roles/\(roleID)", json: ["permissions": [auditRead]], token: admin.access)
            #expect(replaced.status == .ok, "\(replaced.text)")
            #expect(replaced["permissions"] as? [String] == [auditRead], "PATCH permissions must replace: \(replaced.text)")
            let renamed = try await client.call(.patch, "/api/v1/roles/\(roleID)", json: ["name": "Log reader"], token: admin.access)
            #expect(renamed.string("name") == "Log reader")
            #expect(renamed["permissions"] as? [String] == [auditRead], "PATCH without permissions must keep them: \(renamed.text)")
            let fetched = try await client.call(.get, "/api/v1/roles/\(roleID)", token: admin.access)
            #expect(fetched.status == .ok && fetched.string("name") == "Log reader", "\(fetched.text)")
            let emptied = try await client.call(.patch, "/api/v1/roles/\(roleID)", json: ["permissions": [String]()], token: admin.access)
            #expect(emptied["permissions"] as? [String] == [], "\(emptied.text)")

            // Built-in roles.
            for code in ["admin", "supervisor", "specialist", "client"] {
                let id = try await rbacEntryID(client, "roles", code, admin.access)
                expectAPIError(
                    try await client.call(.delete, "/api/v1/roles/\(id)", token: admin.access), .forbidden, "permission_denied", "DELETE role \(code)"
                )
                expectAPIError(
                    try await client.call(.patch, "/api/v1/roles/\(id)", json: ["code_name": "\(code)2"], token: admin.access), .forbidden,
                    "permission_denied", "renaming role \(code)")
            }
            let adminRole = try await rbacEntryID(client, "roles", "admin", admin.access)
            expectAPIError(
                try await client.call(.patch, "/api/v1/roles/\(adminRole)", json: ["permissions": [auditRead]], token: admin.access), .forbidden,
                "permission_denied", "changing the admin role's permissions")
            expectAPIError(
                try await client.call(.patch, "/api/v1/roles/\(adminRole)", json: ["name": "Boss"], token: admin.access), .forbidden,
                "permission_denied", "renaming the admin role")
            let roles = try await rbacAll(client, "/api/v1/roles", admin.access)
            #expect(Set(roles.compactMap { $0["code_name"] as? String }) == Set(Self.builtInRoles + ["auditor"]))
            #expect(roles.first { $0["code_name"] as? String == "admin" }?["name"] as? String == "Admin")

            // Deleting a role takes it from its holders.
            let holder = try await rbacSignUp(client, "holder@example.com", kind: "client")
            let assigned = try await client.call(
                .put, "/api/v1/users/\(holder.id)/roles", json: ["roles": ["client", "auditor"]], token: admin.access)
            #expect(assigned["roles"] as? [String] == ["auditor", "client"], "\(assigned.text)")
            #expect(try await client.call(.delete, "/api/v1/roles/\(roleID)", token: admin.access).status == .noContent)
            expectAPIError(try await client.call(.get, "/api/v1/roles/\(roleID)", token: admin.access), .notFound, "not_found", "deleted role")
            let mine = try await client.call(.get, "/api/v1/me/permissions", token: holder.access)
            #expect(mine["roles"] as? [String] == ["client"], "\(mine.text)")
        }
    }

    @Test("PUT /users/{id}/roles: exactly those roles; unknown roles 400, unknown user 404", arguments: TestDatabase.all)
    func assignRoles(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let user = try await rbacSignUp(client, "user@example.com", kind: "client")
            let set = try await client.call(.put, "/api/v1/users/\(user.id)/roles", json: ["roles": ["client", "supervisor"]], token: admin.access)
            #expect(set.status == .ok, "\(set.text)")
            #expect(Set(set["roles"] as? [String] ?? []) == ["client", "supervisor"])
            let unknown = try await client.call(.put, "/api/v1/users/\(user.id)/roles", json: ["roles": ["client", "wizard"]], token: admin.access)
            expectAPIError(unknown, .badRequest, "validation_error", "an unknown role")
            let shown = try await client.call(.get, "/api/v1/users/\(user.id)", token: admin.access)
            #expect(Set(shown["roles"] as? [String] ?? []) == ["client", "supervisor"], "a refused assignment changed roles: \(shown.text)")
            let nobody = try await client.call(
                .put, "/api/v1/users/\(UUID().uuidString.lowercased())/roles", json: ["roles": ["client"]], token: admin.access)
            expectAPIError(nobody, .notFound, "not_found", "roles of an unknown user")
            let missing = try await client.call(.put, "/api/v1/users/\(user.id)/roles", json: [:], token: admin.access)
            #expect(missing.status == .badRequest, "PUT roles without roles: \(missing.status.code)")
        }
    }

    // MARK: Checks

    @Test(
        "method → action and `all`: authz/check and me/permissions follow the user's roles; admin may do anything",
        arguments: TestDatabase.all)
    func checksAndAll(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let user = try await rbacSignUp(client, "reader@example.com", kind: "client")
            _ = try await client.rbacCreated("/api/v1/resources", ["code_name": "documents", "name": "Documents"], token: admin.access)
            let read = try #require(
                try await client.rbacCreated("/api/v1/permissions", ["resource": "documents", "action": "read"], token: admin.access)["id"] as? String
            )
            let all = try #require(
                try await client.rbacCreated("/api/v1/permissions", ["resource": "documents", "action": "all"], token: admin.access)["id"] as? String)
            _ = try await client.rbacCreated("/api/v1/roles", ["code_name": "reader", "name": "Reader", "permissions": [read]], token: admin.access)
            _ = try await client.rbacCreated("/api/v1/roles", ["code_name": "owner", "name": "Owner", "permissions": [all]], token: admin.access)

            func allowed(_ token: String, _ resource: String, _ action: String, about subject: String? = nil) async throws -> Bool? {
                var path = "/api/v1/authz/check?resource=\(resource)&action=\(action)"
                if let subject { path += "&user_id=\(subject)" }
                let reply = try await client.call(.get, path, token: token)
                #expect(reply.status == .ok, "check \(resource):\(action): \(reply.status.code) \(reply.text.prefix(200))")
                return reply["allowed"] as? Bool
            }

            // Before any role: nothing.
            #expect(try await allowed(user.access, "documents", "read") == false)
            let nothing = try await client.call(.get, "/api/v1/me/permissions", token: user.access)
            #expect(nothing.status == .ok)
            #expect(nothing["admin"] as? Bool == false)
            let clientHeld = (nothing["permissions"] as? [[String: Any]] ?? []).map { "\($0["resource"] ?? ""):\($0["action"] ?? "")" }
            #expect(clientHeld == ["bookings:create", "bookings:read", "bookings:update"], "only the client role's own: \(nothing.text)")
            #expect(nothing["roles"] as? [String] == ["client"], "\(nothing.text)")

            let assigned = try await client.call(.put, "/api/v1/users/\(user.id)/roles", json: ["roles": ["client", "reader"]], token: admin.access)
            #expect(assigned.status == .ok, "\(assigned.text)")
            #expect(try await allowed(user.access, "documents", "read") == true)
            for action in ["create", "update", "delete", "all", "export"] {
                #expect(try await allowed(user.access, "documents", action) == false, "documents:read must not allow \(action)")
            }
            #expect(try await allowed(user.access, "users", "read") == false)
            #expect(try await allowed(user.access, "documentsx", "read") == false)
            let readerPermissions = try await client.call(.get, "/api/v1/me/permissions", token: user.access)
            #expect(readerPermissions["admin"] as? Bool == false)
            #expect(Set(readerPermissions["roles"] as? [String] ?? []) == ["client", "reader"])
            let held = (readerPermissions["permissions"] as? [[String: Any]] ?? []).map { "\($0["resource"] ?? ""):\($0["action"] ?? "")" }
            #expect(held == clientHeld + ["documents:read"], "\(readerPermissions.text)")

            // `all` grants every action on its resource, and only on it.
            let owner = try await client.call(.put, "/api/v1/users/\(user.id)/roles", json: ["roles": ["client", "owner"]], token: admin.access)
            #expect(owner.status == .ok, "\(owner.text)")
            for action in ["read", "create", "update", "delete", "all", "approve", "export"] {
                #expect(try await allowed(user.access, "documents", action) == true, "documents:all must allow \(action)")
            }
            #expect(try await allowed(user.access, "users", "read") == false, "documents:all leaked to users")
            let ownerPermissions = try await client.call(.get, "/api/v1/me/permissions", token: user.access)
            let ownerHeld = (ownerPermissions["permissions"] as? [[String: Any]] ?? []).map { "\($0["resource"] ?? ""):\($0["action"] ?? "")" }
            #expect(ownerHeld == clientHeld + ["documents:all"], "\(ownerPermissions.text)")

            // Admin: everything, including a resource created after its token was issued.
            #expect(try await allowed(admin.access, "users", "delete") == true)
            #expect(try await allowed(admin.access, "documents", "export") == true)
            _ = try await client.rbacCreated("/api/v1/resources", ["code_name": "invoices", "name": "Invoices"], token: admin.access)
            #expect(try await allowed(admin.access, "invoices", "delete") == true)
            #expect(try await allowed(user.access, "invoices", "read") == false)
            let adminPermissions = try await client.call(.get, "/api/v1/me/permissions", token: admin.access)
            #expect(adminPermissions["admin"] as? Bool == true, "\(adminPermissions.text)")
            #expect((adminPermissions["roles"] as? [String])?.contains("admin") == true)
        }
    }

    @Test(
        "authz/check about another user needs users:read; about oneself it does not; resource and action are required",
        arguments: TestDatabase.all)
    func checkAboutOthers(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let alice = try await rbacSignUp(client, "alice@example.com", kind: "client")
            let bob = try await rbacSignUp(client, "bob@example.com", kind: "specialist")

            let aboutAdmin = try await client.call(.get, "/api/v1/authz/check?resource=users&action=read&user_id=\(admin.id)", token: alice.access)
            expectAPIError(aboutAdmin, .forbidden, "permission_denied", "a client asking about another user")
            #expect(aboutAdmin["allowed"] == nil, "the answer leaked: \(aboutAdmin.text)")
            let aboutSelf = try await client.call(.get, "/api/v1/authz/check?resource=users&action=read&user_id=\(alice.id)", token: alice.access)
            #expect(aboutSelf.status == .ok, "asking about oneself: \(aboutSelf.text)")
            #expect(aboutSelf["allowed"] as? Bool == false)
            let aboutSelfUpper = try await client.call(
                .get, "/api/v1/authz/check?resource=users&action=read&user_id=\(alice.id.uppercased())", token: alice.access)
            #expect(aboutSelfUpper.status == .ok, "asking about oneself with an upper-case id: \(aboutSelfUpper.status.code)")

            let adminAboutBob = try await client.call(.get, "/api/v1/authz/check?resource=users&action=read&user_id=\(bob.id)", token: admin.access)
            #expect(adminAboutBob.status == .ok && adminAboutBob["allowed"] as? Bool == false, "\(adminAboutBob.text)")
            let adminAboutAdmin = try await client.call(
                .get, "/api/v1/authz/check?resource=users&action=read&user_id=\(admin.id)", token: alice.access)
            #expect(adminAboutAdmin.status == .forbidden)
            let aboutUnknown = try await client.call(
                .get, "/api/v1/authz/check?resource=users&action=read&user_id=\(UUID().uuidString.lowercased())", token: admin.access)
            #expect(aboutUnknown.status == .ok && aboutUnknown["allowed"] as? Bool == false, "\(aboutUnknown.text)")

            // users:read through a custom role is enough to ask about others.
            let usersRead = try await rbacPermissionID(client, "users", "read", admin.access)
            _ = try await client.rbacCreated(
                "/api/v1/roles", ["code_name": "directory", "name": "Directory", "permissions": [usersRead]], token: admin.access)
            #expect(
                try await client.call(.put, "/api/v1/users/\(alice.id)/roles", json: ["roles": ["client", "directory"]], token: admin.access).status
                    == .ok)
            let now = try await client.call(.get, "/api/v1/authz/check?resource=users&action=delete&user_id=\(admin.id)", token: alice.access)
            #expect(now.status == .ok && now["allowed"] as? Bool == true, "with users:read, asking about admin: \(now.text)")

            for query in ["resource=users", "action=read", "", "resource=&action=read", "resource=users&action="] {
                let reply = try await client.call(.get, "/api/v1/authz/check?\(query)", token: bob.access)
                expectAPIError(reply, .badRequest, "validation_error", "authz/check?\(query)")
            }
            let badID = try await client.call(.get, "/api/v1/authz/check?resource=users&action=read&user_id=nope", token: bob.access)
            expectAPIError(badID, .badRequest, "validation_error", "authz/check with a malformed user_id")
            #expect(badID.fields == ["user_id": ["Must be a user id."]], "\(badID.text)")
            let neither = try await client.call(.get, "/api/v1/authz/check?resource=", token: bob.access)
            #expect(neither.fields == ["resource": ["This field is required."], "action": ["This field is required."]], "\(neither.text)")
            #expect(try await client.call(.get, "/api/v1/authz/check?resource=users&action=read").status == .unauthorized)
        }
    }

    // MARK: Escalation

    @Test("a supervisor manages the catalogue but cannot grant what it does not hold", arguments: TestDatabase.all)
    func supervisorCannotEscalate(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let supervisor = try await rbacMember(app, client, "boss@example.com", roles: ["supervisor"])
            let rolesRead = try await rbacPermissionID(client, "roles", "read", admin.access)
            let usersUpdate = try await rbacPermissionID(client, "users", "update", admin.access)
            let usersAll = try await rbacPermissionID(client, "users", "all", admin.access)

            // The catalogue is the supervisor's to manage.
            _ = try await client.rbacCreated("/api/v1/resources", ["code_name": "documents", "name": "Documents"], token: supervisor.access)
            _ = try await client.rbacCreated("/api/v1/actions", ["code_name": "zap", "name": "Zap"], token: supervisor.access)
            let docsRead = try await client.rbacCreated("/api/v1/permissions", ["resource": "documents", "action": "read"], token: supervisor.access)
            #expect(docsRead["resource"] as? String == "documents")
            let rolesZap = try #require(
                try await client.rbacCreated("/api/v1/permissions", ["resource": "roles", "action": "zap"], token: supervisor.access)["id"] as? String
            )
            let helper = try await client.rbacCreated(
                "/api/v1/roles", ["code_name": "helper", "name": "Helper", "permissions": [rolesRead]], token: supervisor.access)
            let helperID = try #require(helper["id"] as? String)
            #expect(helper["permissions"] as? [String] == [rolesRead])

            // Not what it does not hold.
            let grantUsers = try await client.call(
                .post, "/api/v1/roles", json: ["code_name": "sneaky", "name": "Sneaky", "permissions": [usersUpdate]], token: supervisor.access)
            expectAPIError(grantUsers, .forbidden, "permission_denied", "supervisor creating a role with users:update")
            #expect(
                !(try await rbacAll(client, "/api/v1/roles", admin.access)).contains { $0["code_name"] as? String == "sneaky" },
                "the refused role was created anyway")
            let patchUsers = try await client.call(
                .patch, "/api/v1/roles/\(helperID)", json: ["permissions": [rolesRead, usersUpdate]], token: supervisor.access)
            expectAPIError(patchUsers, .forbidden, "permission_denied", "supervisor adding users:update to a role")
            let helperNow = try await client.call(.get, "/api/v1/roles/\(helperID)", token: admin.access)
            #expect(helperNow["permissions"] as? [String] == [rolesRead], "a refused PATCH changed the role: \(helperNow.text)")

            let supervisorRole = try await rbacEntryID(client, "roles", "supervisor", admin.access)
            let current = try await client.call(.get, "/api/v1/roles/\(supervisorRole)", token: admin.access)
            let currentIDs = current["permissions"] as? [String] ?? []
            #expect(currentIDs.count == 4)
            let selfPromote = try await client.call(
                .patch, "/api/v1/roles/\(supervisorRole)", json: ["permissions": currentIDs + [usersAll]], token: supervisor.access)
            expectAPIError(selfPromote, .forbidden, "permission_denied", "supervisor adding users:all to the supervisor role")
            #expect(try await client.call(.get, "/api/v1/roles/\(supervisorRole)", token: admin.access)["permissions"] as? [String] == currentIDs)
            #expect(try await client.call(.get, "/api/v1/users", token: supervisor.access).status == .forbidden, "the supervisor gained users:read")

            // Re-pointing a held permission at something not held is escalation too.
            let repoint = try await client.call(.patch, "/api/v1/permissions/\(rolesZap)", json: ["resource": "users"], token: supervisor.access)
            expectAPIError(repoint, .forbidden, "permission_denied", "supervisor re-pointing roles:zap at users:zap")
            let zapNow = try await client.call(.get, "/api/v1/permissions/\(rolesZap)", token: admin.access)
            #expect(zapNow.string("resource") == "roles", "\(zapNow.text)")

            // Deleting a permission takes it from every role: not for one the supervisor does not hold.
            let deleteUsersUpdate = try await client.call(.delete, "/api/v1/permissions/\(usersUpdate)", token: supervisor.access)
            expectAPIError(deleteUsersUpdate, .forbidden, "permission_denied", "supervisor deleting users:update")
            #expect(try await client.call(.get, "/api/v1/permissions/\(usersUpdate)", token: admin.access).status == .ok)

            // Roles for users: the supervisor has no users:update at all.
            let promote = try await client.call(
                .put, "/api/v1/users/\(supervisor.id)/roles", json: ["roles": ["client", "supervisor", "admin"]], token: supervisor.access)
            expectAPIError(promote, .forbidden, "permission_denied", "supervisor granting itself admin")
            let me = try await client.call(.get, "/api/v1/me/permissions", token: supervisor.access)
            #expect(me["admin"] as? Bool == false, "\(me.text)")

            // Admin can do every one of these.
            let adminRole = try await client.rbacCreated(
                "/api/v1/roles", ["code_name": "sneaky", "name": "Sneaky", "permissions": [usersUpdate]], token: admin.access)
            #expect(adminRole["permissions"] as? [String] == [usersUpdate])
            let adminPatch = try await client.call(
                .patch, "/api/v1/roles/\(helperID)", json: ["permissions": [rolesRead, usersUpdate]], token: admin.access)
            #expect(adminPatch.status == .ok && Set(adminPatch["permissions"] as? [String] ?? []) == [rolesRead, usersUpdate], "\(adminPatch.text)")
            let adminRepoint = try await client.call(.patch, "/api/v1/permissions/\(rolesZap)", json: ["resource": "users"], token: admin.access)
            #expect(adminRepoint.status == .ok && adminRepoint.string("resource") == "users", "\(adminRepoint.text)")
            let adminSupervisor = try await client.call(
                .patch, "/api/v1/roles/\(supervisorRole)", json: ["permissions": currentIDs + [usersAll]], token: admin.access)
            #expect(adminSupervisor.status == .ok, "\(adminSupervisor.text)")
            #expect(try await client.call(.get, "/api/v1/users", token: supervisor.access).status == .ok, "supervisor role change did not hold")
            let adminPromote = try await client.call(
                .put, "/api/v1/users/\(supervisor.id)/roles", json: ["roles": ["client", "supervisor", "admin"]], token: admin.access)
            #expect(adminPromote.status == .ok, "\(adminPromote.text)")
            #expect(try await client.call(.get, "/api/v1/me/permissions", token: supervisor.access)["admin"] as? Bool == true)
        }
    }

    @Test("holding users:update is not enough to grant or revoke admin, nor roles with permissions one lacks", arguments: TestDatabase.all)
    func userManagerCannotGrantAdmin(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let usersUpdate = try await rbacPermissionID(client, "users", "update", admin.access)
            let usersRead = try await rbacPermissionID(client, "users", "read", admin.access)
            _ = try await client.rbacCreated(
                "/api/v1/roles", ["code_name": "user-manager", "name": "User manager", "permissions": [usersUpdate, usersRead]], token: admin.access)
            let manager = try await rbacMember(app, client, "manager@example.com", roles: ["user-manager"])
            let other = try await rbacSignUp(client, "other@example.com", kind: "client")

            let selfAdmin = try await client.call(
                .put, "/api/v1/users/\(manager.id)/roles", json: ["roles": ["client", "user-manager", "admin"]], token: manager.access)
            expectAPIError(selfAdmin, .forbidden, "permission_denied", "user-manager granting itself admin")
            #expect(selfAdmin.string("detail")?.contains("your own roles") == true, "detail: \(selfAdmin.text)")
            let otherAdmin = try await client.call(
                .put, "/api/v1/users/\(other.id)/roles", json: ["roles": ["client", "admin"]], token: manager.access)
            expectAPIError(otherAdmin, .forbidden, "permission_denied", "user-manager granting admin to another")
            #expect(otherAdmin.string("detail")?.contains("Only an admin may grant") == true, "detail: \(otherAdmin.text)")
            let revokeAdmin = try await client.call(.put, "/api/v1/users/\(admin.id)/roles", json: ["roles": ["client"]], token: manager.access)
            expectAPIError(revokeAdmin, .forbidden, "permission_denied", "user-manager revoking admin")
            #expect(try await client.call(.get, "/api/v1/me/permissions", token: admin.access)["admin"] as? Bool == true, "admin lost its role")

            let supervisorGrant = try await client.call(
                .put, "/api/v1/users/\(manager.id)/roles", json: ["roles": ["client", "user-manager", "supervisor"]], token: manager.access)
            expectAPIError(supervisorGrant, .forbidden, "permission_denied", "user-manager granting a role with permissions it lacks")
            let mine = try await client.call(.get, "/api/v1/me/permissions", token: manager.access)
            #expect(mine["admin"] as? Bool == false)
            #expect(Set(mine["roles"] as? [String] ?? []) == ["client", "user-manager"], "refused changes changed roles: \(mine.text)")

            // What it holds it may pass on.
            let passOn = try await client.call(
                .put, "/api/v1/users/\(other.id)/roles", json: ["roles": ["client", "user-manager"]], token: manager.access)
            #expect(passOn.status == .ok, "passing on a held role: \(passOn.text)")
            let adminGrant = try await client.call(
                .put, "/api/v1/users/\(other.id)/roles", json: ["roles": ["client", "admin"]], token: admin.access)
            #expect(adminGrant.status == .ok, "\(adminGrant.text)")
            #expect(try await client.call(.get, "/api/v1/me/permissions", token: other.access)["admin"] as? Bool == true)
        }
    }

    // MARK: Live changes and the audit log

    @Test("role changes hold on the very next request with the same token, and are audited", arguments: TestDatabase.all)
    func changesAreLive(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let user = try await rbacSignUp(client, "live@example.com", kind: "client")

            #expect(try await client.call(.get, "/api/v1/roles", token: user.access).status == .forbidden)
            let granted = try await client.call(
                .put, "/api/v1/users/\(user.id)/roles", json: ["roles": ["client", "supervisor"]], token: admin.access)
            #expect(granted.status == .ok, "\(granted.text)")
            #expect(try await client.call(.get, "/api/v1/roles", token: user.access).status == .ok, "a granted role did not hold on the next request")

            let removed = try await client.call(.put, "/api/v1/users/\(user.id)/roles", json: ["roles": ["client"]], token: admin.access)
            #expect(removed.status == .ok, "\(removed.text)")
            let after = try await client.call(.get, "/api/v1/roles", token: user.access)
            expectAPIError(after, .forbidden, "permission_denied", "a removed role, same token")
            expectAPIError(
                try await client.call(.post, "/api/v1/resources", json: ["code_name": "late", "name": "Late"], token: user.access), .forbidden,
                "permission_denied", "creating a resource after losing supervisor")

            // Changing a role's permissions holds at once too.
            let rolesRead = try await rbacPermissionID(client, "roles", "read", admin.access)
            let viewer = try #require(
                try await client.rbacCreated(
                    "/api/v1/roles", ["code_name": "viewer", "name": "Viewer", "permissions": [rolesRead]], token: admin.access)["id"]
                    as? String)
            #expect(
                try await client.call(.put, "/api/v1/users/\(user.id)/roles", json: ["roles": ["client", "viewer"]], token: admin.access).status
                    == .ok)
            #expect(try await client.call(.get, "/api/v1/roles", token: user.access).status == .ok)
            #expect(try await client.call(.patch, "/api/v1/roles/\(viewer)", json: ["permissions": [String]()], token: admin.access).status == .ok)
            #expect(try await client.call(.get, "/api/v1/roles", token: user.access).status == .forbidden, "a removed permission still held")
            #expect(try await client.call(.patch, "/api/v1/roles/\(viewer)", json: ["permissions": [rolesRead]], token: admin.access).status == .ok)
            #expect(try await client.call(.get, "/api/v1/roles", token: user.access).status == .ok)
            #expect(try await client.call(.delete, "/api/v1/roles/\(viewer)", token: admin.access).status == .noContent)
            #expect(try await client.call(.get, "/api/v1/roles", token: user.access).status == .forbidden, "a deleted role still held")

            // Audited: who changed whose roles, from what to what.
            let audit = try await client.call(.get, "/api/v1/audit?event=roles.changed&user_id=\(user.id)", token: admin.access)
            #expect(audit.status == .ok, "\(audit.text.prefix(200))")
            let events = audit["results"] as? [[String: Any]] ?? []
            #expect(events.count == 3, "roles.changed events: \(audit.text)")
            #expect(events.allSatisfy { $0["event"] as? String == "roles.changed" && $0["user_id"] as? String == user.id })
            #expect(events.allSatisfy { $0["actor_id"] as? String == admin.id }, "actor not recorded: \(audit.text)")
            let details = events.compactMap { $0["detail"] as? [String: String] }
            #expect(details.contains { $0["from"] == "client" && $0["to"] == "client,supervisor" }, "grant not described: \(details)")
            #expect(details.contains { $0["from"] == "client,supervisor" && $0["to"] == "client" }, "removal not described: \(details)")
            #expect(try await client.call(.get, "/api/v1/audit?event=roles.changed", token: user.access).status == .forbidden)

            // Refused changes are not recorded as changes.
            let before = try await rbacAuditCount(app, "roles.changed")
            let refused = try await client.call(.put, "/api/v1/users/\(user.id)/roles", json: ["roles": ["client", "admin"]], token: user.access)
            #expect(refused.status == .forbidden)
            #expect(try await rbacAuditCount(app, "roles.changed") == before)

            // Catalogue and role edits are in the log too.
            let roleEvents = try await app.tessera.database.read { db in
                try await db.raw("SELECT event FROM audit_events WHERE event LIKE 'role.%'").all(decodingColumn: "event", as: String.self)
            }
            #expect(Set(roleEvents) == ["role.created", "role.updated", "role.deleted"], "\(roleEvents)")
        }
    }
}

/// Rows of the audit log with this event name.
func rbacAuditCount(_ app: TestApp, _ event: String) async throws -> Int {
    try await app.tessera.database.read { db in
        try await db.raw("SELECT COUNT(*) AS n FROM audit_events WHERE event = \(bind: event)").first(decodingColumn: "n", as: Int.self) ?? 0
    }
}
