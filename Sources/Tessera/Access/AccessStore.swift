import Foundation
import SQLKit

/// SQL for the RBAC catalogue: resources, actions, permissions, roles and what they grant. The
/// only code that names these tables.
struct AccessStore: Sendable {
    // MARK: Resources, actions and roles: one shape

    /// A page of `table` (resources, actions or roles), by code name, and how many there are.
    func entries(_ table: String, page: PageRequest, _ db: any SQLDatabase) async throws -> (Int, [RBACEntry]) {
        try await db.page(
            page, columns: RBACEntry.columns.map { SQLColumn($0) }, orderBy: [("code_name", .ascending)], { $0.from(table) },
            as: RBACEntry.init(row:))
    }

    func entry(_ table: String, _ id: UUID, _ db: any SQLDatabase) async throws -> RBACEntry? {
        try await db.select().columns(RBACEntry.columns.map { SQLColumn($0) }).from(table).where("id", .equal, SQLBind(id)).first()
            .map(RBACEntry.init(row:))
    }

    func id(of code: String, in table: String, _ db: any SQLDatabase) async throws -> UUID? {
        try await db.select().column("id").from(table).where("code_name", .equal, SQLBind(code)).first(decodingColumn: "id", as: UUID.self)
    }

    func insertEntry(_ table: String, id: UUID, code: String, name: String, description: String, _ db: any SQLDatabase) async throws {
        try await db.insert(into: table).columns("id", "code_name", "name", "description", "built_in")
            .values(SQLBind(id), SQLBind(code), SQLBind(name), SQLBind(description), SQLBind(false)).run()
    }

    func updateEntry(_ table: String, id: UUID, code: String, name: String, description: String, _ db: any SQLDatabase) async throws {
        try await db.update(table).set("code_name", to: SQLBind(code)).set("name", to: SQLBind(name))
            .set("description", to: SQLBind(description)).where("id", .equal, SQLBind(id)).run()
    }

    func deleteEntry(_ table: String, id: UUID, _ db: any SQLDatabase) async throws {
        try await db.delete(from: table).where("id", .equal, SQLBind(id)).run()
    }

    // MARK: Permissions

    private static let permissionSelect = """
        SELECT p.id AS id, r.code_name AS resource, a.code_name AS action FROM permissions p
        JOIN resources r ON r.id = p.resource_id JOIN actions a ON a.id = p.action_id
        """

    /// A page of permissions, optionally of one resource and one action, and how many match.
    func permissions(resource: String?, action: String?, page: PageRequest, _ db: any SQLDatabase) async throws -> (Int, [PermissionEntry]) {
        let filter = Self.permissionFilter(resource: resource, action: action)
        let total =
            try await db.raw(
                "SELECT COUNT(*) AS n FROM permissions p JOIN resources r ON r.id = p.resource_id JOIN actions a ON a.id = p.action_id WHERE \(filter)"
            ).first(decodingColumn: "n", as: Int.self) ?? 0
        let rows = try await db.raw(
            "\(unsafeRaw: Self.permissionSelect) WHERE \(filter) ORDER BY r.code_name, a.code_name LIMIT \(bind: page.size) OFFSET \(bind: page.offset)"
        ).all()
        return (total, try rows.map(PermissionEntry.init(row:)))
    }

    private static func permissionFilter(resource: String?, action: String?) -> SQLList {
        var conditions: [any SQLExpression] = [SQLRaw("1 = 1")]
        if let resource { conditions.append(SQLQueryString("r.code_name = \(bind: resource)")) }
        if let action { conditions.append(SQLQueryString("a.code_name = \(bind: action)")) }
        return SQLList(conditions, separator: SQLRaw(" AND "))
    }

    func permission(_ id: UUID, _ db: any SQLDatabase) async throws -> PermissionEntry? {
        try await db.raw("\(unsafeRaw: Self.permissionSelect) WHERE p.id = \(bind: id)").first().map(PermissionEntry.init(row:))
    }

    /// Every permission made of the resource (or the action) with this code name.
    func permissions(ofResource resource: String? = nil, ofAction action: String? = nil, _ db: any SQLDatabase) async throws -> [PermissionEntry] {
        let filter = Self.permissionFilter(resource: resource, action: action)
        return try await db.raw("\(unsafeRaw: Self.permissionSelect) WHERE \(filter)").all().map(PermissionEntry.init(row:))
    }

    func permissionExists(resourceID: UUID, actionID: UUID, _ db: any SQLDatabase) async throws -> Bool {
        try await db.select().column("id").from("permissions").where("resource_id", .equal, SQLBind(resourceID))
            .where("action_id", .equal, SQLBind(actionID)).first() != nil
    }

    func insertPermission(_ id: UUID, resourceID: UUID, actionID: UUID, _ db: any SQLDatabase) async throws {
        try await db.insert(into: "permissions").columns("id", "resource_id", "action_id")
            .values(SQLBind(id), SQLBind(resourceID), SQLBind(actionID)).run()
    }

    func repointPermission(_ id: UUID, resourceID: UUID, actionID: UUID, _ db: any SQLDatabase) async throws {
        try await db.update("permissions").set("resource_id", to: SQLBind(resourceID)).set("action_id", to: SQLBind(actionID))
            .where("id", .equal, SQLBind(id)).run()
    }

