import Foundation
import Logging
import TesseraSMTP

/// Everything an operator can set, read once at start from `TESSERA_*` variables and flags and
/// checked there: a bad value stops start-up with one line naming the variable.
public struct Settings: Sendable {
    public enum JWTAlgorithm: String, Sendable, CaseIterable {
        case es256 = "ES256"
        case eddsa = "EdDSA"
        case hs256 = "HS256"
    }

    public enum Registration: String, Sendable, CaseIterable {
        case open
        case approval
    }

    public enum LogFormat: String, Sendable, CaseIterable {
        case text
        case json
    }

    public var database: DatabaseSettings
    public var server: ServerSettings
    public var tokens: TokenSettings
    public var accounts: AccountSettings
    public var abuse: AbuseSettings
    public var mail: MailSettings
    public var marketplace: MarketplaceSettings
    public var signIn: SignInSettings
    /// Django's `SECRET_KEY`, while SimpleJWT refresh tokens from before the move are honoured.
    public var djangoSecretKey: String?

    /// Every setting, once: its name (without `TESSERA_`; the flag is the same in kebab case), its
    /// default and what it means. The flags, `--help` and the README's table come from here (a test
    /// holds the README to it).
    public static let table: [Setting] = [
        Setting(
            "DATABASE_URL", "sqlite:tessera.sqlite",
            "`sqlite:PATH`, `sqlite::memory:` or `postgres://user:pass@host:port/db` (`?sslmode=require` for TLS)"),
        Setting(
            "DATABASE_TIMEOUT", "5s",
            "longest wait for a PostgreSQL connection; then the request is answered 503 `database_unavailable`"
        ),
        Setting("HOST", "127.0.0.1", "address to listen on"),
        Setting("PORT", "8080", "port to listen on"),
        Setting("TLS_CERT", "", "PEM certificate chain: serve HTTPS (HTTP/2 or HTTP/1.1 by ALPN) with it; a renewed file is used without a restart"),
        Setting("TLS_KEY", "", "PEM private key of `TLS_CERT`"),
        Setting("ISSUER", "tessera", "`iss` of issued tokens; others are refused"),
        Setting("AUDIENCE", "tessera", "`aud` of issued tokens; others are refused"),
        Setting("JWT_ALG", "ES256", "`ES256`, `EdDSA`, or `HS256` (then `JWT_SECRET` is required)"),
        Setting("JWT_SECRET", "", "HS256 key, at least 32 bytes"),
        Setting("ACCESS_TTL", "15m", "access token lifetime"),
        Setting("REFRESH_TTL", "7d", "refresh token lifetime, from its rotation"),
        Setting("SESSION_TTL", "30d", "absolute session lifetime; no token outlives it"),
        Setting("REFRESH_REUSE_GRACE", "10s", "how long a just-rotated refresh token still returns the session's live pair"),
        Setting("DEFAULT_PHONE_REGION", "RU", "how national phone numbers are read: RU KZ BY UA UZ KG AM GE AZ US CA GB FR TR IN"),
        Setting("REGISTRATION", "open", "`open`, or `approval` (sign-ups start `pending` and get no tokens)"),
        Setting("LOG_FORMAT", "text", "`text` or `json` (one object per line on stderr)"),
        Setting("LOG_LEVEL", "info", "`trace` … `critical`; requests are logged at `debug`"),
        Setting("CORS_ORIGINS", "", "comma-separated origins (`https://app.example.com`, or `*`) whose browser apps may call the API"),
        Setting("RATE_LIMITS", "on", "`off` disables every rate limit and lockout (for load tests)"),
        Setting("RATE_LIMIT_TOKEN", "30/1m", "sign-ins per client address per window (`off` to disable)"),
        Setting("RATE_LIMIT_TOKEN_LOGIN", "10/1m", "sign-ins per login name per window"),
        Setting("RATE_LIMIT_REGISTER", "10/1m", "registrations per client address per window"),
        Setting("RATE_LIMIT_RESET", "5/1m", "password-reset requests per address and per login per window"),
        Setting("RATE_LIMIT_MAIL", "5/1h", "mail a signed-in caller triggers (verification requests, e-mail changes) per account and per recipient"),
        Setting("THROTTLE", "off", "general limit on every `/api/` request per client address, e.g. `600/1m`"),
        Setting("LOCKOUT_FAILURES", "5", "failed sign-ins that lock an account"),
        Setting("LOCKOUT_WAIT", "1m", "first lock; each further run of failures adds as much again"),
        Setting("LOCKOUT_MAX_WAIT", "15m", "longest lock"),
        Setting("LOCKOUT_RESET", "12h", "failures older than this are forgotten"),
        Setting("TRUSTED_PROXIES", "", "addresses or CIDR ranges whose `X-Forwarded-For` is believed (e.g. `127.0.0.1,10.0.0.0/8`)"),
        Setting("PUBLIC_URL", "", shown: "`http://HOST:PORT`", "where links in mail start (`https://auth.example.com`)"),
        Setting(
            "SMTP_URL", "",
            "`smtp://user:pass@host:port` (STARTTLS required, or to a loopback host used when offered; `?starttls=require` or `?starttls=never`), `smtps://…` for implicit TLS; without it mail goes to the log"
        ),
        Setting("MAIL_FROM", "no-reply@localhost", "sender of Tessera's mail, `addr` or `Name <addr>`"),
        Setting("VERIFY_TTL", "2d", "lifetime of an e-mail verification link"),
        Setting("RESET_TTL", "1h", "lifetime of a password-reset link"),
        Setting(
            "AVATAR_MAX_BYTES", "5242880", shown: "`5242880` (5 MiB)",
            "largest avatar image, in bytes (1024 to 67108864); a larger upload is refused while it streams in"),
        Setting("SMS_URL", "", "HTTP gateway that receives `POST {\"to\", \"text\"}` for each text (codes); without it texts go to the log"),
        Setting("SMS_TOKEN", "", "sent to the SMS gateway as `Authorization: Bearer …` when set"),
        Setting("RATE_LIMIT_SMS", "5/1h", "texts with codes per phone and per client address per window"),
        Setting("OIDC_PROVIDERS", "", "comma-separated names of OpenID Connect providers for social sign-in, e.g. `google,apple`"),
        Setting("OIDC_<NAME>_ISSUER", "", "for each named provider: its issuer, e.g. `https://accounts.google.com`"),
        Setting("OIDC_<NAME>_CLIENT_IDS", "", "for each named provider: the client ids (web, iOS, Android) an id_token may be issued to"),
        Setting(
            "OIDC_<NAME>_JWKS_URL", "",
            "for each named provider, optional: where its keys are; otherwise read from the issuer's `/.well-known/openid-configuration`"),
        Setting("VK_CLIENT_ID", "", "VK ID app id; VK sign-in is offered when it and `VK_CLIENT_SECRET` are set"),
        Setting("VK_CLIENT_SECRET", "", "VK ID app secret (\"protected key\")"),
        Setting("VK_TOKEN_URL", "https://id.vk.com/oauth2/auth", "VK ID code exchange endpoint"),
        Setting("VK_USERINFO_URL", "https://id.vk.com/oauth2/user_info", "VK ID user-info endpoint"),
        Setting(
            "DJANGO_SECRET_KEY", "",
            "the Django project's `SECRET_KEY`: the refresh call then also takes a SimpleJWT refresh token of an imported user, once (docs/MIGRATING.md)"
        ),
    ]

