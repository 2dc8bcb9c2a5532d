import Foundation

/// Specialists' working hours. Only specialists have a schedule; one who never set it works none.
struct ScheduleService: Sendable {
    let database: any Database
    let store: ScheduleStore
    let users: UserStore
    let clock: WallClock

    func mine(_ caller: Identity) async throws -> Schedule {
        try await requireSpecialist(caller)
        return try await schedule(of: caller.userID)
    }

    func replace(_ caller: Identity, with body: ScheduleBody) async throws -> Schedule {
        try await requireSpecialist(caller)
        let schedule = try body.checked()
        let now = clock.now()
        try await database.transaction { db in try await self.store.save(schedule, of: caller.userID, at: now, db) }
        return schedule
    }

    /// From memory while the change feed runs, else from the database.
    func schedule(of specialistID: UUID) async throws -> Schedule {
        if let all = try await store.memory.value() { return all[specialistID] ?? .empty }
        return try await database.read { db in try await self.store.find(specialistID, db) } ?? .empty
    }

    private func requireSpecialist(_ caller: Identity) async throws {
        guard try await users.current(caller.userID, in: database)?.user.kind == .specialist else {
            throw APIError(.forbidden, "permission_denied", "Only specialists have a schedule.")
        }
    }
}
