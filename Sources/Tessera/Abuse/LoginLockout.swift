import Foundation
import SQLKit

/// Brute-force protection per account: failed logins lock it for growing waits (Keycloak's
/// model). Unknown logins are counted under their name the same way, so a lockout says nothing
/// about whether an account exists. During a lock even the right password gets no tokens.
struct LoginLockout: Sendable {
    let database: any Database
    let clock: Clock
    let policy: LockoutPolicy
    let enabled: Bool

    /// Throws 429 while `key` is locked.
    func check(_ key: String) async throws {
        guard enabled else { return }
        let now = clock.now()
        let lockedUntil = try await database.read { db in
            try await db.select().column("locked_until").from("login_failures").where("login_key", .equal, SQLBind(key))
                .first(decodingColumn: "locked_until", as: Date?.self) ?? nil
        }
        if let lockedUntil, lockedUntil > now {
            throw APIError.rateLimited(retryAfter: lockedUntil.timeIntervalSince(now), "Too many failed sign-in attempts.")
        }
    }

    func recordFailure(_ key: String) async throws {
        guard enabled else { return }
        let now = clock.now()
        let policy = self.policy
        try await database.transaction { db in
            let row = try await db.select().columns("failures", "last_failure_at").from("login_failures")
                .where("login_key", .equal, SQLBind(key)).first()
            var failures = 1
            if let row, try row.decode(column: "last_failure_at", as: Date.self) > now.addingTimeInterval(-policy.resetAfter) {
                failures = try row.decode(column: "failures", as: Int.self) + 1
            }
            // A lock starts at each full run of failures; the failures in between only count.
            let lockedUntil = failures % policy.failures == 0 ? policy.lock(after: failures).map { now.addingTimeInterval($0) } : nil
            try await db.delete(from: "login_failures").where("login_key", .equal, SQLBind(key)).run()
            try await db.insert(into: "login_failures").columns("login_key", "failures", "last_failure_at", "locked_until")
                .values(SQLBind(key), SQLBind(failures), SQLBind(now), SQLBind(lockedUntil)).run()
        }
    }

    func recordSuccess(_ key: String) async throws {
        guard enabled else { return }
        try await database.transaction { db in
            try await db.delete(from: "login_failures").where("login_key", .equal, SQLBind(key)).run()
        }
    }
}
