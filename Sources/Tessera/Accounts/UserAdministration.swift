import Foundation
import Hummingbird
import SQLKit

/// What administrators do to accounts: find them, change their status (disabling ends every
/// session at once), look at and end their sessions, and decide on pending sign-ups.
struct UserAdministration: Sendable {
    let database: any Database
    let users: UserStore
    let sessions: SessionService
    let access: AccessControl
    let audit: AuditLog
    let mail: AccountMail
    let clock: WallClock

    struct Filter: Sendable {
        var status: AccountStatus?
        var role: String?
        var text: String?
    }

    func list(_ filter: Filter, page: PageRequest) async throws -> (Int, [UserResponse]) {
        try await database.read { db in try await self.users.list(filter, page: page, db) }
    }

    func user(_ id: UUID) async throws -> UserResponse {
        guard let user = try await database.read({ db in try await self.users.withRoles(id, db) }) else { throw APIError.notFound }
        return user
    }

    struct Change: Decodable, Sendable {
        var status: AccountStatus?
        var role: AccountKind?
        var first_name: String?
        var last_name: String?
        var middle_name: String?
        var email_verified: Bool?
        var phone_verified: Bool?
    }

    /// Changes what an administrator may change; `disabled` (or `rejected`) ends every session in
    /// the same transaction, so the user's tokens stop working on the next request. Nobody acts on
    /// a user who may do more than they may, and letting a sign-up in is an approval, whichever
    /// way it is asked for.
    func update(_ id: UUID, _ change: Change, by actor: Identity, client: ClientInfo) async throws -> UserResponse {
        var errors = FieldErrors()
        let firstName = change.first_name.map { AccountFields.name("first_name", $0, &errors) }
        let lastName = change.last_name.map { AccountFields.name("last_name", $0, &errors) }
        let middleName = change.middle_name.map { AccountFields.name("middle_name", $0, &errors) }
        try errors.throwIfAny()
        // An administrator who disabled themselves could be the last one, with nobody to undo it.
        if id == actor.userID, change.status != nil {
            throw APIError(.forbidden, "permission_denied", "You cannot change your own status.")
        }
        let now = clock.now()
        try await database.transaction { db in
            guard var user = try await self.users.find(id, db) else { throw APIError.notFound }
            try await self.access.requireActing(actor.userID, on: id, db)
            let before = user.status
            if change.status == .active, before == .pending || before == .rejected,
                try await !self.access.allows(actor.userID, PermissionKey("registrations", "approve"), db)
            {
                throw APIError(.forbidden, "permission_denied", "Letting a \(before.rawValue) account in needs the registrations:approve permission.")
            }
            user.firstName = firstName ?? user.firstName
            user.lastName = lastName ?? user.lastName
            user.middleName = middleName ?? user.middleName
            user.emailVerified = change.email_verified ?? user.emailVerified
            user.phoneVerified = change.phone_verified ?? user.phoneVerified
            try await self.users.saveProfile(user, db)
            if let kind = change.role, kind != user.kind {
                try await self.users.setKind(kind, of: id, db)
            }
            if let status = change.status, status != before {
                try await self.setStatus(status, of: id, at: now, db)
                try await self.audit.record(
                    AuditEvent(
                        "user.status_changed", user: id, actor: actor.userID, client: client,
                        detail: ["from": before.rawValue, "to": status.rawValue]),
                    db)
            }
        }
        return try await user(id)
    }

    private func setStatus(_ status: AccountStatus, of id: UUID, at now: Date, _ db: any SQLDatabase) async throws {
        try await users.setStatus(status, of: id, db)
        if status != .active {
            _ = try await sessions.endAll(of: id, at: now, db)
        }
    }

    func sessions(of id: UUID, page: PageRequest) async throws -> (Int, [SessionRecord]) {
        guard try await database.read({ db in try await self.users.find(id, db) }) != nil else { throw APIError.notFound }
        return try await sessions.live(of: id, page: page)
    }

    func revokeSessions(of id: UUID, by actor: Identity, client: ClientInfo) async throws -> Int {
        let now = clock.now()
        return try await database.transaction { db in
            guard try await self.users.find(id, db) != nil else { throw APIError.notFound }
            try await self.access.requireActing(actor.userID, on: id, db)
            let count = try await self.sessions.endAll(of: id, at: now, db)
            try await self.audit.record(
                AuditEvent("sessions.revoked_all", user: id, actor: actor.userID, client: client, detail: ["count": String(count)]), db)
            return count
        }
    }

    struct Decision: Decodable, Sendable {
        enum Action: String, Decodable, Sendable {
            case accept
            case reject
        }
        var action: Action
        var reason: String?
    }

    /// Accepts or rejects a sign-up; the user hears either way, by a mail queued in the same transaction.
    func decide(_ id: UUID, _ decision: Decision, by actor: Identity, client: ClientInfo) async throws -> UserResponse {
        let now = clock.now()
        try await database.transaction { db in
            guard let user = try await self.users.find(id, db) else { throw APIError.notFound }
            let allowed: Set<AccountStatus> = decision.action == .accept ? [.pending, .rejected] : [.pending]
            guard allowed.contains(user.status) else {
                throw APIError(
                    .conflict, "invalid_state",
                    "This registration is \(user.status.rawValue); it cannot be \(decision.action == .accept ? "accepted" : "rejected").")
            }
            let status: AccountStatus = decision.action == .accept ? .active : .rejected
            try await self.setStatus(status, of: id, at: now, db)
            let reason = decision.reason.map { String($0.trimmingCharacters(in: .whitespacesAndNewlines).prefix(2000)) }.flatMap(\.nilIfEmpty)
            try await self.mail.registrationDecided(user, accepted: decision.action == .accept, reason: reason, db)
            try await self.audit.record(
                AuditEvent(
                    decision.action == .accept ? "registration.accepted" : "registration.rejected", user: id, actor: actor.userID, client: client,
                    detail: reason.map { ["reason": $0] } ?? [:]), db)
        }
        return try await user(id)
    }
}
