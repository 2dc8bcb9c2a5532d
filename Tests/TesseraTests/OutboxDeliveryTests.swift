import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import SQLKit
import Synchronization
import Testing

@testable import Tessera
@testable import TesseraSMTP

/// The outbox end to end (SPEC §5): mail queued by the account flows reaches a real SMTP server
/// (Tests/smtp_sink.py through `SMTPSink`), survives the server being down and the app restarting,
/// and is retried with back-off until it is sent or given up.
@Suite("Outbox delivery", .throwawayDatabases, .serialized)
struct OutboxDeliveryTests {
    static let from = "Tessera <no-reply@example.com>"
    static let publicURL = "https://auth.example.com"

    static func settings(smtpPort port: Int?, _ extra: [String: String] = [:]) -> [String: String] {
        var values = ["MAIL_FROM": from, "PUBLIC_URL": publicURL]
        if let port { values["SMTP_URL"] = "smtp://127.0.0.1:\(port)?starttls=never" }
        return values.merging(extra) { $1 }
    }

    // MARK: 1. Approval

    @Test("approval: accept and reject each reach the user over SMTP, the reason included", arguments: TestDatabase.all)
    func approvalDecisionsAreMailed(_ database: TestDatabase) async throws {
        let sink = try await SMTPSink()
        defer { sink.stop() }
        let app = try await TestApp.make(database, Self.settings(smtpPort: sink.port, ["REGISTRATION": "approval"]))
        try await app.run { client in
            _ = try await app.tessera.accounts.createUser(RegisterRequest(email: "admin@example.com", password: goodPassword), roles: ["admin"])
            let admin = try #require(try await client.login("admin@example.com", goodPassword).string("access"))

            let annReply = try await client.register(["email": "ann@example.org", "password": goodPassword, "first_name": "Ann"])
            let bobReply = try await client.register(["email": "bob@example.org", "password": goodPassword, "first_name": "Bob"])
            #expect(annReply.status == .created)
            #expect(bobReply.status == .created)
            let ann = try #require(annReply["user"] as? [String: Any])
            let bob = try #require(bobReply["user"] as? [String: Any])
            #expect(ann["status"] as? String == "pending")
            #expect(bob["status"] as? String == "pending")
            let annID = try #require(ann["id"] as? String)
            let bobID = try #require(bob["id"] as? String)
            #expect(try await client.login("ann@example.org", goodPassword).status == .forbidden, "pending until accepted")

            // Registration queues a verification mail for each of them.
            let verifications = try await waitForMail(sink, count: 2, app)
            #expect(Set(verifications.map(\.recipients)) == [["ann@example.org"], ["bob@example.org"]])
            #expect(verifications.allSatisfy { $0.parsed.subject == "Confirm your e-mail address" })

            let pending = try await client.call(.get, "/api/v1/registrations", token: admin)
            #expect(pending.status == .ok)
            let pendingIDs = Set(((pending["results"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String })
            #expect(pendingIDs == [annID, bobID])

            // Accept Ann: exactly one more mail, to Ann, saying so.
            let accepted = try await client.call(.patch, "/api/v1/registrations/\(annID)", json: ["action": "accept"], token: admin)
            #expect(accepted.status == .ok, "\(accepted.text)")
            #expect(accepted.string("status") == "active")
            let afterAccept = try await waitForMail(sink, count: 3, app)
            let annMails = afterAccept.filter { $0.recipients == ["ann@example.org"] }
            #expect(annMails.count == 2, "verification + decision")
            let approved = try #require(afterAccept.last)
            #expect(approved.recipients == ["ann@example.org"])
            #expect(approved.mailFrom == "no-reply@example.com")
            #expect(approved.parsed.from == Self.from)
            #expect(approved.parsed.to == "ann@example.org")
            #expect(approved.parsed.subject == "Your registration is approved")
            let approvedText = approved.parsed.text ?? ""
            #expect(approvedText.contains("approved"), "\(approvedText)")
            #expect(approvedText.contains("Ann"))
            #expect(approvedText.contains("\(Self.publicURL)/"))
            #expect(!approvedText.contains("declined"))
            #expect(approved.parsed.defects.isEmpty)
            #expect(try await client.login("ann@example.org", goodPassword).status == .ok)

            // Reject Bob with a reason: one mail to Bob carrying it.
            let reason = "We could not confirm your licence number #A-17."
            let rejected = try await client.call(
                .patch, "/api/v1/registrations/\(bobID)", json: ["action": "reject", "reason": reason], token: admin)
            #expect(rejected.status == .ok, "\(rejected.text)")
            #expect(rejected.string("status") == "rejected")
            let afterReject = try await waitForMail(sink, count: 4, app)
            let declined = try #require(afterReject.last)
            #expect(declined.recipients == ["bob@example.org"])
            #expect(declined.mailFrom == "no-reply@example.com")
            #expect(declined.parsed.from == Self.from)
            #expect(declined.parsed.to == "bob@example.org")
            #expect(declined.parsed.subject == "Your registration was declined")
            let declinedText = declined.parsed.text ?? ""
            #expect(declinedText.contains("declined"), "\(declinedText)")
            #expect(declinedText.contains(reason), "\(declinedText)")
            #expect(!declinedText.contains("approved"))

            // Nothing is sent twice, neither by the background worker nor by another round.
            try await Task.sleep(for: .milliseconds(1500))
            #expect(try await app.tessera.outbox.deliverDue() == 0)
            let final = try sink.messages()
            #expect(final.count == 4)
            #expect(final.filter { $0.recipients == ["ann@example.org"] }.count == 2)
            #expect(final.filter { $0.recipients == ["bob@example.org"] }.count == 2)
            #expect(final.filter { $0.recipients == ["admin@example.com"] }.isEmpty)
            let rows = try await outboxRows(app.tessera)
            #expect(rows.count == 4)
            #expect(rows.allSatisfy { $0.status == "sent" && $0.attempts == 1 && $0.sentAt != nil && $0.lastError.isEmpty })
        }
    }

    // MARK: 2. Password reset

    @Test("password reset: the mailed link carries a token that sets the new password", arguments: TestDatabase.all)
    func passwordResetOverSMTP(_ database: TestDatabase) async throws {
        let sink = try await SMTPSink()
        defer { sink.stop() }
        let app = try await TestApp.make(database, Self.settings(smtpPort: sink.port))
        try await app.run { client in
            _ = try await app.tessera.accounts.createUser(
                RegisterRequest(email: "carol@example.org", password: goodPassword, first_name: "Carol"), roles: [])

            let unknown = try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "nobody@example.org"])
            #expect(unknown.status == .accepted)
            let requested = try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "carol@example.org"])
            #expect(requested.status == .accepted)

