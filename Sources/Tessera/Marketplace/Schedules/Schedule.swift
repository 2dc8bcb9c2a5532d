import Foundation
import Hummingbird

/// A specialist's working week (SPEC §6): a time zone, hours per ISO weekday (1 Monday … 7
/// Sunday; several ranges a day, none overlapping), and days off. Times are local wall-clock
/// times in `timezone`, so hours stay put across daylight-saving changes.
struct Schedule: Sendable, Equatable {
    struct Hours: Sendable, Equatable, Codable {
        let weekday: Int
        /// Minutes from local midnight: 0…1440 (`24:00` ends a range at midnight).
        let start: Int
        let end: Int
    }

    /// The IANA name as the specialist gave it (Foundation may answer another name for the zone).
    let zoneName: String
    let timeZone: TimeZone
    let weekly: [Hours]
    let daysOff: [LocalDate]

    /// A specialist who never set one works no hours.
    static let empty = Schedule(zoneName: "UTC", timeZone: .gmt, weekly: [], daysOff: [])

    static let maximumRanges = 70
    static let maximumDaysOff = 400
}

/// A calendar date without a time or zone: `2026-12-31`.
struct LocalDate: Sendable, Hashable, Comparable, Codable {
    let year: Int
    let month: Int
    let day: Int

    /// Only real dates of years 2000–2200 (far enough for any booking, small enough for any arithmetic).
    init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.utf8.count == 10, parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
            (2000...2200).contains(year), (1...12).contains(month), (1...Self.days(in: month, of: year)).contains(day)
        else { return nil }
        (self.year, self.month, self.day) = (year, month, day)
    }

    init(_ date: Date, in zone: TimeZone) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        (year, month, day) = (parts.year ?? 2000, parts.month ?? 1, parts.day ?? 1)
    }

    var text: String { String(format: "%04d-%02d-%02d", year, month, day) }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        guard let date = LocalDate(try container.decode(String.self)) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a date")
        }
        self = date
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    static func < (lhs: LocalDate, rhs: LocalDate) -> Bool { (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day) }

    /// The instant a local time of this date names in `zone`, `minutes` from midnight (1440 is
    /// the next midnight). A time a daylight-saving change skips moves forward, as clocks do.
    func instant(minutes: Int, in zone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        guard minutes < 1440 else {
            return calendar.date(from: DateComponents(year: year, month: month, day: day)).flatMap {
                calendar.date(byAdding: .day, value: 1, to: $0)
            }
        }
        return calendar.date(from: DateComponents(year: year, month: month, day: day, hour: minutes / 60, minute: minutes % 60))
    }

    /// ISO weekday: 1 Monday … 7 Sunday (Sakamoto's method: arithmetic, nothing that can fail).
    var weekday: Int {
        let offsets = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4]
        let y = month < 3 ? year - 1 : year
        let sundayZero = (y + y / 4 - y / 100 + y / 400 + offsets[month - 1] + day) % 7
        return sundayZero == 0 ? 7 : sundayZero
    }

    private static func days(in month: Int, of year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

/// `{"timezone", "weekly": [{"weekday", "start", "end"}], "days_off"}` in and out.
struct ScheduleBody: Codable, Sendable, ResponseEncodable {
    struct Hours: Codable, Sendable {
        var weekday: Int
        var start: String
        var end: String
    }

    var timezone: String
    var weekly: [Hours]
    var days_off: [String]

    init(_ schedule: Schedule) {
        timezone = schedule.zoneName
        weekly = schedule.weekly.map { Hours(weekday: $0.weekday, start: Self.clock($0.start), end: Self.clock($0.end)) }
        days_off = schedule.daysOff.map(\.text)
    }

    /// The schedule this body describes, or the field errors that say why not.
    func checked() throws(APIError) -> Schedule {
        var errors = FieldErrors()
        let zone = timezone.utf8.count <= 64 ? TimeZone(identifier: timezone) : nil
        if zone == nil { errors.add("timezone", "Unknown time zone; use an IANA name such as Europe/Moscow.") }
        if weekly.count > Schedule.maximumRanges { errors.add("weekly", "At most \(Schedule.maximumRanges) ranges.") }
        var hours: [Schedule.Hours] = []
        for (index, range) in weekly.prefix(Schedule.maximumRanges).enumerated() {
            let field = "weekly.\(index)"
            guard (1...7).contains(range.weekday) else {
                errors.add(field, "weekday is 1 (Monday) to 7 (Sunday).")
                continue
            }
            guard let start = Self.minutes(range.start), let end = Self.minutes(range.end), start < 1440 else {
                errors.add(field, "start and end are times HH:MM from 00:00 to 24:00.")
                continue
            }
            guard start < end else {
                errors.add(field, "start must be before end.")
                continue
            }
            hours.append(Schedule.Hours(weekday: range.weekday, start: start, end: end))
        }
        hours.sort { ($0.weekday, $0.start) < ($1.weekday, $1.start) }
        for (earlier, later) in zip(hours, hours.dropFirst()) where earlier.weekday == later.weekday && later.start < earlier.end {
            errors.add("weekly", "Ranges of weekday \(later.weekday) overlap.")
        }
        if days_off.count > Schedule.maximumDaysOff { errors.add("days_off", "At most \(Schedule.maximumDaysOff) days.") }
        var daysOff: Set<LocalDate> = []
        for (index, text) in days_off.prefix(Schedule.maximumDaysOff).enumerated() {
            if let date = LocalDate(text) { daysOff.insert(date) } else { errors.add("days_off.\(index)", "A date YYYY-MM-DD is required.") }
        }
        try errors.throwIfAny()
        guard let zone else { throw APIError.validation(["timezone": ["Unknown time zone."]]) }
        return Schedule(zoneName: timezone, timeZone: zone, weekly: hours, daysOff: daysOff.sorted())
    }

    private static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard text.utf8.count == 5, parts.count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]),
            parts[0].allSatisfy(\.isNumber), parts[1].allSatisfy(\.isNumber), (0...24).contains(hour), (0...59).contains(minute),
            hour < 24 || minute == 0
        else { return nil }
        return hour * 60 + minute
    }

    private static func clock(_ minutes: Int) -> String {
        String(format: "%02d:%02d", minutes / 60, minutes % 60)
    }
}
