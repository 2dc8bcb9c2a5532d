import Crypto
import Foundation
import SQLKit

/// Six-digit codes sent by text: one live code per phone and purpose, five minutes, five wrong
/// tries. Only a keyed hash (HMAC-SHA-256 under a key from the `SecretBox`, bound to the row) is
/// stored: a million possible codes would fall to a plain hash at once.
struct PhoneCodes: Sendable {
    let dialect: SQLDialect
    let box: SecretBox

    enum Purpose: String, Sendable {
        case verifyPhone = "verify_phone"
        case signIn = "sign_in"
    }

    static let lifetime: TimeInterval = 300
    static let maximumAttempts = 5

    /// What a code turned out to be.
    enum Check: Sendable, Equatable {
        /// Right: the code is used up; the account it was sent for, if any.
        case accepted(userID: UUID?)
        /// Wrong, expired, spent, out of tries, or never sent.
        case rejected
    }

    /// A new code for `phone`; an earlier unused one for the same purpose stops working.
    func issue(_ purpose: Purpose, to phone: String, for userID: UUID?, at now: Date, _ db: any SQLDatabase) async throws -> String {
        let code = String(format: "%06d", Int.random(in: 0..<1_000_000))
        let id = UUID()
        try await retire(purpose, phone, at: now, db)
        try await db.insert(into: "phone_codes")
            .columns("id", "purpose", "phone", "user_id", "code_hash", "attempts", "created_at", "expires_at")
            .values(
                SQLBind(id), SQLBind(purpose.rawValue), SQLBind(phone), SQLBind(userID), SQLBind(try digest(code, id).hexString), SQLBind(0),
                SQLBind(now), SQLBind(now.addingTimeInterval(Self.lifetime))
            )
            .run()
        return code
    }

    /// Checks `code` against the live code of `phone`, holding its row, so concurrent guesses
    /// line up and each counts: a wrong one uses up a try (and the caller commits that), a right
    /// one uses up the code.
    func check(_ code: String, _ purpose: Purpose, phone: String, at now: Date, _ db: any SQLDatabase) async throws -> Check {
        guard
            let row = try await dialect.lockForUpdate(
                db.select().columns("id", "user_id", "code_hash", "attempts", "expires_at").from("phone_codes")
                    .where("phone", .equal, SQLBind(phone)).where("purpose", .equal, SQLBind(purpose.rawValue))
                    .where("used_at", .is, SQLLiteral.null).orderBy("created_at", .descending).limit(1)
            ).first()
        else { return .rejected }
        let id = try row.decode(column: "id", as: UUID.self)
        let attempts = try row.decode(column: "attempts", as: Int.self)
        guard attempts < Self.maximumAttempts, try row.decode(column: "expires_at", as: Date.self) > now else { return .rejected }
        let stored = try row.decode(column: "code_hash", as: String.self)
        let wellFormed = code.utf8.count == 6 && code.utf8.allSatisfy { (48...57).contains($0) }
        guard wellFormed, let expected = Data(hexString: stored), constantTimeEquals(Array(try digest(code, id)), expected) else {
            try await db.update("phone_codes").set("attempts", to: SQLBind(attempts + 1)).where("id", .equal, SQLBind(id)).run()
            return .rejected
        }
        try await db.update("phone_codes").set("used_at", to: SQLBind(now)).where("id", .equal, SQLBind(id)).run()
        return .accepted(userID: try row.decode(column: "user_id", as: UUID?.self))
    }

    private func retire(_ purpose: Purpose, _ phone: String, at now: Date, _ db: any SQLDatabase) async throws {
        try await db.update("phone_codes").set("used_at", to: SQLBind(now)).where("phone", .equal, SQLBind(phone))
            .where("purpose", .equal, SQLBind(purpose.rawValue)).where("used_at", .is, SQLLiteral.null).run()
    }

    /// Deletes codes that can no longer be used.
    func prune(at now: Date, _ db: any SQLDatabase) async throws -> Int {
        try await db.delete(from: "phone_codes")
            .where { $0.where("expires_at", .lessThan, SQLBind(now)).orWhere("used_at", .isNot, SQLLiteral.null) }
            .returning("id").all().count
    }

    private func digest(_ code: String, _ id: UUID) throws -> HashedAuthenticationCode<SHA256> {
        HMAC<SHA256>.authenticationCode(for: Data("\(id.uuidString.lowercased()):\(code)".utf8), using: try box.derivedKey("phone-codes"))
    }
}