    /// The default of each setting, by name.
    static let defaults: [String: String] = Dictionary(uniqueKeysWithValues: table.map { ($0.name, $0.defaultValue) })

    /// Reads settings from `values` keyed by name without the prefix; missing names take their defaults.
    public init(_ values: [String: String]) throws(SettingsError) {
        let reader = SettingsReader(values: values)
        let databaseURL = try reader.read("DATABASE_URL", expected: "sqlite:PATH, sqlite::memory: or postgres://user:pass@host:port/db") {
            DatabaseURL($0)
        }
        let databaseTimeout = try reader.duration("DATABASE_TIMEOUT")
        let host = try reader.read("HOST", expected: "a host name or address") { $0.isEmpty ? nil : $0 }
        let port = try reader.read("PORT", expected: "a port number 1-65535") { Int($0).flatMap { (1...65535).contains($0) ? $0 : nil } }
        let issuer = try reader.read("ISSUER", expected: "a non-empty string") { $0.isEmpty ? nil : $0 }
        let audience = try reader.read("AUDIENCE", expected: "a non-empty string") { $0.isEmpty ? nil : $0 }
        let jwtAlgorithm = try reader.read("JWT_ALG", expected: "ES256, EdDSA or HS256") { JWTAlgorithm(rawValue: $0) }
        let secretText = try reader.read("JWT_SECRET", expected: "at least 32 bytes") { $0.isEmpty || $0.utf8.count >= 32 ? $0 : nil }
        let jwtSecret = secretText.isEmpty ? nil : secretText
        if jwtAlgorithm == .hs256 && jwtSecret == nil {
            throw SettingsError(name: "JWT_SECRET", message: "is required when TESSERA_JWT_ALG=HS256 (at least 32 bytes)")
        }
        let accessTTL = try reader.duration("ACCESS_TTL")
        let refreshTTL = try reader.duration("REFRESH_TTL")
        let sessionTTL = try reader.duration("SESSION_TTL")
        let refreshReuseGrace = try reader.duration("REFRESH_REUSE_GRACE", allowZero: true)
        let defaultPhoneRegion = try reader.read("DEFAULT_PHONE_REGION", expected: "a region code such as RU, KZ, US") {
            PhoneRegion(code: $0.uppercased())
        }
        let registration = try reader.read("REGISTRATION", expected: "open or approval") { Registration(rawValue: $0) }
        let logFormat = try reader.read("LOG_FORMAT", expected: "text or json") { LogFormat(rawValue: $0) }
        let logLevel = try reader.read("LOG_LEVEL", expected: "trace, debug, info, notice, warning, error or critical") {
            Logger.Level(rawValue: $0.lowercased())
        }
        let corsOrigins = try reader.read("CORS_ORIGINS", expected: "a comma-separated list of origins such as https://app.example.com") {
            let origins = $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            return origins.allSatisfy { $0 == "*" || $0.hasPrefix("http://") || $0.hasPrefix("https://") } ? Set(origins) : nil
        }
        let rateLimits = try reader.read("RATE_LIMITS", expected: "on or off") { ["on": true, "off": false][$0.lowercased()] }
        let tlsCert = try reader.read("TLS_CERT", expected: "the path of a PEM certificate file") { $0 }
        let tlsKey = try reader.read("TLS_KEY", expected: "the path of a PEM private key file") { $0 }
        guard tlsCert.isEmpty == tlsKey.isEmpty else {
            throw SettingsError(
                name: tlsCert.isEmpty ? "TLS_CERT" : "TLS_KEY", message: "is required with \(tlsCert.isEmpty ? "TLS_KEY" : "TLS_CERT")")
        }
        let tls = tlsCert.isEmpty ? nil : TLSFiles(certificate: tlsCert, key: tlsKey)
        let publicURL = try reader.read("PUBLIC_URL", expected: "an http(s) URL such as https://auth.example.com") { text in
            if text.isEmpty { return "\(tls == nil ? "http" : "https")://\(host):\(port)" }
            guard let url = URLComponents(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host?.isEmpty == false else { return nil }
            return text.hasSuffix("/") ? String(text.dropLast()) : text
        }
        let smtpURL = try reader.read("SMTP_URL", expected: "smtp://user:pass@host:port or smtps://user:pass@host:port") { text -> String?? in
            text.isEmpty ? .some(nil) : (SMTPConfiguration(url: text) == nil ? nil : .some(text))
        }
        let mailFrom = try reader.read("MAIL_FROM", expected: "an e-mail address") { text in
            text.contains("@") && !text.contains(where: { $0 == "\r" || $0 == "\n" }) ? text : nil
        }
        let trustedProxies = try reader.read("TRUSTED_PROXIES", expected: "a comma-separated list of addresses or CIDR ranges") { text in
            let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let ranges = parts.compactMap(IPRange.init)
            return ranges.count == parts.count ? ranges : nil
        }
        let verifyTTL = try reader.duration("VERIFY_TTL")
        let resetTTL = try reader.duration("RESET_TTL")
        let lockout = LockoutPolicy(
            failures: try reader.read("LOCKOUT_FAILURES", expected: "a whole number from 1") { Int($0).flatMap { $0 >= 1 ? $0 : nil } },
            wait: try reader.duration("LOCKOUT_WAIT"),
            maximumWait: try reader.duration("LOCKOUT_MAX_WAIT"),
            resetAfter: try reader.duration("LOCKOUT_RESET"))
        func limit(_ name: String) throws(SettingsError) -> RateLimit? {
            try reader.read(name, expected: "off or a limit such as 30/1m (requests per window)") { text -> RateLimit?? in
                text == "off" ? .some(nil) : RateLimit(text).map { .some($0) }
            }
        }
        let tokenRateLimit = try limit("RATE_LIMIT_TOKEN")
        let tokenLoginRateLimit = try limit("RATE_LIMIT_TOKEN_LOGIN")
        let registerRateLimit = try limit("RATE_LIMIT_REGISTER")
        let resetRateLimit = try limit("RATE_LIMIT_RESET")
        let mailRateLimit = try limit("RATE_LIMIT_MAIL")
        let throttle = try limit("THROTTLE")
        let avatarMaxBytes = try reader.read("AVATAR_MAX_BYTES", expected: "a number of bytes from 1024 to 67108864") {
            Int($0).flatMap { (1024...(64 << 20)).contains($0) ? $0 : nil }
        }
        func httpURL(_ name: String) throws(SettingsError) -> String? {
            try reader.read(name, expected: "an http(s) URL") { text -> String?? in
                guard !text.isEmpty else { return .some(nil) }
                guard let url = URLComponents(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host?.isEmpty == false else {
                    return nil
                }
                return .some(text)
            }
        }
        let smsURL = try httpURL("SMS_URL")
        let smsToken = try reader.read("SMS_TOKEN", expected: "a token without spaces") { $0.contains(where: \.isWhitespace) ? nil : $0 }
        let smsRateLimit = try limit("RATE_LIMIT_SMS")
        let providerNames = try reader.read("OIDC_PROVIDERS", expected: "a comma-separated list of names of letters and digits") { text in
            let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
            let valid = names.allSatisfy { name in name != "vk" && name.count <= 32 && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }
            }
            return valid && Set(names).count == names.count ? names : nil
        }
        var providers: [OIDCProviderSettings] = []
        for name in providerNames {
            let prefix = "OIDC_\(name.uppercased())_"
            guard let issuer = try httpURL(prefix + "ISSUER") else {
                throw SettingsError(name: prefix + "ISSUER", message: "is required for the provider '\(name)' named in TESSERA_OIDC_PROVIDERS")
            }
            let clientIDs = (values[prefix + "CLIENT_IDS"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
            guard !clientIDs.isEmpty else {
                throw SettingsError(name: prefix + "CLIENT_IDS", message: "must name at least one client id for the provider '\(name)'")
            }
            providers.append(OIDCProviderSettings(name: name, issuer: issuer, clientIDs: clientIDs, jwksURL: try httpURL(prefix + "JWKS_URL")))
        }
        let vkClientID = try reader.read("VK_CLIENT_ID", expected: "a VK app id") { $0 }
        let vkClientSecret = try reader.read("VK_CLIENT_SECRET", expected: "a VK app secret") { $0 }
        let vk: VKSettings? =
            vkClientID.isEmpty || vkClientSecret.isEmpty
            ? nil
            : VKSettings(
                clientID: vkClientID, clientSecret: vkClientSecret, tokenURL: try httpURL("VK_TOKEN_URL") ?? "",
                userInfoURL: try httpURL("VK_USERINFO_URL") ?? "")
        let djangoKey = try reader.read("DJANGO_SECRET_KEY", expected: "Django's SECRET_KEY") { $0 }
        database = DatabaseSettings(url: databaseURL, timeout: databaseTimeout)
        server = ServerSettings(
            host: host, port: port, tls: tls, corsOrigins: corsOrigins, trustedProxies: trustedProxies, throttle: throttle, logFormat: logFormat,
            logLevel: logLevel)
        tokens = TokenSettings(
            issuer: issuer, audience: audience, jwtAlgorithm: jwtAlgorithm, jwtSecret: jwtSecret, accessTTL: accessTTL, refreshTTL: refreshTTL,
            sessionTTL: sessionTTL, refreshReuseGrace: refreshReuseGrace)
        accounts = AccountSettings(
            defaultPhoneRegion: defaultPhoneRegion, registration: registration, verifyTTL: verifyTTL, resetTTL: resetTTL,
            tokenRateLimit: tokenRateLimit, tokenLoginRateLimit: tokenLoginRateLimit, registerRateLimit: registerRateLimit,
            resetRateLimit: resetRateLimit, mailRateLimit: mailRateLimit)
        abuse = AbuseSettings(rateLimits: rateLimits, lockout: lockout)
        mail = MailSettings(publicURL: publicURL, smtpURL: smtpURL, mailFrom: mailFrom)
        marketplace = MarketplaceSettings(avatarMaxBytes: avatarMaxBytes)
        djangoSecretKey = djangoKey.isEmpty ? nil : djangoKey
        signIn = SignInSettings(smsURL: smsURL, smsToken: smsToken.isEmpty ? nil : smsToken, smsRateLimit: smsRateLimit, oidc: providers, vk: vk)
    }

    /// The longest window of any rate limit: a window that started before it is over.
    var longestRateWindow: TimeInterval {
        [
            accounts.tokenRateLimit, accounts.tokenLoginRateLimit, accounts.registerRateLimit, accounts.resetRateLimit, accounts.mailRateLimit,
            server.throttle, signIn.smsRateLimit,
        ].compactMap { $0?.window }.max() ?? 0
    }

    /// Settings from the process environment (`TESSERA_*`), overridden by `flags` (same names).
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment, flags: [String: String] = [:])
        throws(SettingsError) -> Settings
    {
        var values: [String: String] = [:]
        for (key, value) in environment where key.hasPrefix("TESSERA_") {
            values[String(key.dropFirst("TESSERA_".count))] = value
        }
        values.merge(flags) { _, flag in flag }
        return try Settings(values)
    }
}

/// One setting of `Settings.table`.
public struct Setting: Sendable {
    public let name: String
    public let defaultValue: String
    /// The default as the README shows it, when the value alone does not say it.
    let shown: String?
    public let meaning: String

    init(_ name: String, _ defaultValue: String, shown: String? = nil, _ meaning: String) {
        (self.name, self.defaultValue, self.shown, self.meaning) = (name, defaultValue, shown, meaning)
    }

    /// `--database-url`.
    public var flag: String { "--" + name.lowercased().replacingOccurrences(of: "_", with: "-") }

    /// `--oidc-google-issuer` → `OIDC_GOOGLE_ISSUER`: the rows written `OIDC_<NAME>_…` stand for
    /// one setting per provider.
    static func perProviderName(flag: String) -> String? {
        guard flag.hasPrefix("--oidc-") else { return nil }
        let name = String(flag.dropFirst(2)).uppercased().replacingOccurrences(of: "-", with: "_")
        let perProvider = Settings.table.filter { $0.name.contains("<NAME>") }.map { $0.name.replacingOccurrences(of: "OIDC_<NAME>", with: "") }
        return perProvider.contains { suffix in name.hasSuffix(suffix) && name.count > "OIDC_".count + suffix.count } ? name : nil
    }

    /// The setting's row of the README's configuration table.
    public var readmeRow: String { "| `\(name)` | \(shown ?? (defaultValue.isEmpty ? "—" : "`\(defaultValue)`")) | \(meaning) |" }

    /// Every setting as `--help` lists it.
    static var help: String {
        "Settings (environment TESSERA_NAME, or the flag; a flag wins):\n"
            + Settings.table.map {
                "  \($0.flag) / TESSERA_\($0.name) (default: \($0.shown ?? ($0.defaultValue.isEmpty ? "none" : $0.defaultValue)))\n      \($0.meaning)"
            }
            .joined(separator: "\n")
    }
}

/// Keycloak-style brute-force protection: after `failures` failed logins the account waits `wait`,
/// then `wait` more for each further run of `failures`, up to `maximumWait`; counts reset after
/// `resetAfter` without a failure.
public struct LockoutPolicy: Sendable, Equatable {
    public var failures: Int
    public var wait: TimeInterval
    public var maximumWait: TimeInterval
    public var resetAfter: TimeInterval

    /// How long an account with `failures` recent failures stays locked; nil when it is not.
    func lock(after failures: Int) -> TimeInterval? {
        guard failures >= self.failures else { return nil }
        return min(wait * Double(failures / self.failures), maximumWait)
    }
}

/// `30/1m`: at most 30 requests per one-minute window.
public struct RateLimit: Sendable, Equatable {
    public let limit: Int
    public let window: TimeInterval

    init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let limit = Int(parts[0]), limit > 0, let window = parseDuration(String(parts[1])), window > 0 else { return nil }
        self.limit = limit
        self.window = window
    }
}

/// A setting that could not be read; its description is the one line start-up prints.
public struct SettingsError: Error, CustomStringConvertible, Equatable {
    public let name: String
    public let message: String

