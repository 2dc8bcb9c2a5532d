import Foundation
import SQLKit

/// Specialists' services: a specialist creates and changes their own; whoever holds
/// `services:all` (admins) may change or remove anyone's; everyone may browse those of active
/// specialists.
struct CatalogService: Sendable {
    let database: any Database
    let store: CatalogStore
    let users: UserStore
    let access: AccessControl
    let clock: WallClock

    func create(_ request: OfferingRequest, by caller: Identity) async throws -> Offering {
        guard try await users.current(caller.userID, in: database)?.user.kind == .specialist else {
            throw APIError(.forbidden, "permission_denied", "Only specialists offer services.")
        }
        var errors = FieldErrors()
        if request.name == nil { errors.add("name", "This field is required.") }
        if request.price == nil { errors.add("price", "This field is required.") }
        if request.duration_minutes == nil { errors.add("duration_minutes", "This field is required.") }
        var offering = Offering(
            id: UUID(), specialistID: caller.userID, name: "", description: "", price: Money(minor: 0), durationMinutes: 1, createdAt: clock.now())
        apply(request, to: &offering, &errors)
        try errors.throwIfAny()
        let created = offering
        try await database.transaction { db in try await self.store.insert(created, db) }
        return created
    }

    /// A service of an active specialist, from memory while the change feed is up.
    func listed(_ id: UUID) async throws -> Offering {
        let found =
            if let catalogue = try await store.catalogue.value() {
                catalogue.listed(id)
            } else {
                try await database.read { db in try await self.store.findListed(id, db) }
            }
        guard let offering = found else { throw APIError.notFound }
        return offering
    }

    /// From memory (`Catalogue`), or from the database while the change feed is down.
    func list(_ filter: CatalogStore.Filter, page: PageRequest) async throws -> (Int, [Offering]) {
        if let catalogue = try await store.catalogue.value() { return catalogue.page(filter, page) }
        return try await database.read { db in try await self.store.list(filter, page: page, db) }
    }

    func offered(by specialistID: UUID) async throws -> [Offering] {
        try await database.read { db in try await self.store.offered(by: specialistID, db) }
    }

    func change(_ id: UUID, _ request: OfferingRequest, by caller: Identity) async throws -> Offering {
        var offering = try await owned(id, by: caller)
        var errors = FieldErrors()
        apply(request, to: &offering, &errors)
        try errors.throwIfAny()
        let changed = offering
        try await database.transaction { db in try await self.store.update(changed, db) }
        return changed
    }

    func remove(_ id: UUID, by caller: Identity) async throws {
        _ = try await owned(id, by: caller)
        try await database.transaction { db in try await self.store.delete(id, db) }
    }

    /// The service, if the caller may change it: 404 when there is none, 403 when it is someone
    /// else's and the caller does not hold `services:all`.
    private func owned(_ id: UUID, by caller: Identity) async throws -> Offering {
        guard let offering = try await database.read({ db in try await self.store.find(id, db) }) else { throw APIError.notFound }
        if offering.specialistID != caller.userID, !(try await access.allows(caller.userID, PermissionKey("services", "all"))) {
            throw APIError.permissionDenied
        }
        return offering
    }

    private func apply(_ request: OfferingRequest, to offering: inout Offering, _ errors: inout FieldErrors) {
        if let raw = request.name {
            let name = errors.text("name", raw, maxLength: 150)
            if name.isEmpty { errors.add("name", "This field may not be blank.") }
            offering.name = name
        }
        if let raw = request.description { offering.description = errors.text("description", raw, maxLength: 2000, multiline: true) }
        if let price = request.price, let money = Money.checked("price", price, &errors) { offering.price = money }
        if let minutes = request.duration_minutes {
            if (1...Offering.maximumDuration).contains(minutes) {
                offering.durationMinutes = minutes
            } else {
                errors.add("duration_minutes", "Ensure this value is a whole number of minutes from 1 to \(Offering.maximumDuration).")
            }
        }
    }
}