    func deletePermission(_ id: UUID, _ db: any SQLDatabase) async throws {
        try await db.delete(from: "permissions").where("id", .equal, SQLBind(id)).run()
    }

    // MARK: Roles

    /// A page of roles with their permission ids: two queries, whatever the page holds.
    func roles(page: PageRequest, _ db: any SQLDatabase) async throws -> (Int, [RoleEntry]) {
        let (total, entries) = try await self.entries("roles", page: page, db)
        guard !entries.isEmpty else { return (total, []) }
        let ids = entries.compactMap { UUID(uuidString: $0.id) }
        let rows = try await db.select().columns("role_id", "permission_id").from("role_permissions")
            .where("role_id", .in, SQLBind.group(ids)).all()
        var held: [UUID: [String]] = [:]
        for row in rows {
            held[try row.decode(column: "role_id", as: UUID.self), default: []].append(
                try row.decode(column: "permission_id", as: UUID.self).uuidString.lowercased())
        }
        return (total, entries.map { entry in RoleEntry(entry, permissions: (UUID(uuidString: entry.id).flatMap { held[$0] } ?? []).sorted()) })
    }

    func role(_ id: UUID, _ db: any SQLDatabase) async throws -> RoleEntry? {
        guard let entry = try await entry("roles", id, db) else { return nil }
        let permissions = try await permissionIDs(ofRole: id, db).map { $0.uuidString.lowercased() }.sorted()
        return RoleEntry(entry, permissions: permissions)
    }

    func permissionIDs(ofRole roleID: UUID, _ db: any SQLDatabase) async throws -> Set<UUID> {
        Set(
            try await db.select().column("permission_id").from("role_permissions").where("role_id", .equal, SQLBind(roleID))
                .all(decodingColumn: "permission_id", as: UUID.self))
    }

    func grant(_ permissionID: UUID, to roleID: UUID, _ db: any SQLDatabase) async throws {
        try await db.insert(into: "role_permissions").columns("role_id", "permission_id").values(SQLBind(roleID), SQLBind(permissionID)).run()
    }

    func revoke(_ permissionID: UUID, from roleID: UUID, _ db: any SQLDatabase) async throws {
        try await db.delete(from: "role_permissions").where("role_id", .equal, SQLBind(roleID))
            .where("permission_id", .equal, SQLBind(permissionID)).run()
    }

    /// The roles with these code names, each with the permissions it holds, in one query.
    func roles(codes: Set<String>, _ db: any SQLDatabase) async throws -> [String: [PermissionKey]] {
        guard !codes.isEmpty else { return [:] }
        let rows = try await db.raw(
            """
            SELECT ro.code_name AS role, r.code_name AS resource, a.code_name AS action FROM roles ro
            LEFT JOIN role_permissions rp ON rp.role_id = ro.id
            LEFT JOIN permissions p ON p.id = rp.permission_id
            LEFT JOIN resources r ON r.id = p.resource_id LEFT JOIN actions a ON a.id = p.action_id
            WHERE ro.code_name IN \(SQLBind.group(Array(codes)))
            """
        ).all()
        var roles: [String: [PermissionKey]] = [:]
        for row in rows {
            let role = try row.decode(column: "role", as: String.self)
            let key = try row.decode(column: "resource", as: String?.self).flatMap { resource in
                try row.decode(column: "action", as: String?.self).map { PermissionKey(resource, $0) }
            }
            roles[role, default: []].append(contentsOf: key.map { [$0] } ?? [])
        }
        return roles
    }

    // MARK: Checks

    /// `admin` may do everything, on resources created later too; otherwise a role must hold the
    /// permission itself or `all` on its resource. An account that is not `active` may do nothing,
    /// whatever its roles, so other services asking `/authz/check` never hear yes for it.
    func allows(_ userID: UUID, _ permission: PermissionKey, _ db: any SQLDatabase) async throws -> Bool {
        try await db.raw(
            """
            SELECT 1 AS ok FROM user_roles ur JOIN roles ro ON ro.id = ur.role_id JOIN users u ON u.id = ur.user_id
            WHERE ur.user_id = \(bind: userID) AND u.status = 'active' AND (ro.code_name = 'admin' OR EXISTS (
                SELECT 1 FROM role_permissions rp
                JOIN permissions p ON p.id = rp.permission_id
                JOIN resources r ON r.id = p.resource_id
                JOIN actions a ON a.id = p.action_id
                WHERE rp.role_id = ur.role_id AND r.code_name = \(bind: permission.resource)
                AND (a.code_name = \(bind: permission.action) OR a.code_name = 'all')))
            LIMIT 1
            """
        ).first() != nil
    }

    /// The permissions a user's roles hold.
    func held(by userID: UUID, _ db: any SQLDatabase) async throws -> Set<PermissionKey> {
        let rows = try await db.raw(
            """
            SELECT DISTINCT r.code_name AS resource, a.code_name AS action
            FROM user_roles ur
            JOIN role_permissions rp ON rp.role_id = ur.role_id
            JOIN permissions p ON p.id = rp.permission_id
            JOIN resources r ON r.id = p.resource_id
            JOIN actions a ON a.id = p.action_id
            WHERE ur.user_id = \(bind: userID)
            """
        ).all()
        return Set(
            try rows.map { PermissionKey(try $0.decode(column: "resource", as: String.self), try $0.decode(column: "action", as: String.self)) })
    }
}
