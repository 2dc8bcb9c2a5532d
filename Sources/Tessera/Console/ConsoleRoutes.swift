import Foundation
import HTTPTypes
import Hummingbird

/// The admin console: one page and its script and stylesheet, shipped in the package and served
/// as they are. The page is a client of the JSON API like any other; it gets no route of its own
/// beyond these files.
struct ConsoleRoutes: Sendable {
    /// Scripts and styles only from these files, calls only to this origin, no plug-ins, no
    /// framing, no `<base>` tricks, no form posting anywhere, and no string turned into markup or
    /// script (Trusted Types): an injected string can neither run nor send what it reads elsewhere.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'"
    /// A window another page opened (the `/docs` page shares the origin) gets no handle on the console's.
    static let openerPolicy = HTTPField.Name("Cross-Origin-Opener-Policy")!

    struct File: Sendable {
        let contentType: String
        let bytes: ByteBuffer
    }

    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    let files: [String: File]

    /// Reads the files at start, so a package installed without them fails there and then, and an
    /// upgrade replacing them on disk cannot catch a running server between two files.
    init() throws {
        var files: [String: File] = [:]
        for (name, contentType) in [
            ("index.html", "text/html; charset=utf-8"), ("console.js", "text/javascript; charset=utf-8"), ("console.css", "text/css; charset=utf-8"),
        ] {
            let parts = name.split(separator: ".")
            guard let url = Bundle.module.url(forResource: String(parts[0]), withExtension: String(parts[1]), subdirectory: "console"),
                let data = try? Data(contentsOf: url)
            else { throw Missing(description: "the admin console's \(name) is not in \(Bundle.module.bundlePath) (docs/DEPLOY.md, §1)") }
            files[name] = File(contentType: contentType, bytes: ByteBuffer(bytes: data))
        }
        self.files = files
    }

    func addRoutes(to routes: RouteTable) {
        routes.open(
            APIOperation(
                .get, "/admin", "The admin console", tag: "Operations",
                description: "A page over this API for administrators and supervisors; sign in with an account that holds their permissions.",
                responses: [(200, "HTML")]),
            use: showConsole)
        routes.open(
            APIOperation(
                .get, "/admin/{file}", "The admin console's script and stylesheet", tag: "Operations",
                parameters: [
                    .init(name: "file", location: "path", schema: ["type": "string"], description: "console.js or console.css", required: true)
                ],
                responses: [(200, "ConsoleFile"), (404, "Error")]),
            use: serveFile)
    }

    private func showConsole(_ request: Request, context: AppRequestContext) async throws -> Response {
        try answer("index.html")
    }

    private func serveFile(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let name = context.parameters.get("file"), name != "index.html" else { throw APIError.notFound }
        return try answer(name)
    }

    private func answer(_ name: String) throws -> Response {
        guard let file = files[name] else { throw APIError.notFound }
        return Response(
            status: .ok,
            headers: [
                .contentType: file.contentType, .contentSecurityPolicy: Self.contentSecurityPolicy, Self.openerPolicy: "same-origin",
                .cacheControl: "no-cache",
            ],
            body: .init(byteBuffer: file.bytes))
    }
}