    public var description: String { "TESSERA_\(name) \(message)" }
}

private struct SettingsReader {
    let values: [String: String]

    func read<T>(_ name: String, expected: String, _ parse: (String) -> T?) throws(SettingsError) -> T {
        let raw = values[name] ?? Settings.defaults[name] ?? ""
        guard let value = parse(raw.trimmingCharacters(in: .whitespaces)) else {
            // Secrets are never echoed; a URL's password is masked.
            let shown = ["JWT_SECRET", "DJANGO_SECRET_KEY"].contains(name) ? "" : ", got '\(maskingPassword(raw))'"
            throw SettingsError(name: name, message: "must be \(expected)\(shown)")
        }
        return value
    }

    func duration(_ name: String, allowZero: Bool = false) throws(SettingsError) -> TimeInterval {
        try read(name, expected: "a duration such as 900, 15m, 7d or 10s\(allowZero ? "" : " above zero")") {
            parseDuration($0).flatMap { $0 > 0 || (allowZero && $0 == 0) ? $0 : nil }
        }
    }
}

/// `postgres://user:secret@host` → `postgres://user:***@host`.
func maskingPassword(_ text: String) -> String {
    guard let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].lastIndex(of: "@"),
        let colon = text[scheme.upperBound..<at].firstIndex(of: ":")
    else { return text }
    return text[..<text.index(after: colon)] + "***" + text[at...]
}

