import Foundation
import SQLKit

/// Availability and bookings. A slot is a stretch of the service's length inside working hours,
/// on the grid that starts at each range's start; a client may book only a slot availability
/// offers, and a specialist is never booked twice at once, across all their services, whatever
/// runs concurrently (the database enforces it: see `BookingStore`).
struct BookingService: Sendable {
    let database: any Database
    let store: BookingStore
    let catalog: CatalogService
    let schedules: ScheduleService
    let users: UserStore
    let mail: BookingMail
    let clock: WallClock

    /// The free slots of `serviceID` on `date` (the specialist's local date): working hours,
    /// minus days off, minus live bookings, minus the past.
    func availability(of specialistID: UUID, service serviceID: UUID, on date: LocalDate) async throws -> [Slot] {
        let offering = try await catalog.listed(serviceID)
        guard offering.specialistID == specialistID else { throw APIError.notFound }
        return try await freeSlots(offering, on: date, schedule: try await schedules.schedule(of: specialistID))
    }

    func book(_ request: BookingRequest, by caller: Identity) async throws -> Booking {
        guard let start = Instant.parse(request.start) else {
            throw APIError.validation(["start": ["An RFC 3339 time such as 2026-12-31T09:00:00Z is required."]])
        }
        let offering: Offering
        do {
            offering = try await catalog.listed(request.service)
        } catch let error as APIError where error == .notFound {
            throw APIError.validation(["service": ["No such service."]])
        }
        guard offering.specialistID != caller.userID else { throw APIError.validation(["service": ["You cannot book your own service."]]) }
        let schedule = try await schedules.schedule(of: offering.specialistID)
        let slots = try await freeSlots(offering, on: LocalDate(start, in: schedule.timeZone), schedule: schedule)
        guard let slot = slots.first(where: { $0.start == start }) else {
            throw APIError(
                .conflict, "slot_unavailable", "This time is not free: pick a start that availability offers.",
                fields: ["start": ["Not a free slot of this service."]])
        }
        let booking = Booking(
            id: UUID(), serviceID: offering.id, serviceName: offering.name, price: offering.price, specialistID: offering.specialistID,
            clientID: caller.userID, start: slot.start, end: slot.end, status: .pending, createdAt: clock.now())
        let taken = APIError(.conflict, "slot_unavailable", "This time was just booked by someone else.", fields: ["start": ["Already booked."]])
        do {
            try await database.transaction { db in
                guard try await self.store.insert(booking, db) else { throw taken }
                try await self.mail.booked(booking, specialist: try await self.users.find(booking.specialistID, db), db)
            }
        } catch is OverlapViolation {
            throw taken
        }
        return booking
    }

    /// The bookings `userID` is a party to, as client or specialist.
    func list(of userID: UUID, _ filter: BookingStore.Filter, page: PageRequest) async throws -> (Int, [Booking]) {
        guard try await users.current(userID, in: database) != nil else { throw APIError.notFound }
        return try await database.read { db in try await self.store.list(party: userID, filter, page: page, db) }
    }

    /// A booking of the caller's; anyone else's is not found.
    func booking(_ id: UUID, for caller: Identity) async throws -> Booking {
        guard let booking = try await database.read({ db in try await self.store.find(id, party: caller.userID, db) }) else {
            throw APIError.notFound
        }
        return booking
    }

    /// `confirm` is the specialist's; `cancel` either party's until the booking starts. Doing
    /// again what is done answers the booking as it is.
    func act(_ action: BookingAction.Action, on id: UUID, by caller: Identity) async throws -> Booking {
        let now = clock.now()
        return try await database.transaction { db in
            guard var booking = try await self.store.find(id, party: caller.userID, db, forUpdate: true) else { throw APIError.notFound }
            switch action {
            case .confirm:
                guard booking.specialistID == caller.userID else {
                    throw APIError(.forbidden, "permission_denied", "Only the specialist confirms a booking.")
                }
                if booking.status == .confirmed { return booking }
                guard booking.status == .pending else { throw APIError(.conflict, "invalid_state", "A cancelled booking cannot be confirmed.") }
                booking.status = .confirmed
                try await self.store.setStatus(.confirmed, of: booking, at: now, db)
                try await self.mail.confirmed(booking, client: try await self.users.find(booking.clientID, db), db)
            case .cancel:
                if booking.status == .cancelled { return booking }
                guard booking.start > now else { throw APIError(.conflict, "invalid_state", "A booking that has started cannot be cancelled.") }
                booking.status = .cancelled
                try await self.store.setStatus(.cancelled, of: booking, at: now, db)
                let other = caller.userID == booking.clientID ? booking.specialistID : booking.clientID
                try await self.mail.cancelled(booking, notify: try await self.users.find(other, db), db)
            }
            return booking
        }
    }

    /// The specialist's live bookings over [`from`, `to`): from memory while the change feed runs
    /// (all that end after now, loaded once per specialist), else from the database. A booking is
    /// still checked against the table when it is made; this only shows the free slots.
    private func held(by specialistID: UUID, from: Date, to: Date, now: Date) async throws -> [BookingStore.Interval] {
        let store = self.store
        if let all = try await store.held.value(specialistID, load: { db in try await store.busy(specialistID, from: now, to: .distantFuture, db) }) {
            return all.filter { $0.start < to && $0.end > from }
        }
        return try await database.read { db in try await store.busy(specialistID, from: from, to: to, db) }
    }

    private func freeSlots(_ offering: Offering, on date: LocalDate, schedule: Schedule) async throws -> [Slot] {
        let offered = Self.slots(of: schedule, on: date, minutes: offering.durationMinutes)
        guard let first = offered.first, let last = offered.last else { return [] }
        let now = clock.now()
        let busy = try await held(by: offering.specialistID, from: first.start, to: last.end, now: now)
        return offered.filter { slot in slot.start > now && !busy.contains { $0.start < slot.end && $0.end > slot.start } }
    }

    /// The slots of `minutes` that fit the working hours of `date`: from each range's start, one
    /// after another, in real time, so a range across a daylight-saving change holds as many as
    /// its real length allows.
    static func slots(of schedule: Schedule, on date: LocalDate, minutes: Int) -> [Slot] {
        guard !schedule.daysOff.contains(date) else { return [] }
        let length = TimeInterval(minutes * 60)
        var slots: [Slot] = []
        for hours in schedule.weekly where hours.weekday == date.weekday {
            guard let start = date.instant(minutes: hours.start, in: schedule.timeZone),
                let end = date.instant(minutes: hours.end, in: schedule.timeZone)
            else { continue }
            var slotStart = start
            while slotStart.addingTimeInterval(length) <= end {
                slots.append(Slot(start: slotStart, end: slotStart.addingTimeInterval(length)))
                slotStart = slotStart.addingTimeInterval(length)
            }
        }
        return slots.sorted { $0.start < $1.start }
    }
}
