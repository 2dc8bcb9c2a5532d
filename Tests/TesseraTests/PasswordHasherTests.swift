import Crypto
import CryptoExtras
import Foundation
import HummingbirdBcrypt
import NIOCore
import Testing

@testable import Tessera

/// The hash formats users bring from Django, built here the way Django writes them.
enum LegacyHash: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// `pbkdf2_sha256$<iterations>$<salt>$<base64 digest>`
    case djangoPBKDF2
    /// `bcrypt$$2b$...`
    case djangoBcrypt
    /// `bcrypt_sha256$$2b$...`: bcrypt of the lowercase hex SHA-256 of the password.
    case djangoBcryptSHA256
    /// A bare `$2b$...` hash, as other frameworks store it.
    case bareBcrypt
    /// A bare `$2y$...` hash, as PHP writes bcrypt (the same algorithm as `$2b$`).
    case phpBcrypt
    /// `argon2$argon2id$v=19$m=...,t=...,p=...$salt$hash`
    case djangoArgon2
    /// Tessera's own format at weaker parameters than the current ones.
    case weakArgon2id

    var testDescription: String { rawValue }

    static let weakParameters: PasswordHasher.Parameters = {
        var p = PasswordHasher.Parameters()
        p.memoryKiB = 8 * 1024
        p.iterations = 1
        p.parallelism = 2
        return p
    }()

    func make(_ password: String) async throws -> String {
        switch self {
        case .djangoPBKDF2:
            return Self.pbkdf2(password, salt: "Xq3vYpL0aRtz", iterations: 20_000)
        case .djangoBcrypt:
            return "bcrypt$" + Bcrypt.hash(password, cost: 4)
        case .djangoBcryptSHA256:
            return "bcrypt_sha256$" + Bcrypt.hash(Self.sha256Hex(password), cost: 4)
        case .bareBcrypt:
            return Bcrypt.hash(password, cost: 4)
        case .phpBcrypt:
            return "$2y$" + Bcrypt.hash(password, cost: 4).dropFirst(4)
        case .djangoArgon2:
            return "argon2" + (try await PasswordHasher(parameters: Self.weakParameters).hash(password))
        case .weakArgon2id:
            return try await PasswordHasher(parameters: Self.weakParameters).hash(password)
        }
    }

    static func pbkdf2(_ password: String, salt: String, iterations: Int) -> String {
        let key = try! KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password.utf8), salt: Array(salt.utf8), using: .sha256, outputByteCount: 32, unsafeUncheckedRounds: iterations)
        let digest = key.withUnsafeBytes { Data($0) }.base64EncodedString()
        return "pbkdf2_sha256$\(iterations)$\(salt)$\(digest)"
    }

    static func sha256Hex(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

@Suite("Password hashing", .throwawayDatabases)
struct PasswordHasherTests {
    static let hasher = PasswordHasher()
    #if os(Linux)
        /// The main thread's niceness (Linux answers for the thread group leader when given the pid).
        static var startingNiceness: Int32 { getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(getpid())) }
    #endif
    static let currentPrefix = "$argon2id$v=19$m=7168,t=5,p=1$"

    @Test("new hashes are Argon2id at OWASP's parameters, salted")
    func hashFormat() async throws {
        #expect(Self.hasher.parameters == PasswordHasher.Parameters())
        #expect(Self.hasher.parameters.memoryKiB == 7_168)
        #expect(Self.hasher.parameters.iterations == 5)
        #expect(Self.hasher.parameters.parallelism == 1)

        let password = "correct horse battery staple"
        let first = try await Self.hasher.hash(password)
        let second = try await Self.hasher.hash(password)
        #expect(first.hasPrefix(Self.currentPrefix), "\(first)")
        let parts = first.split(separator: "$", omittingEmptySubsequences: false)
        #expect(parts.count == 6, "\(first)")
        #expect(parts.count == 6 && parts[4].count >= 22 && parts[5].count >= 43, "salt of 16 bytes, hash of 32 bytes: \(first)")
        #expect(first != second, "every hash has its own salt")
        #expect(!first.contains(password))
    }

    #if os(Linux)
        @Test("hashing threads run below request handling, so a login storm does not starve other requests")
        func hashingYields() async throws {
            // Four hashes per pool thread keep every thread busy; then every pool thread reports its niceness.
            let items = 4 * System.coreCount
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<items { group.addTask { _ = try await Self.hasher.hash("correct horse battery staple") } }
                try await group.waitForAll()
            }
            let niceness = try await withThrowingTaskGroup(of: Int32.self) { group in
                for _ in 0..<items {
                    group.addTask {
                        try await PasswordHasher.sharedPool.runIfActive {
                            usleep(20_000)
                            return getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
                        }
                    }
                }
                return try await group.reduce(into: Set<Int32>()) { $0.insert($1) }
            }
            #expect(niceness == [PasswordHasher.niceness])
            // scripts/test runs the suite at nice 10 (so hashing does not starve there): the
            // caller's thread keeps whatever the process started with.
            #expect(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) == Self.startingNiceness, "only the hashing threads yield")
        }
    #endif

    @Test("verify: the right password matches without rehash, anything else does not match")
    func verifyCurrent() async throws {
        let password = "Ünïcødé пароль 🔑"
        let encoded = try await Self.hasher.hash(password)
        #expect(try await Self.hasher.verify(password, against: encoded) == .match(rehash: false))
        #expect(try await Self.hasher.verify("Ünïcødé пароль", against: encoded) == .mismatch)
        #expect(try await Self.hasher.verify("ünïcødé пароль 🔑", against: encoded) == .mismatch)
        #expect(try await Self.hasher.verify(password + " ", against: encoded) == .mismatch)
        #expect(try await Self.hasher.verify("", against: encoded) == .mismatch)
    }

    @Test("Argon2id at other parameters matches and asks for a rehash")
    func otherArgon2Parameters() async throws {
        var stronger = PasswordHasher.Parameters()
        stronger.memoryKiB = 24 * 1024
        stronger.iterations = 3
        for parameters in [LegacyHash.weakParameters, stronger] {
            let other = PasswordHasher(parameters: parameters)
            let encoded = try await other.hash("Tr0ub4dor&3-horse")
            #expect(!encoded.hasPrefix(Self.currentPrefix))
            #expect(try await Self.hasher.verify("Tr0ub4dor&3-horse", against: encoded) == .match(rehash: true))
            #expect(try await Self.hasher.verify("Tr0ub4dor&3-horsE", against: encoded) == .mismatch)
            // And the other way round: a hasher at those parameters would rehash today's default.
            let current = try await Self.hasher.hash("Tr0ub4dor&3-horse")
            #expect(try await other.verify("Tr0ub4dor&3-horse", against: current) == .match(rehash: true))
        }
    }

    @Test("legacy formats match and ask for a rehash; wrong passwords do not match", arguments: LegacyHash.allCases)
    func legacy(_ format: LegacyHash) async throws {
        let password = "Legacy-Pass!2019"
        let encoded = try await format.make(password)
        #expect(try await Self.hasher.verify(password, against: encoded) == .match(rehash: true), "\(encoded)")
        #expect(try await Self.hasher.verify("Legacy-Pass!2018", against: encoded) == .mismatch)
        #expect(try await Self.hasher.verify("legacy-pass!2019", against: encoded) == .mismatch)
        #expect(try await Self.hasher.verify("", against: encoded) == .mismatch)
    }

    @Test("Django pbkdf2_sha256 known vectors (hashlib.pbkdf2_hmac)")
    func pbkdf2KnownVectors() async throws {
        let vector = "pbkdf2_sha256$1000$seasalt$SicT7g6/GiwduLUZGhq78HOftl1wnzKYGB5ig5mMyD0="
        #expect(try await Self.hasher.verify("BenchPass!2024", against: vector) == .match(rehash: true))
        #expect(try await Self.hasher.verify("BenchPass!2025", against: vector) == .mismatch)
        #expect(try await Self.hasher.verify("benchpass!2024", against: vector) == .mismatch)
        // Same digest, other iteration count or salt: no match.
        #expect(
            try await Self.hasher.verify("BenchPass!2024", against: "pbkdf2_sha256$1001$seasalt$SicT7g6/GiwduLUZGhq78HOftl1wnzKYGB5ig5mMyD0=")
                == .mismatch)
        #expect(
            try await Self.hasher.verify("BenchPass!2024", against: "pbkdf2_sha256$1000$seasalT$SicT7g6/GiwduLUZGhq78HOftl1wnzKYGB5ig5mMyD0=")
                == .mismatch)

        let unicode = "pbkdf2_sha256$1200$x7Gq2$rNK2wvxltwQrYJozhu1enOMVQGMP98jksN26ywbAeHo="
        #expect(try await Self.hasher.verify("пароль-Ünï", against: unicode) == .match(rehash: true))
        #expect(try await Self.hasher.verify("пароль-Uni", against: unicode) == .mismatch)

        // The helper the login tests use writes the same thing Django does.
        #expect(LegacyHash.pbkdf2("BenchPass!2024", salt: "seasalt", iterations: 1000) == vector)
    }

    @Test("bcrypt known vector (crypt_blowfish)")
    func bcryptKnownVector() async throws {
        let vector = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
        #expect(try await Self.hasher.verify("U*U", against: vector) == .match(rehash: true))
        #expect(try await Self.hasher.verify("U*U", against: "bcrypt$" + vector) == .match(rehash: true))
        #expect(try await Self.hasher.verify("U*V", against: vector) == .mismatch)
        #expect(try await Self.hasher.verify("U*U", against: "bcrypt_sha256$" + vector) == .mismatch, "bcrypt_sha256 pre-hashes")
    }

    @Test(
        "unknown, malformed and empty hashes never match",
        arguments: [
            ("", ""),
            ("", "anything"),
            ("BenchPass!2024", "BenchPass!2024"),
            ("!", ""),
            ("!unusable-password-marker", "!unusable-password-marker"),
            ("md5$seasalt$9457f1a1a22825462e969ce23555720c", "BenchPass!2024"),
            ("pbkdf2_sha1$1000$seasalt$fh/K8YlXwtG2WB0mEswcUIWnl7M=", "BenchPass!2024"),
            ("pbkdf2_sha256$1000$seasalt$", "BenchPass!2024"),
            ("pbkdf2_sha256$1000$seasalt$", ""),
            ("pbkdf2_sha256$0$seasalt$SicT7g6/GiwduLUZGhq78HOftl1wnzKYGB5ig5mMyD0=", "BenchPass!2024"),
            ("pbkdf2_sha256$-1$seasalt$SicT7g6/GiwduLUZGhq78HOftl1wnzKYGB5ig5mMyD0=", "BenchPass!2024"),
            ("pbkdf2_sha256$$seasalt$SicT7g6/GiwduLUZGhq78HOftl1wnzKYGB5ig5mMyD0=", "BenchPass!2024"),
            ("pbkdf2_sha256$1000$SicT7g6/GiwduLUZGhq78HOftl1wnzKYGB5ig5mMyD0=", "BenchPass!2024"),
            ("pbkdf2_sha256$1000$seasalt$not base64!", "BenchPass!2024"),
            ("pbkdf2_sha256", ""),
            ("bcrypt$", ""),
            ("bcrypt_sha256$", ""),
            ("$2b$", ""),
            ("$2b$04$", ""),
            ("$argon2id$", ""),
            ("$argon2id$v=19$m=19456,t=2,p=1$$", ""),
            ("argon2$", ""),
            ("argon2$argon2id$", ""),
            ("$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$", ""),
            ("sha256$BenchPass!2024", "BenchPass!2024"),
        ])
    func neverMatches(_ encoded: String, _ password: String) async throws {
        #expect(try await Self.hasher.verify(password, against: encoded) == .mismatch, "\(encoded) matched \(password)")
    }

    @Test("with no stored hash, verify works through a decoy at today's cost and fails")
    func decoy() async throws {
        #expect(try await Self.hasher.verify("anything", against: nil) == .mismatch)
        #expect(try await Self.hasher.verify("", against: nil) == .mismatch)
        // The unknown-login path must cost what a real verification costs: the decoy it checks is a
        // hash in the current format at the current parameters, not a cheap stand-in.
        let decoy = Mirror(reflecting: Self.hasher).children.first { $0.label == "decoy" }?.value as? String
        let hash = try #require(decoy, "PasswordHasher keeps a decoy hash for unknown logins")
        #expect(hash.hasPrefix(Self.currentPrefix), "\(hash)")
        // Another hasher at other parameters keeps a decoy at those parameters.
        let weak = PasswordHasher(parameters: LegacyHash.weakParameters)
        let weakDecoy = Mirror(reflecting: weak).children.first { $0.label == "decoy" }?.value as? String
        #expect(weakDecoy?.hasPrefix("$argon2id$v=19$m=8192,t=1,p=2$") == true, "\(weakDecoy ?? "nil")")
    }
}

