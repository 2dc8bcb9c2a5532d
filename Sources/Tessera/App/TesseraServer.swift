import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import Logging
import TesseraSMTP

/// The server's parts, wired once from settings. `application()` serves them; tests build one per
/// test from in-test settings and reach the parts directly when they need to look underneath.
public struct TesseraServer: Sendable {
    public let settings: Settings
    public let database: any Database
    public let clock: WallClock
    public let logger: Logger
    public let keys: SigningKeys
    let sessions: SessionService
    let accounts: AccountService
    let recovery: Recovery
    let administration: UserAdministration
    let access: AccessService
    let audit: AuditLog
    let limiter: RateLimiter
    let outbox: OutboxWorker
    let revocations: Revocations
    let housekeeping: Housekeeping
    let readiness: Readiness
    let catalog: CatalogService
    let schedules: ScheduleService
    let bookings: BookingService
    let profiles: ProfileService
    let balances: BalanceService
    let secretBox: SecretBox
    let phoneSignIn: PhoneSignIn
    let twoFactor: TwoFactorService
    let social: SocialSignIn
    let legacyRefresh: SimpleJWTRefresh?
    /// Plain HTTP/1.1 behind a proxy, or TLS with HTTP/2 offered by ALPN (`TLS_CERT`, `TLS_KEY`).
    let server: HTTPServerBuilder
    /// `/docs` and `/admin`.
    let pages: [PageFiles]

