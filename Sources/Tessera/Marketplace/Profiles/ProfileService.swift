import Foundation
import SQLKit

/// Specialists' profiles and the public directory of active specialists.
struct ProfileService: Sendable {
    let database: any Database
    let store: ProfileStore
    let catalog: CatalogService
    let publicURL: String
    let clock: WallClock

    /// The caller's profile; only specialists have one.
    func mine(_ caller: Identity) async throws -> Profile {
        guard let profile = try await database.read({ db in try await self.store.find(caller.userID, db) }) else {
            throw APIError(.forbidden, "permission_denied", "Only specialists have a profile.")
        }
        return profile
    }

    func change(_ caller: Identity, _ change: SpecialistProfileChange) async throws -> Profile {
        var profile = try await mine(caller)
        var errors = FieldErrors()
        if let raw = change.full_name { profile.fullName = errors.text("full_name", raw, maxLength: 150) }
        if let raw = change.bio { profile.bio = errors.text("bio", raw, maxLength: 2000, multiline: true) }
        if let raw = change.city { profile.city = errors.text("city", raw, maxLength: 100) }
        if let years = change.experience_years {
            if years == years.rounded(), (0...Double(Profile.maximumExperience)).contains(years) {
                profile.experienceYears = Int(years)
            } else {
                errors.add("experience_years", "Ensure this value is a whole number from 0 to \(Profile.maximumExperience).")
            }
        }
        try errors.throwIfAny()
        let changed = profile
        let now = clock.now()
        try await database.transaction { db in try await self.store.save(changed, at: now, db) }
        return changed
    }

    func directory(_ filter: ProfileStore.Filter, page: PageRequest) async throws -> (Int, [Profile]) {
        try await database.read { db in try await self.store.list(filter, page: page, db) }
    }

    /// An active specialist's page: the profile and the services.
    func specialist(_ id: UUID) async throws -> SpecialistDetail {
        guard let profile = try await database.read({ db in try await self.store.findListed(id, db) }) else { throw APIError.notFound }
        return SpecialistDetail(response(profile), services: try await catalog.offered(by: id))
    }

    func response(_ profile: Profile) -> ProfileResponse {
        ProfileResponse(profile, publicURL: publicURL)
    }
}
