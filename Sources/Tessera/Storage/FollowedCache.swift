import Foundation
import SQLKit
import Synchronization

/// Values kept in memory by id while the change feed runs (a specialist's live bookings), each
/// loaded on first use. A write announces the id it changed in its transaction (`changed`); the
/// value is forgotten as it commits, here and, through the feed, on every other instance. A load
/// that overlapped a change is not kept; while the feed is down nothing is kept and `value` is nil.
final class FollowedCache<Value: Sendable>: ChangeFollower {
    let topic: String
    /// Beyond this many ids the cache starts over.
    static var capacity: Int { 10_000 }

    private let database: any Database
    private let state = Mutex(State())

    private struct State {
        var current = false
        var generation = 0
        var values: [UUID: Value] = [:]

        mutating func forget(_ id: UUID?) {
            generation &+= 1
            if let id { values[id] = nil } else { values.removeAll(keepingCapacity: true) }
        }
    }

    init(topic: String, database: any Database) {
        self.topic = topic
        self.database = database
    }

    /// Whether the feed listens, so values are kept and served.
    var isCurrent: Bool { state.withLock { $0.current } }

    /// The value for `id`, from memory or from `load` (remembered if nothing changed meanwhile);
    /// nil while the feed is down.
    func value(_ id: UUID, load: @escaping @Sendable (any SQLDatabase) async throws -> Value) async throws -> Value? {
        let (generation, kept) = state.withLock { state in state.current ? (state.generation, state.values[id]) : (nil, nil) }
        guard let generation else { return nil }
        if let kept { return kept }
        let loaded = try await database.read { db in try await load(db) }
        state.withLock { state in
            guard state.current, state.generation == generation else { return }
            if state.values.count >= Self.capacity { state.values.removeAll(keepingCapacity: true) }
            state.values[id] = loaded
        }
        return loaded
    }

    /// Announces, inside the caller's transaction, that the value of `id` changed.
    func changed(_ id: UUID, _ db: any SQLDatabase) async throws {
        try await database.announce(topic, [id.uuidString.lowercased()], db) { self.forget(id) }
    }

    private func forget(_ id: UUID?) {
        state.withLock { $0.forget(id) }
    }

    func ready() async throws {
        state.withLock { state in
            state.forget(nil)
            state.current = true
        }
    }

    func receive(_ payload: String) {
        forget(UUID(uuidString: payload))
    }

    func lost() {
        state.withLock { state in
            state.forget(nil)
            state.current = false
        }
    }
}
