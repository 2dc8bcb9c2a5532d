import Foundation
import SQLKit

/// `tessera import-django` (SPEC §9): every user of a Django database becomes a Tessera account
/// keyed on its Django id (`legacy_id`), with its password hash kept as it is, so the next
/// sign-in verifies it and rehashes to Argon2id. A row that cannot be imported (an address or
/// phone another account holds, a phone that cannot be read) is skipped and reported, never
/// half-written; running it again updates and never duplicates.
struct DjangoImport: Sendable {
    let database: any Database
    let users: UserStore
    let sessions: SessionService
    let region: PhoneRegion
    let clock: WallClock

    struct Report: Sendable {
        var read = 0
        var created = 0
        var updated = 0
        var withoutPassword = 0
        var droppedUsernames = 0
        var refusedTokens = 0
        var skipped: [(legacyID: String, reason: String)] = []

        var summary: String {
            var lines = [
                "import-django: \(read) read, \(created) created, \(updated) updated, \(skipped.count) skipped"
                    + " (\(withoutPassword) without a usable password: they sign in by reset or socially;"
                    + " \(droppedUsernames) usernames Tessera cannot take were left out);"
                    + " \(refusedTokens) SimpleJWT refresh tokens Django had blacklisted stay refused"
            ]
            lines += skipped.map { "skipped Django user \($0.legacyID): \($0.reason)" }
            return lines.joined(separator: "\n")
        }
    }

    /// The hash formats Tessera verifies; any other (or Django's unusable `!…`) leaves the account
    /// without a password.
    static let usableHashPrefixes = ["pbkdf2_sha256$", "bcrypt_sha256$", "bcrypt$", "argon2$"]

    /// Who holds each identifier now, updated as rows are taken, so two Django users with one
    /// address are caught within a run as well as against accounts already here.
    private struct Holders {
        var byLegacy: [String: (id: UUID, passwordHash: String)] = [:]
        var email: [String: UUID] = [:]
        var phone: [String: UUID] = [:]
        var username: [String: UUID] = [:]
    }

    fileprivate enum Plan {
        case create(User, legacyID: String, admin: Bool)
        case update(User, passwordHash: String?, admin: Bool)
    }

    func run(from source: DjangoSource, progress: @escaping @Sendable (String) -> Void) async throws -> Report {
        let total = try await source.count()
        var holders = Holders()
        for row in try await database.read({ db in try await self.users.importIndex(db) }) {
            if let legacy = row.legacyID { holders.byLegacy[legacy] = (row.id, row.passwordHash) }
            if let key = row.emailKey { holders.email[key] = row.id }
            if let phone = row.phone { holders.phone[phone] = row.id }
            if let key = row.usernameKey { holders.username[key] = row.id }
        }
        var report = Report()
        var cursor: Int64?
        while true {
            let page = try await source.page(after: cursor)
            guard let last = page.last else { break }
            cursor = last.id
            var plans: [(String, Plan)] = []
            for row in page {
                report.read += 1
                switch plan(row, &holders, &report) {
                case .success(let plan): plans.append((String(row.id), plan))
                case .failure(let reason): report.skipped.append((String(row.id), reason.description))
                }
            }
            try await write(plans, &report)
            progress("import-django: \(report.read) of \(total) read")
        }
        let now = clock.now()
        let refused = try await source.blacklisted(at: now).compactMap { token in
            holders.byLegacy[token.legacyID].map { (token.jti, $0.id, token.expires) }
        }
        try await database.transaction { db in try await ExchangedTokens().recordRefused(refused, at: now, db) }
        report.refusedTokens = refused.count
        return report
    }

