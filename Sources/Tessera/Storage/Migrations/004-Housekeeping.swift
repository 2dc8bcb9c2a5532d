extension Migration {
    /// Lets housekeeping find what it deletes without reading whole tables.
    static let housekeeping = Migration(version: 4, name: "indexes for housekeeping") { _ in
        [
            "CREATE INDEX sessions_expires_idx ON sessions (expires_at)",
            "CREATE INDEX one_time_tokens_expires_idx ON one_time_tokens (expires_at)",
            "CREATE INDEX rate_limit_windows_start_idx ON rate_limit_windows (window_start)",
            "CREATE INDEX login_failures_last_idx ON login_failures (last_failure_at)",
            "CREATE INDEX mail_outbox_sent_idx ON mail_outbox (status, sent_at)",
        ]
    }
}
