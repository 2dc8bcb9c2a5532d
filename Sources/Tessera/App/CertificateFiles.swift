import Crypto
import CryptoExtras
import Foundation
import Logging
import NIOSSL
import Synchronization

/// The certificate and key of `TLS_CERT` and `TLS_KEY`, looked at again on every handshake: certbot
/// renews every 60 days, and the renewed pair serves the next connection without a restart. Two
/// `stat` calls beside a handshake's key exchange and signature cost nothing worth caching.
final class CertificateFiles: Sendable {
    struct Pair {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        let stamp: Stamp
    }

    /// What tells a changed file: its modification time and size, as `stat` gives them.
    struct Stamp: Equatable {
        let certificate: [Int]
        let key: [Int]
    }

    let files: TLSFiles
    private let logger: Logger
    private let current: Mutex<Pair>

    /// Fails when the files cannot be read, do not parse, or do not belong together: better not to
    /// start than to serve a certificate no handshake can use.
    init(_ files: TLSFiles, logger: Logger) throws {
        self.files = files
        self.logger = logger
        current = Mutex(try Self.load(files))
    }

    /// The server's TLS configuration: the pair loaded now, and a callback handing each handshake
    /// the pair on disk at that moment.
    var configuration: TLSConfiguration {
        let pair = current.withLock { $0 }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: pair.chain.map { .certificate($0) }, privateKey: .privateKey(pair.key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.sslContextCallback = { [self] _, promise in
            let pair = self.onDisk()
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = pair.chain.map { .certificate($0) }
            override.privateKey = .privateKey(pair.key)
            promise.succeed(override)
        }
        return configuration
    }

    /// The pair on disk, re-read if either file changed. A pair caught half-written (certbot
    /// replaces the two files one after the other) or broken keeps the previous one serving, and is
    /// tried again on the next handshake.
    func onDisk() -> Pair {
        current.withLock { pair in
            guard let stamp = try? Self.stamp(files), stamp != pair.stamp else { return pair }
            do {
                pair = try Self.load(files)
                logger.notice("TLS certificate reloaded", metadata: ["certificate": "\(files.certificate)"])
            } catch {
                logger.warning("TLS certificate on disk not used yet; the previous one still serves", metadata: ["error": "\(error)"])
            }
            return pair
        }
    }

    struct Unusable: Error, CustomStringConvertible {
        let description: String
    }

    static func stamp(_ files: TLSFiles) throws -> Stamp {
        func of(_ path: String) throws -> [Int] {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return [Int(modified * 1_000_000), (attributes[.size] as? Int) ?? -1]
        }
        return Stamp(certificate: try of(files.certificate), key: try of(files.key))
    }

    static func load(_ files: TLSFiles) throws -> Pair {
        let stamp = try stamp(files)
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        let keyPEM: String
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificate)
            keyPEM = try String(contentsOfFile: files.key, encoding: .utf8)
            key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        } catch {
            throw Unusable(description: "TLS_CERT \(files.certificate) or TLS_KEY \(files.key) cannot be read as PEM: \(error)")
        }
        guard let leaf = chain.first else { throw Unusable(description: "TLS_CERT \(files.certificate) holds no certificate") }
        if let publicKey = publicKeyDER(ofPrivateKeyPEM: keyPEM), try leaf.extractPublicKey().toSPKIBytes() != publicKey {
            throw Unusable(description: "TLS_KEY \(files.key) is not the key of the certificate in TLS_CERT \(files.certificate)")
        }
        return Pair(chain: chain, key: key, stamp: stamp)
    }

    /// The public key (SubjectPublicKeyInfo DER) of an EC P-256/P-384 or RSA key, to catch a
    /// certificate paired with another key; nil for a kind swift-crypto does not read.
    static func publicKeyDER(ofPrivateKeyPEM pem: String) -> [UInt8]? {
        if let key = try? P256.Signing.PrivateKey(pemRepresentation: pem) { return Array(key.publicKey.derRepresentation) }
        if let key = try? P384.Signing.PrivateKey(pemRepresentation: pem) { return Array(key.publicKey.derRepresentation) }
        if let key = try? _RSA.Signing.PrivateKey(pemRepresentation: pem) { return Array(key.publicKey.derRepresentation) }
        return nil
    }
}