            let mail = try #require(try await waitForMail(sink, count: 1, app).first)
            #expect(mail.recipients == ["carol@example.org"])
            #expect(mail.mailFrom == "no-reply@example.com")
            #expect(mail.parsed.from == Self.from)
            #expect(mail.parsed.subject == "Reset your password")
            let token = try resetToken(in: mail)

            let newPassword = "Quiet-Lantern-Harbor-42"
            let confirmed = try await client.call(
                .post, "/api/v1/auth/password/reset/confirm", json: ["token": token, "new_password": newPassword])
            #expect(confirmed.status == .noContent, "\(confirmed.text)")
            #expect(try await client.login("carol@example.org", goodPassword).status == .unauthorized)
            #expect(try await client.login("carol@example.org", newPassword).status == .ok)
            let again = try await client.call(
                .post, "/api/v1/auth/password/reset/confirm", json: ["token": token, "new_password": "Another-Lantern-77"])
            #expect(again.status == .badRequest, "the token works once")

            // Only Carol's mail: the unknown login queued nothing.
            try await Task.sleep(for: .milliseconds(1200))
            #expect(try sink.messages().count == 1)
            #expect(try await outboxRows(app.tessera).count == 1)
        }
    }

    // MARK: 3. SMTP down, then back

    @Test("SMTP down: the mail waits with back-off, then goes out once when the server is back", arguments: TestDatabase.all)
    func retriesAfterServerComesBack(_ database: TestDatabase) async throws {
        let port = try unusedLoopbackPort()
        let app = try await TestApp.make(database, Self.settings(smtpPort: port))
        try await app.run { client in
            _ = try await app.tessera.accounts.createUser(RegisterRequest(email: "dave@example.org", password: goodPassword), roles: [])
            #expect(try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "dave@example.org"]).status == .accepted)

            #expect(try await app.tessera.outbox.deliverDue() == 0)
            let first = try await waitForRow(app) { $0.attempts >= 1 }
            let failedAt = app.tessera.clock.now()
            #expect(first.status == "pending")
            #expect(first.attempts == 1)
            #expect(!first.lastError.isEmpty)
            #expect(first.lastError.contains("\(port)"), "\(first.lastError)")
            #expect(first.sentAt == nil)
            #expect(first.lockedUntil == nil)
            let backoff = OutboxWorker.backoff(afterAttempt: 1)
            #expect(backoff > 0)
            #expect(first.nextAttemptAt > failedAt)
            #expect(abs(first.nextAttemptAt.timeIntervalSince(failedAt) - backoff) < 1, "\(first.nextAttemptAt) vs \(failedAt)")

            // Before the back-off has passed nothing is tried.
            app.clock.advance(by: backoff - 5)
            #expect(try await app.tessera.outbox.deliverDue() == 0)
            #expect(try await onlyRow(app).attempts == 1)

            // The server comes back on the same port; still nothing until the back-off is over.
            let sink = try await SMTPSink("--port", "\(port)")
            defer { sink.stop() }
            #expect(sink.port == port)
            #expect(try await app.tessera.outbox.deliverDue() == 0)
            try await Task.sleep(for: .milliseconds(1200))
            #expect(try sink.messages().isEmpty, "retried before the back-off")
            #expect(try await onlyRow(app).attempts == 1)

            app.clock.advance(by: 6)
            _ = try await app.tessera.outbox.deliverDue()
            let mail = try #require(try await waitForMail(sink, count: 1, app).first)
            #expect(mail.recipients == ["dave@example.org"])
            #expect(mail.parsed.subject == "Reset your password")
            let sent = try await waitForRow(app) { $0.status != "pending" }
            #expect(sent.status == "sent")
            #expect(sent.attempts == 2)
            #expect(sent.sentAt != nil)
            #expect(sent.lockedUntil == nil)

            // Sent means done: later rounds deliver nothing more.
            app.clock.advance(by: 3600)
            #expect(try await app.tessera.outbox.deliverDue() == 0)
            #expect(try await app.tessera.outbox.deliverDue() == 0)
            try await Task.sleep(for: .milliseconds(1200))
            #expect(try sink.messages().count == 1)
            #expect(try await onlyRow(app).status == "sent")
            _ = try resetToken(in: mail)
        }
    }

    // MARK: 4. Restart

    @Test("a mail queued before a restart is delivered once by the next instance's worker", arguments: TestDatabase.all)
    func queuedMailSurvivesRestart(_ database: TestDatabase) async throws {
        let shared = try await SharedDatabase.make(database)

        // Instance A: SMTP is down; the reset mail is queued and tried once, then A stops.
        let downPort = try unusedLoopbackPort()
        let a = try await shared.app(Self.settings(smtpPort: downPort))
        try await a.run { client in
            _ = try await a.tessera.accounts.createUser(RegisterRequest(email: "erin@example.org", password: goodPassword), roles: [])
            #expect(try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "erin@example.org"]).status == .accepted)
            _ = try await a.tessera.outbox.deliverDue()
            let row = try await waitForRow(a) { $0.attempts >= 1 }
            #expect(row.status == "pending")
            #expect(row.attempts == 1)
        }

        // Instance B starts on the same database once the back-off has passed, with a working server.
        shared.clock.advance(by: OutboxWorker.backoff(afterAttempt: 1) + 1)
        let sink = try await SMTPSink()
        defer { sink.stop() }
        let b = try await shared.app(Self.settings(smtpPort: sink.port))
        try await b.run { client in
            // No deliverDue() here: B's background worker must find the mail on its own.
            let mail = try #require(try await waitForMail(sink, count: 1, nil).first)
            #expect(mail.recipients == ["erin@example.org"])
            #expect(mail.mailFrom == "no-reply@example.com")
            #expect(mail.parsed.subject == "Reset your password")

            // B keeps running (several worker polls): still exactly one.
            try await Task.sleep(for: .milliseconds(2500))
            #expect(try sink.messages().count == 1)
            let row = try await onlyRow(b)
            #expect(row.status == "sent")
            #expect(row.attempts == 2)

            // The link mailed after the restart still works.
            let token = try resetToken(in: mail)
            let confirmed = try await client.call(
                .post, "/api/v1/auth/password/reset/confirm", json: ["token": token, "new_password": "Quiet-Lantern-Harbor-42"])
            #expect(confirmed.status == .noContent, "\(confirmed.text)")
        }
    }

    // MARK: 5. Giving up

    @Test("a permanent rejection fails the mail after one attempt, others still go out", arguments: TestDatabase.all)
    func permanentRejectionIsNotRetried(_ database: TestDatabase) async throws {
        let sink = try await SMTPSink("--reject", "frank@example.org")
        defer { sink.stop() }
        let app = try await TestApp.make(database, Self.settings(smtpPort: sink.port))
        try await app.run { client in
            _ = try await app.tessera.accounts.createUser(RegisterRequest(email: "frank@example.org", password: goodPassword), roles: [])
            _ = try await app.tessera.accounts.createUser(RegisterRequest(email: "grace@example.org", password: goodPassword), roles: [])
            #expect(try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "frank@example.org"]).status == .accepted)
            #expect(try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "grace@example.org"]).status == .accepted)

            _ = try await app.tessera.outbox.deliverDue()
            let delivered = try await waitForMail(sink, count: 1, app)
            #expect(delivered.map(\.recipients) == [["grace@example.org"]])
            let frank = try await waitForRow(app, "frank@example.org") { $0.status != "pending" }
            #expect(frank.status == "failed")
            #expect(frank.attempts == 1)
            #expect(frank.lastError.contains("550"), "\(frank.lastError)")
            #expect(frank.sentAt == nil)
            #expect(frank.lockedUntil == nil)

            // Long after any back-off: no retry.
            app.clock.advance(by: 86400)
            #expect(try await app.tessera.outbox.deliverDue() == 0)
            try await Task.sleep(for: .milliseconds(1200))
            let later = try await row(app, "frank@example.org")
            #expect(later.status == "failed")
            #expect(later.attempts == 1)
            #expect(try sink.messages().count == 1)
            #expect(try await row(app, "grace@example.org").status == "sent")
        }
    }

    @Test("a transient failure is retried with growing back-off and given up after maximumAttempts", arguments: TestDatabase.all)
    func transientFailureGivesUp(_ database: TestDatabase) async throws {
        let port = try unusedLoopbackPort()
        let app = try await TestApp.make(database, Self.settings(smtpPort: port))
        try await app.run { client in
            _ = try await app.tessera.accounts.createUser(RegisterRequest(email: "heidi@example.org", password: goodPassword), roles: [])
            #expect(try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "heidi@example.org"]).status == .accepted)

            let maximum = OutboxWorker.maximumAttempts
            #expect(maximum > 1)
            var previousBackoff: TimeInterval = 0
            for attempt in 1...maximum {
                _ = try await app.tessera.outbox.deliverDue()
                let row = try await waitForRow(app) { $0.attempts >= attempt }
                #expect(row.attempts == attempt)
                #expect(!row.lastError.isEmpty)
                #expect(row.sentAt == nil)
                if attempt < maximum {
                    #expect(row.status == "pending", "attempt \(attempt)")
                    let backoff = OutboxWorker.backoff(afterAttempt: attempt)
                    #expect(backoff >= previousBackoff)
                    previousBackoff = backoff
                    let wait = row.nextAttemptAt.timeIntervalSince(app.tessera.clock.now())
                    #expect(abs(wait - backoff) < 1, "attempt \(attempt): next try in \(wait) s, expected \(backoff) s")
                    // Not due a moment before the back-off ends.
                    app.clock.advance(by: backoff - 1)
                    #expect(try await app.tessera.outbox.deliverDue() == 0)
                    #expect(try await onlyRow(app).attempts == attempt, "attempt \(attempt): retried before the back-off")
                    app.clock.advance(by: 1)
                } else {
                    #expect(row.status == "failed", "gives up after \(maximum) attempts")
                }
            }
            #expect(previousBackoff > OutboxWorker.backoff(afterAttempt: 1), "the back-off grows")

            app.clock.advance(by: 7 * 86400)
            #expect(try await app.tessera.outbox.deliverDue() == 0)
            try await Task.sleep(for: .milliseconds(1200))
            let final = try await onlyRow(app)
            #expect(final.status == "failed")
            #expect(final.attempts == maximum)
        }
    }

    // MARK: 6. No SMTP

    @Test("without SMTP_URL mail goes to the log and is marked sent", arguments: TestDatabase.all)
    func logSink(_ database: TestDatabase) async throws {
        let shared = try await SharedDatabase.make(database)
        let recorder = LogRecorder()
        let app = try await shared.app(["PUBLIC_URL": Self.publicURL], logger: recorder.logger())
        try await app.run { client in
            let reply = try await client.register(["email": "ivan@example.org", "password": goodPassword])
            #expect(reply.status == .created)
            _ = try await app.tessera.outbox.deliverDue()
            let row = try await waitForRow(app) { $0.status != "pending" }
            #expect(row.status == "sent")
            #expect(row.attempts == 1)
            #expect(row.sentAt != nil)
            #expect(row.lastError.isEmpty)
            #expect(row.recipient == "ivan@example.org")

            let logged = recorder.entries.filter { $0.message == "mail (log sink)" }
            #expect(logged.count == 1)
            let entry = try #require(logged.first)
            #expect(entry.metadata["to"] == "ivan@example.org")
            #expect(entry.metadata["subject"] == "Confirm your e-mail address")
            #expect(entry.metadata["body"]?.contains("\(Self.publicURL)/verify-email?token=") == true, "\(entry.metadata)")
        }
    }
}

