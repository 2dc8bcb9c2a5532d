import Foundation
import SQLKit

/// The `profiles` table, read through the account it belongs to.
struct ProfileStore: Sendable {
    let dialect: SQLDialect

    /// What the directory narrows by, already checked.
    struct Filter: Sendable {
        var city: String?
        var minimumExperience: Int?
        var text: String?
        var service: String?
    }

    /// A specialist's profile, active or not (for the specialist themself).
    func find(_ userID: UUID, _ db: any SQLDatabase) async throws -> Profile? {
        try await specialists(db.select().columns(Self.columns)).where(SQLColumn("id", table: "u"), .equal, SQLBind(userID)).first()
            .map(Profile.init(row:))
    }

    /// A profile the public may see: an active specialist's.
    func findListed(_ userID: UUID, _ db: any SQLDatabase) async throws -> Profile? {
        try await listed(db.select().columns(Self.columns)).where(SQLColumn("id", table: "u"), .equal, SQLBind(userID)).first()
            .map(Profile.init(row:))
    }

    func save(_ profile: Profile, at now: Date, _ db: any SQLDatabase) async throws {
        try await db.raw(
            """
            INSERT INTO profiles (user_id, full_name, bio, city, city_key, experience_years, updated_at)
            VALUES (\(bind: profile.userID), \(bind: profile.fullName), \(bind: profile.bio), \(bind: profile.city),
                    \(bind: profile.city.lowercased()), \(bind: profile.experienceYears), \(bind: now))
            ON CONFLICT (user_id) DO UPDATE SET full_name = excluded.full_name, bio = excluded.bio, city = excluded.city,
                city_key = excluded.city_key, experience_years = excluded.experience_years, updated_at = excluded.updated_at
            """
        ).run()
    }

    /// Stores the specialist's avatar and points the profile at it, making the profile's row from
    /// `profile` if it has none yet (a row that exists keeps its text, which a concurrent change
    /// may have just written).
    func saveAvatar(_ avatar: Avatar, for profile: Profile, at now: Date, _ db: any SQLDatabase) async throws {
        try await db.raw(
            """
            INSERT INTO avatars (user_id, content_type, etag, image, updated_at)
            VALUES (\(bind: profile.userID), \(bind: avatar.format.rawValue), \(bind: avatar.etag), \(bind: avatar.image), \(bind: now))
            ON CONFLICT (user_id) DO UPDATE SET content_type = excluded.content_type, etag = excluded.etag, image = excluded.image,
                updated_at = excluded.updated_at
            """
        ).run()
        try await db.raw(
            """
            INSERT INTO profiles (user_id, full_name, bio, city, city_key, experience_years, avatar_etag, updated_at)
            VALUES (\(bind: profile.userID), \(bind: profile.fullName), \(bind: profile.bio), \(bind: profile.city),
                    \(bind: profile.city.lowercased()), \(bind: profile.experienceYears), \(bind: avatar.etag), \(bind: now))
            ON CONFLICT (user_id) DO UPDATE SET avatar_etag = excluded.avatar_etag, updated_at = excluded.updated_at
            """
        ).run()
    }

    func removeAvatar(of userID: UUID, at now: Date, _ db: any SQLDatabase) async throws {
        try await db.raw("DELETE FROM avatars WHERE user_id = \(bind: userID)").run()
        try await db.raw("UPDATE profiles SET avatar_etag = NULL, updated_at = \(bind: now) WHERE user_id = \(bind: userID)").run()
    }

    /// The avatar of an active specialist: the public may see no other.
    func listedAvatar(of userID: UUID, _ db: any SQLDatabase) async throws -> Avatar? {
        try await listed(db.select().columns(SQLColumn("content_type", table: "a"), SQLColumn("etag", table: "a"), SQLColumn("image", table: "a")))
            .join(SQLAlias(SQLIdentifier("avatars"), as: SQLIdentifier("a")), method: SQLJoinMethod.inner, on: SQLRaw("a.user_id = u.id"))
            .where(SQLColumn("id", table: "u"), .equal, SQLBind(userID))
            .first()
            .map(Avatar.init(row:))
    }

    /// One page of active specialists matching `filter`, newest first, and how many match.
    func list(_ filter: Filter, page: PageRequest, _ db: any SQLDatabase) async throws -> (Int, [Profile]) {
        let dialect = self.dialect
        func filtered(_ query: SQLSelectBuilder) -> SQLSelectBuilder {
            var query = listed(query)
            if let city = filter.city, !city.isEmpty { query = query.where(SQLColumn("city_key", table: "p"), .equal, SQLBind(city.lowercased())) }
            if let years = filter.minimumExperience, years > 0 {
                query = query.where(SQLColumn("experience_years", table: "p"), .greaterThanOrEqual, SQLBind(years))
            }
            if let text = filter.text, !text.isEmpty {
                query = query.where { group in
                    group.where(dialect.contains(SQLColumn("full_name", table: "p"), text))
                        .orWhere(dialect.contains(SQLColumn("bio", table: "p"), text))
                        .orWhere(dialect.contains(SQLColumn("first_name", table: "u"), text))
                        .orWhere(dialect.contains(SQLColumn("last_name", table: "u"), text))
                }
            }
            if let service = filter.service, !service.isEmpty {
                query = query.where(
                    SQLQueryString(
                        "EXISTS (SELECT 1 FROM services s WHERE s.specialist_id = u.id AND \(dialect.contains(SQLColumn("name", table: "s"), service)))"
                    ))
            }
            return query
        }
        return try await db.page(
            page, columns: Self.columns, orderBy: [("date_joined", .descending), ("id", .ascending)], filtered, as: Profile.init(row:))
    }

    /// The account's id and names, and the profile's columns (NULL without a row).
    private static let columns: [any SQLExpression] =
        [SQLColumn("id", table: "u"), SQLColumn("first_name", table: "u"), SQLColumn("last_name", table: "u")]
        + ["full_name", "bio", "city", "experience_years", "avatar_etag"].map { SQLColumn($0, table: "p") }

    private func specialists(_ query: SQLSelectBuilder) -> SQLSelectBuilder {
        query.from(SQLAlias(SQLIdentifier("users"), as: SQLIdentifier("u")))
            .join(SQLAlias(SQLIdentifier("profiles"), as: SQLIdentifier("p")), method: SQLJoinMethod.left, on: SQLRaw("p.user_id = u.id"))
            .where(SQLColumn("kind", table: "u"), .equal, SQLBind(AccountKind.specialist.rawValue))
    }

    private func listed(_ query: SQLSelectBuilder) -> SQLSelectBuilder {
        specialists(query).where(SQLColumn("status", table: "u"), .equal, SQLBind(AccountStatus.active.rawValue))
    }
}
