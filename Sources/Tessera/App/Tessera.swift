import Foundation
import Hummingbird
import Logging

/// The server's parts, wired once from settings. `application()` serves them; tests build one per
/// test from in-test settings and reach the parts directly when they need to look underneath.
public struct Tessera: Sendable {
    public let settings: Settings
    public let database: any Database
    public let clock: Clock
    public let logger: Logger
    public let keys: SigningKeys
    let sessions: SessionService
    let accounts: AccountService

    public static func make(settings: Settings, clock: Clock = .system, logger: Logger, hashing: PasswordHasher.Parameters = .init()) async throws
        -> Tessera
    {
        let database = try await openDatabase(settings.databaseURL, logger: logger)
        let keys = SigningKeys(settings: settings, database: database)
        let users = UserStore()
        let sessions = SessionService(
            database: database, store: SessionStore(engine: database.engine), users: users,
            tokens: TokenService(keys: keys, settings: settings, clock: clock), settings: settings, clock: clock, logger: logger)
        let accounts = AccountService(
            database: database, users: users, sessions: sessions, hasher: PasswordHasher(parameters: hashing), policy: PasswordPolicy(),
            settings: settings, clock: clock, logger: logger)
        return Tessera(settings: settings, database: database, clock: clock, logger: logger, keys: keys, sessions: sessions, accounts: accounts)
    }

    /// Migrates and loads the signing keys; runs before the server accepts connections.
    public func prepare() async throws {
        try await Migrator(database: database, logger: logger).migrate()
        try await keys.load()
    }

    /// Every route, registered through one table.
    func router() -> (Router<AppRequestContext>, RouteCatalog) {
        let router = Router(context: AppRequestContext.self, options: [.autoGenerateHeadEndpoints])
        let routes = RouteTable(router: router, authenticator: Authenticator(sessions: sessions))
        router.add(middleware: LogRequestsMiddleware(.debug))
        if !settings.corsOrigins.isEmpty {
            router.add(middleware: OriginCORSMiddleware(origins: settings.corsOrigins))
        }
        router.add(middleware: ErrorMiddleware(catalog: routes.catalog))
        OperationsRoutes(database: database, keys: keys).addRoutes(to: routes)
        accounts.addRoutes(to: routes)
        sessions.addRoutes(to: routes)
        return (router, routes.catalog)
    }

    public func application() -> some ApplicationProtocol {
        let (router, _) = self.router()
        var app = Application(
            router: router,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "Tessera"),
            services: [database],
            logger: logger
        )
        app.beforeServerStarts { try await self.prepare() }
        return app
    }

    /// The registered operations, as `/openapi.json` lists them.
    public var operations: [Operation] { router().1.operations }
}
