import ArgumentParser
import Foundation
import Hummingbird
import Logging

/// The settings as flags: `--database-url` for `TESSERA_DATABASE_URL`, and so on; a flag wins.
public struct SettingsOptions: ParsableArguments {
    public init() {}

    @Option(help: "TESSERA_DATABASE_URL: sqlite:PATH, sqlite::memory: or postgres://user:pass@host:port/db") var databaseUrl: String?
    @Option(help: "TESSERA_HOST") var host: String?
    @Option(help: "TESSERA_PORT") var port: String?
    @Option(help: "TESSERA_ISSUER") var issuer: String?
    @Option(help: "TESSERA_AUDIENCE") var audience: String?
    @Option(help: "TESSERA_JWT_ALG: ES256, EdDSA or HS256") var jwtAlg: String?
    @Option(help: "TESSERA_JWT_SECRET (HS256 only)") var jwtSecret: String?
    @Option(help: "TESSERA_ACCESS_TTL") var accessTtl: String?
    @Option(help: "TESSERA_REFRESH_TTL") var refreshTtl: String?
    @Option(help: "TESSERA_SESSION_TTL") var sessionTtl: String?
    @Option(help: "TESSERA_REFRESH_REUSE_GRACE") var refreshReuseGrace: String?
    @Option(help: "TESSERA_DEFAULT_PHONE_REGION") var defaultPhoneRegion: String?
    @Option(help: "TESSERA_REGISTRATION: open or approval") var registration: String?
    @Option(help: "TESSERA_LOG_FORMAT: text or json") var logFormat: String?
    @Option(help: "TESSERA_LOG_LEVEL") var logLevel: String?
    @Option(help: "TESSERA_CORS_ORIGINS: comma-separated origins allowed to call from a browser") var corsOrigins: String?
    @Option(help: "TESSERA_RATE_LIMITS: on or off") var rateLimits: String?

    var flags: [String: String] {
        let pairs: [(String, String?)] = [
            ("DATABASE_URL", databaseUrl), ("HOST", host), ("PORT", port), ("ISSUER", issuer), ("AUDIENCE", audience),
            ("JWT_ALG", jwtAlg), ("JWT_SECRET", jwtSecret), ("ACCESS_TTL", accessTtl), ("REFRESH_TTL", refreshTtl),
            ("SESSION_TTL", sessionTtl), ("REFRESH_REUSE_GRACE", refreshReuseGrace), ("DEFAULT_PHONE_REGION", defaultPhoneRegion),
            ("REGISTRATION", registration), ("LOG_FORMAT", logFormat), ("LOG_LEVEL", logLevel), ("CORS_ORIGINS", corsOrigins),
            ("RATE_LIMITS", rateLimits),
        ]
        return Dictionary(uniqueKeysWithValues: pairs.compactMap { name, value in value.map { (name, $0) } })
    }

    /// Reads and checks the settings; a bad one ends the process with one line naming it.
    func load() throws -> (Settings, Logger) {
        do {
            let settings = try Settings.fromEnvironment(flags: flags)
            LoggingSystem.bootstrap { label in
                var handler: any LogHandler =
                    settings.logFormat == .json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
                handler.logLevel = settings.logLevel
                return handler
            }
            return (settings, Logger(label: "tessera"))
        } catch {
            FileHandle.standardError.write(Data("tessera: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

public struct Serve: AsyncParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(abstract: "Serve the API (migrates first).")
    @OptionGroup var options: SettingsOptions

    public func run() async throws {
        let (settings, logger) = try options.load()
        let tessera = try await TesseraServer.make(settings: settings, logger: logger)
        logger.info("starting", metadata: ["database": "\(settings.databaseURL)", "address": "\(settings.host):\(settings.port)"])
        if settings.smtpURL == nil {
            logger.notice("TESSERA_SMTP_URL is not set: mail, links included, is written to this log")
        }
        try await tessera.application().runService()
    }
}

public struct Migrate: AsyncParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(abstract: "Apply database migrations and exit.")
    @OptionGroup var options: SettingsOptions

    public func run() async throws {
        let (settings, logger) = try options.load()
        let database = try await openDatabase(settings.databaseURL, timeout: settings.databaseTimeout, logger: logger)
        let applied = try await database.whileRunning { try await Migrator(database: database, logger: logger).migrate() }
        print(applied.isEmpty ? "schema is up to date" : "applied migrations: \(applied.map(String.init).joined(separator: ", "))")
    }
}

public struct CreateUser: AsyncParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(
        commandName: "create-user", abstract: "Create an active user, e.g. the first admin: --email a@b.c --password … --roles admin")
    @OptionGroup var options: SettingsOptions
    @Option var email: String?
    @Option var phone: String?
    @Option var username: String?
    @Option(help: "Or set TESSERA_CREATE_USER_PASSWORD to keep it out of the shell history.") var password: String?
    @Option(help: "Comma-separated RBAC roles, e.g. admin") var roles: String = ""
    @Option(help: "client or specialist") var kind: String = "client"
    @Option var firstName: String?
    @Option var lastName: String?

    public func run() async throws {
        let (settings, logger) = try options.load()
        guard let password = password ?? ProcessInfo.processInfo.environment["TESSERA_CREATE_USER_PASSWORD"] else {
            throw ValidationError("--password (or TESSERA_CREATE_USER_PASSWORD) is required")
        }
        let tessera = try await TesseraServer.make(settings: settings, logger: logger)
        let request = RegisterRequest(
            email: email, phone: phone, username: username, password: password, first_name: firstName, last_name: lastName, role: kind)
        let roleList = roles.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        do {
            let user = try await tessera.database.whileRunning {
                try await tessera.prepare()
                return try await tessera.accounts.createUser(request, roles: roleList)
            }
            let data = try JSONCoding.encoder.encode(user)
            print(String(decoding: data, as: UTF8.self))
        } catch let error as APIError {
            let fields = (error.fields ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.joined(separator: " "))" }
            FileHandle.standardError.write(Data("tessera: \(([error.detail] + fields).joined(separator: "; "))\n".utf8))
            throw ExitCode(1)
        }
    }
}

public struct Keys: AsyncParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(abstract: "Manage signing keys.", subcommands: [Rotate.self])

    public struct Rotate: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Add a new signing key; tokens signed by the previous key stay valid until they expire.")

        public init() {}
        @OptionGroup var options: SettingsOptions

        public func run() async throws {
            let (settings, logger) = try options.load()
            let database = try await openDatabase(settings.databaseURL, timeout: settings.databaseTimeout, logger: logger)
            let kid = try await database.whileRunning {
                try await Migrator(database: database, logger: logger).migrate()
                return try await SigningKeys.rotate(settings: settings, database: database)
            }
            print("new signing key: \(kid)")
        }
    }
}
