import Foundation
import Hummingbird
import SQLKit

/// A client's appointment with a specialist for one of their services (SPEC §6). It keeps what
/// was booked (name, price, times) whatever later happens to the service.
struct Booking: Sendable {
    enum Status: String, Codable, Sendable, CaseIterable {
        case pending, confirmed, cancelled
    }

    let id: UUID
    let serviceID: UUID?
    let serviceName: String
    let price: Money
    let specialistID: UUID
    let clientID: UUID
    let start: Date
    let end: Date
    var status: Status
    let createdAt: Date

    static let columns = [
        "id", "service_id", "service_name", "price_minor", "specialist_id", "client_id", "starts_at", "ends_at", "status", "created_at",
    ]

    init(
        id: UUID, serviceID: UUID?, serviceName: String, price: Money, specialistID: UUID, clientID: UUID, start: Date, end: Date,
        status: Status, createdAt: Date
    ) {
        self.id = id
        self.serviceID = serviceID
        self.serviceName = serviceName
        self.price = price
        self.specialistID = specialistID
        self.clientID = clientID
        self.start = start
        self.end = end
        self.status = status
        self.createdAt = createdAt
    }

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: UUID.self)
        serviceID = try row.decode(column: "service_id", as: UUID?.self)
        serviceName = try row.decode(column: "service_name", as: String.self)
        price = Money(minor: try row.decode(column: "price_minor", as: Int64.self))
        specialistID = try row.decode(column: "specialist_id", as: UUID.self)
        clientID = try row.decode(column: "client_id", as: UUID.self)
        start = try row.decode(column: "starts_at", as: Date.self)
        end = try row.decode(column: "ends_at", as: Date.self)
        status = Status(rawValue: try row.decode(column: "status", as: String.self)) ?? .cancelled
        createdAt = try row.decode(column: "created_at", as: Date.self)
    }
}

struct BookingResponse: ResponseEncodable, Sendable {
    let id: String
    let service: String?
    let service_name: String
    let price: Money
    let specialist: String
    let client: String
    let start: Date
    let end: Date
    let status: Booking.Status
    let created_at: Date

    init(_ booking: Booking) {
        id = booking.id.uuidString.lowercased()
        service = booking.serviceID?.uuidString.lowercased()
        service_name = booking.serviceName
        price = booking.price
        specialist = booking.specialistID.uuidString.lowercased()
        client = booking.clientID.uuidString.lowercased()
        start = booking.start
        end = booking.end
        status = booking.status
        created_at = booking.createdAt
    }

    /// `service` is null, not missing, once the service is removed.
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(id, forKey: .id)
        try c.encode(service, forKey: .service)
        try c.encode(service_name, forKey: .service_name)
        try c.encode(price, forKey: .price)
        try c.encode(specialist, forKey: .specialist)
        try c.encode(client, forKey: .client)
        try c.encode(start, forKey: .start)
        try c.encode(end, forKey: .end)
        try c.encode(status, forKey: .status)
        try c.encode(created_at, forKey: .created_at)
    }

    private enum Keys: String, CodingKey {
        case id, service, service_name, price, specialist, client, start, end, status, created_at
    }
}

struct BookingRequest: Decodable, Sendable {
    var service: UUID
    var start: String
}

struct BookingAction: Decodable, Sendable {
    enum Action: String, Decodable, Sendable {
        case confirm, cancel
    }

    var action: Action
}

/// `GET /api/v1/bookings` filters.
struct BookingFilter: QueryFilter {
    var status: Booking.Status?
    var from: String?
    var to: String?
}

/// `GET /api/v1/specialists/{id}/availability`.
struct AvailabilityQuery: QueryFilter {
    var service: UUID
    var date: String
}

struct Slot: Encodable, Sendable, Equatable {
    let start: Date
    let end: Date
}

struct Availability: ResponseEncodable, Sendable {
    let date: String
    let slots: [Slot]
}

enum Instant {
    /// RFC 3339 with any offset, with or without fractional seconds.
    static func parse(_ text: String) -> Date? {
        guard text.utf8.count <= 40 else { return nil }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        if let date = plain.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }
}
