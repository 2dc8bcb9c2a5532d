import CArgon2
import Crypto
import CryptoExtras
import Foundation
import HummingbirdBcrypt
import NIOCore
import NIOPosix

/// Hashes new passwords with Argon2id and verifies the formats users bring from Django
/// (`pbkdf2_sha256`, `bcrypt_sha256`, `bcrypt`, `argon2`). All work runs on a dedicated thread pool,
/// never on an event loop, and the pool's size bounds how many hashes run at once.
public struct PasswordHasher: Sendable {
    /// Argon2id cost: OWASP's 7 MiB, five passes, one lane — rated as strong as its 19 MiB, two
    /// passes, at about the same time, with a third of the memory per hash in flight (Keycloak's
    /// default too), so a login storm does not swell the process.
    public struct Parameters: Sendable, Equatable {
        public var memoryKiB: UInt32 = 7 * 1024
        public var iterations: UInt32 = 5
        public var parallelism: UInt32 = 1

        public init() {}
    }

    public enum Outcome: Sendable, Equatable {
        case mismatch
        /// `rehash` is set when the stored hash is a legacy format or weaker than the current parameters.
        case match(rehash: Bool)
    }

    public let parameters: Parameters
    private let pool: NIOThreadPool
    /// A hash of no one's password, verified when a login names no account so both failures cost the same.
    private let decoy: String

    /// One process-wide pool for hashing, separate from the pool SQLite uses, so a login storm
    /// queues hashes without delaying queries.
    static let sharedPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: System.coreCount)
        pool.start()
        return pool
    }()

    public init(parameters: Parameters = .init()) {
        self.parameters = parameters
        self.pool = Self.sharedPool
        self.decoy = Self.argon2id(UUID().uuidString, parameters)
    }

    public func hash(_ password: String) async throws -> String {
        let parameters = self.parameters
        return try await pool.runIfActive {
            Self.yieldToRequests()
            return Self.argon2id(password, parameters)
        }
    }

    /// Checks `password` against `encoded`; with no stored hash it verifies the decoy and fails.
    public func verify(_ password: String, against encoded: String?) async throws -> Outcome {
        let parameters = self.parameters
        let decoy = self.decoy
        return try await pool.runIfActive {
            Self.yieldToRequests()
            guard let encoded else {
                _ = Self.verifyArgon2(password, decoy)
                return .mismatch
            }
            return Self.verifySync(password, encoded, current: parameters)
        }
    }

    /// The niceness hashing threads run at: below request handling (0), so a login storm queues
    /// logins behind each other instead of making every other request wait for a core.
    static let niceness: Int32 = 10

    /// Lowers the calling pool thread's priority (a per-thread attribute on Linux); the pool has no
    /// start hook, and one syscall per 20 ms hash is nothing.
    private static func yieldToRequests() {
        #if os(Linux)
            setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
        #endif
    }

    static func verifySync(_ password: String, _ encoded: String, current: Parameters) -> Outcome {
        if encoded.hasPrefix("$argon2id$") {
            guard verifyArgon2(password, encoded) else { return .mismatch }
            return .match(rehash: !encoded.hasPrefix(argon2Prefix(current)))
        }
        let legacy: Bool
        if encoded.hasPrefix("argon2$argon2") {
            legacy = verifyArgon2(password, String(encoded.dropFirst("argon2".count)))
        } else if encoded.hasPrefix("pbkdf2_sha256$") {
            legacy = verifyDjangoPBKDF2(password, encoded)
        } else if encoded.hasPrefix("bcrypt_sha256$") {
            // Django pre-hashes with SHA-256 (hex) to get past bcrypt's 72-byte limit.
            let prehashed = SHA256.hash(data: Data(password.utf8)).map { String(format: "%02x", $0) }.joined()
            legacy = Bcrypt.verify(prehashed, hash: String(encoded.dropFirst("bcrypt_sha256$".count)))
        } else if encoded.hasPrefix("bcrypt$") {
            legacy = Bcrypt.verify(password, hash: String(encoded.dropFirst("bcrypt$".count)))
        } else if encoded.hasPrefix("$2a$") || encoded.hasPrefix("$2b$") {
            legacy = Bcrypt.verify(password, hash: encoded)
        } else if encoded.hasPrefix("$2y$") {
            // PHP's name for the same algorithm as $2b$, which is all OpenBSD's checker reads.
            legacy = Bcrypt.verify(password, hash: "$2b$" + encoded.dropFirst(4))
        } else {
            legacy = false
        }
        return legacy ? .match(rehash: true) : .mismatch
    }

    private static func argon2Prefix(_ p: Parameters) -> String {
        "$argon2id$v=19$m=\(p.memoryKiB),t=\(p.iterations),p=\(p.parallelism)$"
    }

    private static func argon2id(_ password: String, _ p: Parameters) -> String {
        var salt = [UInt8](repeating: 0, count: 16)
        var generator = SystemRandomNumberGenerator()
        for index in salt.indices { salt[index] = generator.next() }
        let password = Array(password.utf8)
        let length = argon2_encodedlen(p.iterations, p.memoryKiB, p.parallelism, UInt32(salt.count), 32, Argon2_id)
        var encoded = [CChar](repeating: 0, count: length)
        let status = argon2id_hash_encoded(
            p.iterations, p.memoryKiB, p.parallelism, password, password.count, salt, salt.count, 32, &encoded, length)
        precondition(status == ARGON2_OK.rawValue, "argon2id_hash_encoded failed: \(status)")
        return String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func verifyArgon2(_ password: String, _ encoded: String) -> Bool {
        let password = Array(password.utf8)
        let type = encoded.hasPrefix("$argon2id$") ? Argon2_id : encoded.hasPrefix("$argon2i$") ? Argon2_i : Argon2_d
        return argon2_verify(encoded, password, password.count, type) == ARGON2_OK.rawValue
    }

    /// `pbkdf2_sha256$<iterations>$<salt>$<base64 digest>`, as Django writes it.
    private static func verifyDjangoPBKDF2(_ password: String, _ encoded: String) -> Bool {
        let parts = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, let iterations = Int(parts[1]), iterations > 0, iterations <= 10_000_000,
            let expected = Data(base64Encoded: String(parts[3])), expected.count >= 16
        else { return false }
        guard
            let derived = try? KDF.Insecure.PBKDF2.deriveKey(
                from: Array(password.utf8), salt: Array(parts[2].utf8), using: .sha256,
                outputByteCount: expected.count, unsafeUncheckedRounds: iterations)
        else { return false }
        return derived.withUnsafeBytes { Data($0) }.constantTimeEquals(expected)
    }
}

extension Data {
    func constantTimeEquals(_ other: Data) -> Bool {
        guard count == other.count else { return false }
        return zip(self, other).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
