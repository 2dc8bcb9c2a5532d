import Foundation
import SQLKit

/// The RBAC catalogue (resources, actions, permissions, roles) and role assignment. Nobody can
/// grant what they do not hold: a role may only be given permissions its editor holds, a user only
/// roles whose permissions the assigner holds, and only an admin may give or take `admin`.
struct AccessService: Sendable {
    let database: any Database
    let store: AccessStore
    let access: AccessControl
    let audit: AuditLog
    let users: UserStore

    // MARK: Resources and actions

    func list(_ list: RBACList, page: PageRequest) async throws -> (Int, [RBACEntry]) {
        try await database.read { db in try await self.store.entries(list.rawValue, page: page, db) }
    }

    func entry(_ list: RBACList, _ id: UUID) async throws -> RBACEntry {
        try await database.read { db in try await self.entry(list, id, db) }
    }

    private func entry(_ list: RBACList, _ id: UUID, _ db: any SQLDatabase) async throws -> RBACEntry {
        guard let entry = try await store.entry(list.rawValue, id, db) else { throw APIError.notFound }
        return entry
    }

    func create(_ list: RBACList, _ change: RBACChange, by actor: Identity) async throws -> RBACEntry {
        let (code, name) = try validatedNew(change)
        let id = UUID()
        return try await database.transaction { db in
            try await self.requireUnique(list.rawValue, code, db)
            try await self.store.insertEntry(list.rawValue, id: id, code: code, name: name, description: change.description ?? "", db)
            try await self.audit.record(AuditEvent("\(list.singular).created", actor: actor.userID, detail: ["code_name": code]), db)
            return try await self.entry(list, id, db)
        }
    }

    func update(_ list: RBACList, _ id: UUID, _ change: RBACChange, by actor: Identity) async throws -> RBACEntry {
        try validatedTexts(change)
        return try await database.transaction { db in
            let current = try await self.entry(list, id, db)
            try await self.requireRenamable(list.rawValue, list.singular, current, to: change.code_name, db)
            try await self.requireHolding(list, current, renamedTo: change.code_name, by: actor, db)
            try await self.store.updateEntry(
                list.rawValue, id: id, code: change.code_name ?? current.code_name, name: change.name ?? current.name,
                description: change.description ?? current.description, db)
            try await self.audit.record(AuditEvent("\(list.singular).updated", actor: actor.userID, detail: ["code_name": current.code_name]), db)
            return try await self.entry(list, id, db)
        }
    }

    func delete(_ list: RBACList, _ id: UUID, by actor: Identity) async throws {
        try await database.transaction { db in
            let current = try await self.entry(list, id, db)
            // Tessera's own endpoints are guarded by the built-ins; deleting one would lock admins out.
            guard !current.built_in else { throw APIError(.forbidden, "permission_denied", "Built-in \(list.rawValue) cannot be deleted.") }
            try await self.requireHolding(list, current, renamedTo: nil, by: actor, db)
            try await self.store.deleteEntry(list.rawValue, id: id, db)
            try await self.audit.record(AuditEvent("\(list.singular).deleted", actor: actor.userID, detail: ["code_name": current.code_name]), db)
        }
    }

    /// Renaming or deleting a resource or an action changes every permission made of it, and so
    /// what every role holding one may do: only for those who hold each such permission, under
    /// its old name and under the new one (else a rename could hand a role authority over another
    /// name, or take it away, behind its editor's back).
    private func requireHolding(
        _ list: RBACList, _ entry: RBACEntry, renamedTo newCode: String?, by actor: Identity, _ db: any SQLDatabase
    ) async throws {
        let affected =
            list == .resources
            ? try await store.permissions(ofResource: entry.code_name, db) : try await store.permissions(ofAction: entry.code_name, db)
        let effective = try await access.effective(actor.userID, db)
        for key in affected.map(\.key) {
            let renamed = newCode.map { list == .resources ? PermissionKey($0, key.action) : PermissionKey(key.resource, $0) }
            guard effective.covers(key), renamed.map(effective.covers) ?? true else {
                throw APIError(
                    .forbidden, "permission_denied",
                    "Changing '\(entry.code_name)' changes \(key.resource):\(key.action), which you do not hold.")
            }
        }
    }

    // MARK: Permissions