@Suite("Password policy", .throwawayDatabases)
struct PasswordPolicyTests {
    let policy = PasswordPolicy()

    @Test(
        "acceptable passwords have no problems",
        arguments: [
            goodPassword,
            "Zq8#vLp2",
            "correct horse battery staple",
            "пароль-очень-надёжный-42",
            String(repeating: "ab", count: 512),
        ])
    func acceptable(_ password: String) {
        #expect(policy.problems(password, identifiers: ["anna.petrova@example.com", "anna_p", "Anna", "Petrova"]) == [])
    }

    @Test("too short", arguments: ["", "a", "Xy7!ab", "Xy7!abc"])
    func tooShort(_ password: String) {
        let problems = policy.problems(password, identifiers: [])
        #expect(problems.contains { $0.contains("too short") }, "\(problems)")
    }

    @Test("eight characters are enough, counted as characters not bytes")
    func eightCharacters() {
        #expect(policy.problems("Zq8#vLp2", identifiers: []) == [])
        #expect(policy.problems("жЖ8#юЮ2щ", identifiers: []) == [])
        #expect(!policy.problems("жЖ8#юЮ2", identifiers: []).isEmpty)
    }

    @Test("at most 1024 bytes")
    func tooLong() {
        #expect(policy.problems(String(repeating: "ab", count: 512), identifiers: []) == [])
        #expect(policy.problems(String(repeating: "ab", count: 512) + "c", identifiers: []).contains { $0.contains("too long") })
        // 513 characters but 1026 bytes.
        let cyrillic = String(repeating: "ж", count: 513)
        #expect(policy.problems(cyrillic, identifiers: []).contains { $0.contains("too long") })
    }

