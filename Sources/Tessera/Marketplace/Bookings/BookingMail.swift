import Foundation
import SQLKit

/// The mails a booking sends, queued in the transaction that changes it: the specialist hears of
/// a new booking and of a client's cancellation, the client of a confirmation and of a
/// specialist's cancellation. A party without an e-mail address gets none.
struct BookingMail: Sendable {
    let outbox: Outbox

    func booked(_ booking: Booking, specialist: User?, _ db: any SQLDatabase) async throws {
        try await send(
            to: specialist, subject: "New booking: \(booking.serviceName)",
            "you have a new booking for \(booking.serviceName) at \(when(booking)). Confirm or cancel it in the app.", db)
    }

    func confirmed(_ booking: Booking, client: User?, _ db: any SQLDatabase) async throws {
        try await send(
            to: client, subject: "Booking confirmed: \(booking.serviceName)",
            "your booking for \(booking.serviceName) at \(when(booking)) is confirmed.", db)
    }

    func cancelled(_ booking: Booking, notify other: User?, _ db: any SQLDatabase) async throws {
        try await send(
            to: other, subject: "Booking cancelled: \(booking.serviceName)",
            "the booking for \(booking.serviceName) at \(when(booking)) was cancelled.",
            db)
    }

    private func send(to user: User?, subject: String, _ text: String, _ db: any SQLDatabase) async throws {
        guard let user, let email = user.email else { return }
        let name = String(String.UnicodeScalarView(user.firstName.unicodeScalars.filter { $0.properties.generalCategory != .control }.prefix(150)))
        try await outbox.enqueue(to: email, subject: subject, text: "Hello\(name.isEmpty ? "" : " \(name)"),\n\n\(text)\n", db)
    }

    /// The start in UTC, as the API gives it.
    private func when(_ booking: Booking) -> String {
        booking.start.formatted(.iso8601)
    }
}
