extension Migration {
    /// Texts in the outbox beside mail, SMS codes, social identities, and two-factor secrets with
    /// their recovery codes.
    static let signInMethods = Migration(version: 7, name: "sign-in methods") { t in
        [
            // One outbox for every channel, so texts get mail's durability, retries and sharing.
            "ALTER TABLE mail_outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'email'",
            // A code is for one phone and purpose; `user_id` is null for a sign-in code sent to a
            // phone no account has yet (open registration creates one when it is used).
            """
            CREATE TABLE phone_codes (
                id \(t.id) PRIMARY KEY,
                purpose TEXT NOT NULL,
                phone TEXT NOT NULL,
                user_id \(t.id) REFERENCES users (id) ON DELETE CASCADE,
                code_hash TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                created_at \(t.time) NOT NULL,
                expires_at \(t.time) NOT NULL,
                used_at \(t.time)
            )
            """,
            "CREATE INDEX phone_codes_phone_idx ON phone_codes (phone, purpose, created_at)",
            "CREATE INDEX phone_codes_expires_idx ON phone_codes (expires_at)",
            """
            CREATE TABLE identities (
                id \(t.id) PRIMARY KEY,
                user_id \(t.id) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                provider TEXT NOT NULL,
                subject TEXT NOT NULL,
                created_at \(t.time) NOT NULL,
                last_used_at \(t.time) NOT NULL,
                UNIQUE (provider, subject)
            )
            """,
            "CREATE INDEX identities_user_idx ON identities (user_id, created_at)",
            // `secret` is sealed (AES-GCM) with a key kept in signing_keys; `last_step` is the
            // newest time step a code was accepted for, so no code works twice.
            """
            CREATE TABLE totp_factors (
                user_id \(t.id) PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
                secret TEXT NOT NULL,
                confirmed_at \(t.time),
                last_step BIGINT NOT NULL DEFAULT 0,
                created_at \(t.time) NOT NULL
            )
            """,
            """
            CREATE TABLE recovery_codes (
                user_id \(t.id) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                code_hash TEXT NOT NULL,
                used_at \(t.time),
                PRIMARY KEY (user_id, code_hash)
            )
            """,
        ]
    }
}
