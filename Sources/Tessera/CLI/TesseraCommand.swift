import ArgumentParser
import Foundation
import Hummingbird
import Logging

/// The settings as flags: `--database-url` for `TESSERA_DATABASE_URL`, and so on for every entry of
/// `Settings.table`; a flag wins. They are read here rather than declared one by one, so a new
/// setting is a new table row and nothing else.
public struct SettingsOptions: ParsableArguments {
    public init() {}

    @Argument(parsing: .allUnrecognized, help: .hidden) var settingFlags: [String] = []

    /// The flags given, by setting name: `--port 9000` and `--port=9000` both set `PORT`.
    func flags() throws -> [String: String] {
        let byFlag = Dictionary(uniqueKeysWithValues: Settings.table.map { ($0.flag, $0.name) })
        var flags: [String: String] = [:]
        var rest = settingFlags[...]
        while let token = rest.popFirst() {
            let (flag, inline) = token.split(separator: "=", maxSplits: 1).map(String.init).splitFirst
            guard let name = byFlag[flag] ?? Setting.perProviderName(flag: flag) else {
                throw ValidationError("Unknown option '\(flag)'. See --help for the settings.")
            }
            guard let value = inline ?? rest.popFirst() else { throw ValidationError("Missing value for '\(flag)'.") }
            flags[name] = value
        }
        return flags
    }

    /// Reads and checks the settings; a bad one ends the process with one line naming it.
    func load() throws -> (Settings, Logger) {
        do {
            let settings = try Settings.fromEnvironment(flags: try flags())
            LoggingSystem.bootstrap { label in
                var handler: any LogHandler =
                    settings.server.logFormat == .json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
                handler.logLevel = settings.server.logLevel
                return handler
            }
            return (settings, Logger(label: "tessera"))
        } catch let error as SettingsError {
            FileHandle.standardError.write(Data("tessera: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

public struct Serve: AsyncParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(abstract: "Serve the API (migrates first).", discussion: Setting.help)
    @OptionGroup var options: SettingsOptions

    public func run() async throws {
        let (settings, logger) = try options.load()
        let tessera = try await TesseraServer.make(settings: settings, logger: logger)
        logger.info("starting", metadata: ["database": "\(settings.database.url)", "address": "\(settings.server.host):\(settings.server.port)"])
        if settings.mail.smtpURL == nil {
            logger.notice("TESSERA_SMTP_URL is not set: mail, links included, is written to this log")
        }
        try await tessera.application().runService()
    }
}

public struct Migrate: AsyncParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(abstract: "Apply database migrations and exit.", discussion: Setting.help)
    @OptionGroup var options: SettingsOptions

    public func run() async throws {
        let (settings, logger) = try options.load()
        let database = try await openDatabase(settings.database.url, timeout: settings.database.timeout, logger: logger)
        let applied = try await database.whileRunning { try await Migrator(database: database, logger: logger).migrate() }
        print(applied.isEmpty ? "schema is up to date" : "applied migrations: \(applied.map(String.init).joined(separator: ", "))")
    }
}

public struct CreateUser: AsyncParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(
        commandName: "create-user", abstract: "Create an active user, e.g. the first admin: --email a@b.c --password … --roles admin",
        discussion: Setting.help)
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

public struct ImportDjango: AsyncParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(
        commandName: "import-django",
        abstract: "Import the users of a Django database, keeping their password hashes; run again to update (docs/MIGRATING.md).",
        discussion: Setting.help)
    @OptionGroup var options: SettingsOptions
    @Option(help: "The Django database: a SQLite file path or a postgres:// URL") var from: String
    @Option(help: "The user table (default: accounts_user, else auth_user)") var table: String?

    public func run() async throws {
        let (settings, logger) = try options.load()
        let tessera = try await TesseraServer.make(settings: settings, logger: logger)
        do {
            let source = try await DjangoSource.open(from, table: table, logger: logger)
            let report = try await tessera.database.whileRunning {
                try await tessera.prepare()
                return try await source.database.whileRunning {
                    try await DjangoImport(
                        database: tessera.database, users: tessera.accounts.users, sessions: tessera.sessions,
                        region: settings.accounts.defaultPhoneRegion,
                        clock: tessera.clock
                    ).run(from: try await source.described()) { line in FileHandle.standardError.write(Data("\(line)\n".utf8)) }
                }
            }
            print(report.summary)
        } catch let error as ImportError {
            FileHandle.standardError.write(Data("tessera: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

public struct Keys: AsyncParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(abstract: "Manage signing keys.", subcommands: [Rotate.self])

    public struct Rotate: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Add a new signing key; tokens signed by the previous key stay valid until they expire.", discussion: Setting.help)

        public init() {}
        @OptionGroup var options: SettingsOptions

        public func run() async throws {
            let (settings, logger) = try options.load()
            let database = try await openDatabase(settings.database.url, timeout: settings.database.timeout, logger: logger)
            let kid = try await database.whileRunning {
                try await Migrator(database: database, logger: logger).migrate()
                return try await SigningKeys.rotate(settings: settings.tokens, database: database)
            }
            print("new signing key: \(kid)")
        }
    }
}

public struct Balances: AsyncParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(abstract: "Check the balances.", subcommands: [Verify.self])

    public struct Verify: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Recompute every balance from its ledger and report any difference (exit 1 if there is one).", discussion: Setting.help)

        public init() {}
        @OptionGroup var options: SettingsOptions

        public func run() async throws {
            let (settings, logger) = try options.load()
            let database = try await openDatabase(settings.database.url, timeout: settings.database.timeout, logger: logger)
            let (checked, mismatches) = try await database.whileRunning {
                try await Migrator(database: database, logger: logger).migrate()
                return try await database.read { db in try await BalanceStore().verify(db) }
            }
            for mismatch in mismatches { print("MISMATCH \(mismatch)") }
            print("balances verify: \(checked) balances checked against the ledger, \(mismatches.count) differ")
            if !mismatches.isEmpty { throw ExitCode(1) }
        }
    }
}

extension Array where Element == String {
    /// `["--port", "9000"]` → `("--port", "9000")`; `["--port"]` → `("--port", nil)`.
    fileprivate var splitFirst: (String, String?) { (first ?? "", count > 1 ? self[1] : nil) }
}
