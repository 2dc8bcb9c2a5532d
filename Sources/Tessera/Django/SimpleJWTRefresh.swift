import Crypto
import Foundation
import SQLKit

/// SimpleJWT refresh tokens from before the move (SPEC §9): with `TESSERA_DJANGO_SECRET_KEY` set,
/// the refresh call takes one, checks it as SimpleJWT would (HS256 under Django's key,
/// `token_type: refresh`, unexpired), and answers with a Tessera pair of a new session for the
/// account imported from its `user_id`, so nobody is logged out by the switch. Each token is
/// exchanged once: its `jti` is recorded.
struct SimpleJWTRefresh: Sendable {
    let database: any Database
    let users: UserStore
    let gate: SignInGate
    let key: SymmetricKey
    let exchanged = ExchangedTokens()
    let clock: WallClock

    init(secretKey: String, database: any Database, users: UserStore, gate: SignInGate, clock: WallClock) {
        self.key = SymmetricKey(data: Data(secretKey.utf8))
        (self.database, self.users, self.gate, self.clock) = (database, users, gate, clock)
    }

    /// Whether `token` is SimpleJWT's rather than Tessera's: HS256 and no key id (every token
    /// Tessera signs names its key).
    static func recognizes(_ token: String) -> Bool {
        guard let header = JOSEHeader.of(token) else { return false }
        return header.alg == "HS256" && header.kid == nil
    }

    private struct Claims: Decodable {
        let token_type: String?
        let exp: Double?
        let iat: Double?
        let jti: String?
        let user_id: LegacyID?
    }

    /// SimpleJWT 5 writes the user id as a string, earlier versions as a number.
    private struct LegacyID: Decodable {
        let value: String

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Int64.self) { value = String(number) } else { value = try container.decode(String.self) }
        }
    }

    func exchange(_ token: String, client: ClientInfo) async throws -> SessionService.Grant {
        let refused = APIError.tokenNotValid("Token is invalid or expired.")
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard token.utf8.count <= 4096, parts.count == 3, let signature = Data(base64URL: String(parts[2])),
            let payload = Data(base64URL: String(parts[1]))
        else { throw refused }
        let expected = HMAC<SHA256>.authenticationCode(for: Data("\(parts[0]).\(parts[1])".utf8), using: key)
        guard constantTimeEquals(Array(expected), signature), let claims = try? JSONDecoder().decode(Claims.self, from: payload),
            claims.token_type == "refresh", let exp = claims.exp, let jti = claims.jti, (1...255).contains(jti.utf8.count),
            let legacyID = claims.user_id?.value
        else { throw refused }
        let now = clock.now()
        guard exp > now.timeIntervalSince1970 else { throw APIError.tokenExpired }
        let issued = Date(timeIntervalSince1970: claims.iat ?? 0)
        let user = try await database.read { db -> User? in
            guard let user = try await self.users.find(legacyID: legacyID, db), try await !self.exchanged.isSpent(jti, db) else { return nil }
            // A password change, a reset, revoke-all or a disable since the token was issued ended it.
            if let void = try await self.users.legacyTokensVoidAt(user.id, db), issued <= void { return nil }
            return user
        }
        guard let user else { throw refused }
        do {
            // Spent in the transaction that opens the session: a failure leaves it unspent, and of
            // two exchanges at once the primary key lets one through.
            return try await gate.admit(user, method: "simplejwt", client: client) { db in
                try await self.exchanged.record(jti, of: user.id, at: now, expires: Date(timeIntervalSince1970: exp), db)
            }
        } catch is UniqueViolation {
            throw refused
        }
    }
}

/// The `jti`s of SimpleJWT refresh tokens already exchanged, or blacklisted by Django.
struct ExchangedTokens: Sendable {
    func isSpent(_ jti: String, _ db: any SQLDatabase) async throws -> Bool {
        try await db.select().column("jti").from("legacy_refresh_tokens").where("jti", .equal, SQLBind(jti)).first() != nil
    }

    func record(_ jti: String, of userID: UUID, at now: Date, expires: Date, _ db: any SQLDatabase) async throws {
        try await db.insert(into: "legacy_refresh_tokens").columns("jti", "user_id", "used_at", "expires_at")
            .values(SQLBind(jti), SQLBind(userID), SQLBind(now), SQLBind(expires)).run()
    }

    /// Records tokens Django refused already (its blacklist), so Tessera refuses them too; a
    /// token recorded before is left as it is.
    func recordRefused(_ tokens: [(jti: String, userID: UUID, expires: Date)], at now: Date, _ db: any SQLDatabase) async throws {
        for chunk in tokens.chunked(by: 500) {
            let insert = db.insert(into: "legacy_refresh_tokens").columns("jti", "user_id", "used_at", "expires_at")
            for token in chunk { insert.values(SQLBind(token.jti), SQLBind(token.userID), SQLBind(now), SQLBind(token.expires)) }
            try await insert.ignoringConflicts(with: "jti").run()
        }
    }

    /// Deletes the records of tokens that have expired anyway.
    func prune(at now: Date, _ db: any SQLDatabase) async throws -> Int {
        try await db.delete(from: "legacy_refresh_tokens").where("expires_at", .lessThan, SQLBind(now)).returning("jti").all().count
    }
}
