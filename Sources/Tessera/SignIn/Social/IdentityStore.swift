import Foundation
import SQLKit

/// A way into an account from outside: (provider, subject), unique, so the same identity always
/// reaches the same account.
struct LinkedIdentity: Sendable {
    let id: UUID
    let userID: UUID
    let provider: String
    let createdAt: Date

    init(id: UUID = UUID(), userID: UUID, provider: String, createdAt: Date) {
        (self.id, self.userID, self.provider, self.createdAt) = (id, userID, provider, createdAt)
    }

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: UUID.self)
        userID = try row.decode(column: "user_id", as: UUID.self)
        provider = try row.decode(column: "provider", as: String.self)
        createdAt = try row.decode(column: "created_at", as: Date.self)
    }
}

struct IdentityStore: Sendable {
    static let columns = ["id", "user_id", "provider", "created_at"]

    /// The account an identity belongs to, noting that it was used.
    func owner(provider: String, subject: String, at now: Date, _ db: any SQLDatabase) async throws -> UUID? {
        try await db.update("identities").set("last_used_at", to: SQLBind(now))
            .where("provider", .equal, SQLBind(provider)).where("subject", .equal, SQLBind(subject))
            .returning("user_id").first(decodingColumn: "user_id", as: UUID.self)
    }

    func insert(_ identity: LinkedIdentity, subject: String, _ db: any SQLDatabase) async throws {
        try await db.insert(into: "identities").columns("id", "user_id", "provider", "subject", "created_at", "last_used_at")
            .values(
                SQLBind(identity.id), SQLBind(identity.userID), SQLBind(identity.provider), SQLBind(subject), SQLBind(identity.createdAt),
                SQLBind(identity.createdAt)
            )
            .run()
    }

    func list(of userID: UUID, page: PageRequest, _ db: any SQLDatabase) async throws -> (Int, [LinkedIdentity]) {
        try await db.page(
            page, columns: Self.columns.map { SQLColumn($0) }, orderBy: [("created_at", .ascending), ("id", .ascending)],
            { $0.from("identities").where("user_id", .equal, SQLBind(userID)) }, as: LinkedIdentity.init(row:))
    }

    /// The user's identities, their rows held until the transaction ends (so two unlinks of the
    /// last two cannot both pass the last-way rule).
    func all(of userID: UUID, dialect: SQLDialect, _ db: any SQLDatabase) async throws -> [LinkedIdentity] {
        try await dialect.lockForUpdate(
            db.select().columns(Self.columns.map { SQLColumn($0) }).from("identities").where("user_id", .equal, SQLBind(userID))
        ).all().map(LinkedIdentity.init(row:))
    }

    func delete(_ id: UUID, _ db: any SQLDatabase) async throws {
        try await db.delete(from: "identities").where("id", .equal, SQLBind(id)).run()
    }
}
