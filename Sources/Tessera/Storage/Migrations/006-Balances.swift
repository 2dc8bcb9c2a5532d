extension Migration {
    /// Real and virtual balances, their append-only ledger, the idempotency keys of balance
    /// changes, and the `balances` resource.
    static let balances = Migration(version: 6, name: "balances") { t in
        [
            // The range is the database's rule as well as the service's: no bug and no race can
            // leave a balance below zero or above 999,999,999,999.99.
            """
            CREATE TABLE balances (
                user_id \(t.id) PRIMARY KEY REFERENCES users (id),
                real_minor BIGINT NOT NULL CHECK (real_minor BETWEEN 0 AND 99999999999999),
                virtual_minor BIGINT NOT NULL CHECK (virtual_minor BETWEEN 0 AND 99999999999999),
                version BIGINT NOT NULL,
                updated_at \(t.time) NOT NULL
            )
            """,
            // `seq` is the balance's version after the entry: a user's entries are numbered from 1
            // without gaps, in the order their changes took the balance row.
            """
            CREATE TABLE balance_ledger (
                id \(t.id) PRIMARY KEY,
                user_id \(t.id) NOT NULL REFERENCES users (id),
                seq BIGINT NOT NULL,
                actor_id \(t.id) NOT NULL REFERENCES users (id),
                at \(t.time) NOT NULL,
                action TEXT NOT NULL,
                value_type TEXT NOT NULL,
                amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
                real_change BIGINT NOT NULL,
                virtual_change BIGINT NOT NULL,
                real_after BIGINT NOT NULL CHECK (real_after >= 0),
                virtual_after BIGINT NOT NULL CHECK (virtual_after >= 0),
                idempotency_key TEXT,
                UNIQUE (user_id, seq)
            )
            """,
            """
            CREATE TABLE idempotency_keys (
                owner_id \(t.id) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                idempotency_key TEXT NOT NULL,
                fingerprint TEXT NOT NULL,
                claim_token TEXT NOT NULL,
                status_code INTEGER,
                response TEXT,
                created_at \(t.time) NOT NULL,
                PRIMARY KEY (owner_id, idempotency_key)
            )
            """,
            "CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at)",
        ] + CatalogueSeed(resources: resources, permissions: permissions, grants: grants).statements(t)
    }

    private static let resources: [(id: String, code: String, name: String)] = [
        ("00000000-0000-4000-8000-000000000111", "balances", "Balances")
    ]
    private static let permissions: [(id: String, resource: String, action: String)] = [
        ("00000000-0000-4000-8000-000000000357", "balances", "read"),
        ("00000000-0000-4000-8000-000000000358", "balances", "create"),
        ("00000000-0000-4000-8000-000000000359", "balances", "update"),
        ("00000000-0000-4000-8000-000000000360", "balances", "delete"),
        ("00000000-0000-4000-8000-000000000361", "balances", "all"),
    ]
    /// Only `admin` reads others' balances and credits them; a payment integration gets a role
    /// with `balances:update`.
    private static let grants: [(role: String, resource: String, action: String)] = [
        ("00000000-0000-4000-8000-000000000001", "balances", "all")
    ]
}
