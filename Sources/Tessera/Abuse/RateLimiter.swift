import Foundation
import Hummingbird
import SQLKit

extension APIError {
    static func rateLimited(retryAfter seconds: TimeInterval, _ detail: String = "Too many requests.") -> APIError {
        let wait = max(1, Int(seconds.rounded(.up)))
        var error = APIError(.tooManyRequests, "rate_limited", "\(detail) Try again in \(wait) seconds.")
        error.headers[.retryAfter] = String(wait)
        return error
    }
}

/// Fixed-window counters kept in the database, so every instance on one PostgreSQL counts
/// together: one upsert per limited request. `TESSERA_RATE_LIMITS=off` turns all of them off.
struct RateLimiter: Sendable {
    let database: any Database
    let clock: WallClock
    let enabled: Bool

    /// Counts one request against `bucket`; over the limit it throws 429 with `Retry-After`.
    func hit(_ bucket: String, _ limit: RateLimit?) async throws {
        guard enabled, let limit else { return }
        let now = clock.now()
        let stale = now.addingTimeInterval(-limit.window)
        // One upsert, atomic by itself: no BEGIN/COMMIT round trips on every limited request.
        let (hits, start) = try await database.write { db in
            let row = try await db.raw(
                """
                INSERT INTO rate_limit_windows (bucket, window_start, hits) VALUES (\(bind: bucket), \(bind: now), 1)
                ON CONFLICT (bucket) DO UPDATE SET
                    hits = CASE WHEN rate_limit_windows.window_start <= \(bind: stale) THEN 1 ELSE rate_limit_windows.hits + 1 END,
                    window_start = CASE WHEN rate_limit_windows.window_start <= \(bind: stale) THEN excluded.window_start ELSE rate_limit_windows.window_start END
                RETURNING hits, window_start
                """
            ).first()
            return (try row?.decode(column: "hits", as: Int.self) ?? 1, try row?.decode(column: "window_start", as: Date.self) ?? now)
        }
        if hits > limit.limit {
            TesseraMetrics.rateLimited.increment()
            throw APIError.rateLimited(retryAfter: start.addingTimeInterval(limit.window).timeIntervalSince(now))
        }
    }

    /// Deletes windows that started before `cutoff` (longer ago than the longest window): the next
    /// hit would start them over anyway.
    func prune(startedBefore cutoff: Date, _ db: any SQLDatabase) async throws -> Int {
        try await db.delete(from: "rate_limit_windows").where("window_start", .lessThan, SQLBind(cutoff)).returning("bucket").all().count
    }
}

/// `TESSERA_THROTTLE`: a general per-address limit on every API request.
struct ThrottleMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let limiter: RateLimiter
    let limit: RateLimit

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path.hasPrefix("/api/") {
            try await limiter.hit("all:ip:\(context.clientIP ?? "")", limit)
        }
        return try await next(request, context)
    }
}
