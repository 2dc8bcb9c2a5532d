extension Migration {
    /// The Django user id of imported accounts, and the SimpleJWT refresh tokens already
    /// exchanged for a Tessera session (each works once).
    static let movingFromDjango = Migration(version: 8, name: "moving from Django") { t in
        [
            "ALTER TABLE users ADD COLUMN legacy_id TEXT",
            // Unique where set; accounts made in Tessera have none.
            "CREATE UNIQUE INDEX users_legacy_idx ON users (legacy_id)",
            """
            CREATE TABLE legacy_refresh_tokens (
                jti TEXT PRIMARY KEY,
                user_id \(t.id) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                used_at \(t.time) NOT NULL,
                expires_at \(t.time) NOT NULL
            )
            """,
            "CREATE INDEX legacy_refresh_tokens_expires_idx ON legacy_refresh_tokens (expires_at)",
        ]
    }
}
