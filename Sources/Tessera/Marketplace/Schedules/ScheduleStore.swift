import Foundation
import SQLKit

/// The `schedules` table: one row per specialist, hours and days off as JSON text. Every write
/// announces itself in its transaction, so the schedules kept in memory follow.
struct ScheduleStore: Sendable {
    let memory: FollowedSnapshot<[UUID: Schedule]>

    func find(_ specialistID: UUID, _ db: any SQLDatabase) async throws -> Schedule? {
        try await db.select().columns("timezone", "weekly", "days_off").from("schedules")
            .where("specialist_id", .equal, SQLBind(specialistID)).first().flatMap(Self.schedule(row:))
    }

    /// Every schedule, by specialist: what is kept in memory (a row per specialist, and small).
    static func all(_ db: any SQLDatabase) async throws -> [UUID: Schedule] {
        var schedules: [UUID: Schedule] = [:]
        for row in try await db.select().columns("specialist_id", "timezone", "weekly", "days_off").from("schedules").all() {
            schedules[try row.decode(column: "specialist_id", as: UUID.self)] = try schedule(row: row)
        }
        return schedules
    }

    private static func schedule(row: any SQLRow) throws -> Schedule? {
        guard let zone = TimeZone(identifier: try row.decode(column: "timezone", as: String.self)) else { return nil }
        let weekly = try JSONDecoder().decode([Schedule.Hours].self, from: Data(try row.decode(column: "weekly", as: String.self).utf8))
        let daysOff = try JSONDecoder().decode([LocalDate].self, from: Data(try row.decode(column: "days_off", as: String.self).utf8))
        return Schedule(zoneName: try row.decode(column: "timezone", as: String.self), timeZone: zone, weekly: weekly, daysOff: daysOff)
    }

    func save(_ schedule: Schedule, of specialistID: UUID, at now: Date, _ db: any SQLDatabase) async throws {
        let weekly = String(decoding: try JSONEncoder().encode(schedule.weekly), as: UTF8.self)
        let daysOff = String(decoding: try JSONEncoder().encode(schedule.daysOff), as: UTF8.self)
        try await db.raw(
            """
            INSERT INTO schedules (specialist_id, timezone, weekly, days_off, updated_at)
            VALUES (\(bind: specialistID), \(bind: schedule.zoneName), \(bind: weekly), \(bind: daysOff), \(bind: now))
            ON CONFLICT (specialist_id) DO UPDATE SET timezone = excluded.timezone, weekly = excluded.weekly,
                days_off = excluded.days_off, updated_at = excluded.updated_at
            """
        ).run()
        try await memory.changed(db)
    }
}