    func permissions(resource: String?, action: String?, page: PageRequest) async throws -> (Int, [PermissionEntry]) {
        try await database.read { db in try await self.store.permissions(resource: resource, action: action, page: page, db) }
    }

    func permission(_ id: UUID) async throws -> PermissionEntry {
        try await database.read { db in try await self.permission(id, db) }
    }

    private func permission(_ id: UUID, _ db: any SQLDatabase) async throws -> PermissionEntry {
        guard let permission = try await store.permission(id, db) else { throw APIError.notFound }
        return permission
    }

    func createPermission(_ change: PermissionChange, by actor: Identity) async throws -> PermissionEntry {
        guard let resource = change.resource, let action = change.action else {
            var errors = FieldErrors()
            if change.resource == nil { errors.add("resource", "This field is required.") }
            if change.action == nil { errors.add("action", "This field is required.") }
            throw APIError.validation(errors.fields)
        }
        let id = UUID()
        return try await database.transaction { db in
            let (resourceID, actionID) = try await self.catalogueIDs(resource: resource, action: action, db)
            try await self.requireNewPermission(resourceID, actionID, db)
            try await self.store.insertPermission(id, resourceID: resourceID, actionID: actionID, db)
            try await self.audit.record(AuditEvent("permission.created", actor: actor.userID, detail: ["permission": "\(resource):\(action)"]), db)
            return try await self.permission(id, db)
        }
    }

    func updatePermission(_ id: UUID, _ change: PermissionChange, by actor: Identity) async throws -> PermissionEntry {
        try await database.transaction { db in
            let current = try await self.permission(id, db)
            let target = PermissionKey(change.resource ?? current.resource, change.action ?? current.action)
            let (resourceID, actionID) = try await self.catalogueIDs(resource: target.resource, action: target.action, db)
            if target != current.key {
                try await self.requireNewPermission(resourceID, actionID, db)
            }
            // Re-pointing a permission changes what every role holding it may do: only for holders of both.
            let effective = try await self.access.effective(actor.userID, db)
            guard effective.covers(current.key), effective.covers(target) else { throw APIError.permissionDenied }
            try await self.store.repointPermission(id, resourceID: resourceID, actionID: actionID, db)
            try await self.audit.record(
                AuditEvent(
                    "permission.updated", actor: actor.userID,
                    detail: ["from": "\(current.resource):\(current.action)", "to": "\(target.resource):\(target.action)"]), db)
            return try await self.permission(id, db)
        }
    }

    func deletePermission(_ id: UUID, by actor: Identity) async throws {
        try await database.transaction { db in
            let current = try await self.permission(id, db)
            // Deleting a permission takes it from every role that holds it: only for those who hold it.
            guard try await self.access.effective(actor.userID, db).covers(current.key) else {
                throw APIError(.forbidden, "permission_denied", "You cannot delete \(current.resource):\(current.action), which you do not hold.")
            }
            try await self.store.deletePermission(id, db)
            try await self.audit.record(
                AuditEvent("permission.deleted", actor: actor.userID, detail: ["permission": "\(current.resource):\(current.action)"]), db)
        }
    }

    private func catalogueIDs(resource: String, action: String, _ db: any SQLDatabase) async throws -> (UUID, UUID) {
        var errors = FieldErrors()
        if !isCodeName(resource) { errors.add("resource", "Unknown resource.") }
        if !isCodeName(action) { errors.add("action", "Unknown action.") }
        try errors.throwIfAny()
        let resourceID = try await store.id(of: resource, in: "resources", db)
        let actionID = try await store.id(of: action, in: "actions", db)
        guard let resourceID, let actionID else {
            if resourceID == nil { errors.add("resource", "Unknown resource '\(resource)'.") }
            if actionID == nil { errors.add("action", "Unknown action '\(action)'.") }
            throw APIError.validation(errors.fields)
        }
        return (resourceID, actionID)
    }

    private func requireNewPermission(_ resourceID: UUID, _ actionID: UUID, _ db: any SQLDatabase) async throws {
        if try await store.permissionExists(resourceID: resourceID, actionID: actionID, db) {
            throw APIError(.conflict, "already_exists", "This permission already exists.", fields: ["action": ["This permission already exists."]])
        }
    }

    // MARK: Roles

    func roles(page: PageRequest) async throws -> (Int, [RoleEntry]) {
        try await database.read { db in try await self.store.roles(page: page, db) }
    }

