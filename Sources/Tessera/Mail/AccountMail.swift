import Foundation
import SQLKit

/// The mails accounts receive, queued in the caller's transaction. Links start at
/// `TESSERA_PUBLIC_URL` and carry their single-use token as `token=`.
struct AccountMail: Sendable {
    let outbox: Outbox
    let publicURL: String

    func registrationDecided(_ user: User, accepted: Bool, reason: String?, _ db: any SQLDatabase) async throws {
        guard let email = user.email else { return }
        let text =
            accepted
            ? "Hello\(greeting(user)),\n\nyour registration has been approved. You can sign in now:\n\(publicURL)/\n"
            : "Hello\(greeting(user)),\n\nyour registration has been declined.\(reason.map { "\n\nReason: \($0)" } ?? "")\n"
        try await outbox.enqueue(to: email, subject: accepted ? "Your registration is approved" : "Your registration was declined", text: text, db)
    }

    func verifyEmail(_ user: User, email: String, token: String, _ db: any SQLDatabase) async throws {
        let text =
            "Hello\(greeting(user)),\n\nplease confirm your e-mail address:\n\(link("verify-email", token))\n\nIf you did not ask for this, ignore this mail.\n"
        try await outbox.enqueue(to: email, subject: "Confirm your e-mail address", text: text, db)
    }

    func passwordReset(_ user: User, email: String, token: String, _ db: any SQLDatabase) async throws {
        let text =
            "Hello\(greeting(user)),\n\nto choose a new password, open:\n\(link("reset-password", token))\n\nIf you did not ask for this, ignore this mail; your password stays as it is.\n"
        try await outbox.enqueue(to: email, subject: "Reset your password", text: text, db)
    }

    /// Told to the old address, so a change its owner did not make does not go unnoticed.
    func emailChanged(_ user: User, from old: String, to new: String?, _ db: any SQLDatabase) async throws {
        let text =
            "Hello\(greeting(user)),\n\nthe e-mail address of your account was changed from \(old)\(new.map { " to \($0)" } ?? "")."
            + "\n\nIf you did not do this, reset your password at once and contact support.\n"
        try await outbox.enqueue(to: old, subject: "Your e-mail address was changed", text: text, db)
    }

    private func link(_ page: String, _ token: String) -> String {
        var components = URLComponents()
        components.queryItems = [URLQueryItem(name: "token", value: token)]
        return "\(publicURL)/\(page)?\(components.percentEncodedQuery ?? "")"
    }

    /// Names are checked to be one line when set; rows from before that check are cleaned here too.
    private func greeting(_ user: User) -> String {
        let name = String(String.UnicodeScalarView(user.firstName.unicodeScalars.filter { $0.properties.generalCategory != .control }.prefix(150)))
        return name.isEmpty ? "" : " \(name)"
    }
}
