import Foundation
import Hummingbird

extension UserAdministration {
    func addRoutes(to routes: RouteTable) {
        let tag = "Users"
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/users", "List users", tag: tag,
                parameters: APIOperation.Parameter.page + [
                    .init(
                        name: "status", location: "query", schema: ["type": "string", "enum": ["active", "pending", "rejected", "disabled"]],
                        description: "Only this status"),
                    .init(name: "role", location: "query", schema: ["type": "string"], description: "Only users with this RBAC role"),
                    .init(name: "q", location: "query", schema: ["type": "string"], description: "Text in e-mail, username, phone or names"),
                ], responses: [(200, "UserPage"), (400, "Error"), (403, "Error")]
            ).requiring("users")
        ) { request, context in
            let page = try PageRequest(request)
            var filter = Filter()
            if let status = try request.queryText("status") {
                guard let value = AccountStatus(rawValue: status) else { throw APIError.validation(["status": ["Unknown status."]]) }
                filter.status = value
            }
            filter.role = try request.queryText("role", maxLength: 64)
            filter.text = try request.queryText("q")
            let (total, users) = try await list(filter, page: page)
            return try Page(users, count: total, page: page, request: request)
        }
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/users/{id}", "One user", tag: tag, parameters: [.id], responses: [(200, "User"), (403, "Error"), (404, "Error")]
            )
            .requiring("users")
        ) { _, context in
            try await user(try context.pathID())
        }
        routes.signedIn(
            APIOperation(
                .patch, "/api/v1/users/{id}", "Change a user's status, kind, names or verification flags", tag: tag,
                description: "Status `disabled` (or `rejected`) ends every session of the user at once.", parameters: [.id],
                request: "UserAdminChange",
                responses: [(200, "User"), (400, "Error"), (403, "Error"), (404, "Error")]
            ).requiring("users")
        ) { request, context in
            var request = request
            let change = try await request.decodeJSON(as: Change.self, context: context)
            return try await update(try context.pathID(), change, by: context.identity, client: context.client(request))
        }
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/users/{id}/sessions", "A user's live sessions", tag: tag, parameters: [.id] + APIOperation.Parameter.page,
                responses: [(200, "SessionPage"), (403, "Error"), (404, "Error")]
            ).requiring("sessions")
        ) { request, context in
            let page = try PageRequest(request)
            let (total, list) = try await sessions(of: try context.pathID(), page: page)
            return try Page(list.map { SessionResponse($0, current: context.identity.sessionID) }, count: total, page: page, request: request)
        }
        routes.signedIn(
            APIOperation(
                .post, "/api/v1/users/{id}/sessions/revoke-all", "End every session of a user", tag: tag, parameters: [.id],
                responses: [(200, "RevokedCount"), (403, "Error"), (404, "Error")]
            ).requiring("sessions", "delete")
        ) { request, context in
            RevokedCount(revoked: try await revokeSessions(of: try context.pathID(), by: context.identity, client: context.client(request)))
        }
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/registrations", "Sign-ups awaiting a decision", tag: "Registrations",
                parameters: APIOperation.Parameter.page + [
                    .init(
                        name: "status", location: "query",
                        schema: ["type": "string", "enum": ["pending", "rejected", "active"], "default": "pending"],
                        description: "Which registrations")
                ], responses: [(200, "UserPage"), (403, "Error")]
            ).requiring("registrations")
        ) { request, context in
            let page = try PageRequest(request)
            let text = try request.queryText("status") ?? "pending"
            guard let status = AccountStatus(rawValue: text), status != .disabled else { throw APIError.validation(["status": ["Unknown status."]]) }
            let (total, users) = try await list(Filter(status: status), page: page)
            return try Page(users, count: total, page: page, request: request)
        }
        routes.signedIn(
            APIOperation(
                .patch, "/api/v1/registrations/{id}", "Accept or reject a sign-up", tag: "Registrations",
                description: "The user gets an e-mail either way; `reason` goes into the rejection mail.", parameters: [.id],
                request: "RegistrationDecision",
                responses: [(200, "User"), (400, "Error"), (403, "Error"), (404, "Error"), (409, "Error")]
            ).requiring("registrations", "approve")
        ) { request, context in
            var request = request
            let decision = try await request.decodeJSON(as: Decision.self, context: context)
            return try await decide(try context.pathID(), decision, by: context.identity, client: context.client(request))
        }
    }
}

extension AuditLog {
    func addRoutes(to routes: RouteTable) {
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/audit", "Security events, newest first", tag: "Audit",
                parameters: APIOperation.Parameter.page + [
                    .init(name: "event", location: "query", schema: ["type": "string"], description: "e.g. login.failed"),
                    .init(name: "user_id", location: "query", schema: ["type": "string", "format": "uuid"], description: "Events about this user"),
                ], responses: [(200, "AuditPage"), (400, "Error"), (403, "Error")]
            ).requiring("audit")
        ) { request, context in
            let page = try PageRequest(request)
            var userID: UUID?
            if let text = try request.queryText("user_id", maxLength: 64) {
                guard let id = UUID(uuidString: text) else { throw APIError.validation(["user_id": ["Must be a user id."]]) }
                userID = id
            }
            let (total, entries) = try await list(event: try request.queryText("event", maxLength: 100), userID: userID, page: page)
            return try Page(entries, count: total, page: page, request: request)
        }
    }
}
