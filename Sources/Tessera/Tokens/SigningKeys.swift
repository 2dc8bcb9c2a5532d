import Crypto
import Foundation
import JWTKit
import SQLKit
import ServiceLifecycle
import Synchronization

/// The keys tokens are signed and checked with. Asymmetric keys live in the database, so every
/// instance on one PostgreSQL signs with the same key; the newest is active, older ones still verify
/// until `keys rotate` has pushed them out of the published set. HS256 uses `JWT_SECRET` and
/// publishes nothing.
///
/// A rotation reaches every running instance: on PostgreSQL through the change feed at once, and
/// on either engine through a look at the table every few seconds (a `keys rotate` run against a
/// SQLite file has no feed to tell the server).
public final class SigningKeys: ChangeFollower, Service, Sendable {
    let topic = "keys"

    struct Loaded: Sendable {
        let collection: JWTKeyCollection
        let activeKid: String
        let kids: Set<String>
        let jwks: JSON
        /// The encoded JOSE header each loaded key signs with: a token whose header is one of these
        /// names a known key and the configured algorithm, with no JSON to parse.
        var headers: [String] = []
        /// Access tokens whose signature these keys have checked, by their exact text, with their
        /// claims: a client presents one token for every call of its life, and the signature's
        /// answer cannot change while the keys do not. New keys start with none.
        var verified: [String: TokenClaims] = [:]
    }

    /// How many asymmetric keys stay valid after rotation: the active one and its predecessor.
    static let retained = 2

    public let algorithm: Settings.JWTAlgorithm
    private let secret: String?
    private let database: any Database
    private let readiness: Readiness
    private let state: Mutex<Loaded>
    /// Beyond this many remembered tokens the set starts over; 10,000 of Tessera's take about 10 MiB.
    static let verifiedCapacity = 10_000
    private let lastReload = Mutex<Date>(.distantPast)

    /// Holds no key until `load()`, which runs once the database is up and migrated.
    init(settings: TokenSettings, database: any Database, readiness: Readiness) {
        self.algorithm = settings.jwtAlgorithm
        self.secret = settings.jwtSecret
        self.database = database
        self.readiness = readiness
        self.state = Mutex(Loaded(collection: JWTKeyCollection(), activeKid: "", kids: [], jwks: ["keys": []]))
    }

    /// Loads the keys of the configured algorithm, creating the first one if there is none.
    public func load() async throws {
        let loaded = try await Self.loadOrCreate(algorithm: algorithm, secret: secret, database: database)
        state.withLock { $0 = loaded }
    }

    /// Loads the stored keys if they differ from the loaded ones (a rotation); keys that have not
    /// changed keep their remembered tokens. Says whether it reloaded.
    @discardableResult
    func refresh() async throws -> Bool {
        guard algorithm != .hs256, !activeKid.isEmpty else { return false }
        let stored = try await Self.storedKids(algorithm, database: database)
        let unchanged = state.withLock { $0.activeKid == stored.first && $0.kids == Set(stored) }
        guard !unchanged else { return false }
        try await load()
        return true
    }

    /// How often the table is looked at for a rotation the feed could not announce.
    static let pollInterval = Duration.seconds(5)

    public func run() async throws {
        guard await readiness.wait() else { return }
        while (try? await cancelWhenGracefulShutdown { try await Task.sleep(for: Self.pollInterval) }) != nil {
            _ = try? await refresh()
        }
    }

    func ready() async throws { try await refresh() }
    func receive(_ payload: String) { Task { _ = try? await self.refresh() } }
    func lost() {}

    /// The claims of a token whose signature these keys have already checked.
    func verifiedClaims(of token: String) -> TokenClaims? {
        state.withLock { $0.verified[token] }
    }

    /// Remembers a token `collection` has verified, unless the keys have been replaced meanwhile.
    func remember(_ token: String, _ claims: TokenClaims, checkedBy collection: JWTKeyCollection) {
        state.withLock { state in
            guard state.collection === collection else { return }
            if state.verified.count >= Self.verifiedCapacity { state.verified.removeAll(keepingCapacity: true) }
            state.verified[token] = claims
        }
    }

    /// Whether `header` (a token's first segment) is exactly what one of the loaded keys writes.
    func signs(header: Substring) -> Bool {
        state.withLock { $0.headers.contains { $0 == header } }
    }