    func role(_ id: UUID) async throws -> RoleEntry {
        try await database.read { db in try await self.role(id, db) }
    }

    private func role(_ id: UUID, _ db: any SQLDatabase) async throws -> RoleEntry {
        guard let role = try await store.role(id, db) else { throw APIError.notFound }
        return role
    }

    func createRole(_ change: RBACChange, by actor: Identity) async throws -> RoleEntry {
        let (code, name) = try validatedNew(change)
        let id = UUID()
        return try await database.transaction { db in
            try await self.requireUnique("roles", code, db)
            try await self.store.insertEntry("roles", id: id, code: code, name: name, description: change.description ?? "", db)
            try await self.setPermissions(of: id, to: change.permissions ?? [], by: actor, db)
            try await self.audit.record(AuditEvent("role.created", actor: actor.userID, detail: ["code_name": code]), db)
            return try await self.role(id, db)
        }
    }

    func updateRole(_ id: UUID, _ change: RBACChange, by actor: Identity) async throws -> RoleEntry {
        try validatedTexts(change)
        return try await database.transaction { db in
            let current = try await self.role(id, db)
            guard current.code_name != BuiltInRole.admin.rawValue else {
                throw APIError(.forbidden, "permission_denied", "The admin role holds every permission and cannot be changed.")
            }
            try await self.requireHolding(current, by: actor, db)
            let entry = RBACEntry(current)
            try await self.requireRenamable("roles", "role", entry, to: change.code_name, db)
            try await self.store.updateEntry(
                "roles", id: id, code: change.code_name ?? current.code_name, name: change.name ?? current.name,
                description: change.description ?? current.description, db)
            // Cached users show role codes, not names.
            if let code = change.code_name, code != current.code_name { try await self.users.cache.changed(nil, db) }
            if let permissions = change.permissions {
                try await self.setPermissions(of: id, to: permissions, by: actor, db)
            }
            try await self.audit.record(AuditEvent("role.updated", actor: actor.userID, detail: ["code_name": current.code_name]), db)
            return try await self.role(id, db)
        }
    }

    func deleteRole(_ id: UUID, by actor: Identity) async throws {
        try await database.transaction { db in
            let current = try await self.role(id, db)
            guard !current.built_in else { throw APIError(.forbidden, "permission_denied", "Built-in roles cannot be deleted.") }
            try await self.requireHolding(current, by: actor, db)
            try await self.store.deleteEntry("roles", id: id, db)
            try await self.users.cache.changed(nil, db)
            try await self.audit.record(AuditEvent("role.deleted", actor: actor.userID, detail: ["code_name": current.code_name]), db)
        }
    }

    /// Renaming or deleting a role changes what its holders may do (and the role codes their tokens
    /// and other services see): only for those who hold every permission it carries.
    private func requireHolding(_ role: RoleEntry, by actor: Identity, _ db: any SQLDatabase) async throws {
        let effective = try await access.effective(actor.userID, db)
        for text in role.permissions {
            guard let id = UUID(uuidString: text), let permission = try await store.permission(id, db) else { continue }
            guard effective.covers(permission.key) else {
                throw APIError(
                    .forbidden, "permission_denied",
                    "The role '\(role.code_name)' holds \(permission.resource):\(permission.action), which you do not.")
            }
        }
    }

    /// Replaces a role's permissions; every permission added or removed must be one the editor holds.
    private func setPermissions(of roleID: UUID, to ids: [String], by actor: Identity, _ db: any SQLDatabase) async throws {
        var wanted = Set<UUID>()
        for text in ids {
            guard let id = UUID(uuidString: text) else { throw APIError.validation(["permissions": ["'\(text)' is not a permission id."]]) }
            wanted.insert(id)
        }
        let current = try await store.permissionIDs(ofRole: roleID, db)
        let effective = try await access.effective(actor.userID, db)
        for id in wanted.symmetricDifference(current) {
            guard let permission = try await store.permission(id, db) else {
                throw APIError.validation(["permissions": ["Unknown permission \(id.uuidString.lowercased())."]])
            }
            guard effective.covers(permission.key) else {
                throw APIError(
                    .forbidden, "permission_denied", "You cannot grant or revoke \(permission.resource):\(permission.action), which you do not hold.")
            }
        }
        for id in current.subtracting(wanted) { try await store.revoke(id, from: roleID, db) }
        for id in wanted.subtracting(current) { try await store.grant(id, to: roleID, db) }
    }