// MARK: - Helpers

/// One database that outlives an app: two Tessera instances built on it in turn are a restart.
/// Both share one clock.
private struct SharedDatabase {
    let url: String
    let clock = TestClock()

    static func make(_ database: TestDatabase) async throws -> SharedDatabase {
        SharedDatabase(url: try await database.freshURL())
    }

    func app(_ settings: [String: String], logger: Logger? = nil) async throws -> TestApp {
        var values = settings
        values["DATABASE_URL"] = url
        // Several instances on one database, on a loaded machine: waits for a writer may be long.
        values["DATABASE_TIMEOUT"] = values["DATABASE_TIMEOUT"] ?? "60s"
        values["RATE_LIMITS"] = values["RATE_LIMITS"] ?? "off"
        let logger =
            logger
            ?? {
                var logger = Logger(label: "tessera-test")
                logger.logLevel = .error
                return logger
            }()
        let tessera = try await TesseraServer.make(settings: try Settings(values), clock: clock.clock, hashing: TestApp.fastHashing, logger: logger)
        return TestApp(tessera: tessera, clock: clock)
    }
}

/// A `mail_outbox` row.
private struct OutboxRow: Sendable {
    let id: UUID
    let recipient: String
    let subject: String
    let body: String
    let status: String
    let attempts: Int
    let nextAttemptAt: Date
    let lockedUntil: Date?
    let sentAt: Date?
    let lastError: String
}

