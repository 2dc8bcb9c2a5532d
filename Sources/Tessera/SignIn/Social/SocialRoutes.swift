import Foundation
import Hummingbird

/// `GET /api/v1/me/identities`: `{"id", "provider", "created_at"}`.
struct IdentityResponse: Encodable, Sendable {
    let id: String
    let provider: String
    let created_at: Date

    init(_ identity: LinkedIdentity) {
        id = identity.id.uuidString.lowercased()
        provider = identity.provider
        created_at = identity.createdAt
    }
}

extension SocialSignIn {
    func addRoutes(to routes: RouteTable) {
        routes.open(
            APIOperation(
                .post, "/api/v1/auth/social/{provider}", "Sign in with Google, Apple, VK or another provider", tag: "Social sign-in",
                description:
                    "OpenID Connect providers (TESSERA_OIDC_PROVIDERS) take {\"id_token\", \"nonce\"?}; `vk` takes {\"code\", \"redirect_uri\", \"code_verifier\"?, \"device_id\"?}. Answers like a password sign-in, with \"created\": true when it made the account. A refused token or code is 401 invalid_credentials; an unknown provider 404; a provider that cannot be reached 502 provider_unavailable.",
                parameters: [
                    APIOperation.Parameter(
                        name: "provider", location: "path", schema: ["type": "string"], description: "A name from TESSERA_OIDC_PROVIDERS, or `vk`",
                        required: true)
                ],
                request: "SocialSignIn",
                responses: [(200, "TokenGrant"), (400, "Error"), (401, "Error"), (403, "Error"), (404, "Error"), (429, "Error"), (502, "Error")]),
            use: signInSocially)
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/me/identities", "The caller's linked sign-in identities", tag: "Me",
                parameters: APIOperation.Parameter.page, responses: [(200, "IdentityPage"), (401, "Error")]),
            use: listIdentities)
        routes.signedIn(
            APIOperation(
                .delete, "/api/v1/me/identities/{id}", "Unlink one", tag: "Me",
                description:
                    "Refused with 409 invalid_state when it is the account's last way to sign in (no password, no other identity, no verified phone).",
                parameters: [.id], responses: [(204, nil), (401, "Error"), (404, "Error"), (409, "Error")]),
            use: unlinkIdentity)
    }

    private func signInSocially(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        var request = request
        let provider = context.parameters.get("provider") ?? ""
        if provider == "vk" {
            guard vk != nil else { throw APIError.notFound }
            return try await signIn(withVK: try await request.decodeJSON(as: VKSignInBody.self, context: context), client: context.client(request))
        }
        guard providers[provider] != nil else { throw APIError.notFound }
        return try await signIn(
            with: provider, oidc: try await request.decodeJSON(as: OIDCSignInBody.self, context: context), client: context.client(request))
    }

    private func listIdentities(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        let page = try PageRequest(request)
        let (total, linked) = try await list(of: context.identity, page: page)
        return try Page(linked.map(IdentityResponse.init), count: total, page: page, request: request)
    }

    private func unlinkIdentity(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        try await unlink(try context.pathID(), of: context.identity, client: context.client(request))
        return HTTPResponse.Status.noContent
    }
}
