extension Migration {
    /// Specialists' profiles and avatars, their services, schedules and bookings, and the RBAC
    /// resources that guard them.
    static let marketplace = Migration(version: 5, name: "marketplace") { t in
        [
            // A specialist's profile is there from sign-up: until its first change it is read
            // from the account (`LEFT JOIN`), so the row appears only when something is set.
            """
            CREATE TABLE profiles (
                user_id \(t.id) PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
                full_name TEXT NOT NULL DEFAULT '',
                bio TEXT NOT NULL DEFAULT '',
                city TEXT NOT NULL DEFAULT '',
                city_key TEXT NOT NULL DEFAULT '',
                experience_years INTEGER NOT NULL DEFAULT 0,
                avatar_etag TEXT,
                updated_at \(t.time) NOT NULL
            )
            """,
            "CREATE INDEX profiles_city_idx ON profiles (city_key, experience_years)",
            "CREATE INDEX profiles_experience_idx ON profiles (experience_years)",
            "CREATE INDEX users_kind_idx ON users (kind, status, date_joined)",
            """
            CREATE TABLE avatars (
                user_id \(t.id) PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
                content_type TEXT NOT NULL,
                etag TEXT NOT NULL,
                image \(t.bytes) NOT NULL,
                updated_at \(t.time) NOT NULL
            )
            """,
            """
            CREATE TABLE services (
                id \(t.id) PRIMARY KEY,
                specialist_id \(t.id) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                price_minor BIGINT NOT NULL CHECK (price_minor >= 0),
                duration_minutes INTEGER NOT NULL CHECK (duration_minutes > 0),
                created_at \(t.time) NOT NULL
            )
            """,
            "CREATE INDEX services_specialist_idx ON services (specialist_id, created_at)",
            "CREATE INDEX services_price_idx ON services (price_minor, id)",
            "CREATE INDEX services_created_idx ON services (created_at, id)",
            "CREATE INDEX services_name_idx ON services (name, id)",
            "CREATE INDEX services_duration_idx ON services (duration_minutes, price_minor)",
            """
            CREATE TABLE schedules (
                specialist_id \(t.id) PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
                timezone TEXT NOT NULL,
                weekly TEXT NOT NULL,
                days_off TEXT NOT NULL,
                updated_at \(t.time) NOT NULL
            )
            """,
            // A booking keeps what was booked (name, price, length) if the service changes or goes.
            """
            CREATE TABLE bookings (
                id \(t.id) PRIMARY KEY,
                service_id \(t.id) REFERENCES services (id) ON DELETE SET NULL,
                service_name TEXT NOT NULL,
                price_minor BIGINT NOT NULL,
                specialist_id \(t.id) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                client_id \(t.id) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                starts_at \(t.time) NOT NULL,
                ends_at \(t.time) NOT NULL,
                status TEXT NOT NULL,
                created_at \(t.time) NOT NULL,
                updated_at \(t.time) NOT NULL,
                CHECK (ends_at > starts_at)
            )
            """,
            "CREATE INDEX bookings_specialist_idx ON bookings (specialist_id, starts_at)",
            "CREATE INDEX bookings_client_idx ON bookings (client_id, starts_at)",
            "CREATE INDEX bookings_service_idx ON bookings (service_id)",
        ]
            + t.noOverlap(
                "bookings_no_overlap", on: "bookings", owner: "specialist_id", start: "starts_at", end: "ends_at", live: "status <> 'cancelled'")
            + CatalogueSeed(resources: resources, permissions: permissions, grants: grants).statements(t)
    }

    private static let resources: [(id: String, code: String, name: String)] = [
        ("00000000-0000-4000-8000-000000000108", "profiles", "Specialist profiles"),
        ("00000000-0000-4000-8000-000000000109", "services", "Services"),
        ("00000000-0000-4000-8000-000000000110", "bookings", "Bookings"),
    ]
    private static let permissions: [(id: String, resource: String, action: String)] = [
        ("00000000-0000-4000-8000-000000000342", "profiles", "read"),
        ("00000000-0000-4000-8000-000000000343", "profiles", "create"),
        ("00000000-0000-4000-8000-000000000344", "profiles", "update"),
        ("00000000-0000-4000-8000-000000000345", "profiles", "delete"),
        ("00000000-0000-4000-8000-000000000346", "profiles", "all"),
        ("00000000-0000-4000-8000-000000000347", "services", "read"),
        ("00000000-0000-4000-8000-000000000348", "services", "create"),
        ("00000000-0000-4000-8000-000000000349", "services", "update"),
        ("00000000-0000-4000-8000-000000000350", "services", "delete"),
        ("00000000-0000-4000-8000-000000000351", "services", "all"),
        ("00000000-0000-4000-8000-000000000352", "bookings", "read"),
        ("00000000-0000-4000-8000-000000000353", "bookings", "create"),
        ("00000000-0000-4000-8000-000000000354", "bookings", "update"),
        ("00000000-0000-4000-8000-000000000355", "bookings", "delete"),
        ("00000000-0000-4000-8000-000000000356", "bookings", "all"),
    ]
    /// `admin` holds `all` on each. Specialists manage their own services (`services:all`, which
    /// covers everyone's, stays with admins) and answer their bookings; clients book.
    private static let grants: [(role: String, resource: String, action: String)] = [
        ("00000000-0000-4000-8000-000000000001", "profiles", "all"),
        ("00000000-0000-4000-8000-000000000001", "services", "all"),
        ("00000000-0000-4000-8000-000000000001", "bookings", "all"),
        ("00000000-0000-4000-8000-000000000003", "services", "create"),
        ("00000000-0000-4000-8000-000000000003", "services", "update"),
        ("00000000-0000-4000-8000-000000000003", "services", "delete"),
        ("00000000-0000-4000-8000-000000000003", "bookings", "read"),
        ("00000000-0000-4000-8000-000000000003", "bookings", "update"),
        ("00000000-0000-4000-8000-000000000004", "bookings", "create"),
        ("00000000-0000-4000-8000-000000000004", "bookings", "read"),
        ("00000000-0000-4000-8000-000000000004", "bookings", "update"),
    ]
}
