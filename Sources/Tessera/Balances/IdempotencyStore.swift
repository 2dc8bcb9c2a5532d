import Foundation
import SQLKit

/// `Idempotency-Key`s as payment APIs keep them (SPEC §7): a key is claimed by one statement
/// before the request runs, and its answer is stored in the transaction that applies the request,
/// so an answer on record always means the change was made, and a change made always has its
/// answer on record. Each claim carries a token: only the request holding the key's current token
/// may answer it, so a request whose claim was taken over (it seemed abandoned) cannot apply too.
struct IdempotencyStore: Sendable {
    /// What a key already says about a request.
    enum Claim: Sendable, Equatable {
        /// The key is this request's (with this token): it runs, and its answer is stored under the key.
        case claimed(token: String)
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

    /// The claim on `key` was taken over by another request: this one must not apply.
    struct Superseded: Error {}

    func claim(_ key: String, owner: UUID, fingerprint: String, at now: Date, _ db: any SQLDatabase) async throws -> Claim {
        let token = UUID().uuidString
        let inserted = try await db.raw(
            """
            INSERT INTO idempotency_keys (owner_id, idempotency_key, fingerprint, claim_token, created_at)
            VALUES (\(bind: owner), \(bind: key), \(bind: fingerprint), \(bind: token), \(bind: now))
            ON CONFLICT (owner_id, idempotency_key) DO NOTHING RETURNING owner_id
            """
        ).first()
        if inserted != nil { return .claimed(token: token) }
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
            UPDATE idempotency_keys SET created_at = \(bind: now), claim_token = \(bind: token)
            WHERE owner_id = \(bind: owner) AND idempotency_key = \(bind: key) AND status_code IS NULL AND created_at < \(bind: abandoned)
            RETURNING owner_id
            """
        ).first()
        return takenOver == nil ? .inProgress : .claimed(token: token)
    }

    /// Stores the answer of the request holding `token`; throws `Superseded` (rolling back the
    /// caller's transaction, and with it the change) if another request has taken the key over.
    func answer(_ key: String, owner: UUID, token: String, status: Int, body: String, _ db: any SQLDatabase) async throws {
        let answered = try await db.raw(
            """
            UPDATE idempotency_keys SET status_code = \(bind: status), response = \(bind: body)
            WHERE owner_id = \(bind: owner) AND idempotency_key = \(bind: key) AND claim_token = \(bind: token) AND status_code IS NULL
            RETURNING owner_id
            """
        ).first()
        if answered == nil { throw Superseded() }
    }

    /// Gives a claimed key up when its request failed without an answer worth keeping (the
    /// database went away): a retry runs it afresh. Only the claim's holder can.
    func release(_ key: String, owner: UUID, token: String, _ db: any SQLDatabase) async throws {
        try await db.raw(
            """
            DELETE FROM idempotency_keys
            WHERE owner_id = \(bind: owner) AND idempotency_key = \(bind: key) AND claim_token = \(bind: token) AND status_code IS NULL
            """
        ).run()
    }

    func prune(createdBefore cutoff: Date, _ db: any SQLDatabase) async throws -> Int {
        try await db.raw("DELETE FROM idempotency_keys WHERE created_at < \(bind: cutoff) RETURNING owner_id").all().count
    }
}
