import Foundation
import SQLKit

/// A login: the row behind every token pair. `refreshJTI` is the one live refresh token;
/// `previousRefreshJTI` the one it replaced at `rotatedAt`, honoured again only within the grace.
struct SessionRecord: Sendable, Equatable {
    let id: UUID
    let userID: UUID
    let createdAt: Date
    var lastUsedAt: Date
    let expiresAt: Date
    var revokedAt: Date?
    let ipAddress: String
    let userAgent: String
    var refreshJTI: String
    var previousRefreshJTI: String?
    var rotatedAt: Date

    static let columns = [
        "id", "user_id", "created_at", "last_used_at", "expires_at", "revoked_at", "ip_address", "user_agent", "refresh_jti",
        "previous_refresh_jti", "rotated_at",
    ]

    init(id: UUID, userID: UUID, createdAt: Date, expiresAt: Date, client: ClientInfo) {
        self.id = id
        self.userID = userID
        self.createdAt = createdAt
        self.lastUsedAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = nil
        self.ipAddress = client.ipAddress
        self.userAgent = client.userAgent
        self.refreshJTI = UUID().uuidString.lowercased()
        self.previousRefreshJTI = nil
        self.rotatedAt = createdAt
    }

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: UUID.self)
        userID = try row.decode(column: "user_id", as: UUID.self)
        createdAt = try row.decode(column: "created_at", as: Date.self)
        lastUsedAt = try row.decode(column: "last_used_at", as: Date.self)
        expiresAt = try row.decode(column: "expires_at", as: Date.self)
        revokedAt = try row.decode(column: "revoked_at", as: Date?.self)
        ipAddress = try row.decode(column: "ip_address", as: String.self)
        userAgent = try row.decode(column: "user_agent", as: String.self)
        refreshJTI = try row.decode(column: "refresh_jti", as: String.self)
        previousRefreshJTI = try row.decode(column: "previous_refresh_jti", as: String?.self)
        rotatedAt = try row.decode(column: "rotated_at", as: Date.self)
    }

    func isLive(at now: Date) -> Bool {
        revokedAt == nil && expiresAt > now
    }

    /// What signing its pair needs.
    var rotation: SessionRotation {
        SessionRotation(id: id, userID: userID, expiresAt: expiresAt, refreshJTI: refreshJTI, rotatedAt: rotatedAt)
    }
}

/// What a session's token pair is made of: which session, whose, when it ends, and its current
/// rotation (the live refresh token's `jti` and when it was issued).
struct SessionRotation: Sendable, Equatable {
    let id: UUID
    let userID: UUID
    let expiresAt: Date
    let refreshJTI: String
    let rotatedAt: Date

    /// The current refresh token's expiry: `REFRESH_TTL` after the last rotation, never past the session.
    func refreshExpiresAt(ttl: TimeInterval) -> Date {
        min(rotatedAt.addingTimeInterval(ttl), expiresAt)
    }
}

/// A session as `GET /api/v1/me/sessions` shows it.
struct SessionResponse: Encodable, Sendable {
    let id: String
    let created_at: Date
    let last_used_at: Date
    let expires_at: Date
    let ip_address: String
    let user_agent: String
    let current: Bool

    init(_ session: SessionRecord, current: UUID) {
        id = session.id.uuidString.lowercased()
        created_at = session.createdAt
        last_used_at = session.lastUsedAt
        expires_at = session.expiresAt
        ip_address = session.ipAddress
        user_agent = session.userAgent
        self.current = session.id == current
    }
}
