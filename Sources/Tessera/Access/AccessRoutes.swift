import Foundation
import Hummingbird

private struct PermissionList: ResponseEncodable {
    let roles: [String]
    let admin: Bool
    let permissions: [PermissionKey]
}

private struct Decision: ResponseEncodable {
    let allowed: Bool
}

private struct AssignedRoles: ResponseEncodable {
    let roles: [String]
}

/// `GET /api/v1/permissions`: each parameter narrows the list.
private struct PermissionListFilter: QueryFilter {
    static let maxLengths = ["resource": 64, "action": 64]

    var resource: String?
    var action: String?
}

/// `GET /api/v1/authz/check`.
private struct CheckFilter: QueryFilter {
    static let maxLengths = ["resource": 64, "action": 64, "user_id": 64]
    static let invalidValueMessages = ["user_id": "Must be a user id."]

    var resource: String?
    var action: String?
    var user_id: UUID?
}

extension AccessService {
    func addRoutes(to routes: RouteTable) {
        for list in RBACList.allCases {
            CatalogueRoutes(service: self, list: list).addRoutes(to: routes)
        }
        let tag = "Access control"
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/permissions", "List permissions", tag: tag,
                parameters: APIOperation.Parameter.page + [
                    .init(name: "resource", location: "query", schema: ["type": "string"], description: "Only this resource"),
                    .init(name: "action", location: "query", schema: ["type": "string"], description: "Only this action"),
                ], responses: [(200, "PermissionPage"), (403, "Error")]
            ).requiring("permissions"),
            use: listPermissions)
        routes.signedIn(
            APIOperation(
                .post, "/api/v1/permissions", "Create a permission (a resource × action pair)", tag: tag, request: "PermissionChange",
                responses: [(201, "Permission"), (400, "Error"), (403, "Error"), (409, "Error")]
            ).requiring("permissions"),
            use: addPermission)
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/permissions/{id}", "One permission", tag: tag, parameters: [.id], responses: [(200, "Permission"), (404, "Error")]
            )
            .requiring("permissions"),
            use: showPermission)
        routes.signedIn(
            APIOperation(
                .patch, "/api/v1/permissions/{id}", "Change a permission", tag: tag, parameters: [.id], request: "PermissionChange",
                responses: [(200, "Permission"), (400, "Error"), (403, "Error"), (404, "Error"), (409, "Error")]
            ).requiring("permissions"),
            use: changePermission)
        routes.signedIn(
            APIOperation(
                .delete, "/api/v1/permissions/{id}", "Delete a permission", tag: tag, parameters: [.id], responses: [(204, nil), (404, "Error")]
            )
            .requiring("permissions"),
            use: removePermission)
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/roles", "List roles", tag: tag, parameters: APIOperation.Parameter.page,
                responses: [(200, "RolePage"), (403, "Error")]
            )
            .requiring("roles"),
            use: listRoles)
        routes.signedIn(
            APIOperation(
                .post, "/api/v1/roles", "Create a role", tag: tag,
                description: "`permissions` are permission ids; you can only grant permissions you hold.", request: "RoleChange",
                responses: [(201, "Role"), (400, "Error"), (403, "Error"), (409, "Error")]
            ).requiring("roles"),
            use: addRole)
        routes.signedIn(
            APIOperation(.get, "/api/v1/roles/{id}", "One role", tag: tag, parameters: [.id], responses: [(200, "Role"), (404, "Error")]).requiring(
                "roles"),
            use: showRole)
        routes.signedIn(
            APIOperation(
                .patch, "/api/v1/roles/{id}", "Change a role", tag: tag,
                description: "`permissions`, when given, replaces the role's permissions; the admin role cannot be changed.", parameters: [.id],
                request: "RoleChange", responses: [(200, "Role"), (400, "Error"), (403, "Error"), (404, "Error"), (409, "Error")]
            ).requiring("roles"),
            use: changeRole)
        routes.signedIn(
            APIOperation(
                .delete, "/api/v1/roles/{id}", "Delete a role", tag: tag, description: "Built-in roles cannot be deleted.", parameters: [.id],
                responses: [(204, nil), (403, "Error"), (404, "Error")]
            ).requiring("roles"),
            use: removeRole)
        routes.signedIn(
            APIOperation(
                .put, "/api/v1/users/{id}/roles", "Set a user's roles", tag: "Users",
                description:
                    "The user's roles become exactly `roles`. Only an admin may grant or revoke `admin`; others only roles whose permissions they hold.",
                parameters: [.id], request: "RoleAssignment", responses: [(200, "RoleAssignment"), (400, "Error"), (403, "Error"), (404, "Error")]
            )
            .requiring("users", "update"),
            use: setUserRoles)
        routes.signedIn(
            APIOperation(.get, "/api/v1/me/permissions", "What the caller may do", tag: "Me", responses: [(200, "MyPermissions"), (401, "Error")]),
            use: listOwnPermissions)
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/authz/check", "Ask whether a user may do something", tag: "Access control",
                description: "For other services. About the caller, or with `user_id` about another user (needs `users:read`).",
                parameters: [
                    .init(name: "resource", location: "query", schema: ["type": "string"], description: "Resource code", required: true),
                    .init(name: "action", location: "query", schema: ["type": "string"], description: "Action code", required: true),
                    .init(name: "user_id", location: "query", schema: ["type": "string", "format": "uuid"], description: "Another user"),
                ], responses: [(200, "Decision"), (400, "Error"), (403, "Error")]),
            use: checkPermission)
    }

    private func listPermissions(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        let page = try PageRequest(request)
        let query = try request.decodeQuery(as: PermissionListFilter.self)
        let (total, entries) = try await permissions(resource: query.resource, action: query.action, page: page)
        return try Page(entries, count: total, page: page, request: request)
    }

    private func addPermission(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        let change = try await request.decodeJSON(as: PermissionChange.self, context: context)
        return EditedResponse(status: .created, response: try await createPermission(change, by: context.identity))
    }

    private func showPermission(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        try await permission(try context.pathID())
    }

    private func changePermission(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        let change = try await request.decodeJSON(as: PermissionChange.self, context: context)
        return try await updatePermission(try context.pathID(), change, by: context.identity)
    }

    private func removePermission(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        try await deletePermission(try context.pathID(), by: context.identity)
        return HTTPResponse.Status.noContent
    }

    private func listRoles(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        let page = try PageRequest(request)
        let (total, entries) = try await roles(page: page)
        return try Page(entries, count: total, page: page, request: request)
    }

    private func addRole(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        let change = try await request.decodeJSON(as: RBACChange.self, context: context)
        return EditedResponse(status: .created, response: try await createRole(change, by: context.identity))
    }

    private func showRole(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        try await role(try context.pathID())
    }

    private func changeRole(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        let change = try await request.decodeJSON(as: RBACChange.self, context: context)
        return try await updateRole(try context.pathID(), change, by: context.identity)
    }

    private func removeRole(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        try await deleteRole(try context.pathID(), by: context.identity)
        return HTTPResponse.Status.noContent
    }

    private func setUserRoles(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        let body = try await request.decodeJSON(as: RoleAssignment.self, context: context)
        return AssignedRoles(
            roles: try await assignRoles(body.roles, to: try context.pathID(), by: context.identity, client: context.client(request)))
    }

    private func listOwnPermissions(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        let (roles, effective) = try await database.read { db in
            (try await self.users.roles(of: context.identity.userID, db), try await self.access.effective(context.identity.userID, db))
        }
        let sorted = effective.permissions.sorted { ($0.resource, $0.action) < ($1.resource, $1.action) }
        return PermissionList(roles: roles, admin: effective.isAdmin, permissions: sorted)
    }

    private func checkPermission(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        let query = try request.decodeQuery(as: CheckFilter.self)
        var errors = FieldErrors()
        let resource = query.resource ?? ""
        let action = query.action ?? ""
        if resource.isEmpty { errors.add("resource", "This field is required.") }
        if action.isEmpty { errors.add("action", "This field is required.") }
        try errors.throwIfAny()
        let subject = query.user_id ?? context.identity.userID
        if subject != context.identity.userID {
            try await access.require(context.identity, PermissionKey("users", "read"))
        }
        return Decision(allowed: try await access.allows(subject, PermissionKey(resource, action)))
    }
}

