import HTTPTypes
import Hummingbird

/// Headers every answer carries: no content-type sniffing (a JSON answer or an avatar is never
/// run as a page), no referrer (a page's URL may carry a token), and pages never framed by
/// another site (clickjacking the docs page or the console). Serving TLS itself, Tessera also
/// tells browsers to come back over HTTPS only (behind a proxy, the proxy's TLS end says it).
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    static var referrerPolicy: HTTPField.Name { HTTPField.Name("Referrer-Policy")! }
    static var strictTransportSecurity: HTTPField.Name { HTTPField.Name("Strict-Transport-Security")! }

    /// Whether answers leave over Tessera's own TLS.
    let tls: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            var response = try await next(request, context)
            add(to: &response.headers)
            return response
        } catch var error as APIError {
            add(to: &error.headers)
            throw error
        }
    }

    func add(to headers: inout HTTPFields) {
        headers[.xContentTypeOptions] = "nosniff"
        if tls { headers[Self.strictTransportSecurity] = "max-age=31536000" }
        headers[Self.referrerPolicy] = "no-referrer"
        if headers[.contentType]?.hasPrefix("text/html") == true, headers[.contentSecurityPolicy] == nil {
            headers[.contentSecurityPolicy] = "frame-ancestors 'none'"
        }
    }
}