    // MARK: Users' roles

    /// `PUT /api/v1/users/{id}/roles`: the user's roles become exactly `codes`.
    func assignRoles(_ codes: [String], to userID: UUID, by actor: Identity, client: ClientInfo) async throws -> [String] {
        var errors = FieldErrors()
        for code in codes where !isCodeName(code) { errors.add("roles", "Unknown role.") }
        try errors.throwIfAny()
        // Taking one's own admin role could leave nobody able to give it back.
        guard userID != actor.userID else { throw APIError(.forbidden, "permission_denied", "You cannot change your own roles.") }
        return try await database.transaction { db in
            guard try await self.users.find(userID, db) != nil else { throw APIError.notFound }
            try await self.access.requireActing(actor.userID, on: userID, db)
            let current = Set(try await self.users.roles(of: userID, db))
            let changed = Set(codes).symmetricDifference(current)
            let roles = try await self.store.roles(codes: changed, db)
            let effective = try await self.access.effective(actor.userID, db)
            for code in changed.sorted() {
                guard let held = roles[code] else { throw APIError.validation(["roles": ["Unknown role '\(code)'."]]) }
                if code == BuiltInRole.admin.rawValue && !effective.isAdmin {
                    throw APIError(.forbidden, "permission_denied", "Only an admin may grant or revoke the admin role.")
                }
                guard held.allSatisfy(effective.covers) else {
                    throw APIError(.forbidden, "permission_denied", "You cannot grant or revoke '\(code)': it holds permissions you do not.")
                }
            }
            try await self.users.clearRoles(of: userID, db)
            let unknown = try await self.users.grant(codes, to: userID, db)
            guard unknown.isEmpty else { throw APIError.validation(["roles": ["Unknown roles: \(unknown.joined(separator: ", "))."]]) }
            let now = try await self.users.roles(of: userID, db)
            try await self.audit.record(
                AuditEvent(
                    "roles.changed", user: userID, actor: actor.userID, client: client,
                    detail: ["from": current.sorted().joined(separator: ","), "to": now.joined(separator: ",")]), db)
            return now
        }
    }

    // MARK: Shared checks

    private func validatedNew(_ change: RBACChange) throws(APIError) -> (String, String) {
        var errors = FieldErrors()
        if let code = change.code_name {
            if !isCodeName(code) { errors.add("code_name", "Use lowercase letters, digits and _ . - (at most 64), starting with a letter.") }
        } else {
            errors.add("code_name", "This field is required.")
        }
        if (change.name ?? "").trimmingCharacters(in: .whitespaces).isEmpty { errors.add("name", "This field is required.") }
        try errors.throwIfAny()
        try validatedTexts(change)
        return (change.code_name ?? "", change.name ?? "")
    }

    /// Names and descriptions are bounded like every other text a client sends.
    private func validatedTexts(_ change: RBACChange) throws(APIError) {
        var errors = FieldErrors()
        if let name = change.name, name.count > 150 { errors.add("name", "Ensure this field has no more than 150 characters.") }
        if let description = change.description, description.count > 2000 {
            errors.add("description", "Ensure this field has no more than 2000 characters.")
        }
        if let permissions = change.permissions, permissions.count > 1000 { errors.add("permissions", "At most 1000 permissions.") }
        try errors.throwIfAny()
    }

    /// A new code name must be well-formed and free; a built-in entry keeps its own.
    private func requireRenamable(_ table: String, _ singular: String, _ entry: RBACEntry, to code: String?, _ db: any SQLDatabase) async throws {
        guard let code, code != entry.code_name else { return }
        guard !entry.built_in else { throw APIError(.forbidden, "permission_denied", "A built-in \(singular) keeps its code name.") }
        guard isCodeName(code) else { throw APIError.validation(["code_name": ["Use lowercase letters, digits and _ . - (at most 64)."]]) }
        try await requireUnique(table, code, db)
    }

    private func requireUnique(_ table: String, _ code: String, _ db: any SQLDatabase) async throws {
        if try await store.id(of: code, in: table, db) != nil {
            throw APIError(.conflict, "already_exists", "'\(code)' already exists.", fields: ["code_name": ["'\(code)' already exists."]])
        }
    }
}