private func outboxRows(_ tessera: TesseraServer) async throws -> [OutboxRow] {
    try await tessera.database.read { db in
        try await db.raw(
            "SELECT id, recipient, subject, body, status, attempts, next_attempt_at, locked_until, sent_at, last_error FROM mail_outbox ORDER BY recipient"
        ).all().map { row in
            OutboxRow(
                id: try row.decode(column: "id", as: UUID.self),
                recipient: try row.decode(column: "recipient", as: String.self),
                subject: try row.decode(column: "subject", as: String.self),
                body: try row.decode(column: "body", as: String.self),
                status: try row.decode(column: "status", as: String.self),
                attempts: try row.decode(column: "attempts", as: Int.self),
                nextAttemptAt: try row.decode(column: "next_attempt_at", as: Date.self),
                lockedUntil: try row.decode(column: "locked_until", as: Date?.self),
                sentAt: try row.decode(column: "sent_at", as: Date?.self),
                lastError: try row.decode(column: "last_error", as: String.self))
        }
    }
}

/// The only row, or the one to `recipient`.
private func row(_ app: TestApp, _ recipient: String? = nil) async throws -> OutboxRow {
    let rows = try await outboxRows(app.tessera).filter { recipient == nil || $0.recipient == recipient }
    guard rows.count == 1 else { throw SinkError(description: "expected one outbox row\(recipient.map { " to \($0)" } ?? ""), got \(rows.count)") }
    return rows[0]
}

