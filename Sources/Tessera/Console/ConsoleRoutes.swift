import Hummingbird

/// The admin console: a page over the JSON API for administrators and supervisors
/// (`Resources/console/`). It gets no route of its own beyond its files.
struct ConsoleRoutes: Sendable {
    let page: PageFiles

    init() throws {
        page = try PageFiles(folder: "console", script: "console.js", stylesheet: "console.css")
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
                responses: [(200, "PageFile"), (404, "Error")]),
            use: serveFile)
    }

    private func showConsole(_ request: Request, context: AppRequestContext) async throws -> Response {
        try page.page()
    }

    private func serveFile(_ request: Request, context: AppRequestContext) async throws -> Response {
        try page.file(context)
    }
}
