import Hummingbird

/// `Cache-Control: no-store` on every answer under `/api/`: tokens, one-time secrets and personal
/// data all live there, and none of it belongs in a shared or browser cache (SPEC §3). A public
/// answer that says how it may be cached (an avatar) keeps what it says.
struct NoStoreMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/api/") else { return try await next(request, context) }
        do {
            var response = try await next(request, context)
            if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
            return response
        } catch var error as APIError {
            error.headers[.cacheControl] = "no-store"
            throw error
        }
    }
}