private func onlyRow(_ app: TestApp) async throws -> OutboxRow {
    try await row(app)
}

/// Polls the row until `condition` holds (the background worker may be the one that gets there first).
private func waitForRow(
    _ app: TestApp, _ recipient: String? = nil, within seconds: Double = 5, _ condition: @Sendable (OutboxRow) -> Bool
) async throws -> OutboxRow {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while true {
        let current = try await row(app, recipient)
        if condition(current) || ContinuousClock.now >= deadline { return current }
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// Polls the sink until it holds `count` messages; with an app, also runs delivery rounds meanwhile.
private func waitForMail(_ sink: SMTPSink, count: Int, _ app: TestApp?, within seconds: Double = 5) async throws -> [SMTPSink.Received] {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while true {
        if let app { _ = try await app.tessera.outbox.deliverDue() }
        let messages = try sink.messages()
        if messages.count >= count { return messages }
        guard ContinuousClock.now < deadline else {
            throw SinkError(description: "expected \(count) messages within \(seconds) s, got \(messages.count)")
        }
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// The `token=` of the link in a reset mail; the link must start at PUBLIC_URL.
private func resetToken(in mail: SMTPSink.Received) throws -> String {
    let text = try #require(mail.parsed.text)
    let link = try #require(
        text.split(whereSeparator: \.isNewline).map(String.init).first { $0.contains("token=") }, "no link in \(text)")
    #expect(link.hasPrefix("\(OutboxDeliveryTests.publicURL)/"), "\(link)")
    let components = try #require(URLComponents(string: link))
    return try #require(components.queryItems?.first { $0.name == "token" }?.value.flatMap { $0.isEmpty ? nil : $0 })
}

/// A loopback port nothing listens on (bound once, then released).
func unusedLoopbackPort() throws -> Int {
    let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
    let port = channel.localAddress!.port!
    try channel.close().wait()
    return port
}

/// Keeps what the app logs, to see what the log mail transport wrote.
private final class LogRecorder: Sendable {
    struct Entry: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: [String: String]
    }

    private let storage = Mutex<[Entry]>([])

    var entries: [Entry] { storage.withLock { $0 } }

    func append(_ entry: Entry) { storage.withLock { $0.append(entry) } }

    func logger() -> Logger {
        var logger = Logger(label: "tessera-test") { _ in RecordingLogHandler(recorder: self) }
        logger.logLevel = .info
        return logger
    }
}

private struct RecordingLogHandler: LogHandler {
    let recorder: LogRecorder
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        recorder.append(.init(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
    }
}

@Suite("Outbox failure classes", .throwawayDatabases)
struct OutboxFailureClassTests {
    @Test("a refused recipient is final; refused credentials and network errors are retried")
    func permanence() {
        #expect(OutboxWorker.isPermanent(SMTPError(code: 550, message: "no such user")))
        #expect(OutboxWorker.isPermanent(SMTPError(code: 554, message: "rejected")))
        for code in [530, 534, 535, 538] {
            #expect(!OutboxWorker.isPermanent(SMTPError(code: code, message: "auth")), "\(code) would drop every queued mail")
        }
        #expect(!OutboxWorker.isPermanent(SMTPError(code: 451, message: "try later")))
        #expect(!OutboxWorker.isPermanent(CancellationError()))
    }
}
