import Foundation
import SQLKit
import Synchronization

/// The public list of services, answered from memory. A filtered, counted, ordered page needs
/// every matching row (`name` contains cannot use an index, and the count reads them all), which
/// costs SQLite and PostgreSQL milliseconds per request; here it is one pass over an array kept
/// in each order. Every instance keeps its own copy true the way the user cache does: a change to
/// a service is announced in its transaction (`changed`) and drops the copy as it commits, here
/// and, through the change feed, on every other instance; a change to one of the specialists
/// (disabled, enabled) drops it too (`userChanged`, from the user cache). The next request loads
/// it again; a load that overlapped a change is not kept. While the feed is down, nothing is kept,
/// and the list is read from the database as before.
final class CatalogIndex: ChangeFollower {
    let topic = "services"
    private let database: any Database
    private let state = Mutex(State())

    private struct State {
        var current = false
        var generation = 0
        var snapshot: Snapshot?

        mutating func drop() {
            generation &+= 1
            snapshot = nil
        }
    }

    init(database: any Database) {
        self.database = database
    }

    /// Whether the feed listens, so the list is answered from memory.
    var isCurrent: Bool { state.withLock { $0.current } }

    /// A page of `filter` from memory, loading the services first if needed; nil while the feed is
    /// down (the caller reads the database).
    func list(_ filter: CatalogStore.Filter, page: PageRequest, load: @escaping @Sendable (any SQLDatabase) async throws -> Snapshot) async throws
        -> (Int, [Offering])?
    {
        try await snapshot(load)?.page(filter, page)
    }

    /// A listed service from memory: `.some(nil)` when there is none, nil while the feed is down.
    func listed(_ id: UUID, load: @escaping @Sendable (any SQLDatabase) async throws -> Snapshot) async throws -> Offering?? {
        try await snapshot(load).map { $0.listed(id) }
    }

    /// The snapshot, loaded if needed; nil while the feed is down.
    private func snapshot(_ load: @escaping @Sendable (any SQLDatabase) async throws -> Snapshot) async throws -> Snapshot? {
        let (generation, snapshot) = state.withLock { state in state.current ? (state.generation, state.snapshot) : (nil, nil) }
        guard let generation else { return nil }
        if let snapshot { return snapshot }
        let loaded = try await database.read { db in try await load(db) }
        state.withLock { state in
            if state.current, state.generation == generation { state.snapshot = loaded }
        }
        return loaded
    }

    /// Announces, inside the caller's transaction, that a service was added, changed or removed.
    func changed(_ db: any SQLDatabase) async throws {
        try await database.announce(topic, ["*"], db) { self.drop() }
    }

    /// A user changed (or, with nil, any user): the copy goes if they offer any service.
    func userChanged(_ id: UUID?) {
        state.withLock { state in
            if let id, let snapshot = state.snapshot, !snapshot.owners.contains(id) { return }
            state.drop()
        }
    }

    private func drop() {
        state.withLock { $0.drop() }
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

    /// Every service, whether its specialist is active, and the order of each `ordering`.
    struct Snapshot: Sendable {
        private let offerings: [Offering]
        private let listed: [Bool]
        /// Names lowercased, as bytes: what `name` contains is looked for in.
        private let names: [[UInt8]]
        private let orders: [OfferingFilter.Ordering: [Int]]
        private let positions: [UUID: Int]
        let owners: Set<UUID>

        /// `rows`: each service and whether its specialist is active.
        init(_ rows: [(Offering, Bool)]) {
            offerings = rows.map(\.0)
            listed = rows.map(\.1)
            names = offerings.map { Array($0.name.lowercased().utf8) }
            owners = Set(offerings.map(\.specialistID))
            positions = Dictionary(offerings.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { first, _ in first })
            let all = Array(offerings.indices)
            let offerings = self.offerings
            // The orders the database gives: ties broken by id (as bytes, like PostgreSQL's uuid
            // and SQLite's upper-case text), names by their UTF-8 bytes.
            func id(_ i: Int) -> [UInt8] { withUnsafeBytes(of: offerings[i].id.uuid) { Array($0) } }
            func name(_ i: Int) -> String.UTF8View { offerings[i].name.utf8 }
            let byPrice = all.sorted {
                offerings[$0].price != offerings[$1].price ? offerings[$0].price < offerings[$1].price : id($0).lexicographicallyPrecedes(id($1))
            }
            let byCreation = all.sorted {
                offerings[$0].createdAt != offerings[$1].createdAt
                    ? offerings[$0].createdAt < offerings[$1].createdAt : id($0).lexicographicallyPrecedes(id($1))
            }
            let byName = all.sorted {
                name($0).elementsEqual(name($1)) ? id($0).lexicographicallyPrecedes(id($1)) : name($0).lexicographicallyPrecedes(name($1))
            }
            orders = [
                .price: byPrice, .priceDescending: byPrice.reversed(), .created_at: byCreation, .createdAtDescending: byCreation.reversed(),
                .name: byName, .nameDescending: byName.reversed(),
            ]
        }

        func listed(_ id: UUID) -> Offering? {
            positions[id].flatMap { listed[$0] ? offerings[$0] : nil }
        }

        /// How many listed services match `filter`, and the page of them in its order.
        func page(_ filter: CatalogStore.Filter, _ page: PageRequest) -> (Int, [Offering]) {
            let needle = filter.name.map { Array($0.lowercased().utf8) } ?? []
            var count = 0
            var results: [Offering] = []
            for i in orders[filter.ordering] ?? [] where listed[i] {
                let offering = offerings[i]
                if let min = filter.minPrice, offering.price < min { continue }
                if let max = filter.maxPrice, max < offering.price { continue }
                if let minutes = filter.durationMinutes, offering.durationMinutes != minutes { continue }
                if let specialist = filter.specialistID, offering.specialistID != specialist { continue }
                if !needle.isEmpty, !names[i].contains(needle) { continue }
                if count >= page.offset, results.count < page.size { results.append(offering) }
                count += 1
            }
            return (count, results)
        }
    }
}

extension [UInt8] {
    /// Whether `needle` occurs in these bytes.
    fileprivate func contains(_ needle: [UInt8]) -> Bool {
        guard needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { start in self[start..<(start + needle.count)].elementsEqual(needle) }
    }
}
