import Foundation
import Hummingbird
import Synchronization

/// One documented operation. Routes are registered only through `RouteTable`, and the OpenAPI
/// document is generated from the same list, so the two cannot drift apart.
public struct APIOperation: Sendable {
    public enum Access: Sendable {
        case open
        case signedIn
    }

    public struct Parameter: Sendable {
        let name: String
        let location: String
        let schema: JSON
        let description: String
        var required = false
    }

    public let method: HTTPRequest.Method
    /// OpenAPI form: `/api/v1/me/sessions/{id}`.
    public let path: String
    let summary: String
    let tag: String
    var access: Access = .open
    /// The RBAC permission a signed-in route needs, checked before its handler runs.
    var permission: PermissionKey?
    var description: String?
    var parameters: [Parameter] = []
    var request: String?
    /// Status → component schema (nil for an empty body).
    var responses: [(Int, String?)]

    init(
        _ method: HTTPRequest.Method, _ path: String, _ summary: String, tag: String,
        description: String? = nil, parameters: [Parameter] = [], request: String? = nil, responses: [(Int, String?)]
    ) {
        self.method = method
        self.path = path
        self.summary = summary
        self.tag = tag
        self.description = description
        self.parameters = parameters
        self.request = request
        self.responses = responses
    }

    /// This operation guarded by `resource` and `action` (by default the action its method maps to).
    func requiring(_ resource: String, _ action: String? = nil) -> APIOperation {
        var operation = self
        operation.permission = PermissionKey(resource, action ?? PermissionKey.action(for: method))
        return operation
    }

    /// Hummingbird's form of `path`: `{id}` becomes `:id`.
    var routerPath: String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}") ? ":" + segment.dropFirst().dropLast() : String(segment)
        }.joined(separator: "/")
    }

    /// Whether a request path (with or without a trailing slash) names this operation's path.
    func matches(path requestPath: String) -> Bool {
        let mine = path.split(separator: "/")
        let theirs = requestPath.split(separator: "/")
        guard mine.count == theirs.count else { return false }
        return zip(mine, theirs).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
    }
}

/// The operations registered so far: what the OpenAPI document lists and 405 answers consult.
public final class RouteCatalog: Sendable {
    private let registered = Mutex<[APIOperation]>([])

    public var operations: [APIOperation] { registered.withLock { $0 } }

    func append(_ operation: APIOperation) {
        registered.withLock { $0.append(operation) }
    }

    /// The methods registered for a path, for a 405's `Allow` header.
    func methods(for path: String) -> [HTTPRequest.Method] {
        operations.filter { $0.matches(path: path) }.map(\.method)
    }
}

/// Registers routes on the router, each with its `APIOperation`, open or behind the authenticator.
struct RouteTable {
    let catalog = RouteCatalog()
    private let router: Router<AppRequestContext>
    private let signedIn: RouterGroup<SignedInContext>
    private let access: AccessControl

    init(router: Router<AppRequestContext>, authenticator: Authenticator, access: AccessControl) {
        self.router = router
        self.access = access
        self.signedIn = router.group().add(middleware: authenticator).group(context: SignedInContext.self)
    }

    /// A route anyone may call.
    func open<Output: ResponseGenerator>(
        _ operation: APIOperation,
        use handler: @escaping @Sendable (Request, AppRequestContext) async throws -> Output
    ) {
        catalog.append(operation)
        router.on(RouterPath(operation.routerPath), method: operation.method, use: handler)
    }

    /// A route that needs a valid access token of a live session, and its permission if it names one.
    func signedIn<Output: ResponseGenerator>(
        _ operation: APIOperation,
        use handler: @escaping @Sendable (Request, SignedInContext) async throws -> Output
    ) {
        var operation = operation
        operation.access = .signedIn
        catalog.append(operation)
        guard let permission = operation.permission else {
            signedIn.on(RouterPath(operation.routerPath), method: operation.method, use: handler)
            return
        }
        let access = self.access
        signedIn.on(RouterPath(operation.routerPath), method: operation.method) { request, context in
            try await access.require(context.identity, permission)
            return try await handler(request, context)
        }
    }
}
