import Crypto
import Foundation
import Synchronization

/// The key Tessera seals its stored secrets with (two-factor secrets) and derives its keyed hashes
/// from (SMS codes): 256 random bits kept in `signing_keys` beside the token keys, created on
/// first start, the same on every instance. A dump of the other tables alone opens nothing; the
/// key is backed up and restored with the signing keys.
final class SecretBox: Sendable {
    static let kid = "secret-box"
    static let algorithm = "A256GCM"

    private let database: any Database
    private let key = Mutex<SymmetricKey?>(nil)

    init(database: any Database) {
        self.database = database
    }

    /// Reads the key, creating it if no instance has yet; runs before the server accepts requests.
    func load() async throws {
        let fresh = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
        let stored = try await SigningKeys.sharedSecret(Self.kid, algorithm: Self.algorithm, creating: fresh, database: database)
        guard let stored, let bytes = Data(base64Encoded: stored), bytes.count == 32 else {
            throw SecretBoxError(description: "the stored secret-box key is not 32 bytes of base64")
        }
        key.withLock { $0 = SymmetricKey(data: bytes) }
    }

    private func current() throws -> SymmetricKey {
        guard let key = key.withLock({ $0 }) else { throw SecretBoxError(description: "the secret-box key is not loaded") }
        return key
    }

    /// `text` sealed with AES-GCM (random nonce), as base64.
    func seal(_ text: String) throws -> String {
        guard let combined = try AES.GCM.seal(Data(text.utf8), using: try current()).combined else {
            throw SecretBoxError(description: "sealing failed")
        }
        return combined.base64EncodedString()
    }

    func open(_ sealed: String) throws -> String {
        guard let data = Data(base64Encoded: sealed) else { throw SecretBoxError(description: "a sealed value is not base64") }
        return String(decoding: try AES.GCM.open(try AES.GCM.SealedBox(combined: data), using: try current()), as: UTF8.self)
    }

    /// A key for one purpose, derived so that no two uses share key material.
    func derivedKey(_ purpose: String) throws -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: try current(), info: Data(purpose.utf8), outputByteCount: 32)
    }
}

struct SecretBoxError: Error, CustomStringConvertible {
    let description: String
}
