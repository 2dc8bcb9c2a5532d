import Foundation
import Hummingbird

/// `GET /api/v1/users`: every parameter narrows the list.
private struct UserListFilter: QueryFilter {
    static let maxLengths = ["role": 64]
    static let invalidValueMessages = ["status": "Unknown status."]

    var status: AccountStatus?
    var role: String?
    var q: String?
}

/// `GET /api/v1/registrations`: one status at a time, pending unless the client says otherwise.
private struct RegistrationListFilter: QueryFilter {
    /// A disabled account is not a registration awaiting or past a decision.
    enum Status: String, Decodable {
        case pending
        case rejected
        case active

        var account: AccountStatus {
            switch self {
            case .pending: .pending
            case .rejected: .rejected
            case .active: .active
            }
        }
    }

    static let invalidValueMessages = ["status": "Unknown status."]

    var status: Status?
}

/// `GET /api/v1/audit`.
private struct AuditFilter: QueryFilter {
    static let maxLengths = ["event": 100, "user_id": 64]
    static let invalidValueMessages = ["user_id": "Must be a user id."]

    var event: String?
    var user_id: UUID?
}

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
            ).requiring("users"),
            use: listUsers)
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/users/{id}", "One user", tag: tag, parameters: [.id], responses: [(200, "User"), (403, "Error"), (404, "Error")]
            )
            .requiring("users"),
            use: showUser)
        routes.signedIn(
            APIOperation(
                .patch, "/api/v1/users/{id}", "Change a user's status, kind, names or verification flags", tag: tag,
                description: "Status `disabled` (or `rejected`) ends every session of the user at once.", parameters: [.id],
                request: "UserAdminChange",
                responses: [(200, "User"), (400, "Error"), (403, "Error"), (404, "Error")]
            ).requiring("users"),
            use: changeUser)
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/users/{id}/sessions", "A user's live sessions", tag: tag, parameters: [.id] + APIOperation.Parameter.page,
                responses: [(200, "SessionPage"), (403, "Error"), (404, "Error")]
            ).requiring("sessions"),
            use: listUserSessions)
        routes.signedIn(
            APIOperation(
                .post, "/api/v1/users/{id}/sessions/revoke-all", "End every session of a user", tag: tag, parameters: [.id],
                responses: [(200, "RevokedCount"), (403, "Error"), (404, "Error")]
            ).requiring("sessions", "delete"),
            use: endUserSessions)
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/registrations", "Sign-ups awaiting a decision", tag: "Registrations",
                parameters: APIOperation.Parameter.page + [
                    .init(
                        name: "status", location: "query",
                        schema: ["type": "string", "enum": ["pending", "rejected", "active"], "default": "pending"],
                        description: "Which registrations")
                ], responses: [(200, "UserPage"), (403, "Error")]
            ).requiring("registrations"),
            use: listRegistrations)
        routes.signedIn(
            APIOperation(
                .patch, "/api/v1/registrations/{id}", "Accept or reject a sign-up", tag: "Registrations",
                description: "The user gets an e-mail either way; `reason` goes into the rejection mail.", parameters: [.id],
                request: "RegistrationDecision",
                responses: [(200, "User"), (400, "Error"), (403, "Error"), (404, "Error"), (409, "Error")]
            ).requiring("registrations", "approve"),
            use: decideRegistration)
    }

    private func listUsers(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        let page = try PageRequest(request)
        let query = try request.decodeQuery(as: UserListFilter.self)
        // A query string's `+` is a space: an unescaped `?q=+7918…` still finds the phone.
        let text = query.q?.trimmingCharacters(in: .whitespaces)
        let (total, users) = try await list(Filter(status: query.status, role: query.role, text: text), page: page)
        return try Page(users, count: total, page: page, request: request)
    }

    private func showUser(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        try await user(try context.pathID())
    }

    private func changeUser(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        let change = try await request.decodeJSON(as: Change.self, context: context)
        return try await update(try context.pathID(), change, by: context.identity, client: context.client(request))
    }

    private func listUserSessions(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        let page = try PageRequest(request)
        let (total, list) = try await sessions(of: try context.pathID(), page: page)
        return try Page(list.map { SessionResponse($0, current: context.identity.sessionID) }, count: total, page: page, request: request)
    }

    private func endUserSessions(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        RevokedCount(revoked: try await revokeSessions(of: try context.pathID(), by: context.identity, client: context.client(request)))
    }

    private func listRegistrations(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        let page = try PageRequest(request)
        let status = try request.decodeQuery(as: RegistrationListFilter.self).status ?? .pending
        let (total, users) = try await list(Filter(status: status.account), page: page)
        return try Page(users, count: total, page: page, request: request)
    }

    private func decideRegistration(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        let decision = try await request.decodeJSON(as: Decision.self, context: context)
        return try await decide(try context.pathID(), decision, by: context.identity, client: context.client(request))
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
            ).requiring("audit"),
            use: listEvents)
    }

    private func listEvents(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        let page = try PageRequest(request)
        let query = try request.decodeQuery(as: AuditFilter.self)
        let (total, entries) = try await list(event: query.event, userID: query.user_id, page: page)
        return try Page(entries, count: total, page: page, request: request)
    }
}