    @Test("common passwords, in any case", arguments: ["password", "password123", "PassWord123", "qwerty123", "iloveyou", "12345678"])
    func common(_ password: String) {
        let problems = policy.problems(password, identifiers: [])
        #expect(problems.contains { $0.contains("too common") }, "\(problems)")
    }

    @Test("entirely numeric", arguments: ["83920174652", "5550192837461", "٣٤٥٦٧٨٩٠١٢"])
    func numeric(_ password: String) {
        let problems = policy.problems(password, identifiers: [])
        #expect(problems.contains { $0.contains("numeric") }, "\(problems)")
    }

    @Test(
        "too similar to the email or username",
        arguments: [
            ("maximilian2024", "maximilian"),
            ("Maximilian!", "maximilian"),
            ("jonathan.doe", "jonathan.doe@example.com"),
            ("jonathan.doe@example.com", "jonathan.doe@example.com"),
            ("JonathanDoe1", "jonathandoe"),
            ("katerina.s!", "katerina.s@example.com"),
        ])
    func similar(_ password: String, _ identifier: String) {
        let problems = policy.problems(password, identifiers: [nil, identifier])
        #expect(problems.contains { $0.contains("similar") }, "\(problems)")
        // Not when the identifier is someone else's.
        #expect(!policy.problems(password, identifiers: ["zz-unrelated-qq"]).contains { $0.contains("similar") })
    }
}
