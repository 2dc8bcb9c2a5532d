import Foundation
import SQLKit
import Synchronization

/// Users as `GET /api/v1/me` shows them (the row and its role codes), kept in memory so the
/// busiest signed-in call reads no row. Every write to a user, a user's roles or a role goes
/// through `UserStore`, which announces it (`changed`); this instance forgets the user as the
/// write commits, and on PostgreSQL every other instance as the `NOTIFY` arrives.
///
/// A load that overlapped a change is not kept (the generation moved while it ran), so a stale row
/// never enters. Until the feed listens, and whenever it is lost, nothing is kept or served.
final class UserCache: ChangeFollower {
    let topic = "user"
    /// Beyond this many users the cache starts over; 10,000 users take about 10 MiB.
    static let capacity = 10_000

    private let database: any Database
    private let state = Mutex(State())
    /// Told of every user this cache forgets (nil: all of them), so what else is kept about users
    /// (the services of active specialists) follows the same changes.
    private let onForget: @Sendable (UUID?) -> Void

    private struct State {
        var current = false
        var generation = 0
        var users: [UUID: UserResponse] = [:]

        mutating func forget(_ id: UUID?) {
            generation &+= 1
            if let id { users[id] = nil } else { users.removeAll(keepingCapacity: true) }
        }
    }

    init(database: any Database, onForget: @escaping @Sendable (UUID?) -> Void = { _ in }) {
        self.database = database
        self.onForget = onForget
    }

    /// Whether the feed listens, so users are kept and served.
    var isCurrent: Bool { state.withLock { $0.current } }

    /// The user from memory, or from `load`, which is remembered if nothing changed meanwhile.
    func user(_ id: UUID, load: () async throws -> UserResponse?) async throws -> UserResponse? {
        let (generation, hit) = state.withLock { state in state.current ? (state.generation, state.users[id]) : (nil, nil) }
        if let hit { return hit }
        let loaded = try await load()
        if let generation, let loaded {
            state.withLock { state in
                guard state.current, state.generation == generation else { return }
                if state.users.count >= Self.capacity { state.users.removeAll(keepingCapacity: true) }
                state.users[id] = loaded
            }
        }
        return loaded
    }

    /// Announces, inside the caller's transaction, that a user (or with `nil`, any user: a role
    /// was renamed or deleted) has changed.
    func changed(_ id: UUID?, _ db: any SQLDatabase) async throws {
        try await database.announce(topic, [id?.uuidString.lowercased() ?? "*"], db) { self.forget(id) }
    }

    /// Announces a sign-in. It changes only `last_login`, which only grows, so every instance moves
    /// its cached copy forward in place — in whatever order sign-ins arrive — instead of dropping
    /// it: a login storm does not empty the cache of the very users it signs in.
    func signedIn(_ id: UUID, at time: Date, _ db: any SQLDatabase) async throws {
        try await database.announce(topic, ["\(id.uuidString.lowercased()) \(time.timeIntervalSince1970)"], db) { self.signedIn(id, at: time) }
    }

    private func signedIn(_ id: UUID, at time: Date) {
        state.withLock { state in
            // A load under way may have read the row before this sign-in: it must not be kept.
            state.generation &+= 1
            guard var user = state.users[id] else { return }
            user.user.lastLogin = max(user.user.lastLogin ?? time, time)
            state.users[id] = user
        }
    }

    private func forget(_ id: UUID?) {
        state.withLock { $0.forget(id) }
        onForget(id)
    }

    func ready() async throws {
        state.withLock { state in
            state.forget(nil)
            state.current = true
        }
    }

    func receive(_ payload: String) {
        let parts = payload.split(separator: " ")
        if parts.count == 2, let id = UUID(uuidString: String(parts[0])), let seconds = Double(parts[1]) {
            signedIn(id, at: Date(timeIntervalSince1970: seconds))
        } else {
            forget(UUID(uuidString: payload))
        }
    }

    func lost() {
        state.withLock { state in
            state.forget(nil)
            state.current = false
        }
    }
}