    var collection: JWTKeyCollection { state.withLock { $0.collection } }
    var activeKid: String { state.withLock { $0.activeKid } }
    /// `/.well-known/jwks.json`: the public halves of the retained keys.
    public var jwks: JSON { state.withLock { $0.jwks } }

    /// A key id this instance has not loaded may come from a rotation the feed has not announced
    /// yet: look, at most once a second, and say whether it is known now. Only ids of the form
    /// Tessera writes are worth a look, and a look that finds the same keys changes nothing, so a
    /// flood of made-up ids costs one small query a second and empties no remembered token.
    func knows(kid: String) async -> Bool {
        if state.withLock({ $0.kids.contains(kid) }) { return true }
        guard algorithm != .hs256, Self.isWellFormed(kid: kid, algorithm) else { return false }
        let now = Date()
        let due = lastReload.withLock { last in
            guard now.timeIntervalSince(last) > 1 else { return false }
            last = now
            return true
        }
        guard due, (try? await refresh()) == true else { return false }
        return state.withLock { $0.kids.contains(kid) }
    }

    /// `1a2b3c4d-es256`: eight hex digits and the algorithm, as `insertKey` names keys.
    static func isWellFormed(kid: String, _ algorithm: Settings.JWTAlgorithm) -> Bool {
        let suffix = "-" + algorithm.rawValue.lowercased()
        guard kid.hasSuffix(suffix), kid.utf8.count == 8 + suffix.utf8.count else { return false }
        return kid.utf8.prefix(8).allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// Adds a new active key (`tessera keys rotate`) and deletes the ones no longer retained, so a
    /// retired key is trusted nowhere; running instances hear of it. Returns the new key's id.
    public static func rotate(settings: TokenSettings, database: any Database) async throws -> String {
        guard settings.jwtAlgorithm != .hs256 else {
            throw SettingsError(name: "JWT_SECRET", message: "is the HS256 key: rotate it by changing the secret")
        }
        let kid = try await insertKey(settings.jwtAlgorithm, database: database)
        try await database.transaction { db in
            let kept = try await Self.storedKids(settings.jwtAlgorithm, db)
            try await db.delete(from: "signing_keys").where("algorithm", .equal, SQLBind(settings.jwtAlgorithm.rawValue))
                .where("kid", .notIn, SQLBind.group(kept)).run()
            try await database.announce("keys", [kid], db) {}
        }
        return kid
    }

    /// A key of Tessera's own kept beside the signing keys under `kid` (outside every token
    /// algorithm's rotation): created by the first instance that asks, with `fresh`, and the same
    /// for every instance after it, including ones that start at the same moment.
    static func sharedSecret(_ kid: String, algorithm: String, creating fresh: String, database: any Database) async throws -> String? {
        try await database.transaction { db in
            try await db.raw(
                """
                INSERT INTO signing_keys (kid, algorithm, private_key, created_at)
                VALUES (\(bind: kid), \(bind: algorithm), \(bind: fresh), \(bind: Date()))
                ON CONFLICT (kid) DO NOTHING
                """
            ).run()
            return try await db.select().column("private_key").from("signing_keys").where("kid", .equal, SQLBind(kid))
                .first(decodingColumn: "private_key", as: String.self)
        }
    }

    private static func loadOrCreate(algorithm: Settings.JWTAlgorithm, secret: String?, database: any Database) async throws -> Loaded {
        var loaded = try await loadKeys(algorithm: algorithm, secret: secret, database: database)
        for kid in loaded.kids {
            let probe = try await loaded.collection.sign(Probe(), kid: JWKIdentifier(string: kid))
            loaded.headers.append(String(probe.prefix { $0 != "." }))
        }
        return loaded
    }

    private struct Probe: JWTPayload {
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    private static func loadKeys(algorithm: Settings.JWTAlgorithm, secret: String?, database: any Database) async throws -> Loaded {
        if algorithm == .hs256, let secret {
            let kid = "hs-" + SHA256.hash(data: Data(secret.utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
            let collection = JWTKeyCollection()
            await collection.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid), serializer: serializer)
            return Loaded(collection: collection, activeKid: kid, kids: [kid], jwks: ["keys": []])
        }
        var rows = try await storedKeys(algorithm, database: database)
        if rows.isEmpty {
            _ = try await insertKey(algorithm, database: database)
            rows = try await storedKeys(algorithm, database: database)
        }
        guard let newest = rows.first else { throw JWTError.generic(identifier: "keys", reason: "no signing key could be stored") }
        let collection = JWTKeyCollection()
        var published: [JSON] = []
        for (kid, material) in rows {
            published.append(try await add(algorithm, kid: kid, material: material, to: collection))
        }
        return Loaded(collection: collection, activeKid: newest.kid, kids: Set(rows.map(\.kid)), jwks: ["keys": .array(published)])
    }

    /// The ids of the retained keys, newest first.
    private static func storedKids(_ algorithm: Settings.JWTAlgorithm, database: any Database) async throws -> [String] {
        try await database.read { db in try await storedKids(algorithm, db) }
    }

    private static func storedKids(_ algorithm: Settings.JWTAlgorithm, _ db: any SQLDatabase) async throws -> [String] {
        try await db.select().column("kid").from("signing_keys").where("algorithm", .equal, algorithm.rawValue)
            .orderBy("created_at", .descending).orderBy("kid", .descending).limit(retained)
            .all(decodingColumn: "kid", as: String.self)
    }

    /// The retained keys, newest first.
    private static func storedKeys(_ algorithm: Settings.JWTAlgorithm, database: any Database) async throws -> [(kid: String, material: String)] {
        try await database.read { db in
            try await db.select().columns("kid", "private_key").from("signing_keys")
                .where("algorithm", .equal, algorithm.rawValue)
                .orderBy("created_at", .descending).orderBy("kid", .descending)
                .limit(retained)
                .all()
                .map { (try $0.decode(column: "kid", as: String.self), try $0.decode(column: "private_key", as: String.self)) }
        }
    }

    private static func insertKey(_ algorithm: Settings.JWTAlgorithm, database: any Database) async throws -> String {
        let kid = UUID().uuidString.lowercased().prefix(8) + "-" + algorithm.rawValue.lowercased()
        let material: String =
            switch algorithm {
            case .es256: ES256PrivateKey().pemRepresentation
            case .eddsa: Curve25519.Signing.PrivateKey().rawRepresentation.base64EncodedString()
            case .hs256: preconditionFailure("HS256 keys come from JWT_SECRET")
            }
        try await database.transaction { db in
            try await db.insert(into: "signing_keys")
                .columns("kid", "algorithm", "private_key", "created_at")
                .values(SQLBind(String(kid)), SQLBind(algorithm.rawValue), SQLBind(material), SQLBind(Date()))
                .run()
        }
        return String(kid)
    }

    /// How every key writes what it signs. JWTKit gives each key the serializer passed with it (a
    /// collection's default only reaches keys added as JWKs), so each `add` names it.
    private static let serializer = DefaultJWTSerializer(jsonEncoder: TokenJSON())

    /// Adds one stored key to `collection`; returns its public JWK.
    private static func add(_ algorithm: Settings.JWTAlgorithm, kid: String, material: String, to collection: JWTKeyCollection) async throws -> JSON {
        switch algorithm {
        case .es256:
            let key = try ES256PrivateKey(pem: material)
            await collection.add(ecdsa: key, kid: JWKIdentifier(string: kid), serializer: serializer)
            guard let (x, y) = key.parameters else { throw JWTError.generic(identifier: "ES256", reason: "no public parameters") }
            return ["kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": .string(kid), "x": .string(x), "y": .string(y)]
        case .eddsa:
            guard let raw = Data(base64Encoded: material) else { throw JWTError.generic(identifier: "EdDSA", reason: "bad key") }
            let backing = try Curve25519.Signing.PrivateKey(rawRepresentation: raw)
            await collection.add(eddsa: EdDSA.PrivateKey(backing: backing), kid: JWKIdentifier(string: kid), serializer: serializer)
            let x = backing.publicKey.rawRepresentation.base64URLEncoded
            return ["kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": .string(kid), "x": .string(x)]
        case .hs256:
            preconditionFailure("HS256 keys come from JWT_SECRET")
        }
    }
}

extension Data {
    var base64URLEncoded: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
