extension Migration {
    /// The Django user id of imported accounts, and the SimpleJWT refresh tokens already
    /// exchanged for a Tessera session or blacklisted by Django (each is refused after). A token
    /// row outlives nothing it points to: it only says the `jti` is spent.
    static let movingFromDjango = Migration(version: 8, name: "moving from Django") { t in
        [
            "ALTER TABLE users ADD COLUMN legacy_id TEXT",
            // When the account's SimpleJWT tokens stopped counting: a password change, a reset,
            // revoke-all or a disable ends them as it ends Tessera's own sessions.
            "ALTER TABLE users ADD COLUMN legacy_tokens_void_at \(t.time)",
            // Unique where set; accounts made in Tessera have none.
            "CREATE UNIQUE INDEX users_legacy_idx ON users (legacy_id)",
            """
            CREATE TABLE legacy_refresh_tokens (
                jti TEXT PRIMARY KEY,
                user_id \(t.id),
                used_at \(t.time) NOT NULL,
                expires_at \(t.time) NOT NULL
            )
            """,
            "CREATE INDEX legacy_refresh_tokens_expires_idx ON legacy_refresh_tokens (expires_at)",
        ]
    }
}
