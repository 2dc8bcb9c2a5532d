import Foundation
import Logging
import ServiceLifecycle

/// Deletes rows nothing will read again, so no table grows without bound: rate-limit windows and
/// login-failure counts that have run out, spent or expired one-time tokens, sessions whose every
/// token has expired, delivered mail and texts, spent SMS codes, exchanged SimpleJWT tokens past their expiry, and idempotency keys past their
/// 24 hours. Every instance prunes; the deletes are idempotent.
struct Housekeeping: Service {
    let database: any Database
    let sessions: SessionStore
    let tokens: OneTimeTokens
    let limiter: RateLimiter
    let lockout: LoginLockout
    let outbox: Outbox
    let idempotencyKeys: IdempotencyStore
    let phoneCodes: PhoneCodes
    let exchangedTokens: ExchangedTokens
    let accessTTL: TimeInterval
    /// Rate-limit windows older than the longest are over whatever their limit.
    let longestRateWindow: TimeInterval
    let readiness: Readiness
    let clock: WallClock
    let logger: Logger

    /// How often a round runs; the first runs this long after start, once migrations have run.
    static let interval = Duration.seconds(600)
    /// How long a row is kept past the moment it stops mattering, for an operator to look at.
    static let grace: TimeInterval = 86400
    /// Mail that failed for good is kept longer than delivered mail.
    static let failedMailKept: TimeInterval = 30 * 86400

    func run() async throws {
        guard await readiness.wait() else { return }
        while (try? await cancelWhenGracefulShutdown { try await Task.sleep(for: Self.interval) }) != nil {
            do {
                let counts = try await prune()
                if counts.values.contains(where: { $0 > 0 }) {
                    logger.info("housekeeping: pruned rows", metadata: counts.mapValues { "\($0)" })
                }
            } catch {
                logger.warning("housekeeping: a round failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// One round; returns how many rows of each kind were deleted.
    @discardableResult
    func prune() async throws -> [String: Int] {
        let now = clock.now()
        return try await database.transaction { db in
            [
                // A revoked session's access tokens live at most ACCESS_TTL past its end; the row
                // must outlive them, or a restart would forget the revocation.
                "sessions": try await self.sessions.prune(endedBefore: now.addingTimeInterval(-(self.accessTTL + Self.grace)), db),
                "one_time_tokens": try await self.tokens.prune(at: now, db),
                "rate_limit_windows": try await self.limiter.prune(startedBefore: now.addingTimeInterval(-self.longestRateWindow), db),
                "login_failures": try await self.lockout.prune(at: now, db),
                "mail_outbox": try await self.outbox.prune(
                    sentBefore: now.addingTimeInterval(-Self.grace), failedBefore: now.addingTimeInterval(-Self.failedMailKept), db),
                "idempotency_keys": try await self.idempotencyKeys.prune(createdBefore: now.addingTimeInterval(-IdempotencyStore.lifetime), db),
                "phone_codes": try await self.phoneCodes.prune(at: now, db),
                "legacy_refresh_tokens": try await self.exchangedTokens.prune(at: now, db),
            ]
        }
    }
}
