import Foundation

extension Migration {
    /// Users, roles, sessions and signing keys, and the four built-in roles with their fixed ids.
    static let accountsAndSessions = Migration(version: 1, name: "accounts and sessions") { t in
        [
            """
            CREATE TABLE users (
                id \(t.id) PRIMARY KEY,
                email TEXT,
                email_key TEXT UNIQUE,
                phone TEXT UNIQUE,
                username TEXT,
                username_key TEXT UNIQUE,
                password_hash TEXT NOT NULL,
                first_name TEXT NOT NULL DEFAULT '',
                last_name TEXT NOT NULL DEFAULT '',
                middle_name TEXT NOT NULL DEFAULT '',
                kind TEXT NOT NULL,
                status TEXT NOT NULL,
                email_verified BOOLEAN NOT NULL DEFAULT FALSE,
                phone_verified BOOLEAN NOT NULL DEFAULT FALSE,
                date_joined \(t.time) NOT NULL,
                last_login \(t.time)
            )
            """,
            "CREATE INDEX users_status_idx ON users (status, date_joined)",
            """
            CREATE TABLE roles (
                id \(t.id) PRIMARY KEY,
                code_name TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                built_in BOOLEAN NOT NULL DEFAULT FALSE
            )
            """,
            """
            CREATE TABLE user_roles (
                user_id \(t.id) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                role_id \(t.id) NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
                PRIMARY KEY (user_id, role_id)
            )
            """,
            "CREATE INDEX user_roles_role_idx ON user_roles (role_id)",
            """
            CREATE TABLE sessions (
                id \(t.id) PRIMARY KEY,
                user_id \(t.id) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                created_at \(t.time) NOT NULL,
                last_used_at \(t.time) NOT NULL,
                expires_at \(t.time) NOT NULL,
                revoked_at \(t.time),
                ip_address TEXT NOT NULL DEFAULT '',
                user_agent TEXT NOT NULL DEFAULT '',
                refresh_jti TEXT NOT NULL,
                previous_refresh_jti TEXT,
                rotated_at \(t.time) NOT NULL
            )
            """,
            "CREATE INDEX sessions_user_idx ON sessions (user_id, revoked_at)",
            """
            CREATE TABLE signing_keys (
                kid TEXT PRIMARY KEY,
                algorithm TEXT NOT NULL,
                private_key TEXT NOT NULL,
                created_at \(t.time) NOT NULL
            )
            """,
            // The built-in roles, with the ids `BuiltInRole` names.
            "INSERT INTO roles (id, code_name, name, description, built_in) VALUES ('00000000-0000-4000-8000-000000000001', 'admin', 'Admin', '', TRUE)",
            "INSERT INTO roles (id, code_name, name, description, built_in) VALUES ('00000000-0000-4000-8000-000000000002', 'supervisor', 'Supervisor', '', TRUE)",
            "INSERT INTO roles (id, code_name, name, description, built_in) VALUES ('00000000-0000-4000-8000-000000000003', 'specialist', 'Specialist', '', TRUE)",
            "INSERT INTO roles (id, code_name, name, description, built_in) VALUES ('00000000-0000-4000-8000-000000000004', 'client', 'Client', '', TRUE)",
        ]
    }
}
