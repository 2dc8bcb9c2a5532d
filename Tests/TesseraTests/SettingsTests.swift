import Foundation
import Testing

@testable import Tessera

@Suite("Settings")
struct SettingsTests {
    @Test("defaults need no configuration")
    func defaults() throws {
        let settings = try Settings([:])
        #expect(settings.server.port == 8080)
        #expect(settings.server.host == "127.0.0.1")
        #expect(settings.database.url == .sqliteFile(path: "tessera.sqlite"))
        #expect(settings.tokens.jwtAlgorithm == .es256)
        #expect(settings.tokens.jwtSecret == nil)
        #expect(settings.tokens.accessTTL == 900)
        #expect(settings.tokens.refreshTTL == 7 * 86400)
        #expect(settings.tokens.sessionTTL == 30 * 86400)
        #expect(settings.tokens.refreshReuseGrace == 10)
        #expect(settings.accounts.defaultPhoneRegion.code == "RU")
        #expect(settings.accounts.registration == .open)
        #expect(settings.server.logFormat == .text)
        #expect(settings.abuse.rateLimits == true)
    }

    @Test(
        "durations are seconds or a number with a unit",
        arguments: [
            ("900", 900.0),
            ("15m", 900.0),
            ("7d", 604_800.0),
            ("10s", 10.0),
            ("2h", 7200.0),
            ("1", 1.0),
        ])
    func durations(_ text: String, _ seconds: TimeInterval) throws {
        #expect(parseDuration(text) == seconds)
        let settings = try Settings(["ACCESS_TTL": text, "REFRESH_TTL": text, "SESSION_TTL": text, "REFRESH_REUSE_GRACE": text])
        #expect(settings.tokens.accessTTL == seconds)
        #expect(settings.tokens.refreshTTL == seconds)
        #expect(settings.tokens.sessionTTL == seconds)
        #expect(settings.tokens.refreshReuseGrace == seconds)
    }

    @Test("malformed durations do not parse", arguments: ["", "abc", "15x", "1.5h", "-5", "m", "15 m", "٣m", "7dd"])
    func badDurations(_ text: String) {
        #expect(parseDuration(text) == nil)
    }

    @Test("a grace of zero is allowed; a zero TTL is not")
    func zeroGrace() throws {
        #expect(try Settings(["REFRESH_REUSE_GRACE": "0"]).tokens.refreshReuseGrace == 0)
        #expect(throws: SettingsError.self) { try Settings(["REFRESH_TTL": "0"]) }
    }

    @Test("other values are read")
    func otherValues() throws {
        let settings = try Settings([
            "PORT": "9000", "HOST": "0.0.0.0", "JWT_ALG": "EdDSA", "REGISTRATION": "approval", "DEFAULT_PHONE_REGION": "kz",
            "RATE_LIMITS": "off", "LOG_FORMAT": "json", "ISSUER": "https://auth.example.com", "AUDIENCE": "app",
        ])
        #expect(settings.server.port == 9000)
        #expect(settings.server.host == "0.0.0.0")
        #expect(settings.tokens.jwtAlgorithm == .eddsa)
        #expect(settings.accounts.registration == .approval)
        #expect(settings.accounts.defaultPhoneRegion.code == "KZ")
        #expect(settings.abuse.rateLimits == false)
        #expect(settings.server.logFormat == .json)
        #expect(settings.tokens.issuer == "https://auth.example.com")
        #expect(settings.tokens.audience == "app")

        let secret = String(repeating: "k", count: 32)
        let hs = try Settings(["JWT_ALG": "HS256", "JWT_SECRET": secret])
        #expect(hs.tokens.jwtAlgorithm == .hs256)
        #expect(hs.tokens.jwtSecret == secret)
    }

    @Test(
        "a bad value names its variable",
        arguments: [
            (["PORT": "abc"], "PORT"),
            (["PORT": "70000"], "PORT"),
            (["PORT": "0"], "PORT"),
            (["PORT": ""], "PORT"),
            (["JWT_ALG": "RS256"], "JWT_ALG"),
            (["JWT_ALG": "none"], "JWT_ALG"),
            (["ACCESS_TTL": "-5"], "ACCESS_TTL"),
            (["ACCESS_TTL": "0"], "ACCESS_TTL"),
            (["ACCESS_TTL": "15x"], "ACCESS_TTL"),
            (["REFRESH_TTL": "soon"], "REFRESH_TTL"),
            (["SESSION_TTL": "0"], "SESSION_TTL"),
            (["REFRESH_REUSE_GRACE": "-1"], "REFRESH_REUSE_GRACE"),
            (["REGISTRATION": "maybe"], "REGISTRATION"),
            (["DEFAULT_PHONE_REGION": "XX"], "DEFAULT_PHONE_REGION"),
            (["DATABASE_URL": "mysql://x"], "DATABASE_URL"),
            (["DATABASE_URL": "sqlite:"], "DATABASE_URL"),
            (["JWT_ALG": "HS256"], "JWT_SECRET"),
            (["JWT_ALG": "HS256", "JWT_SECRET": "short"], "JWT_SECRET"),
            (["JWT_SECRET": "too-short-for-anything"], "JWT_SECRET"),
            (["LOG_FORMAT": "xml"], "LOG_FORMAT"),
            (["LOG_LEVEL": "loud"], "LOG_LEVEL"),
            (["RATE_LIMITS": "maybe"], "RATE_LIMITS"),
        ])
    func badValue(_ values: [String: String], _ name: String) throws {
        let error = try #require(throws: SettingsError.self) { try Settings(values) }
        #expect(error.name == name)
        #expect(error.description.hasPrefix("TESSERA_\(name) "), "\(error.description)")
        #expect(!error.description.contains("\n"))
    }

