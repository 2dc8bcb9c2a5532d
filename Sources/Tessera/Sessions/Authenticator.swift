import Hummingbird
import HummingbirdAuth

/// Guards signed-in routes: a Bearer access token, checked by `SessionService.authenticate`,
/// becomes the context's identity; no token is 401 `not_authenticated`.
struct Authenticator: RouterMiddleware {
    typealias Context = AppRequestContext
    let sessions: SessionService

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let bearer = request.headers.bearer else { throw APIError.notAuthenticated }
        var context = context
        context.identity = try await sessions.authenticate(bearer.token)
        return try await next(request, context)
    }
}