    private func plan(_ row: DjangoUser, _ holders: inout Holders, _ report: inout Report) -> Result<Plan, ImportError> {
        let legacyID = String(row.id)
        let existing = holders.byLegacy[legacyID]
        var errors = FieldErrors()
        let fields = AccountFields(region: region)
        let email = row.email.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : fields.email($0, &errors) }
        if row.email.map({ !$0.trimmingCharacters(in: .whitespaces).isEmpty }) == true && email == nil {
            return .failure(ImportError("unreadable e-mail '\(row.email ?? "")'"))
        }
        let phone = row.phone.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : PhoneNumber($0, region: region)?.e164 }
        if row.phone.map({ !$0.trimmingCharacters(in: .whitespaces).isEmpty }) == true && phone == nil {
            return .failure(ImportError("unreadable phone '\(row.phone ?? "")'"))
        }
        var username = row.username.flatMap { $0.isEmpty ? nil : fields.username($0, &errors) }
        for (field, key, held) in [
            ("e-mail", email?.lowercased(), holders.email), ("phone", phone, holders.phone),
        ] {
            if let key, let holder = held[key], holder != existing?.id { return .failure(ImportError("duplicate \(field) \(key)")) }
        }
        if let key = username?.lowercased(), let holder = holders.username[key], holder != existing?.id {
            // A username is a convenience; an address or phone still names the account.
            username = nil
        }
        guard email != nil || phone != nil || username != nil else {
            return .failure(ImportError("no e-mail, phone or username Tessera can use"))
        }
        let usable = Self.usableHashPrefixes.contains { row.password.hasPrefix($0) }
        if !usable { report.withoutPassword += 1 }
        if username == nil && row.username?.isEmpty == false { report.droppedUsernames += 1 }
        let now = clock.now()
        var user = User(
            id: existing?.id ?? UUID(), email: email, phone: phone, username: username, passwordHash: usable ? row.password : "",
            firstName: AccountFields.providerName(row.firstName), lastName: AccountFields.providerName(row.lastName),
            middleName: AccountFields.providerName(row.middleName), kind: row.role == AccountKind.specialist.rawValue ? .specialist : .client,
            status: row.isActive ? .active : .disabled, dateJoined: row.dateJoined ?? now)
        user.lastLogin = row.lastLogin
        if let email { holders.email[email.lowercased()] = user.id }
        if let phone { holders.phone[phone] = user.id }
        if let username { holders.username[username.lowercased()] = user.id }
        holders.byLegacy[legacyID] = (user.id, user.passwordHash)
        guard let existing else { return .success(.create(user, legacyID: legacyID, admin: row.isSuperuser)) }
        // Django's hash replaces only Django's: one Tessera wrote (the user signed in since, or
        // changed it) or took away (an address proved socially cut it) is newer.
        let stillDjangos = Self.usableHashPrefixes.contains { existing.passwordHash.hasPrefix($0) }
        return .success(.update(user, passwordHash: stillDjangos ? user.passwordHash : nil, admin: row.isSuperuser))
    }

    /// One transaction a page; if it fails (an account made meanwhile on a running server took an
    /// address), row by row, so the others still land and the one is reported.
    private func write(_ plans: [(String, Plan)], _ report: inout Report) async throws {
        do {
            try await database.transaction { db in
                for (_, plan) in plans where plan.creation == nil {
                    try await self.apply(plan, db)
                }
                try await self.users.insertImported(plans.compactMap { _, plan in plan.creation }, db)
            }
            for (_, plan) in plans { plan.count(in: &report) }
        } catch {
            for (legacyID, plan) in plans {
                do {
                    try await database.transaction { db in try await self.apply(plan, db) }
                    plan.count(in: &report)
                } catch {
                    report.skipped.append((legacyID, "could not be written: \(error)"))
                }
            }
        }
    }

    private func apply(_ plan: Plan, _ db: any SQLDatabase) async throws {
        switch plan {
        case .create(let user, let legacyID, let admin): try await users.insertImported([(user, legacyID, admin)], db)
        case .update(let user, let passwordHash, let admin):
            let changed = try await users.updateImported(user, passwordHash: passwordHash, admin: admin, db)
            // Disabled in Django: out at once, as a disable in Tessera is.
            if changed && user.status == .disabled { _ = try await sessions.endAll(of: user.id, at: clock.now(), db) }
        }
    }
}

extension DjangoImport.Plan {
    fileprivate var creation: (user: User, legacyID: String, admin: Bool)? {
        if case .create(let user, let legacyID, let admin) = self { (user, legacyID, admin) } else { nil }
    }

    fileprivate func count(in report: inout DjangoImport.Report) {
        if case .create = self { report.created += 1 } else { report.updated += 1 }
    }
}