    /// SPEC §1: no secret is ever logged, and this line is what start-up prints.
    @Test("a rejected secret is not echoed in the error")
    func secretNotEchoed() throws {
        let secret = try #require(throws: SettingsError.self) { try Settings(["JWT_ALG": "HS256", "JWT_SECRET": "hunter2-secret"]) }
        #expect(secret.name == "JWT_SECRET")
        #expect(!secret.description.contains("hunter2-secret"), "\(secret.description)")
        // A database URL refused for another reason still carries its password.
        let url = try #require(throws: SettingsError.self) { try Settings(["DATABASE_URL": "postgres://:s3cret-pw@db.internal/app"]) }
        #expect(url.name == "DATABASE_URL")
        #expect(!url.description.contains("s3cret-pw"), "\(url.description)")
    }

    @Test("environment variables are read, and a flag wins over its variable")
    func environmentAndFlags() throws {
        #expect(try Settings.fromEnvironment(["TESSERA_PORT": "9000"], flags: ["PORT": "9100"]).server.port == 9100)
        #expect(try Settings.fromEnvironment(["TESSERA_PORT": "9000"]).server.port == 9000)
        #expect(try Settings.fromEnvironment(["PORT": "9000", "HOME": "/root"]).server.port == 8080)
        #expect(try Settings.fromEnvironment(["TESSERA_PORT": "abc"], flags: ["PORT": "9100"]).server.port == 9100)
        let error = try #require(throws: SettingsError.self) { try Settings.fromEnvironment(["TESSERA_PORT": "9000"], flags: ["PORT": "x"]) }
        #expect(error.description.hasPrefix("TESSERA_PORT"))
    }

    @Test("database URLs")
    func databaseURLs() {
        #expect(DatabaseURL("sqlite:tessera.sqlite") == .sqliteFile(path: "tessera.sqlite"))
        #expect(DatabaseURL("sqlite:/var/lib/tessera/db.sqlite") == .sqliteFile(path: "/var/lib/tessera/db.sqlite"))
        #expect(DatabaseURL("sqlite::memory:") == .sqliteMemory)
        #expect(
            DatabaseURL("postgres://u:p@h:5433/db")
                == .postgres(host: "h", port: 5433, user: "u", password: "p", database: "db", requireTLS: false))
        #expect(
            DatabaseURL("postgres://u@h/db") == .postgres(host: "h", port: 5432, user: "u", password: nil, database: "db", requireTLS: false))
        #expect(
            DatabaseURL("postgresql://u:p%40ss@db.example.com:5432/app?sslmode=require")
                == .postgres(host: "db.example.com", port: 5432, user: "u", password: "p@ss", database: "app", requireTLS: true))
        #expect(DatabaseURL("mysql://x") == nil)
        #expect(DatabaseURL("sqlite:") == nil)
        #expect(DatabaseURL("") == nil)
        #expect(DatabaseURL("postgres://u:secret@h:5433/db")?.description.contains("secret") == false)
    }

    // MARK: - The built binary

    @Test("one table: every setting has its flag, its line in --help and its row in the README, and nothing else does")
    func oneTable() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        for setting in Settings.table {
            #expect(readme.contains(setting.readmeRow + "\n"), "the README lacks, or differs from: \(setting.readmeRow)")
            let options = try SettingsOptions.parse([setting.flag, "x"])
            #expect(try options.flags() == [setting.name: "x"], "\(setting.flag)")
            #expect(try SettingsOptions.parse(["\(setting.flag)=y"]).flags() == [setting.name: "y"], "\(setting.flag)=")
            #expect(Setting.help.contains("\(setting.flag) / TESSERA_\(setting.name) "), "--help lacks \(setting.name)")
        }
        let rows = readme.split(separator: "\n").filter { $0.range(of: #"^\| `[A-Z_<>]+` \|"#, options: .regularExpression) != nil }
        #expect(rows.count == Settings.table.count, "README rows: \(rows.count), settings: \(Settings.table.count)")
        #expect(throws: (any Error).self) { try SettingsOptions.parse(["--no-such-setting", "1"]).flags() }
        #expect(throws: (any Error).self) { try SettingsOptions.parse(["--port"]).flags() }
    }

    private static let binary = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/tessera").path

    @Test(
        "the binary stops on a bad value with one line naming it",
        .enabled(if: FileManager.default.isExecutableFile(atPath: binary), "no built binary at .build/debug/tessera; run swift build first"))
    func binaryRefusesBadPort() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-settings-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("TESSERA_") }
        environment["TESSERA_PORT"] = "abc"
        environment["TESSERA_DATABASE_URL"] = "sqlite::memory:"
        // Should it start serving after all, it is stopped (a signal, not an exit) rather than hang the suite.
        let run = try await ChildProcess.run([Self.binary], environment: environment, directory: directory, timeout: 30)
        let errorText = run.errors

        #expect(run.reason == .exit)
        #expect(run.status != 0)
        let lines = errorText.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.count == 1, "stderr: \(errorText)")
        #expect(lines.first?.contains("TESSERA_PORT") == true, "stderr: \(errorText)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("tessera.sqlite").path))
    }
}