/// The same five operations on each catalogue list (resources, actions), each knowing its list.
private struct CatalogueRoutes {
    let service: AccessService
    let list: RBACList

    func addRoutes(to routes: RouteTable) {
        let path = "/api/v1/\(list.rawValue)"
        let tag = "Access control"
        routes.signedIn(
            APIOperation(
                .get, path, "List \(list.rawValue)", tag: tag, parameters: APIOperation.Parameter.page,
                responses: [(200, "CataloguePage"), (403, "Error")]
            )
            .requiring(list.rawValue),
            use: listEntries)
        routes.signedIn(
            APIOperation(
                .post, path, "Create a \(list.singular)", tag: tag, request: "CatalogueChange",
                responses: [(201, "CatalogueEntry"), (400, "Error"), (403, "Error"), (409, "Error")]
            ).requiring(list.rawValue),
            use: addEntry)
        routes.signedIn(
            APIOperation(
                .get, path + "/{id}", "One \(list.singular)", tag: tag, parameters: [.id], responses: [(200, "CatalogueEntry"), (404, "Error")]
            )
            .requiring(list.rawValue),
            use: showEntry)
        routes.signedIn(
            APIOperation(
                .patch, path + "/{id}", "Change a \(list.singular)", tag: tag, parameters: [.id], request: "CatalogueChange",
                responses: [(200, "CatalogueEntry"), (400, "Error"), (403, "Error"), (404, "Error"), (409, "Error")]
            ).requiring(list.rawValue),
            use: changeEntry)
        routes.signedIn(
            APIOperation(
                .delete, path + "/{id}", "Delete a \(list.singular)", tag: tag, description: "Built-in ones cannot be deleted.",
                parameters: [.id], responses: [(204, nil), (403, "Error"), (404, "Error")]
            ).requiring(list.rawValue),
            use: removeEntry)
    }

    private func listEntries(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        let page = try PageRequest(request)
        let (total, entries) = try await service.list(list, page: page)
        return try Page(entries, count: total, page: page, request: request)
    }

    private func addEntry(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        let change = try await request.decodeJSON(as: RBACChange.self, context: context)
        return EditedResponse(status: .created, response: try await service.create(list, change, by: context.identity))
    }

    private func showEntry(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        try await service.entry(list, try context.pathID())
    }

    private func changeEntry(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        let change = try await request.decodeJSON(as: RBACChange.self, context: context)
        return try await service.update(list, try context.pathID(), change, by: context.identity)
    }

    private func removeEntry(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        try await service.delete(list, try context.pathID(), by: context.identity)
        return HTTPResponse.Status.noContent
    }
}
