import Foundation
import Hummingbird
import SQLKit

/// A security event as the audit log keeps it: what happened, to whom, by whom, from where.
/// Never a password, token or hash.
struct AuditEvent: Sendable {
    let event: String
    var userID: UUID?
    var actorID: UUID?
    var client: ClientInfo?
    var detail: [String: String] = [:]

    init(_ event: String, user: UUID? = nil, actor: UUID? = nil, client: ClientInfo? = nil, detail: [String: String] = [:]) {
        self.event = event
        self.userID = user
        self.actorID = actor
        self.client = client
        self.detail = detail
    }
}

/// Writes audit events, inside the transaction of the change they describe where there is one.
struct AuditLog: Sendable {
    let database: any Database
    let clock: WallClock

    func record(_ event: AuditEvent, _ db: any SQLDatabase) async throws {
        let detail = String(decoding: try JSONCoding.encoder.encode(event.detail), as: UTF8.self)
        try await db.run(
            Insert.self, UUID(), clock.now(), event.event, event.userID, event.actorID, event.client?.ipAddress ?? "", event.client?.userAgent ?? "",
            detail)
    }

    private enum Insert: FixedStatement {
        static let sql =
            "INSERT INTO audit_events (id, at, event, user_id, actor_id, ip_address, user_agent, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    }

    /// For events with no transaction of their own, such as a failed login.
    func record(_ event: AuditEvent) async throws {
        try await database.write { db in try await self.record(event, db) }
    }

    struct Entry: Encodable, Sendable {
        let id: String
        let at: Date
        let event: String
        let user_id: String?
        let actor_id: String?
        let ip_address: String
        let user_agent: String
        let detail: [String: String]

        init(row: any SQLRow) throws {
            id = try row.decode(column: "id", as: UUID.self).uuidString.lowercased()
            at = try row.decode(column: "at", as: Date.self)
            event = try row.decode(column: "event", as: String.self)
            user_id = try row.decode(column: "user_id", as: UUID?.self)?.uuidString.lowercased()
            actor_id = try row.decode(column: "actor_id", as: UUID?.self)?.uuidString.lowercased()
            ip_address = try row.decode(column: "ip_address", as: String.self)
            user_agent = try row.decode(column: "user_agent", as: String.self)
            detail = (try? JSONDecoder().decode([String: String].self, from: Data(try row.decode(column: "detail", as: String.self).utf8))) ?? [:]
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(id, forKey: .id)
            try c.encode(at, forKey: .at)
            try c.encode(event, forKey: .event)
            try c.encode(user_id, forKey: .user_id)
            try c.encode(actor_id, forKey: .actor_id)
            try c.encode(ip_address, forKey: .ip_address)
            try c.encode(user_agent, forKey: .user_agent)
            try c.encode(detail, forKey: .detail)
        }

        private enum Keys: String, CodingKey {
            case id, at, event, user_id, actor_id, ip_address, user_agent, detail
        }
    }

    /// Newest first, filtered by event name and user.
    func list(event: String?, userID: UUID?, page: PageRequest) async throws -> (Int, [Entry]) {
        try await database.read { db in
            func filtered(_ query: SQLSelectBuilder) -> SQLSelectBuilder {
                var query = query.from("audit_events")
                if let event { query = query.where("event", .equal, SQLBind(event)) }
                if let userID { query = query.where("user_id", .equal, SQLBind(userID)) }
                return query
            }
            return try await db.page(page, columns: [SQLLiteral.all], orderBy: [("at", .descending)], filtered, as: Entry.init(row:))
        }
    }
}
