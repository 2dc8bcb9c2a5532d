import Foundation
import SQLKit

/// `Idempotency-Key`s as payment APIs keep them (SPEC §7): a key is claimed by one statement
/// before the request runs, and its answer is stored in the transaction that applies the request,
/// so an answer on record always means the change was made, and a change made always has its
/// answer on record.
struct IdempotencyStore: Sendable {
    /// What a key already says about a request.
    enum Claim: Sendable, Equatable {
        /// The key is new: this request runs, and its answer is stored under the key.
        case claimed
        /// The same request ran: its answer.
        case answered(status: Int, body: String)
        /// The same request is running now.
        case inProgress
        /// The key was used for another request.
        case reused
    }

    /// How long a key is kept, and answers replayed.
    static let lifetime: TimeInterval = 86400
    /// A claim older than this whose request never answered (its process died) may be taken over.
    static let abandonedAfter: TimeInterval = 60

    func claim(_ key: String, owner: UUID, fingerprint: String, at now: Date, _ db: any SQLDatabase) async throws -> Claim {
        let inserted = try await db.raw(
            """
            INSERT INTO idempotency_keys (owner_id, idempotency_key, fingerprint, created_at)
            VALUES (\(bind: owner), \(bind: key), \(bind: fingerprint), \(bind: now))
            ON CONFLICT (owner_id, idempotency_key) DO NOTHING RETURNING owner_id
            """
        ).first()
        if inserted != nil { return .claimed }
        guard
            let row = try await db.raw(
                """
                SELECT fingerprint, status_code, response, created_at FROM idempotency_keys
                WHERE owner_id = \(bind: owner) AND idempotency_key = \(bind: key)
                """
            ).first()
        else {
            // Pruned between the two statements: it is new again.
            return try await claim(key, owner: owner, fingerprint: fingerprint, at: now, db)
        }
        guard try row.decode(column: "fingerprint", as: String.self) == fingerprint else { return .reused }
        if let status = try row.decode(column: "status_code", as: Int?.self) {
            return .answered(status: status, body: try row.decode(column: "response", as: String?.self) ?? "")
        }
        let abandoned = now.addingTimeInterval(-Self.abandonedAfter)
        guard try row.decode(column: "created_at", as: Date.self) < abandoned else { return .inProgress }
        // One statement decides between two that would take it over at once.
        let takenOver = try await db.raw(
            """
            UPDATE idempotency_keys SET created_at = \(bind: now)
            WHERE owner_id = \(bind: owner) AND idempotency_key = \(bind: key) AND status_code IS NULL AND created_at < \(bind: abandoned)
            RETURNING owner_id
            """
        ).first()
        return takenOver == nil ? .inProgress : .claimed
    }

    /// Stores the answer of the request that claimed `key`.
    func answer(_ key: String, owner: UUID, status: Int, body: String, _ db: any SQLDatabase) async throws {
        try await db.raw(
            """
            UPDATE idempotency_keys SET status_code = \(bind: status), response = \(bind: body)
            WHERE owner_id = \(bind: owner) AND idempotency_key = \(bind: key)
            """
        ).run()
    }

    /// Gives a claimed key up when its request failed without an answer worth keeping (the
    /// database went away): a retry runs it afresh.
    func release(_ key: String, owner: UUID, _ db: any SQLDatabase) async throws {
        try await db.raw(
            "DELETE FROM idempotency_keys WHERE owner_id = \(bind: owner) AND idempotency_key = \(bind: key) AND status_code IS NULL"
        ).run()
    }

    func prune(createdBefore cutoff: Date, _ db: any SQLDatabase) async throws -> Int {
        try await db.raw("DELETE FROM idempotency_keys WHERE created_at < \(bind: cutoff) RETURNING owner_id").all().count
    }
}
