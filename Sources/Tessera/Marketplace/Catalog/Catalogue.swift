import Foundation

/// The public list of services, answered from memory (`FollowedSnapshot`, kept true by the change
/// feed): a filtered, counted, ordered page needs every matching row (`name` contains cannot use an
/// index, and the count reads them all), which costs SQLite and PostgreSQL milliseconds a request;
/// here it is one pass over arrays kept in each order. A change to a service drops it
/// (`CatalogStore`), and so does a change to a specialist who offers one (disabled, enabled: the
/// user cache says so).
struct Catalogue: Sendable {
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

extension [UInt8] {
    /// Whether `needle` occurs in these bytes.
    fileprivate func contains(_ needle: [UInt8]) -> Bool {
        guard needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { start in self[start..<(start + needle.count)].elementsEqual(needle) }
    }
}
