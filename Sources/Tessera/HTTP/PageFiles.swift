import Foundation
import HTTPTypes
import Hummingbird

/// A page Tessera serves from its package — `index.html` and the script and stylesheet beside it,
/// in a folder of `Resources/` — at `path` and `path/{file}`, under one strict policy. The API
/// documentation (`/docs`) and the admin console (`/admin`) are such pages; both are clients of the
/// JSON API and have no other route.
struct PageFiles: Sendable {
    /// Scripts and styles only from the page's files, calls only to this origin, no plug-ins, no
    /// framing, no `<base>` tricks, no form posting anywhere, and no string turned into markup or
    /// script (Trusted Types): an injected string can neither run nor send what it reads elsewhere.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'"
    /// A window another page opened gets no handle on this one (both share the origin).
    static let openerPolicy = HTTPField.Name("Cross-Origin-Opener-Policy")!

    struct File: Sendable {
        let contentType: String
        let bytes: ByteBuffer
    }

    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    /// Where the page answers, e.g. `/admin`; its files answer below it.
    let path: String
    let summary: String
    let description: String?
    /// The page's files by name: `index.html`, and the script and stylesheet its HTML names.
    let files: [String: File]

    /// The API documentation: it reads `/openapi.json` and tries the calls.
    static func docs() throws -> PageFiles {
        try PageFiles(path: "/docs", folder: "docs", script: "docs.js", stylesheet: "docs.css", summary: "A page to read and try the API")
    }

    /// The admin console (SPEC §9).
    static func console() throws -> PageFiles {
        try PageFiles(
            path: "/admin", folder: "console", script: "console.js", stylesheet: "console.css", summary: "The admin console",
            description: "A page over this API for administrators and supervisors; sign in with an account that holds their permissions.")
    }

    /// Reads `index.html`, `script` and `stylesheet` from `Resources/<folder>/` at start, so a
    /// package installed without them fails there and then, and an upgrade replacing them on disk
    /// cannot catch a running server between two files.
    init(path: String, folder: String, script: String, stylesheet: String, summary: String, description: String? = nil) throws {
        self.path = path
        self.summary = summary
        self.description = description
        var files: [String: File] = [:]
        for (name, contentType) in [
            ("index.html", "text/html; charset=utf-8"), (script, "text/javascript; charset=utf-8"), (stylesheet, "text/css; charset=utf-8"),
        ] {
            let url = URL(fileURLWithPath: name)
            guard
                let found = Bundle.module.url(
                    forResource: url.deletingPathExtension().lastPathComponent, withExtension: url.pathExtension, subdirectory: folder),
                let data = try? Data(contentsOf: found)
            else { throw Missing(description: "\(folder)/\(name) is not in \(Bundle.module.bundlePath) (docs/DEPLOY.md, §1)") }
            files[name] = File(contentType: contentType, bytes: ByteBuffer(bytes: data))
        }
        self.files = files
    }

    func addRoutes(to routes: RouteTable) {
        routes.open(APIOperation(.get, path, summary, tag: "Operations", description: description, responses: [(200, "HTML")]), use: showPage)
        let names = files.keys.filter { $0 != "index.html" }.sorted().joined(separator: " or ")
        routes.open(
            APIOperation(
                .get, path + "/{file}", "The script and stylesheet of \(path)", tag: "Operations",
                parameters: [.init(name: "file", location: "path", schema: ["type": "string"], description: names, required: true)],
                responses: [(200, "PageFile"), (404, "Error")]),
            use: serveFile)
    }

    private func showPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        try answer("index.html")
    }

    /// A file the page names; the page itself only at its own path.
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
