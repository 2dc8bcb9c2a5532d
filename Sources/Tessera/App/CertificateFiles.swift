import Foundation
import Logging
import NIOSSL
import Synchronization

/// The certificate and key of `TLS_CERT` and `TLS_KEY`, looked at again on every handshake: certbot
/// renews every 60 days, and the renewed pair serves the next connection without a restart. The
/// look is one `stat` of each file (following links, as a secret mounted through symlinks is
/// swapped) beside a handshake's key exchange and signature; the files are read only when they
/// changed, and a pair that failed is not read again until they change once more.
final class CertificateFiles: Sendable {
    struct Pair {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        let stamp: Stamp
    }

    /// What tells a changed file: the file a path leads to, its size, and its change time.
    struct Stamp: Equatable {
        let certificate: [Int]
        let key: [Int]
    }

    private struct State {
        var pair: Pair
        var refused: Stamp?
    }

    let files: TLSFiles
    private let logger: Logger
    private let state: Mutex<State>

    /// Fails when the files cannot be read, do not parse, or do not belong together: better not to
    /// start than to serve a certificate no handshake can use.
    init(_ files: TLSFiles, logger: Logger) throws {
        self.files = files
        self.logger = logger
        state = Mutex(State(pair: try Self.load(files, stamp: try Self.stamp(files))))
    }

    /// The server's TLS configuration: the pair loaded now, and a callback handing each handshake
    /// the pair on disk at that moment.
    var configuration: TLSConfiguration {
        var configuration = Self.serving(onDisk())
        configuration.sslContextCallback = { [self] _, promise in
            let pair = self.onDisk()
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = pair.chain.map { .certificate($0) }
            override.privateKey = .privateKey(pair.key)
            promise.succeed(override)
        }
        return configuration
    }

    /// The pair on disk, re-read if either file changed. A pair caught half-written (certbot's hook
    /// copies the two files one after the other) or broken keeps the previous one serving, and is
    /// read again only once the files change again: a client opening connections cannot make every
    /// handshake parse and log.
    func onDisk() -> Pair {
        let stamp = try? Self.stamp(files)
        return state.withLock { state in
            guard let stamp, stamp != state.pair.stamp, stamp != state.refused else { return state.pair }
            do {
                state.pair = try Self.load(files, stamp: stamp)
                state.refused = nil
                logger.notice("TLS certificate reloaded", metadata: ["certificate": "\(files.certificate)"])
            } catch {
                state.refused = stamp
                logger.warning("TLS files on disk not used; the previous pair still serves", metadata: ["error": "\(error)"])
            }
            return state.pair
        }
    }

    struct Unusable: Error, CustomStringConvertible {
        let description: String
    }

    static func serving(_ pair: Pair) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: pair.chain.map { .certificate($0) }, privateKey: .privateKey(pair.key))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }

    static func stamp(_ files: TLSFiles) throws -> Stamp {
        func of(_ path: String) throws -> [Int] {
            var info = stat()
            guard stat(path, &info) == 0 else { throw Unusable(description: "\(path): \(String(cString: strerror(errno)))") }
            return [Int(info.st_dev), Int(info.st_ino), Int(info.st_size), info.st_ctim.tv_sec, info.st_ctim.tv_nsec]
        }
        return Stamp(certificate: try of(files.certificate), key: try of(files.key))
    }

    static func load(_ files: TLSFiles, stamp: Stamp) throws -> Pair {
        let pair: Pair
        do {
            pair = Pair(
                chain: try NIOSSLCertificate.fromPEMFile(files.certificate), key: try NIOSSLPrivateKey(file: files.key, format: .pem), stamp: stamp)
        } catch {
            throw Unusable(description: "TLS_CERT \(files.certificate) or TLS_KEY \(files.key) cannot be read as PEM: \(error)")
        }
        guard !pair.chain.isEmpty else { throw Unusable(description: "TLS_CERT \(files.certificate) holds no certificate") }
        // BoringSSL refuses a key that is not the certificate's, whatever the kind of key.
        do {
            _ = try NIOSSLContext(configuration: serving(pair))
        } catch {
            throw Unusable(description: "TLS_KEY \(files.key) does not go with the certificate in TLS_CERT \(files.certificate): \(error)")
        }
        return pair
    }
}
