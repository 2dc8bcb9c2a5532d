extension Migration {
    /// Lets every instance load the recently ended sessions into its revocation list at start.
    static let revokedSessions = Migration(version: 3, name: "index of ended sessions") { _ in
        ["CREATE INDEX sessions_revoked_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL"]
    }
}
