import Foundation
import SQLKit
import Synchronization

/// The sessions ended recently enough that access tokens issued for them may still be unexpired,
/// held in memory so that checking an access token is CPU-only work (SPEC §1) while revocation
/// stays immediate (SPEC §4).
///
/// It is loaded from the `sessions` table and then kept current: what this instance revokes is
/// added as its transaction commits, and on PostgreSQL every revoking transaction also sends
/// a `NOTIFY` (`ChangeFeed`), delivered at commit, so every instance hears every revocation.
/// Until the list is loaded, and from the moment the listening connection is lost until it is back
/// and the list reloaded, `isRevoked` answers `nil` and the caller asks the database.
final class Revocations: ChangeFollower {
    let topic = "revoked"

    private let database: any Database
    private let clock: WallClock
    /// How long an ended session is remembered: past the expiry of any access token issued before
    /// it ended (`ACCESS_TTL`), with a minute to spare for clocks that differ between instances.
    let retention: TimeInterval
    private let state = Mutex(State())

    private struct State {
        var current = false
        /// Session id → when it may be forgotten.
        var ended: [UUID: Date] = [:]
        var nextPrune = Date.distantPast
    }

    init(database: any Database, accessTTL: TimeInterval, clock: WallClock) {
        self.database = database
        self.clock = clock
        self.retention = accessTTL + 60
    }

    /// Whether the session has been revoked, or `nil` when memory cannot tell: the list is not
    /// current, or the token lives longer than the list remembers (it was issued under a longer
    /// `ACCESS_TTL` than this instance runs with).
    func isRevoked(_ session: UUID, tokenLifetime: TimeInterval) -> Bool? {
        guard tokenLifetime <= retention else { return nil }
        return state.withLock { $0.current ? $0.ended[session] != nil : nil }
    }

    /// Remembers sessions this or another instance has just revoked.
    func add(_ sessions: some Sequence<UUID>) {
        let now = clock.now()
        state.withLock { state in
            for id in sessions { state.ended[id] = now.addingTimeInterval(retention) }
            if state.nextPrune <= now {
                state.ended = state.ended.filter { $0.value > now }
                state.nextPrune = now.addingTimeInterval(60)
            }
        }
    }

    /// Records revocations made inside the caller's transaction, for this instance and the others.
    func revoked(_ sessions: [UUID], _ db: any SQLDatabase) async throws {
        guard !sessions.isEmpty else { return }
        // A payload holds at most 8,000 bytes; 100 ids take 3,699.
        let payloads = stride(from: 0, to: sessions.count, by: 100).map { start in
            sessions[start..<min(start + 100, sessions.count)].map { $0.uuidString.lowercased() }.joined(separator: ",")
        }
        try await database.announce(topic, payloads, db) { self.add(sessions) }
    }

    /// Reloads whenever the feed (re)starts, so nothing sent while this instance was deaf is missed.
    func ready() async throws {
        let since = clock.now().addingTimeInterval(-retention)
        let ids = try await database.read { db in
            try await db.select().column("id").from("sessions").where("revoked_at", .greaterThan, SQLBind(since))
                .all(decodingColumn: "id", as: UUID.self)
        }
        // Merged, not replaced: what arrived while the query ran may be newer than its snapshot.
        add(ids)
        state.withLock { $0.current = true }
    }

    func receive(_ payload: String) {
        add(payload.split(separator: ",").compactMap { UUID(uuidString: String($0)) })
    }

    func lost() {
        state.withLock { $0.current = false }
    }
}