    /// `hashing` is the Argon2id cost of new hashes; anything but the default is for tests.
    public static func make(
        settings: Settings, clock: WallClock = .system, hashing: PasswordHasher.Parameters = .init(), logger: Logger
    ) async throws -> TesseraServer {
        let server: HTTPServerBuilder =
            if let files = settings.server.tls {
                try .http2Upgrade(tlsConfiguration: try CertificateFiles(files, logger: logger).configuration)
            } else {
                .http1()
            }
        let database = try await openDatabase(settings.database.url, timeout: settings.database.timeout, logger: logger)
        let readiness = Readiness()
        let keys = SigningKeys(settings: settings.tokens, database: database, readiness: readiness)
        let catalogue = FollowedSnapshot(topic: "services", database: database, load: CatalogStore.catalogue)
        // A specialist disabled or enabled takes their services out of the list or back.
        let users = UserStore(
            dialect: database.dialect,
            cache: UserCache(database: database) { id in catalogue.drop { id.map($0.owners.contains) ?? true } })
        let audit = AuditLog(database: database, clock: clock)
        let limiter = RateLimiter(database: database, clock: clock, enabled: settings.abuse.rateLimits)
        let hasher = PasswordHasher(parameters: hashing)
        let mail = AccountMail(outbox: Outbox(dialect: database.dialect, clock: clock), publicURL: settings.mail.publicURL)
        let revocations = Revocations(database: database, accessTTL: settings.tokens.accessTTL, clock: clock)
        let sessionStore = SessionStore(dialect: database.dialect, revocations: revocations)
        let sessions = SessionService(
            database: database, store: sessionStore, users: users, tokens: TokenService(keys: keys, settings: settings.tokens, clock: clock),
            audit: audit, settings: settings.tokens, clock: clock, logger: logger)
        let recovery = Recovery(
            database: database, users: users, sessions: sessions, tokens: OneTimeTokens(dialect: database.dialect), mail: mail, hasher: hasher,
            policy: PasswordPolicy(), limiter: limiter, audit: audit, settings: settings.accounts, clock: clock)
        let secretBox = SecretBox(database: database)
        let lockout = LoginLockout(database: database, clock: clock, policy: settings.abuse.lockout, enabled: settings.abuse.rateLimits)
        let factors = TwoFactorStore()
        let gate = SignInGate(
            database: database, users: users, sessions: sessions, oneTimeTokens: recovery.tokens, audit: audit, clock: clock)
        let phoneSignIn = PhoneSignIn(
            database: database, users: users, codes: PhoneCodes(dialect: database.dialect, box: secretBox), outbox: mail.outbox,
            limiter: limiter, gate: gate, audit: audit, accounts: settings.accounts, smsRateLimit: settings.signIn.smsRateLimit, clock: clock)
        let accounts = AccountService(
            database: database, users: users, sessions: sessions, hasher: hasher, policy: PasswordPolicy(), recovery: recovery,
            lockout: lockout, limiter: limiter, gate: gate, phoneSignIn: phoneSignIn, audit: audit, settings: settings.accounts, clock: clock,
            logger: logger)
        let twoFactor = TwoFactorService(
            database: database, store: factors, box: secretBox, users: users, gate: gate, lockout: lockout, limiter: limiter,
            accounts: settings.accounts, audit: audit, issuer: settings.tokens.issuer, clock: clock)
        let providerHTTP = ProviderHTTP(client: HTTPClient.shared)
        let social = SocialSignIn(
            database: database, users: users, identities: IdentityStore(),
            providers: Dictionary(uniqueKeysWithValues: settings.signIn.oidc.map { ($0.name, OIDCProvider(settings: $0, http: providerHTTP)) }),
            vk: settings.signIn.vk.map { VKID(settings: $0, http: providerHTTP) }, gate: gate, limiter: limiter, audit: audit,
            accounts: settings.accounts, clock: clock)
        let accessStore = AccessStore()
        let accessControl = AccessControl(database: database, store: accessStore, users: users)
        let administration = UserAdministration(
            database: database, users: users, sessions: sessions, access: accessControl, audit: audit, mail: mail, clock: clock)
        let access = AccessService(database: database, store: accessStore, access: accessControl, audit: audit, users: users)
        let catalog = CatalogService(
            database: database, store: CatalogStore(dialect: database.dialect, catalogue: catalogue), users: users, access: accessControl,
            clock: clock
        )
        let schedules = ScheduleService(
            database: database, store: ScheduleStore(memory: FollowedSnapshot(topic: "schedules", database: database, load: ScheduleStore.all)),
            users: users, clock: clock)
        let bookings = BookingService(
            database: database, store: BookingStore(dialect: database.dialect, held: FollowedCache(topic: "bookings", database: database)),
            catalog: catalog, schedules: schedules, users: users,
            mail: BookingMail(outbox: mail.outbox), clock: clock)
        let balances = BalanceService(
            database: database, store: BalanceStore(), keys: IdempotencyStore(), access: accessControl, users: users, audit: audit, clock: clock)
        let transport: any MailTransport =
            if let url = settings.mail.smtpURL, let configuration = SMTPConfiguration(url: url) {
                SMTPClient(configuration: configuration)
            } else {
                LogTransport(logger: logger)
            }
        let texts: any TextTransport =
            if let url = settings.signIn.smsURL {
                SMSGateway(url: url, token: settings.signIn.smsToken, client: HTTPClient.shared)
            } else {
                LogTextTransport(logger: logger)
            }
        let outbox = OutboxWorker(
            database: database, outbox: mail.outbox, transport: transport, texts: texts, from: settings.mail.mailFrom, readiness: readiness,
            clock: clock, logger: logger
        )
        let housekeeping = Housekeeping(
            database: database, sessions: sessionStore, tokens: recovery.tokens, limiter: limiter, lockout: accounts.lockout, outbox: mail.outbox,
            idempotencyKeys: balances.keys, phoneCodes: phoneSignIn.codes, exchangedTokens: ExchangedTokens(), accessTTL: settings.tokens.accessTTL,
            longestRateWindow: settings.longestRateWindow, readiness: readiness,
            clock: clock,
            logger: logger)
        return TesseraServer(
            settings: settings, database: database, clock: clock, logger: logger, keys: keys, sessions: sessions, accounts: accounts,
            recovery: recovery, administration: administration, access: access, audit: audit, limiter: limiter, outbox: outbox,
            revocations: revocations, housekeeping: housekeeping, readiness: readiness,
            catalog: catalog,
            schedules: schedules, bookings: bookings,
            profiles: ProfileService(
                database: database, store: ProfileStore(dialect: database.dialect), catalog: catalog, publicURL: settings.mail.publicURL,
                avatarMaxBytes: settings.marketplace.avatarMaxBytes, clock: clock),
            balances: balances, secretBox: secretBox, phoneSignIn: phoneSignIn, twoFactor: twoFactor, social: social,
            legacyRefresh: settings.djangoSecretKey.map {
                SimpleJWTRefresh(secretKey: $0, database: database, users: users, gate: gate, clock: clock)
            }, server: server, pages: [try PageFiles.docs(), try PageFiles.console()])
    }

