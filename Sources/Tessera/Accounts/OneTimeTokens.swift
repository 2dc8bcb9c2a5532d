import Crypto
import Foundation
import SQLKit

/// Single-use, expiring tokens for e-mail verification and password reset. Only their SHA-256
/// is stored, so a database dump hands out no working link.
struct OneTimeTokens: Sendable {
    let dialect: SQLDialect

    enum Purpose: String, Sendable {
        case verifyEmail = "verify_email"
        case resetPassword = "reset_password"
        /// The second step of a sign-in with two-factor on.
        case mfa
    }

    static func digest(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).hexString
    }

    /// A new token for `userID`; earlier unused tokens of the same purpose stop working.
    func issue(_ purpose: Purpose, for userID: UUID, email: String?, ttl: TimeInterval, at now: Date, _ db: any SQLDatabase) async throws -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = generator.next() }
        let token = Data(bytes).base64URLEncoded
        try await retire(purpose, for: userID, at: now, db)
        try await db.insert(into: "one_time_tokens").columns("token_hash", "user_id", "purpose", "email", "created_at", "expires_at")
            .values(
                SQLBind(Self.digest(token)), SQLBind(userID), SQLBind(purpose.rawValue), SQLBind(email), SQLBind(now),
                SQLBind(now.addingTimeInterval(ttl))
            )
            .run()
        return token
    }

    /// The user an unused, unexpired token was issued to, without using it up.
    func holder(of token: String, _ purpose: Purpose, at now: Date, _ db: any SQLDatabase) async throws -> UUID? {
        guard token.utf8.count <= 256 else { return nil }
        return try await db.select().column("user_id").from("one_time_tokens")
            .where("token_hash", .equal, SQLBind(Self.digest(token))).where("purpose", .equal, SQLBind(purpose.rawValue))
            .where("used_at", .is, SQLLiteral.null).where("expires_at", .greaterThan, SQLBind(now))
            .first(decodingColumn: "user_id", as: UUID.self)
    }

    /// Uses up a token: the user and e-mail it was issued for, or a 400 naming `token`.
    func consume(_ token: String, _ purpose: Purpose, at now: Date, _ db: any SQLDatabase) async throws -> (userID: UUID, email: String?) {
        let invalid = APIError.validation(["token": ["This link is invalid or has expired."]])
        guard token.utf8.count <= 256,
            let row = try await dialect.lockForUpdate(
                db.select().columns("user_id", "email", "expires_at", "used_at").from("one_time_tokens")
                    .where("token_hash", .equal, SQLBind(Self.digest(token))).where("purpose", .equal, SQLBind(purpose.rawValue))
            ).first()
        else { throw invalid }
        guard try row.decode(column: "used_at", as: Date?.self) == nil, try row.decode(column: "expires_at", as: Date.self) > now else {
            throw invalid
        }
        let userID = try row.decode(column: "user_id", as: UUID.self)
        try await retire(purpose, for: userID, at: now, db)
        return (userID, try row.decode(column: "email", as: String?.self))
    }

    private func retire(_ purpose: Purpose, for userID: UUID, at now: Date, _ db: any SQLDatabase) async throws {
        try await db.update("one_time_tokens").set("used_at", to: SQLBind(now)).where("user_id", .equal, SQLBind(userID))
            .where("purpose", .equal, SQLBind(purpose.rawValue)).where("used_at", .is, SQLLiteral.null).run()
    }

    /// Deletes tokens that can no longer be used: spent, or expired.
    func prune(at now: Date, _ db: any SQLDatabase) async throws -> Int {
        try await db.delete(from: "one_time_tokens")
            .where { $0.where("expires_at", .lessThan, SQLBind(now)).orWhere("used_at", .isNot, SQLLiteral.null) }
            .returning("token_hash").all().count
    }

    /// Every unused token of the user stops working, whatever its purpose.
    func retireAll(for userID: UUID, at now: Date, _ db: any SQLDatabase) async throws {
        try await db.update("one_time_tokens").set("used_at", to: SQLBind(now)).where("user_id", .equal, SQLBind(userID))
            .where("used_at", .is, SQLLiteral.null).run()
    }
}
