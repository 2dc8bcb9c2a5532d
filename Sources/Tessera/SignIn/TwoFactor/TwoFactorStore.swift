import Foundation
import SQLKit

/// A user's TOTP factor (sealed secret, whether confirmed, the last time step used) and their
/// recovery codes (SHA-256 of each; they are random enough that a plain hash is safe).
struct TwoFactorStore: Sendable {
    struct Factor: Sendable {
        let sealedSecret: String
        let confirmed: Bool
        let lastStep: Int64
    }

    func factor(of userID: UUID, _ db: any SQLDatabase) async throws -> Factor? {
        guard
            let row = try await db.select().columns("secret", "confirmed_at", "last_step").from("totp_factors")
                .where("user_id", .equal, SQLBind(userID)).first()
        else { return nil }
        return Factor(
            sealedSecret: try row.decode(column: "secret", as: String.self),
            confirmed: try row.decode(column: "confirmed_at", as: Date?.self) != nil,
            lastStep: try row.decode(column: "last_step", as: Int64.self))
    }

    /// Whether signing in needs a second factor, as a condition on a row of `users`.
    static let isOnSQL = "EXISTS (SELECT 1 FROM totp_factors f WHERE f.user_id = users.id AND f.confirmed_at IS NOT NULL)"

    /// Whether signing in needs a second factor.
    func isOn(_ userID: UUID, _ db: any SQLDatabase) async throws -> Bool {
        try await db.select().column("user_id").from("totp_factors").where("user_id", .equal, SQLBind(userID))
            .where("confirmed_at", .isNot, SQLLiteral.null).first() != nil
    }

    /// Starts (or starts again) an enrolment that is not confirmed yet.
    func enrol(_ userID: UUID, sealedSecret: String, at now: Date, _ db: any SQLDatabase) async throws {
        try await db.delete(from: "totp_factors").where("user_id", .equal, SQLBind(userID)).where("confirmed_at", .is, SQLLiteral.null).run()
        try await db.insert(into: "totp_factors").columns("user_id", "secret", "last_step", "created_at")
            .values(SQLBind(userID), SQLBind(sealedSecret), SQLBind(Int64(0)), SQLBind(now)).run()
    }

    /// Uses time step `step` if no code of it or a later step was accepted before; says whether it did.
    /// One statement, so two requests with one code cannot both pass.
    func use(step: Int64, of userID: UUID, confirmingAt now: Date? = nil, _ db: any SQLDatabase) async throws -> Bool {
        var update = db.update("totp_factors").set("last_step", to: SQLBind(step))
        if let now { update = update.set("confirmed_at", to: SQLBind(now)) }
        return try await update.where("user_id", .equal, SQLBind(userID)).where("last_step", .lessThan, SQLBind(step))
            .returning("user_id").all().count == 1
    }

    func replaceRecoveryCodes(of userID: UUID, with hashes: [String], _ db: any SQLDatabase) async throws {
        try await db.delete(from: "recovery_codes").where("user_id", .equal, SQLBind(userID)).run()
        for hash in hashes {
            try await db.insert(into: "recovery_codes").columns("user_id", "code_hash").values(SQLBind(userID), SQLBind(hash)).run()
        }
    }

    /// Uses up an unused recovery code; says whether there was one.
    func useRecoveryCode(_ hash: String, of userID: UUID, at now: Date, _ db: any SQLDatabase) async throws -> Bool {
        try await db.update("recovery_codes").set("used_at", to: SQLBind(now)).where("user_id", .equal, SQLBind(userID))
            .where("code_hash", .equal, SQLBind(hash)).where("used_at", .is, SQLLiteral.null)
            .returning("user_id").all().count == 1
    }

    func remove(of userID: UUID, _ db: any SQLDatabase) async throws {
        try await db.delete(from: "recovery_codes").where("user_id", .equal, SQLBind(userID)).run()
        try await db.delete(from: "totp_factors").where("user_id", .equal, SQLBind(userID)).run()
    }
}