/// `900`, `900s`, `15m`, `2h`, `7d` → seconds.
func parseDuration(_ text: String) -> TimeInterval? {
    let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
    var number = Substring(text)
    var scale = 1.0
    if let last = text.last, let unit = units[last] {
        number = number.dropLast()
        scale = unit
    }
    guard !number.isEmpty, number.allSatisfy(\.isASCII), let value = Int(number), value >= 0 else { return nil }
    return Double(value) * scale
}

/// Where the rows live.
public struct DatabaseSettings: Sendable {
    public var url: DatabaseURL
    public var timeout: TimeInterval
}

/// The HTTP server: where it listens, whom it believes, what it logs.
public struct ServerSettings: Sendable {
    public var host: String
    public var port: Int
    /// Native TLS; without it Tessera speaks plain HTTP for a proxy in front.
    public var tls: TLSFiles?
    public var corsOrigins: Set<String>
    public var trustedProxies: [IPRange]
    public var throttle: RateLimit?
    public var logFormat: Settings.LogFormat
    public var logLevel: Logger.Level
}

/// The PEM files of `TLS_CERT` and `TLS_KEY`.
public struct TLSFiles: Sendable {
    public var certificate: String
    public var key: String
}

/// Tokens and sessions: what is signed, how, and for how long.
public struct TokenSettings: Sendable {
    public var issuer: String
    public var audience: String
    public var jwtAlgorithm: Settings.JWTAlgorithm
    public var jwtSecret: String?
    public var accessTTL: TimeInterval
    public var refreshTTL: TimeInterval
    public var sessionTTL: TimeInterval
    public var refreshReuseGrace: TimeInterval
}

