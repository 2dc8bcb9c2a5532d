import Foundation
import SQLKit

/// The `bookings` table. A live booking (not cancelled) holds its specialist's time: on
/// PostgreSQL the `bookings_no_overlap` constraint refuses a second one over it, on SQLite the
/// check in `insert` runs under the one writer. Every write announces its specialist, so the live
/// bookings kept in memory for availability follow.
struct BookingStore: Sendable {
    let dialect: SQLDialect
    let held: FollowedCache<[Interval]>

    /// A stretch of a specialist's time a live booking holds.
    struct Interval: Sendable {
        let start: Date
        let end: Date
    }

    struct Filter: Sendable {
        var status: Booking.Status?
        var from: Date?
        var to: Date?
    }

    /// The live bookings of a specialist that overlap [`from`, `to`).
    func busy(_ specialistID: UUID, from: Date, to: Date, _ db: any SQLDatabase) async throws -> [Interval] {
        try await live(db.select().columns("starts_at", "ends_at").from("bookings"), specialistID, from: from, to: to).all().map {
            Interval(start: try $0.decode(column: "starts_at", as: Date.self), end: try $0.decode(column: "ends_at", as: Date.self))
        }
    }

    /// Inserts `booking` unless the specialist already has a live booking over its time: false
    /// then. On PostgreSQL a transaction that booked the time between this check and the insert
    /// makes the transaction fail with `OverlapViolation` instead.
    func insert(_ booking: Booking, _ db: any SQLDatabase) async throws -> Bool {
        let clash = try await live(
            db.select().column(SQLLiteral.numeric("1"), as: "one").from("bookings"), booking.specialistID,
            from: booking.start, to: booking.end
        ).limit(1).first()
        guard clash == nil else { return false }
        try await db.insert(into: "bookings").columns(Booking.columns + ["updated_at"])
            .values(
                SQLBind(booking.id), SQLBind(booking.serviceID), SQLBind(booking.serviceName), SQLBind(booking.price.minor),
                SQLBind(booking.specialistID), SQLBind(booking.clientID), SQLBind(booking.start), SQLBind(booking.end),
                SQLBind(booking.status.rawValue), SQLBind(booking.createdAt), SQLBind(booking.createdAt)
            )
            .run()
        try await held.changed(booking.specialistID, db)
        return true
    }

    /// A booking the caller is a party to, locked for a status change when `forUpdate`.
    func find(_ id: UUID, party userID: UUID, _ db: any SQLDatabase, forUpdate: Bool = false) async throws -> Booking? {
        let query = db.select().columns(Booking.columns.map { SQLColumn($0) }).from("bookings").where("id", .equal, SQLBind(id))
            .where { $0.where("client_id", .equal, SQLBind(userID)).orWhere("specialist_id", .equal, SQLBind(userID)) }
        return try await (forUpdate ? dialect.lockForUpdate(query) : query).first().map(Booking.init(row:))
    }

    func setStatus(_ status: Booking.Status, of booking: Booking, at now: Date, _ db: any SQLDatabase) async throws {
        try await db.update("bookings").set("status", to: SQLBind(status.rawValue)).set("updated_at", to: SQLBind(now))
            .where("id", .equal, SQLBind(booking.id)).run()
        try await held.changed(booking.specialistID, db)
    }

    /// One page of the bookings `userID` is a party to, soonest first, and how many match.
    func list(party userID: UUID, _ filter: Filter, page: PageRequest, _ db: any SQLDatabase) async throws -> (Int, [Booking]) {
        func filtered(_ query: SQLSelectBuilder) -> SQLSelectBuilder {
            var query = query.from("bookings")
                .where { $0.where("client_id", .equal, SQLBind(userID)).orWhere("specialist_id", .equal, SQLBind(userID)) }
            if let status = filter.status { query = query.where("status", .equal, SQLBind(status.rawValue)) }
            if let from = filter.from { query = query.where("starts_at", .greaterThanOrEqual, SQLBind(from)) }
            if let to = filter.to { query = query.where("starts_at", .lessThan, SQLBind(to)) }
            return query
        }
        return try await db.page(
            page, columns: Booking.columns.map { SQLColumn($0) }, orderBy: [("starts_at", .ascending), ("id", .ascending)], filtered,
            as: Booking.init(row:))
    }

    private func live(_ query: SQLSelectBuilder, _ specialistID: UUID, from: Date, to: Date) -> SQLSelectBuilder {
        query.where("specialist_id", .equal, SQLBind(specialistID)).where("status", .notEqual, SQLBind(Booking.Status.cancelled.rawValue))
            .where("starts_at", .lessThan, SQLBind(to)).where("ends_at", .greaterThan, SQLBind(from))
    }
}
