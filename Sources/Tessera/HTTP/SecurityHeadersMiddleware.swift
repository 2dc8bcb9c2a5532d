import HTTPTypes
import Hummingbird

/// Headers every answer carries: no content-type sniffing (a JSON answer or an avatar is never
/// run as a page), no referrer (a page's URL may carry a token), and pages never framed by
/// another site (clickjacking the docs page, later the console).
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    static var referrerPolicy: HTTPField.Name { HTTPField.Name("Referrer-Policy")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            var response = try await next(request, context)
            Self.add(to: &response.headers)
            return response
        } catch var error as APIError {
            Self.add(to: &error.headers)
            throw error
        }
    }

    static func add(to headers: inout HTTPFields) {
        headers[.xContentTypeOptions] = "nosniff"
        headers[referrerPolicy] = "no-referrer"
        if headers[.contentType]?.hasPrefix("text/html") == true, headers[.contentSecurityPolicy] == nil {
            headers[.contentSecurityPolicy] = "frame-ancestors 'none'"
        }
    }
}
