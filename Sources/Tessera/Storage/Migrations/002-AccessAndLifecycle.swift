import Foundation

extension Migration {
    /// RBAC catalogue, audit log, mail outbox, single-use tokens and abuse-protection counters.
    static let accessAndLifecycle = Migration(version: 2, name: "access control and account lifecycle") { t in
        [
            """
            CREATE TABLE resources (
                id \(t.id) PRIMARY KEY,
                code_name TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                built_in BOOLEAN NOT NULL DEFAULT FALSE
            )
            """,
            """
            CREATE TABLE actions (
                id \(t.id) PRIMARY KEY,
                code_name TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                built_in BOOLEAN NOT NULL DEFAULT FALSE
            )
            """,
            """
            CREATE TABLE permissions (
                id \(t.id) PRIMARY KEY,
                resource_id \(t.id) NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
                action_id \(t.id) NOT NULL REFERENCES actions (id) ON DELETE CASCADE,
                UNIQUE (resource_id, action_id)
            )
            """,
            "CREATE INDEX permissions_action_idx ON permissions (action_id)",
            """
            CREATE TABLE role_permissions (
                role_id \(t.id) NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
                permission_id \(t.id) NOT NULL REFERENCES permissions (id) ON DELETE CASCADE,
                PRIMARY KEY (role_id, permission_id)
            )
            """,
            "CREATE INDEX role_permissions_permission_idx ON role_permissions (permission_id)",
            """
            CREATE TABLE audit_events (
                id \(t.id) PRIMARY KEY,
                at \(t.time) NOT NULL,
                event TEXT NOT NULL,
                user_id \(t.id),
                actor_id \(t.id),
                ip_address TEXT NOT NULL DEFAULT '',
                user_agent TEXT NOT NULL DEFAULT '',
                detail TEXT NOT NULL DEFAULT '{}'
            )
            """,
            "CREATE INDEX audit_events_at_idx ON audit_events (at)",
            "CREATE INDEX audit_events_user_idx ON audit_events (user_id, at)",
            "CREATE INDEX audit_events_event_idx ON audit_events (event, at)",
            """
            CREATE TABLE mail_outbox (
                id \(t.id) PRIMARY KEY,
                recipient TEXT NOT NULL,
                subject TEXT NOT NULL,
                body TEXT NOT NULL,
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                created_at \(t.time) NOT NULL,
                next_attempt_at \(t.time) NOT NULL,
                locked_until \(t.time),
                sent_at \(t.time),
                last_error TEXT NOT NULL DEFAULT ''
            )
            """,
            "CREATE INDEX mail_outbox_due_idx ON mail_outbox (status, next_attempt_at)",
            """
            CREATE TABLE one_time_tokens (
                token_hash TEXT PRIMARY KEY,
                user_id \(t.id) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                purpose TEXT NOT NULL,
                email TEXT,
                created_at \(t.time) NOT NULL,
                expires_at \(t.time) NOT NULL,
                used_at \(t.time)
            )
            """,
            "CREATE INDEX one_time_tokens_user_idx ON one_time_tokens (user_id, purpose)",
            """
            CREATE TABLE login_failures (
                login_key TEXT PRIMARY KEY,
                failures INTEGER NOT NULL,
                last_failure_at \(t.time) NOT NULL,
                locked_until \(t.time)
            )
            """,
            """
            CREATE TABLE rate_limit_windows (
                bucket TEXT PRIMARY KEY,
                window_start \(t.time) NOT NULL,
                hits INTEGER NOT NULL
            )
            """,
        ]
            + CatalogueSeed(resources: builtInResources, actions: builtInActions, permissions: builtInPermissions, grants: builtInGrants)
            .statements(t)
    }

    /// Tessera's own resources: its endpoints are guarded by permissions on them.
    private static let builtInResources: [(id: String, code: String, name: String)] = [
        ("00000000-0000-4000-8000-000000000100", "users", "Users"),
        ("00000000-0000-4000-8000-000000000101", "roles", "Roles"),
        ("00000000-0000-4000-8000-000000000102", "permissions", "Permissions"),
        ("00000000-0000-4000-8000-000000000103", "resources", "Resources"),
        ("00000000-0000-4000-8000-000000000104", "actions", "Actions"),
        ("00000000-0000-4000-8000-000000000105", "sessions", "Sessions"),
        ("00000000-0000-4000-8000-000000000106", "registrations", "Registrations"),
        ("00000000-0000-4000-8000-000000000107", "audit", "Audit log"),
    ]

    private static let builtInActions: [(id: String, code: String, name: String)] = [
        ("00000000-0000-4000-8000-000000000200", "read", "Read"),
        ("00000000-0000-4000-8000-000000000201", "create", "Create"),
        ("00000000-0000-4000-8000-000000000202", "update", "Update"),
        ("00000000-0000-4000-8000-000000000203", "delete", "Delete"),
        ("00000000-0000-4000-8000-000000000204", "all", "All"),
        ("00000000-0000-4000-8000-000000000205", "approve", "Approve"),
        ("00000000-0000-4000-8000-000000000206", "export", "Export"),
    ]

