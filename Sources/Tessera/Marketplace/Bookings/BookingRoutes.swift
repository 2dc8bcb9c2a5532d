import Foundation
import Hummingbird

extension BookingService {
    func addRoutes(to routes: RouteTable) {
        routes.open(
            APIOperation(
                .get, "/api/v1/specialists/{id}/availability", "Free slots of a service on a day", tag: "Bookings",
                description:
                    "`date` is the specialist's local date. Slots have the service's length, fit the working hours, and are neither booked nor past; times are UTC. Open to everyone.",
                parameters: [
                    .id, .query("service", ["type": "string", "format": "uuid"], "The service (required)"),
                    .query("date", ["type": "string", "format": "date"], "YYYY-MM-DD (required)"),
                ],
                responses: [(200, "Availability"), (400, "Error"), (404, "Error")]),
            use: showAvailability)
        routes.signedIn(
            APIOperation(
                .post, "/api/v1/bookings", "Book a slot", tag: "Bookings",
                description: "`start` must be a slot availability offers; a slot taken meanwhile is 409 slot_unavailable. The specialist is mailed.",
                request: "BookingRequest", responses: [(201, "Booking"), (400, "Error"), (401, "Error"), (403, "Error"), (409, "Error")]
            ).requiring("bookings"),
            use: createBooking)
        let filters: [APIOperation.Parameter] = [
            .query("status", ["type": "string", "enum": ["pending", "confirmed", "cancelled"]], "Only this status"),
            .query("from", ["type": "string", "format": "date-time"], "Starting at or after (RFC 3339)"),
            .query("to", ["type": "string", "format": "date-time"], "Starting before (RFC 3339)"),
        ]
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/bookings", "The caller's bookings, as client or specialist", tag: "Bookings",
                parameters: APIOperation.Parameter.page + filters,
                responses: [(200, "BookingPage"), (400, "Error"), (401, "Error"), (403, "Error")]
            ).requiring("bookings"),
            use: listBookings)
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/users/{id}/bookings", "A user's bookings, as client or specialist", tag: "Bookings",
                description: "Anyone's bookings are for holders of `bookings:all` (admins; the admin console's user page).",
                parameters: [.id] + APIOperation.Parameter.page + filters,
                responses: [(200, "BookingPage"), (400, "Error"), (401, "Error"), (403, "Error"), (404, "Error")]
            ).requiring("bookings", "all"),
            use: listUsersBookings)
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/bookings/{id}", "One of the caller's bookings", tag: "Bookings", parameters: [.id],
                responses: [(200, "Booking"), (401, "Error"), (403, "Error"), (404, "Error")]
            ).requiring("bookings"),
            use: showBooking)
        routes.signedIn(
            APIOperation(
                .patch, "/api/v1/bookings/{id}", "Confirm or cancel a booking", tag: "Bookings",
                description:
                    "`confirm`: the specialist only (403 for the client). `cancel`: either party, before it starts; the other party is mailed. A cancelled booking frees its slot.",
                parameters: [.id], request: "BookingAction",
                responses: [(200, "Booking"), (400, "Error"), (401, "Error"), (403, "Error"), (404, "Error"), (409, "Error")]
            ).requiring("bookings"),
            use: changeBooking)
    }

    private func showAvailability(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        let specialistID = try context.pathID()
        let query = try request.decodeQuery(as: AvailabilityQuery.self)
        guard let date = LocalDate(query.date) else { throw APIError.validation(["date": ["A date YYYY-MM-DD is required."]]) }
        return Availability(date: date.text, slots: try await availability(of: specialistID, service: query.service, on: date))
    }

    private func createBooking(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        let booking = try await book(try await request.decodeJSON(as: BookingRequest.self, context: context), by: context.identity)
        return EditedResponse(status: .created, response: BookingResponse(booking))
    }

    private func listBookings(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        try await bookingsPage(of: context.identity.userID, request)
    }

    private func listUsersBookings(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        try await bookingsPage(of: try context.pathID(), request)
    }

    private func bookingsPage(of userID: UUID, _ request: Request) async throws -> Page<BookingResponse> {
        let page = try PageRequest(request)
        let query = try request.decodeQuery(as: BookingFilter.self)
        var errors = FieldErrors()
        var filter = BookingStore.Filter(status: query.status)
        for (field, text) in [("from", query.from), ("to", query.to)] {
            guard let text else { continue }
            guard let instant = Instant.parse(text) else {
                errors.add(field, "An RFC 3339 time such as 2026-12-31T00:00:00Z is required.")
                continue
            }
            if field == "from" { filter.from = instant } else { filter.to = instant }
        }
        try errors.throwIfAny()
        let (total, bookings) = try await list(of: userID, filter, page: page)
        return try Page(bookings.map(BookingResponse.init), count: total, page: page, request: request)
    }

    private func showBooking(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        BookingResponse(try await booking(try context.pathID(), for: context.identity))
    }

    private func changeBooking(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        let id = try context.pathID()
        let action = try await request.decodeJSON(as: BookingAction.self, context: context).action
        return BookingResponse(try await act(action, on: id, by: context.identity))
    }
}
