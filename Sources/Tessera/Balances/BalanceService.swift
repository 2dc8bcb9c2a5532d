import Foundation
import Hummingbird
import SQLKit

/// Real and virtual balances (SPEC §7) with a ledger that is the truth: every change is an
/// append-only entry written in the transaction that moves the balance, the database refuses a
/// balance out of range, and an `Idempotency-Key` makes a retried change apply once.
struct BalanceService: Sendable {
    let database: any Database
    let store: BalanceStore
    let keys: IdempotencyStore
    let access: AccessControl
    let users: UserStore
    let audit: AuditLog
    let clock: WallClock

    static let update = PermissionKey("balances", "update")

    /// An answer as it leaves, and as an idempotency key keeps it.
    struct Answer: Sendable {
        let status: HTTPResponse.Status
        let body: String
        /// A stored answer given again to a retry.
        let replayed: Bool
    }

    func balance(of userID: UUID) async throws -> Balance {
        try await database.read { db in try await self.store.balance(of: userID, db) }
    }

    func ledger(of userID: UUID, page: PageRequest) async throws -> (Int, [LedgerEntry]) {
        try await database.read { db in try await self.store.ledger(of: userID, page: page, db) }
    }

    /// Another user's balance or ledger, for those who may read them (the route checks that): 404
    /// for a user who does not exist. The user cache answers, as it does for every signed-in call.
    func requireUser(_ id: UUID) async throws {
        guard try await users.current(id, in: database) != nil else { throw APIError.notFound }
    }

    /// `PATCH /api/v1/balance`. A credit, or a change to someone else's balance, needs the
    /// `balances` update permission; owners may take out and convert their own. With a `key`, the
    /// first request applies and its answer is kept 24 hours for retries with the same body.
    func change(_ request: BalanceChangeRequest, key: String?, by caller: Identity, client: ClientInfo) async throws -> Answer {
        let change = try checked(request, caller: caller)
        let onBehalf = change.userID != caller.userID
        if change.action == .credit || onBehalf {
            guard try await access.allows(caller.userID, Self.update) else { throw APIError.permissionDenied }
        }
        if onBehalf, try await users.current(change.userID, in: database) == nil {
            throw APIError.validation(["user_id": ["No such user."]])
        }
        guard let key else { return try await applying(change, by: caller, client: client, claim: nil) }
        let now = clock.now()
        let claim = try await database.transaction { db in
            try await self.keys.claim(key, owner: caller.userID, fingerprint: change.fingerprint, at: now, db)
        }
        switch claim {
        case .answered(let status, let body):
            return Answer(status: HTTPResponse.Status(code: status), body: body, replayed: true)
        case .inProgress:
            throw Self.inProgress
        case .reused:
            throw APIError(
                .unprocessableContent, "idempotency_key_reused",
                "This Idempotency-Key was used for a different request; use a new key for a new request.")
        case .claimed(let token):
            do {
                return try await applying(change, by: caller, client: client, claim: (key, token))
            } catch let refusal as BalanceStore.Refusal {
                // A refusal is an answer too: a retry gets it again rather than a second try.
                let error = Self.error(refusal, change)
                let body = String(decoding: try error.body(), as: UTF8.self)
                try? await database.write { db in
                    try await self.keys.answer(key, owner: caller.userID, token: token, status: error.status.code, body: body, db)
                }
                throw error
            } catch is IdempotencyStore.Superseded {
                // The claim was taken over while this ran; the change rolled back and the other request answers.
                throw Self.inProgress
            } catch {
                // Nothing was applied and nothing answered (the database went away): a retry runs afresh.
                try? await database.write { db in try await self.keys.release(key, owner: caller.userID, token: token, db) }
                throw error
            }
        }
    }

    static let inProgress = APIError(
        .conflict, "request_in_progress", "A request with this Idempotency-Key is still running; retry once it has answered.")

    /// Every balance recomputed from the ledger (`tessera balances verify`).
    func verify() async throws -> (checked: Int, mismatches: [BalanceStore.Mismatch]) {
        try await database.read { db in try await self.store.verify(db) }
    }

    /// Applies `change` and writes its entry, its audit event and (holding `claim`) its stored
    /// answer in one transaction; throws `BalanceStore.Refusal` or `IdempotencyStore.Superseded`
    /// with nothing changed.
    private func applying(_ change: BalanceChange, by caller: Identity, client: ClientInfo, claim: (key: String, token: String)?) async throws
        -> Answer
    {
        let now = clock.now()
        do {
            return try await database.transaction { db in
                let entry = try await self.store.apply(change, by: caller.userID, at: now, idempotencyKey: claim?.key, db)
                if change.action == .credit || change.userID != caller.userID {
                    let detail = [
                        "action": change.action.rawValue, "value_type": change.kind.rawValue, "value": change.amount.text,
                        "entry": entry.id.uuidString.lowercased(),
                    ]
                    try await self.audit.record(
                        AuditEvent("balance.\(change.action.rawValue)", user: change.userID, actor: caller.userID, client: client, detail: detail), db
                    )
                }
                let body = String(decoding: try JSONCoding.encoder.encode(BalanceChangeResponse(entry)), as: UTF8.self)
                if let claim { try await self.keys.answer(claim.key, owner: caller.userID, token: claim.token, status: 200, body: body, db) }
                return Answer(status: .ok, body: body, replayed: false)
            }
        } catch let refusal as BalanceStore.Refusal where claim == nil {
            throw Self.error(refusal, change)
        }
    }

    private static func error(_ refusal: BalanceStore.Refusal, _ change: BalanceChange) -> APIError {
        switch refusal {
        case .insufficientFunds: APIError(.conflict, "insufficient_funds", "The \(change.kind.rawValue) balance is too low for this.")
        case .limitExceeded: APIError(.conflict, "balance_limit_exceeded", "A balance may hold at most \(Money.maximum.text).")
        }
    }

    private func checked(_ request: BalanceChangeRequest, caller: Identity) throws(APIError) -> BalanceChange {
        var errors = FieldErrors()
        let action = request.action.flatMap(BalanceAction.init(rawValue:))
        if action == nil { errors.add("action", "Choose one of: in, out, convert.") }
        let kind = request.value_type.flatMap(BalanceKind.init(rawValue:))
        if kind == nil {
            errors.add("value_type", "Choose one of: real, virtual.")
        } else if action == .convert, kind == .virtual {
            errors.add("value_type", "convert moves real money into virtual: value_type must be real.")
        }
        var amount: Money?
        if let value = request.value {
            amount = Money.checked("value", value, from: Money(minor: 1), to: BalanceChange.maximumAmount, &errors)
        } else {
            errors.add("value", "This field is required.")
        }
        var userID = caller.userID
        if let raw = request.user_id {
            if let id = UUID(uuidString: raw) { userID = id } else { errors.add("user_id", "A user id (UUID) is required.") }
        }
        try errors.throwIfAny()
        guard let action, let kind, let amount else { throw APIError.validation("Invalid input.") }
        return BalanceChange(userID: userID, action: action, kind: kind, amount: amount)
    }
}
