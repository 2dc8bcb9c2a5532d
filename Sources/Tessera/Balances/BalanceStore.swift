import Foundation
import SQLKit

/// The `balances` table and its append-only `balance_ledger`. A change is one conditional
/// `UPDATE` (the database refuses a balance that would leave its range, and takes the row's lock,
/// so concurrent changes queue on it) and the ledger entry with the balances it returned, in the
/// caller's transaction.
struct BalanceStore: Sendable {
    /// Why a change could not be applied.
    enum Refusal: Error {
        case insufficientFunds
        case limitExceeded
    }

    func balance(of userID: UUID, _ db: any SQLDatabase) async throws -> Balance {
        guard let row = try await db.raw("SELECT real_minor, virtual_minor FROM balances WHERE user_id = \(bind: userID)").first() else {
            return .zero
        }
        return Balance(
            real: Money(minor: try row.decode(column: "real_minor", as: Int64.self)),
            virtual: Money(minor: try row.decode(column: "virtual_minor", as: Int64.self)))
    }

    /// Applies `change` and appends its entry; throws `Refusal` (and changes nothing) when a
    /// balance would go below zero or above `Money.maximum`.
    func apply(_ change: BalanceChange, by actor: UUID, at now: Date, idempotencyKey: String?, _ db: any SQLDatabase) async throws -> LedgerEntry {
        let (real, virtual, maximum) = (change.realChange, change.virtualChange, Money.maximum.minor)
        try await db.raw(
            """
            INSERT INTO balances (user_id, real_minor, virtual_minor, version, updated_at)
            VALUES (\(bind: change.userID), 0, 0, 0, \(bind: now)) ON CONFLICT (user_id) DO NOTHING
            """
        ).run()
        let updated = try await db.raw(
            """
            UPDATE balances SET real_minor = real_minor + \(bind: real), virtual_minor = virtual_minor + \(bind: virtual),
                version = version + 1, updated_at = \(bind: now)
            WHERE user_id = \(bind: change.userID)
              AND real_minor + \(bind: real) BETWEEN 0 AND \(bind: maximum)
              AND virtual_minor + \(bind: virtual) BETWEEN 0 AND \(bind: maximum)
            RETURNING real_minor, virtual_minor, version
            """
        ).first()
        guard let updated else {
            let current = try await balance(of: change.userID, db)
            throw current.real.minor + real < 0 || current.virtual.minor + virtual < 0 ? Refusal.insufficientFunds : Refusal.limitExceeded
        }
        let after = Balance(
            real: Money(minor: try updated.decode(column: "real_minor", as: Int64.self)),
            virtual: Money(minor: try updated.decode(column: "virtual_minor", as: Int64.self)))
        let entry = LedgerEntry(
            change, sequence: try updated.decode(column: "version", as: Int64.self), after: after, actor: actor, at: now,
            idempotencyKey: idempotencyKey)
        try await db.raw(
            """
            INSERT INTO balance_ledger (id, user_id, seq, actor_id, at, action, value_type, amount_minor, real_change, virtual_change,
                real_after, virtual_after, idempotency_key)
            VALUES (\(bind: entry.id), \(bind: entry.userID), \(bind: entry.sequence), \(bind: entry.actorID), \(bind: entry.at),
                \(bind: entry.action.rawValue), \(bind: entry.kind.rawValue), \(bind: entry.amount.minor), \(bind: entry.realChange),
                \(bind: entry.virtualChange), \(bind: after.real.minor), \(bind: after.virtual.minor), \(bind: entry.idempotencyKey))
            """
        ).run()
        return entry
    }

    /// A page of a user's ledger, newest first.
    func ledger(of userID: UUID, page: PageRequest, _ db: any SQLDatabase) async throws -> (Int, [LedgerEntry]) {
        let columns = [
            "id", "user_id", "seq", "actor_id", "at", "action", "value_type", "amount_minor", "real_change", "virtual_change", "real_after",
            "virtual_after", "idempotency_key",
        ].map { SQLColumn($0) }
        return try await db.page(
            page, columns: columns, orderBy: [("seq", .descending)],
            { $0.from("balance_ledger").where("user_id", .equal, SQLBind(userID)) }, as: LedgerEntry.init(row:))
    }

    /// A balance that is not what its ledger adds up to, or whose version is not its number of entries.
    struct Mismatch: Sendable, CustomStringConvertible {
        let userID: UUID
        let balance: Balance
        let version: Int64
        let ledgerReal: Int64
        let ledgerVirtual: Int64
        let entries: Int64

        var description: String {
            "user \(userID.uuidString.lowercased()): balance real \(balance.real.text) virtual \(balance.virtual.text) (version \(version)), "
                + "ledger real \(MoneyChange(minor: ledgerReal).text) virtual \(MoneyChange(minor: ledgerVirtual).text) in \(entries) entries"
        }
    }

    /// Every balance recomputed from the ledger; the ones that differ, and how many were checked.
    /// Entries without a balance row count as a balance of zero.
    func verify(_ db: any SQLDatabase) async throws -> (checked: Int, mismatches: [Mismatch]) {
        let rows = try await db.raw(
            """
            SELECT u.user_id, COALESCE(b.real_minor, 0) AS real_minor, COALESCE(b.virtual_minor, 0) AS virtual_minor,
                   COALESCE(b.version, 0) AS version, COALESCE(l.real_sum, 0) AS real_sum, COALESCE(l.virtual_sum, 0) AS virtual_sum,
                   COALESCE(l.entries, 0) AS entries
            FROM (SELECT user_id FROM balances UNION SELECT user_id FROM balance_ledger) u
            LEFT JOIN balances b ON b.user_id = u.user_id
            LEFT JOIN (SELECT user_id, CAST(SUM(real_change) AS BIGINT) AS real_sum, CAST(SUM(virtual_change) AS BIGINT) AS virtual_sum,
                              CAST(COUNT(*) AS BIGINT) AS entries
                       FROM balance_ledger GROUP BY user_id) l ON l.user_id = u.user_id
            """
        ).all()
        var mismatches: [Mismatch] = []
        for row in rows {
            let mismatch = Mismatch(
                userID: try row.decode(column: "user_id", as: UUID.self),
                balance: Balance(
                    real: Money(minor: try row.decode(column: "real_minor", as: Int64.self)),
                    virtual: Money(minor: try row.decode(column: "virtual_minor", as: Int64.self))),
                version: try row.decode(column: "version", as: Int64.self), ledgerReal: try row.decode(column: "real_sum", as: Int64.self),
                ledgerVirtual: try row.decode(column: "virtual_sum", as: Int64.self), entries: try row.decode(column: "entries", as: Int64.self))
            if mismatch.balance.real.minor != mismatch.ledgerReal || mismatch.balance.virtual.minor != mismatch.ledgerVirtual
                || mismatch.version != mismatch.entries
            {
                mismatches.append(mismatch)
            }
        }
        return (rows.count, mismatches)
    }
}
