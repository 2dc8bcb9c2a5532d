import Foundation
import Hummingbird

private struct RefreshRequest: Decodable {
    var refresh: String
}

private struct VerifyRequest: Decodable {
    var token: String
}

private struct RevokeAllRequest: Decodable {
    var keep_current: Bool?
}

struct RevokedCount: ResponseEncodable {
    let revoked: Int
}

extension SessionService {
    /// `legacyRefresh`: SimpleJWT refresh tokens from before the move, when Django's key is set.
    func addRoutes(to routes: RouteTable, legacyRefresh: SimpleJWTRefresh?) {
        routes.open(
            APIOperation(
                .post, "/api/v1/auth/token/refresh", "Rotate a refresh token", tag: "Tokens",
                description:
                    "Refresh tokens are single-use. The same token again within TESSERA_REFRESH_REUSE_GRACE returns the session's live pair; after it, the whole session ends (401 token_reused). With TESSERA_DJANGO_SECRET_KEY set, a SimpleJWT refresh token of an imported user is taken once and answered with the pair of a new session.",
                request: "RefreshRequest", responses: [(200, "TokenGrant"), (400, "Error"), (401, "Error"), (403, "Error")]),
            use: { request, context in try await refreshTokens(request, context: context, legacy: legacyRefresh) })
        routes.open(
            APIOperation(
                .post, "/api/v1/auth/token/verify", "Check an access token", tag: "Tokens",
                description: "200 {} for a valid access token of a live session, else 401.",
                request: "VerifyRequest", responses: [(200, "Empty"), (400, "Error"), (401, "Error")]),
            use: verifyAccessToken)
        routes.open(
            APIOperation(
                .post, "/api/v1/auth/token/revoke", "End the session of a refresh token", tag: "Tokens",
                description: "Idempotent: an already ended session answers 204 too.", request: "RefreshRequest",
                responses: [(204, nil), (400, "Error"), (401, "Error")]),
            use: revokeRefreshToken)
        routes.signedIn(
            APIOperation(
                .post, "/api/v1/auth/logout", "End the caller's session", tag: "Tokens",
                description: "Its access and refresh tokens stop working at once.", responses: [(204, nil), (401, "Error")]),
            use: logOut)
        routes.signedIn(
            APIOperation(
                .post, "/api/v1/auth/token/revoke-all", "End every session of the caller", tag: "Tokens",
                description: "This one too, unless {\"keep_current\": true}.", request: "RevokeAllRequest",
                responses: [(200, "RevokedCount"), (401, "Error")]),
            use: endAllSessions)
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/me/sessions", "The caller's live sessions", tag: "Me",
                parameters: APIOperation.Parameter.page, responses: [(200, "SessionPage"), (401, "Error")]),
            use: listSessions)
        routes.signedIn(
            APIOperation(
                .delete, "/api/v1/me/sessions/{id}", "End one of the caller's sessions", tag: "Me",
                parameters: [.id],
                responses: [(204, nil), (401, "Error"), (404, "Error")]),
            use: endSession)
    }

    private func refreshTokens(_ request: Request, context: AppRequestContext, legacy: SimpleJWTRefresh?) async throws -> Grant {
        var request = request
        let token = try await request.decodeJSON(as: RefreshRequest.self, context: context).refresh
        if let legacy, SimpleJWTRefresh.recognizes(token) { return try await legacy.exchange(token, client: context.client(request)) }
        return try await refresh(token, client: context.client(request))
    }

    private func verifyAccessToken(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        var request = request
        _ = try await authenticate(try await request.decodeJSON(as: VerifyRequest.self, context: context).token)
        return JSON.object([])
    }

    private func revokeRefreshToken(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        var request = request
        try await revoke(
            refreshToken: try await request.decodeJSON(as: RefreshRequest.self, context: context).refresh, client: context.client(request))
        return HTTPResponse.Status.noContent
    }

    private func logOut(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        _ = try await revoke(context.identity.sessionID, of: context.identity.userID, client: context.client(request))
        return HTTPResponse.Status.noContent
    }

    private func endAllSessions(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        let keep = try await request.decodeJSONIfPresent(as: RevokeAllRequest.self, context: context)?.keep_current ?? false
        return RevokedCount(
            revoked: try await revokeAll(
                of: context.identity.userID, keeping: keep ? context.identity.sessionID : nil, client: context.client(request)))
    }

    private func listSessions(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        let page = try PageRequest(request)
        let (total, sessions) = try await live(of: context.identity.userID, page: page)
        return try Page(sessions.map { SessionResponse($0, current: context.identity.sessionID) }, count: total, page: page, request: request)
    }

    private func endSession(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        guard try await revoke(try context.pathID(), of: context.identity.userID, client: context.client(request)) else {
            throw APIError.notFound
        }
        return HTTPResponse.Status.noContent
    }
}