    /// Every resource above × the CRUD actions and `all`, plus approving registrations and
    /// exporting the audit log.
    private static let builtInPermissions: [(id: String, resource: String, action: String)] = [
        ("00000000-0000-4000-8000-000000000300", "users", "read"),
        ("00000000-0000-4000-8000-000000000301", "users", "create"),
        ("00000000-0000-4000-8000-000000000302", "users", "update"),
        ("00000000-0000-4000-8000-000000000303", "users", "delete"),
        ("00000000-0000-4000-8000-000000000304", "users", "all"),
        ("00000000-0000-4000-8000-000000000305", "roles", "read"),
        ("00000000-0000-4000-8000-000000000306", "roles", "create"),
        ("00000000-0000-4000-8000-000000000307", "roles", "update"),
        ("00000000-0000-4000-8000-000000000308", "roles", "delete"),
        ("00000000-0000-4000-8000-000000000309", "roles", "all"),
        ("00000000-0000-4000-8000-000000000310", "permissions", "read"),
        ("00000000-0000-4000-8000-000000000311", "permissions", "create"),
        ("00000000-0000-4000-8000-000000000312", "permissions", "update"),
        ("00000000-0000-4000-8000-000000000313", "permissions", "delete"),
        ("00000000-0000-4000-8000-000000000314", "permissions", "all"),
        ("00000000-0000-4000-8000-000000000315", "resources", "read"),
        ("00000000-0000-4000-8000-000000000316", "resources", "create"),
        ("00000000-0000-4000-8000-000000000317", "resources", "update"),
        ("00000000-0000-4000-8000-000000000318", "resources", "delete"),
        ("00000000-0000-4000-8000-000000000319", "resources", "all"),
        ("00000000-0000-4000-8000-000000000320", "actions", "read"),
        ("00000000-0000-4000-8000-000000000321", "actions", "create"),
        ("00000000-0000-4000-8000-000000000322", "actions", "update"),
        ("00000000-0000-4000-8000-000000000323", "actions", "delete"),
        ("00000000-0000-4000-8000-000000000324", "actions", "all"),
        ("00000000-0000-4000-8000-000000000325", "sessions", "read"),
        ("00000000-0000-4000-8000-000000000326", "sessions", "create"),
        ("00000000-0000-4000-8000-000000000327", "sessions", "update"),
        ("00000000-0000-4000-8000-000000000328", "sessions", "delete"),
        ("00000000-0000-4000-8000-000000000329", "sessions", "all"),
        ("00000000-0000-4000-8000-000000000330", "registrations", "read"),
        ("00000000-0000-4000-8000-000000000331", "registrations", "create"),
        ("00000000-0000-4000-8000-000000000332", "registrations", "update"),
        ("00000000-0000-4000-8000-000000000333", "registrations", "delete"),
        ("00000000-0000-4000-8000-000000000334", "registrations", "all"),
        ("00000000-0000-4000-8000-000000000335", "audit", "read"),
        ("00000000-0000-4000-8000-000000000336", "audit", "create"),
        ("00000000-0000-4000-8000-000000000337", "audit", "update"),
        ("00000000-0000-4000-8000-000000000338", "audit", "delete"),
        ("00000000-0000-4000-8000-000000000339", "audit", "all"),
        ("00000000-0000-4000-8000-000000000340", "registrations", "approve"),
        ("00000000-0000-4000-8000-000000000341", "audit", "export"),
    ]

    /// `admin` holds `all` on each resource (and is let through on anything, resources created
    /// later too); `supervisor` manages the RBAC catalogue and nothing else.
    private static let builtInGrants: [(role: String, resource: String, action: String)] = [
        ("00000000-0000-4000-8000-000000000001", "users", "all"),
        ("00000000-0000-4000-8000-000000000001", "roles", "all"),
        ("00000000-0000-4000-8000-000000000001", "permissions", "all"),
        ("00000000-0000-4000-8000-000000000001", "resources", "all"),
        ("00000000-0000-4000-8000-000000000001", "actions", "all"),
        ("00000000-0000-4000-8000-000000000001", "sessions", "all"),
        ("00000000-0000-4000-8000-000000000001", "registrations", "all"),
        ("00000000-0000-4000-8000-000000000001", "audit", "all"),
        ("00000000-0000-4000-8000-000000000002", "resources", "all"),
        ("00000000-0000-4000-8000-000000000002", "actions", "all"),
        ("00000000-0000-4000-8000-000000000002", "permissions", "all"),
        ("00000000-0000-4000-8000-000000000002", "roles", "all"),
    ]
}
