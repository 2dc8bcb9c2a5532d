import Foundation
import SQLKit

/// The `services` table. Public reads see only services of active specialists. Every write
/// announces itself in its transaction, so the catalogue kept in memory follows.
struct CatalogStore: Sendable {
    let dialect: SQLDialect
    let catalogue: FollowedSnapshot<Catalogue>

    /// What the public list narrows by, already checked.
    struct Filter: Sendable {
        var name: String?
        var minPrice: Money?
        var maxPrice: Money?
        var durationMinutes: Int?
        var specialistID: UUID?
        var ordering: OfferingFilter.Ordering = .createdAtDescending
    }

    func insert(_ offering: Offering, _ db: any SQLDatabase) async throws {
        try await db.insert(into: "services").columns(Offering.columns)
            .values(
                SQLBind(offering.id), SQLBind(offering.specialistID), SQLBind(offering.name), SQLBind(offering.description),
                SQLBind(offering.price.minor), SQLBind(offering.durationMinutes), SQLBind(offering.createdAt)
            )
            .run()
        try await catalogue.changed(db)
    }

    func update(_ offering: Offering, _ db: any SQLDatabase) async throws {
        try await db.update("services")
            .set("name", to: SQLBind(offering.name)).set("description", to: SQLBind(offering.description))
            .set("price_minor", to: SQLBind(offering.price.minor)).set("duration_minutes", to: SQLBind(offering.durationMinutes))
            .where("id", .equal, SQLBind(offering.id))
            .run()
        try await catalogue.changed(db)
    }

    func delete(_ id: UUID, _ db: any SQLDatabase) async throws {
        try await db.delete(from: "services").where("id", .equal, SQLBind(id)).run()
        try await catalogue.changed(db)
    }

    /// Any service, whoever offers it (for its owner or an admin to change).
    func find(_ id: UUID, _ db: any SQLDatabase) async throws -> Offering? {
        try await db.select().columns(Self.columns).from("services").where("id", .equal, SQLBind(id)).first().map(Offering.init(row:))
    }

    /// A service the public may see: its specialist is active.
    func findListed(_ id: UUID, _ db: any SQLDatabase) async throws -> Offering? {
        try await listed(db.select().columns(Self.columns)).where("id", .equal, SQLBind(id)).first().map(Offering.init(row:))
    }

    /// A specialist's services, oldest first, as their page shows them.
    func offered(by specialistID: UUID, _ db: any SQLDatabase) async throws -> [Offering] {
        try await db.select().columns(Self.columns).from("services")
            .where("specialist_id", .equal, SQLBind(specialistID)).orderBy("created_at").orderBy("id").limit(1000)
            .all().map(Offering.init(row:))
    }

    /// One page of listed services matching `filter`, in its order (ties broken by id, so pages
    /// never overlap), and how many match. Each filter and order has an index (migration 5).
    func list(_ filter: Filter, page: PageRequest, _ db: any SQLDatabase) async throws -> (Int, [Offering]) {
        let dialect = self.dialect
        func filtered(_ query: SQLSelectBuilder) -> SQLSelectBuilder {
            var query = listed(query)
            if let name = filter.name, !name.isEmpty { query = query.where(dialect.contains("name", name)) }
            if let min = filter.minPrice { query = query.where("price_minor", .greaterThanOrEqual, SQLBind(min.minor)) }
            if let max = filter.maxPrice { query = query.where("price_minor", .lessThanOrEqual, SQLBind(max.minor)) }
            if let minutes = filter.durationMinutes {
                query = query.where("duration_minutes", .equal, SQLBind(minutes))
            }
            if let id = filter.specialistID { query = query.where("specialist_id", .equal, SQLBind(id)) }
            return query
        }
        let (price, created, name, id) = (SQLColumn("price_minor"), SQLColumn("created_at"), dialect.byteOrdered("name"), SQLColumn("id"))
        let order: [(any SQLExpression, SQLDirection)] =
            switch filter.ordering {
            case .price: [(price, .ascending), (id, .ascending)]
            case .priceDescending: [(price, .descending), (id, .descending)]
            case .created_at: [(created, .ascending), (id, .ascending)]
            case .createdAtDescending: [(created, .descending), (id, .descending)]
            case .name: [(name, .ascending), (id, .ascending)]
            case .nameDescending: [(name, .descending), (id, .descending)]
            }
        return try await db.page(page, columns: Self.columns, orderBy: order, filtered, as: Offering.init(row:))
    }

    /// Every service and whether its specialist is active: the catalogue kept in memory.
    static func catalogue(_ db: any SQLDatabase) async throws -> Catalogue {
        let rows = try await db.select().columns(Offering.columns.map { SQLColumn($0, table: "s") })
            .column(SQLRaw("CASE WHEN u.status = 'active' THEN 1 ELSE 0 END"), as: "listed")
            .from(SQLAlias(SQLIdentifier("services"), as: SQLIdentifier("s")))
            .join(SQLAlias(SQLIdentifier("users"), as: SQLIdentifier("u")), method: SQLJoinMethod.inner, on: SQLRaw("u.id = s.specialist_id"))
            .all()
        return Catalogue(try rows.map { (try Offering(row: $0), try $0.decode(column: "listed", as: Int.self) == 1) })
    }

    private static let columns: [any SQLExpression] = Offering.columns.map { SQLColumn($0) }

    /// Services whose specialist is active: one primary-key probe per row, so a page walks the
    /// index of its order and stops.
    private func listed(_ query: SQLSelectBuilder) -> SQLSelectBuilder {
        query.from("services").where(SQLRaw("EXISTS (SELECT 1 FROM users u WHERE u.id = services.specialist_id AND u.status = 'active')"))
    }
}
