import Foundation
import Hummingbird
import SQLKit

/// A permission as routes and checks name it: a resource code and an action code.
public struct PermissionKey: Hashable, Sendable, Codable {
    public let resource: String
    public let action: String

    public init(_ resource: String, _ action: String) {
        self.resource = resource
        self.action = action
    }

    /// SPEC §5: GET/HEAD read, POST create, PUT/PATCH update, DELETE delete.
    static func action(for method: HTTPRequest.Method) -> String {
        switch method {
        case .get, .head: "read"
        case .post: "create"
        case .put, .patch: "update"
        case .delete: "delete"
        default: "all"
        }
    }
}

/// Answers "may this user do that": one indexed query per check, always current, so a change to
/// roles or permissions holds on the next request on every instance.
struct AccessControl: Sendable {
    let database: any Database
    let store: AccessStore
    let users: UserStore

    func allows(_ userID: UUID, _ permission: PermissionKey) async throws -> Bool {
        try await database.read { db in try await self.allows(userID, permission, db) }
    }

    func allows(_ userID: UUID, _ permission: PermissionKey, _ db: any SQLDatabase) async throws -> Bool {
        try await store.allows(userID, permission, db)
    }

    func require(_ identity: Identity, _ permission: PermissionKey) async throws {
        guard try await allows(identity.userID, permission) else { throw APIError.permissionDenied }
    }

    /// What a user may do: whether they are admin, and the permissions their roles hold.
    struct Effective: Sendable {
        let isAdmin: Bool
        let permissions: Set<PermissionKey>

        /// Holding `all` on a resource covers every action on it; admin covers everything.
        func covers(_ permission: PermissionKey) -> Bool {
            isAdmin || permissions.contains(permission) || permissions.contains(PermissionKey(permission.resource, "all"))
        }

        /// Whether the holder may act on someone who may do `other`: only admins act on admins,
        /// and nobody acts on a user who holds a permission they lack.
        func covers(_ other: Effective) -> Bool {
            isAdmin || (!other.isAdmin && other.permissions.allSatisfy(covers))
        }
    }

    /// Throws 403 unless `actor` may act on `target` (`Effective.covers`).
    func requireActing(_ actor: UUID, on target: UUID, _ db: any SQLDatabase) async throws {
        guard try await effective(actor, db).covers(try await effective(target, db)) else {
            throw APIError(.forbidden, "permission_denied", "This user holds permissions you do not; you cannot act on them.")
        }
    }

    func effective(_ userID: UUID, _ db: any SQLDatabase) async throws -> Effective {
        let roles = try await users.roles(of: userID, db)
        return Effective(isAdmin: roles.contains(BuiltInRole.admin.rawValue), permissions: try await store.held(by: userID, db))
    }
}
