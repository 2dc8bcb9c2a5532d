import Foundation
import Hummingbird

extension AccountService {
    func addRoutes(to routes: RouteTable) {
        routes.open(
            APIOperation(
                .post, "/api/v1/auth/register", "Create an account", tag: "Accounts",
                description:
                    "At least one of email, phone, username. With TESSERA_REGISTRATION=approval the account starts pending and no tokens are returned.",
                request: "RegisterRequest", responses: [(201, "Registration"), (400, "Error"), (409, "Error")]),
            use: createAccount)
        for path in ["/api/v1/auth/token", "/api/v1/token"] {
            routes.open(
                APIOperation(
                    .post, path, "Sign in with a password", tag: "Tokens",
                    description:
                        "`login` is an e-mail, a phone (any common format) or a username; `email`, `phone` or `username` work as the key too.",
                    request: "LoginRequest", responses: [(200, "TokenGrant"), (400, "Error"), (401, "Error"), (403, "Error")]),
                use: signIn)
        }
        routes.signedIn(
            APIOperation(.get, "/api/v1/me", "The signed-in user", tag: "Me", responses: [(200, "User"), (401, "Error")]),
            use: showProfile)
        routes.signedIn(
            APIOperation(
                .patch, "/api/v1/me", "Change names, e-mail, phone or username", tag: "Me",
                description:
                    "Changing e-mail, phone or username needs `current_password`; wrong ones count towards the account's lockout. A new e-mail clears email_verified and the old address is told; a new phone clears phone_verified. role, status and other fields are ignored.",
                request: "ProfileChange", responses: [(200, "User"), (400, "Error"), (401, "Error"), (409, "Error"), (429, "Error")]),
            use: changeProfile)
        routes.signedIn(
            APIOperation(
                .post, "/api/v1/me/password", "Change the password", tag: "Me",
                description:
                    "Ends every other session of the user and retires every mailed link. Wrong current passwords count towards the account's lockout.",
                request: "PasswordChange",
                responses: [(204, nil), (400, "Error"), (401, "Error"), (429, "Error")]),
            use: changeOwnPassword)
    }

    private func createAccount(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        var request = request
        let body = try await request.decodeJSON(as: RegisterRequest.self, context: context)
        return EditedResponse(status: .created, response: try await register(body, client: context.client(request)))
    }

    private func signIn(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        var request = request
        let body = try await request.decodeJSON(as: LoginRequest.self, context: context)
        return try await login(body, client: context.client(request))
    }

    private func showProfile(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        try await me(context.identity.userID)
    }

    private func changeProfile(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        let change = try await request.decodeJSON(as: ProfileChange.self, context: context)
        return try await update(context.identity, change, client: context.client(request))
    }

    private func changeOwnPassword(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        let body = try await request.decodeJSON(as: PasswordChange.self, context: context)
        try await changePassword(context.identity, body, client: context.client(request))
        return HTTPResponse.Status.noContent
    }
}
