import Foundation
import Logging
import SQLKit
import ServiceLifecycle
import TesseraSMTP

/// Where a message leaves Tessera: SMTP when configured, otherwise the log.
protocol MailTransport: Sendable {
    func send(_ message: MailMessage) async throws
}

/// Development sink: without `TESSERA_SMTP_URL` every mail, links included, goes to the log.
struct LogTransport: MailTransport {
    let logger: Logger

    func send(_ message: MailMessage) async throws {
        logger.info("mail (log sink)", metadata: ["to": "\(message.to)", "subject": "\(message.subject)", "body": "\(message.text)"])
    }
}

extension SMTPClient: MailTransport {}

/// The durable outbox: mail is a row written in the same transaction as the change it announces,
/// so nothing acknowledged is lost; `OutboxWorker` delivers it.
struct Outbox: Sendable {
    let dialect: SQLDialect
    let clock: WallClock

    /// How a message leaves: `email` to an address through SMTP, `sms` to a phone through the gateway.
    enum Channel: String, Sendable, Codable {
        case email
        case sms
    }

    func enqueue(to recipient: String, subject: String, text: String, channel: Channel = .email, _ db: any SQLDatabase) async throws {
        let now = clock.now()
        try await db.insert(into: "mail_outbox")
            .columns("id", "recipient", "subject", "body", "status", "attempts", "created_at", "next_attempt_at", "channel")
            .values(
                SQLBind(UUID()), SQLBind(recipient), SQLBind(subject), SQLBind(text), SQLBind("pending"), SQLBind(0), SQLBind(now), SQLBind(now),
                SQLBind(channel.rawValue)
            )
            .run()
        TesseraMetrics.mailQueued.increment()
    }

    /// A message taken for delivery.
    struct Claimed: Sendable {
        let id: UUID
        let channel: Channel
        let recipient: String
        let subject: String
        let body: String
        let attempts: Int
        let createdAt: Date
    }

    /// Claims the next due message with a lease (`locked_until`): on PostgreSQL skipping rows
    /// another instance holds, so instances share the work; a crash mid-send only delays a
    /// message until its lease runs out.
    func claimNext(at now: Date, lease: TimeInterval, _ db: any SQLDatabase) async throws -> Claimed? {
        let query = dialect.lockForUpdateSkippingLocked(
            db.select().columns("id", "channel", "recipient", "subject", "body", "attempts", "created_at").from("mail_outbox")
                .where("status", .equal, SQLBind("pending")).where("next_attempt_at", .lessThanOrEqual, SQLBind(now))
                .where { $0.where("locked_until", .is, SQLLiteral.null).orWhere("locked_until", .lessThan, SQLBind(now)) }
                .orderBy("next_attempt_at").limit(1))
        guard let row = try await query.first() else { return nil }
        let mail = Claimed(
            id: try row.decode(column: "id", as: UUID.self), channel: try row.decode(column: "channel", as: Channel.self),
            recipient: try row.decode(column: "recipient", as: String.self),
            subject: try row.decode(column: "subject", as: String.self), body: try row.decode(column: "body", as: String.self),
            attempts: try row.decode(column: "attempts", as: Int.self), createdAt: try row.decode(column: "created_at", as: Date.self))
        try await db.update("mail_outbox").set("locked_until", to: SQLBind(now.addingTimeInterval(lease)))
            .where("id", .equal, SQLBind(mail.id)).run()
        return mail
    }

    /// Records an attempt: `sent`, `failed` for good, or `pending` again at `nextAttempt`.
    func record(
        _ id: UUID, status: String, attempts: Int, error: String, at now: Date, nextAttempt: Date, _ db: any SQLDatabase
    ) async throws {
        let sent = status == "sent"
        try await db.update("mail_outbox")
            .set("status", to: SQLBind(status))
            .set("attempts", to: SQLBind(attempts))
            .set("locked_until", to: SQLLiteral.null)
            .set("sent_at", to: sent ? SQLBind(now) : SQLBind(Date?.none))
            .set("next_attempt_at", to: SQLBind(nextAttempt))
            .set("last_error", to: SQLBind(String(error.prefix(500))))
            // A body holds a live link or code: once delivered, or given up on, the database need
            // not keep it.
            .set("body", to: status == "pending" ? SQLColumn("body") : SQLBind("") as any SQLExpression)
            .where("id", .equal, SQLBind(id))
            .run()
    }