/// Sign-up, sign-in and recovery, and the limits on each.
public struct AccountSettings: Sendable {
    public var defaultPhoneRegion: PhoneRegion
    public var registration: Settings.Registration
    public var verifyTTL: TimeInterval
    public var resetTTL: TimeInterval
    public var tokenRateLimit: RateLimit?
    public var tokenLoginRateLimit: RateLimit?
    public var registerRateLimit: RateLimit?
    public var resetRateLimit: RateLimit?
    public var mailRateLimit: RateLimit?
}

/// The switch for every rate limit and lockout, and the lockout itself.
public struct AbuseSettings: Sendable {
    public var rateLimits: Bool
    public var lockout: LockoutPolicy
}

/// Outgoing mail.
public struct MailSettings: Sendable {
    public var publicURL: String
    public var smtpURL: String?
    public var mailFrom: String
}

/// Specialists, services and bookings.
public struct MarketplaceSettings: Sendable {
    public var avatarMaxBytes: Int
}

/// The ways to sign in besides a password (SPEC §5b).
public struct SignInSettings: Sendable {
    public var smsURL: String?
    public var smsToken: String?
    public var smsRateLimit: RateLimit?
    public var oidc: [OIDCProviderSettings]
    public var vk: VKSettings?
}

/// One OpenID Connect provider: `TESSERA_OIDC_<NAME>_*`.
public struct OIDCProviderSettings: Sendable, Equatable {
    public var name: String
    public var issuer: String
    public var clientIDs: [String]
    public var jwksURL: String?
}

/// VK ID's OAuth 2.0 code exchange.
public struct VKSettings: Sendable, Equatable {
    public var clientID: String
    public var clientSecret: String
    public var tokenURL: String
    public var userInfoURL: String
}
