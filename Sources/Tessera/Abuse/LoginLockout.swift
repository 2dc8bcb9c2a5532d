import Foundation
import SQLKit

/// Brute-force protection per account: failed logins lock it for growing waits (Keycloak's
/// model). Unknown logins are counted under their name the same way, so a lockout says nothing
/// about whether an account exists. During a lock even the right password gets no tokens.
struct LoginLockout: Sendable {
    let database: any Database
    let clock: WallClock
    let policy: LockoutPolicy
    let enabled: Bool

    /// The lockout counts failures per account, whichever call they come from.
    static func key(for userID: UUID) -> String { "user:\(userID.uuidString.lowercased())" }

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

    /// Counts a failure in one atomic upsert, so failures that arrive together all count. Each full
    /// run of `failures` starts a lock; failures in between only count and never shorten a lock.
    func recordFailure(_ key: String) async throws {
        guard enabled else { return }
        let now = clock.now()
        let policy = self.policy
        let stale = now.addingTimeInterval(-policy.resetAfter)
        try await database.transaction { db in
            guard
                let row = try await db.raw(
                    """
                    INSERT INTO login_failures (login_key, failures, last_failure_at) VALUES (\(bind: key), 1, \(bind: now))
                    ON CONFLICT (login_key) DO UPDATE SET
                        failures = CASE WHEN login_failures.last_failure_at <= \(bind: stale) THEN 1 ELSE login_failures.failures + 1 END,
                        last_failure_at = excluded.last_failure_at
                    RETURNING failures, locked_until
                    """
                ).first()
            else { return }
            let failures = try row.decode(column: "failures", as: Int.self)
            let current = try row.decode(column: "locked_until", as: Date?.self)
            guard failures % policy.failures == 0, let wait = policy.lock(after: failures) else { return }
            let until = now.addingTimeInterval(wait)
            if current.map({ $0 < until }) ?? true {
                try await db.update("login_failures").set("locked_until", to: SQLBind(until)).where("login_key", .equal, SQLBind(key)).run()
            }
        }
    }

    /// Deletes counts the lockout has forgotten anyway: no failure within `resetAfter` and no lock
    /// still running.
    func prune(at now: Date, _ db: any SQLDatabase) async throws -> Int {
        try await db.delete(from: "login_failures")
            .where("last_failure_at", .lessThan, SQLBind(now.addingTimeInterval(-policy.resetAfter)))
            .where { $0.where("locked_until", .is, SQLLiteral.null).orWhere("locked_until", .lessThan, SQLBind(now)) }
            .returning("login_key").all().count
    }

    func recordSuccess(_ key: String) async throws {
        guard enabled else { return }
        try await database.write { db in
            try await db.delete(from: "login_failures").where("login_key", .equal, SQLBind(key)).run()
        }
    }
}
