/// Built-in RBAC rows, written out in the migration that adds them, as statements. Ids are written
/// in upper case, as SQLiteKit binds a UUID: on SQLite ids are compared as text. Released
/// migrations render through this, so `MigrationHistoryTests` catches any change to it.
struct CatalogueSeed {
    var resources: [(id: String, code: String, name: String)] = []
    var actions: [(id: String, code: String, name: String)] = []
    var permissions: [(id: String, resource: String, action: String)] = []
    /// A role id and the permission it is granted.
    var grants: [(role: String, resource: String, action: String)] = []

    func statements(_ t: SQLDialect) -> [String] {
        func uuid(_ id: String) -> String { "CAST('\(id.uppercased())' AS \(t.id))" }
        let resources = resources.map {
            "INSERT INTO resources (id, code_name, name, description, built_in) VALUES (\(uuid($0.id)), '\($0.code)', '\($0.name)', '', TRUE)"
        }
        let actions = actions.map {
            "INSERT INTO actions (id, code_name, name, description, built_in) VALUES (\(uuid($0.id)), '\($0.code)', '\($0.name)', '', TRUE)"
        }
        let permissions = permissions.map {
            """
            INSERT INTO permissions (id, resource_id, action_id)
            SELECT \(uuid($0.id)), r.id, a.id FROM resources r, actions a WHERE r.code_name = '\($0.resource)' AND a.code_name = '\($0.action)'
            """
        }
        let grants = grants.map {
            """
            INSERT INTO role_permissions (role_id, permission_id)
            SELECT \(uuid($0.role)), p.id FROM permissions p
            JOIN resources r ON r.id = p.resource_id JOIN actions a ON a.id = p.action_id
            WHERE r.code_name = '\($0.resource)' AND a.code_name = '\($0.action)'
            """
        }
        return resources + actions + permissions + grants
    }
}
