import Foundation
import Hummingbird
import SQLKit

/// A user's two balances (SPEC §7), never negative, never above `Money.maximum`.
struct Balance: Sendable, Equatable {
    var real: Money
    var virtual: Money

    static let zero = Balance(real: Money(minor: 0), virtual: Money(minor: 0))
}

/// `{"real": "0.00", "virtual": "0.00"}`.
struct BalanceResponse: ResponseEncodable, Sendable {
    let real: Money
    let virtual: Money

    init(_ balance: Balance) {
        real = balance.real
        virtual = balance.virtual
    }
}

enum BalanceAction: String, Sendable, CaseIterable {
    /// A credit from outside (a payment); needs the `balances` update permission.
    case credit = "in"
    /// A withdrawal.
    case debit = "out"
    /// Real money into virtual, with the bonus.
    case convert
}

enum BalanceKind: String, Sendable, CaseIterable {
    case real
    case virtual
}

/// One checked change: what moves, on whose balance, by how much.
struct BalanceChange: Sendable, Equatable {
    let userID: UUID
    let action: BalanceAction
    let kind: BalanceKind
    let amount: Money

    /// The largest amount one change may move: 1,000,000,000.00.
    static let maximumAmount = Money(minor: 100_000_000_000)
    /// `convert` credits the amount and 5% more, rounded down: rounding never creates money.
    static let bonusPercent: Int64 = 5

    /// What the change does to each balance, in minor units (signed). No overflow: the amount is
    /// at most `maximumAmount`, so the bonus and the sums stay far inside 64 bits.
    var realChange: Int64 {
        switch (action, kind) {
        case (.credit, .real): amount.minor
        case (.debit, .real), (.convert, _): -amount.minor
        case (_, .virtual): 0
        }
    }

    var virtualChange: Int64 {
        switch (action, kind) {
        case (.credit, .virtual): amount.minor
        case (.debit, .virtual): -amount.minor
        case (.convert, _): amount.minor + amount.minor * Self.bonusPercent / 100
        case (_, .real): 0
        }
    }

    /// The same change, said the same way, whatever JSON spelled it: what an idempotency key is
    /// held to.
    var fingerprint: String { "\(userID.uuidString.lowercased()) \(action.rawValue) \(kind.rawValue) \(amount.minor)" }
}

/// `PATCH /api/v1/balance`: `{"action", "value_type", "value"}`, and `user_id` for someone else's
/// balance (an administrator's or a payment integration's call).
struct BalanceChangeRequest: Decodable, Sendable {
    let action: String?
    let value_type: String?
    let value: AmountInput?
    let user_id: String?
}

/// One ledger entry: an append-only record of a change, written with the change it describes.
struct LedgerEntry: Sendable {
    let id: UUID
    let userID: UUID
    /// The entry's place in the user's ledger, from 1 with no gaps: the balance row's version.
    let sequence: Int64
    let actorID: UUID
    let at: Date
    let action: BalanceAction
    let kind: BalanceKind
    let amount: Money
    let realChange: Int64
    let virtualChange: Int64
    let after: Balance
    let idempotencyKey: String?

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: UUID.self)
        userID = try row.decode(column: "user_id", as: UUID.self)
        sequence = try row.decode(column: "seq", as: Int64.self)
        actorID = try row.decode(column: "actor_id", as: UUID.self)
        at = try row.decode(column: "at", as: Date.self)
        guard let action = BalanceAction(rawValue: try row.decode(column: "action", as: String.self)),
            let kind = BalanceKind(rawValue: try row.decode(column: "value_type", as: String.self))
        else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "balance_ledger holds an unknown action or value type"))
        }
        self.action = action
        self.kind = kind
        amount = Money(minor: try row.decode(column: "amount_minor", as: Int64.self))
        realChange = try row.decode(column: "real_change", as: Int64.self)
        virtualChange = try row.decode(column: "virtual_change", as: Int64.self)
        after = Balance(
            real: Money(minor: try row.decode(column: "real_after", as: Int64.self)),
            virtual: Money(minor: try row.decode(column: "virtual_after", as: Int64.self)))
        idempotencyKey = try row.decode(column: "idempotency_key", as: String?.self)
    }

    init(_ change: BalanceChange, sequence: Int64, after: Balance, actor: UUID, at: Date, idempotencyKey: String?) {
        id = UUID()
        userID = change.userID
        self.sequence = sequence
        actorID = actor
        self.at = at
        action = change.action
        kind = change.kind
        amount = change.amount
        realChange = change.realChange
        virtualChange = change.virtualChange
        self.after = after
        self.idempotencyKey = idempotencyKey
    }
}

/// A ledger entry as the API shows it: who, when, what, both amounts, the balances after it.
struct LedgerEntryResponse: Encodable, Sendable {
    let id: String
    let user: String
    let sequence: Int64
    let actor: String
    let created_at: Date
    let action: String
    let value_type: String
    let value: Money
    let real_change: MoneyChange
    let virtual_change: MoneyChange
    let real_after: Money
    let virtual_after: Money
    let idempotency_key: String?

    init(_ entry: LedgerEntry) {
        id = entry.id.uuidString.lowercased()
        user = entry.userID.uuidString.lowercased()
        sequence = entry.sequence
        actor = entry.actorID.uuidString.lowercased()
        created_at = entry.at
        action = entry.action.rawValue
        value_type = entry.kind.rawValue
        value = entry.amount
        real_change = MoneyChange(minor: entry.realChange)
        virtual_change = MoneyChange(minor: entry.virtualChange)
        real_after = entry.after.real
        virtual_after = entry.after.virtual
        idempotency_key = entry.idempotencyKey
    }

    /// `idempotency_key` is null, not missing, without one.
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(id, forKey: .id)
        try c.encode(user, forKey: .user)
        try c.encode(sequence, forKey: .sequence)
        try c.encode(actor, forKey: .actor)
        try c.encode(created_at, forKey: .created_at)
        try c.encode(action, forKey: .action)
        try c.encode(value_type, forKey: .value_type)
        try c.encode(value, forKey: .value)
        try c.encode(real_change, forKey: .real_change)
        try c.encode(virtual_change, forKey: .virtual_change)
        try c.encode(real_after, forKey: .real_after)
        try c.encode(virtual_after, forKey: .virtual_after)
        try c.encode(idempotency_key, forKey: .idempotency_key)
    }

    private enum Keys: String, CodingKey {
        case id, user, sequence, actor, created_at, action, value_type, value, real_change, virtual_change, real_after, virtual_after
        case idempotency_key
    }
}

/// The answer to a change: the balances after it and its ledger entry.
struct BalanceChangeResponse: Encodable, Sendable {
    let real: Money
    let virtual: Money
    let transaction: LedgerEntryResponse

    init(_ entry: LedgerEntry) {
        real = entry.after.real
        virtual = entry.after.virtual
        transaction = LedgerEntryResponse(entry)
    }
}
