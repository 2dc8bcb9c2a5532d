/// The RBAC catalogue every installation starts with (SPEC §5), seeded by migration 2.
enum BuiltInCatalogue {
    /// Tessera's own resources; its endpoints are guarded by permissions on them.
    static let resources: [(code: String, name: String)] = [
        ("users", "Users"), ("roles", "Roles"), ("permissions", "Permissions"), ("resources", "Resources"), ("actions", "Actions"),
        ("sessions", "Sessions"), ("registrations", "Registrations"), ("audit", "Audit log"),
    ]

    static let actions: [(code: String, name: String)] = [
        ("read", "Read"), ("create", "Create"), ("update", "Update"), ("delete", "Delete"), ("all", "All"), ("approve", "Approve"),
        ("export", "Export"),
    ]

    /// Every resource × the CRUD actions and `all`, plus approving registrations and exporting the audit log.
    static let permissions: [(String, String)] =
        resources.flatMap { resource in ["read", "create", "update", "delete", "all"].map { (resource.code, $0) } }
        + [("registrations", "approve"), ("audit", "export")]

    /// `admin` holds everything (the check also lets it through on resources created later);
    /// `supervisor` manages the RBAC catalogue and nothing else.
    static let grants: [(BuiltInRole, [(String, String)])] = [
        (.admin, resources.map { ($0.code, "all") }),
        (.supervisor, ["resources", "actions", "permissions", "roles"].map { ($0, "all") }),
    ]
}