    /// Migrates and loads the signing keys; runs before the server accepts connections, and
    /// before the background services start their work.
    public func prepare() async throws {
        try await Migrator(database: database, logger: logger).migrate()
        try await keys.load()
        try await secretBox.load()
        readiness.open()
    }

    /// Every route, registered through one table.
    func router() -> (Router<AppRequestContext>, RouteCatalog) {
        let router = Router(context: AppRequestContext.self, options: [.autoGenerateHeadEndpoints])
        let routes = RouteTable(router: router, authenticator: Authenticator(sessions: sessions), access: access.access)
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: LogRequestsMiddleware(.debug))
        if !settings.server.corsOrigins.isEmpty {
            router.add(middleware: OriginCORSMiddleware(origins: settings.server.corsOrigins))
        }
        router.add(middleware: SecurityHeadersMiddleware(tls: settings.server.tls != nil))
        router.add(middleware: NoStoreMiddleware())
        router.add(middleware: ErrorMiddleware(catalog: routes.catalog))
        router.add(middleware: ClientAddressMiddleware(trusted: settings.server.trustedProxies))
        if let throttle = settings.server.throttle {
            router.add(middleware: ThrottleMiddleware(limiter: limiter, limit: throttle))
        }
        OperationsRoutes(database: database, keys: keys, catalog: routes.catalog).addRoutes(to: routes)
        for page in pages { page.addRoutes(to: routes) }
        accounts.addRoutes(to: routes)
        sessions.addRoutes(to: routes, legacyRefresh: legacyRefresh)
        recovery.addRoutes(to: routes)
        access.addRoutes(to: routes)
        administration.addRoutes(to: routes)
        audit.addRoutes(to: routes)
        catalog.addRoutes(to: routes)
        profiles.addRoutes(to: routes)
        schedules.addRoutes(to: routes)
        bookings.addRoutes(to: routes)
        balances.addRoutes(to: routes)
        phoneSignIn.addRoutes(to: routes)
        twoFactor.addRoutes(to: routes)
        social.addRoutes(to: routes)
        return (router, routes.catalog)
    }

    public func application() -> some ApplicationProtocol {
        // swift-metrics takes its backend once per process: before the first request's counters
        // exist, or they would count into nothing.
        _ = TesseraMetrics.registry
        let (router, _) = self.router()
        var app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(settings.server.host, port: settings.server.port), serverName: "Tessera"),
            // Shut down in reverse: the worker and the feed stop before the connections they use.
            services: [
                database, outbox, housekeeping, keys,
                ChangeFeed(
                    database: database,
                    followers: [
                        revocations, accounts.users.cache, keys, catalog.store.catalogue, schedules.store.memory,
                        bookings.store.held,
                    ],
                    readiness: readiness,
                    logger: logger),
            ],
            logger: logger
        )
        app.beforeServerStarts { try await self.prepare() }
        return app
    }

    /// The registered operations, as `/openapi.json` lists them.
    public var operations: [APIOperation] { router().1.operations }
}