    /// Deletes messages delivered before `sentBefore` and ones that failed for good before
    /// `failedBefore` (kept longer, for an operator to look into).
    func prune(sentBefore: Date, failedBefore: Date, _ db: any SQLDatabase) async throws -> Int {
        try await db.delete(from: "mail_outbox")
            .where {
                $0.where { $0.where("status", .equal, SQLBind("sent")).where("sent_at", .lessThan, SQLBind(sentBefore)) }
                    .orWhere { $0.where("status", .equal, SQLBind("failed")).where("next_attempt_at", .lessThan, SQLBind(failedBefore)) }
            }
            .returning("id").all().count
    }
}

/// Delivers due outbox rows, mail and texts, with retries and exponential back-off; several
/// instances share the work (`Outbox.claimNext`).
final class OutboxWorker: Service, Sendable {
    let database: any Database
    let outbox: Outbox
    let transport: any MailTransport
    let texts: any TextTransport
    let from: String
    let readiness: Readiness
    let clock: WallClock
    let logger: Logger

    /// Messages sent per round before the worker looks again.
    static let batch = 10
    static let lease: TimeInterval = 300
    static let maximumAttempts = 8
    /// 30 s, 1 min, 2 min, … up to an hour between attempts.
    static func backoff(afterAttempt attempt: Int) -> TimeInterval {
        min(30 * pow(2, Double(max(0, attempt - 1))), 3600)
    }

    init(
        database: any Database, outbox: Outbox, transport: any MailTransport, texts: any TextTransport, from: String, readiness: Readiness,
        clock: WallClock, logger: Logger
    ) {
        self.database = database
        self.outbox = outbox
        self.transport = transport
        self.texts = texts
        self.from = from
        self.readiness = readiness
        self.clock = clock
        self.logger = logger
    }

    func run() async throws {
        guard await readiness.wait() else { return }
        // An idle poll is one indexed query a second; it also picks up mail other instances queued.
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await deliverDue()
            } catch {
                logger.warning("outbox: delivery round failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
        }
    }

    /// Sends what is due now, one claimed message at a time (so a lease only has to outlast one
    /// conversation); returns how many were sent.
    @discardableResult
    func deliverDue() async throws -> Int {
        var sent = 0
        for _ in 0..<Self.batch {
            guard let mail = try await claimNext() else { break }
            // A code that would arrive dead is not sent: the person asks for a new one.
            if mail.channel == .sms, clock.now().timeIntervalSince(mail.createdAt) > PhoneCodes.lifetime {
                try await record(mail.id, sent: false, attempts: mail.attempts, error: "expired before delivery", permanent: true)
                continue
            }
            do {
                switch mail.channel {
                case .email: try await transport.send(MailMessage(from: from, to: mail.recipient, subject: mail.subject, text: mail.body))
                case .sms: try await texts.send(to: mail.recipient, text: mail.body)
                }
                try await record(mail.id, sent: true, attempts: mail.attempts + 1, error: nil, permanent: false)
                TesseraMetrics.mailSent.increment()
                sent += 1
            } catch {
                logger.warning(
                    "outbox: delivery failed", metadata: ["to": "\(mail.recipient)", "attempt": "\(mail.attempts + 1)", "error": "\(error)"])
                try await record(mail.id, sent: false, attempts: mail.attempts + 1, error: "\(error)", permanent: Self.isPermanent(error))
                TesseraMetrics.mailFailed.increment()
            }
        }
        return sent
    }

    /// A 5xx is final for that message (a refused recipient, say) — unless it says our own settings
    /// are wrong (authentication required or refused), which an operator fixes and the mail survives.
    static func isPermanent(_ error: any Error) -> Bool {
        if let error = error as? TextGatewayError { return error.isPermanent }
        guard let error = error as? SMTPError, error.isPermanent else { return false }
        return ![530, 534, 535, 538].contains(error.code ?? 0)
    }

    private func claimNext() async throws -> Outbox.Claimed? {
        let now = clock.now()
        return try await database.transaction { db in try await self.outbox.claimNext(at: now, lease: Self.lease, db) }
    }

    private func record(_ id: UUID, sent: Bool, attempts: Int, error: String?, permanent: Bool) async throws {
        let now = clock.now()
        let status = sent ? "sent" : (permanent || attempts >= Self.maximumAttempts ? "failed" : "pending")
        let next = now.addingTimeInterval(sent ? 0 : Self.backoff(afterAttempt: attempts))
        try await database.transaction { db in
            try await self.outbox.record(id, status: status, attempts: attempts, error: error ?? "", at: now, nextAttempt: next, db)
        }
    }
}
