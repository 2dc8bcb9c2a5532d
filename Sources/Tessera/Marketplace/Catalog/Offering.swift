import Foundation
import Hummingbird
import SQLKit

/// One of a specialist's services (SPEC §6). Called an offering in code: `Service` is
/// ServiceLifecycle's word for a background task.
struct Offering: Sendable {
    let id: UUID
    let specialistID: UUID
    var name: String
    var description: String
    var price: Money
    var durationMinutes: Int
    let createdAt: Date

    static let columns = ["id", "specialist_id", "name", "description", "price_minor", "duration_minutes", "created_at"]

    init(id: UUID, specialistID: UUID, name: String, description: String, price: Money, durationMinutes: Int, createdAt: Date) {
        self.id = id
        self.specialistID = specialistID
        self.name = name
        self.description = description
        self.price = price
        self.durationMinutes = durationMinutes
        self.createdAt = createdAt
    }

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: UUID.self)
        specialistID = try row.decode(column: "specialist_id", as: UUID.self)
        name = try row.decode(column: "name", as: String.self)
        description = try row.decode(column: "description", as: String.self)
        price = Money(minor: try row.decode(column: "price_minor", as: Int64.self))
        durationMinutes = try row.decode(column: "duration_minutes", as: Int.self)
        createdAt = try row.decode(column: "created_at", as: Date.self)
    }

    /// The longest service: a day.
    static let maximumDuration = 24 * 60
}

/// `{"id", "specialist", "name", "description", "price", "duration_minutes", "created_at"}`.
struct OfferingResponse: ResponseEncodable, Sendable {
    let id: String
    let specialist: String
    let name: String
    let description: String
    let price: Money
    let duration_minutes: Int
    let created_at: Date

    init(_ offering: Offering) {
        id = offering.id.uuidString.lowercased()
        specialist = offering.specialistID.uuidString.lowercased()
        name = offering.name
        description = offering.description
        price = offering.price
        duration_minutes = offering.durationMinutes
        created_at = offering.createdAt
    }
}

/// The body of a create (every field but `description` required) or a change (any of them).
struct OfferingRequest: Decodable, Sendable {
    var name: String?
    var description: String?
    var price: AmountInput?
    var duration_minutes: Int?
}

/// The public list's filters and order (SPEC §6).
struct OfferingFilter: QueryFilter {
    enum Ordering: String, Decodable {
        case price, created_at, name
        case priceDescending = "-price"
        case createdAtDescending = "-created_at"
        case nameDescending = "-name"
    }

    var name: String?
    var min_price: String?
    var max_price: String?
    var duration_minutes: Int?
    var specialist: UUID?
    var ordering: Ordering?
}
