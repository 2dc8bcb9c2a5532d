import Foundation
import SQLKit
import Synchronization

/// A value made from whole tables (every service, every schedule) and kept in memory while the
/// change feed runs, so a hot read needs no row. A write to those tables announces itself in its
/// transaction (`changed`): the value is dropped as it commits, here and, through the feed, on
/// every other instance, and the next read loads it again (one query, shared by the reads that
/// arrive while it runs). A load that overlapped a change is not kept. While the feed is down
/// nothing is kept: `value` is nil and the caller reads the database as it would without this.
final class FollowedSnapshot<Value: Sendable>: ChangeFollower {
    let topic: String
    private let database: any Database
    private let load: @Sendable (any SQLDatabase) async throws -> Value
    private let state = Mutex(State())

    private struct State {
        var current = false
        var generation = 0
        var value: Value?
        /// The load under way for `generation`, which later reads wait for instead of loading again.
        var loading: Task<Value, any Error>?

        mutating func drop() {
            generation &+= 1
            value = nil
            loading = nil
        }
    }

    init(topic: String, database: any Database, load: @escaping @Sendable (any SQLDatabase) async throws -> Value) {
        self.topic = topic
        self.database = database
        self.load = load
    }

    /// Whether the feed listens, so the value is kept and served.
    var isCurrent: Bool { state.withLock { $0.current } }

    /// The value, loaded if it is not kept; nil while the feed is down.
    private enum Step {
        case off
        case kept(Value)
        case wait(Task<Value, any Error>, generation: Int)
    }

    func value() async throws -> Value? {
        let step = state.withLock { state -> Step in
            guard state.current else { return .off }
            if let value = state.value { return .kept(value) }
            if let loading = state.loading { return .wait(loading, generation: state.generation) }
            let loading = Task { try await self.database.read { db in try await self.load(db) } }
            state.loading = loading
            return .wait(loading, generation: state.generation)
        }
        switch step {
        case .off:
            return nil
        case .kept(let value):
            return value
        case .wait(let loading, let generation):
            do {
                let loaded = try await loading.value
                state.withLock { state in
                    if state.current, state.generation == generation {
                        state.value = loaded
                        state.loading = nil
                    }
                }
                return loaded
            } catch {
                state.withLock { state in
                    if state.generation == generation { state.loading = nil }
                }
                throw error
            }
        }
    }

    /// Announces, inside the caller's transaction, that the tables behind the value changed.
    func changed(_ db: any SQLDatabase) async throws {
        try await database.announce(topic, ["*"], db) { self.drop() }
    }

    /// Drops the value if `stale` says it shows something that changed (and when none is kept, so
    /// a load under way is not kept either).
    func drop(if stale: (Value) -> Bool = { _ in true }) {
        state.withLock { state in
            if let value = state.value, !stale(value) { return }
            state.drop()
        }
    }

    func ready() async throws {
        state.withLock { state in
            state.drop()
            state.current = true
        }
    }

    func receive(_ payload: String) {
        drop()
    }

    func lost() {
        state.withLock { state in
            state.drop()
            state.current = false
        }
    }
}
