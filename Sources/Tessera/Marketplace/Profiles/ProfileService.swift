import Foundation
import NIOCore
import SQLKit

/// Specialists' profiles and the public directory of active specialists.
struct ProfileService: Sendable {
    let database: any Database
    let store: ProfileStore
    let catalog: CatalogService
    let publicURL: String
    let avatarMaxBytes: Int
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

    /// Makes `file` the avatar of `profile` (the caller's, already found): only a JPEG, PNG or
    /// WebP image by its bytes.
    func setAvatar(of profile: Profile, _ file: ByteBuffer?) async throws -> Profile {
        guard let file else { throw APIError.validation(["avatar": ["No file was submitted."]]) }
        guard let avatar = Avatar(image: Array(file.readableBytesView)) else {
            throw APIError.validation(["avatar": ["Upload a valid image: JPEG, PNG or WebP. The file was not one, or it was damaged."]])
        }
        let now = clock.now()
        try await database.transaction { db in try await self.store.saveAvatar(avatar, for: profile, at: now, db) }
        var changed = profile
        changed.avatarETag = avatar.etag
        return changed
    }

    /// Idempotent, like signing out: without an avatar there is nothing left to do.
    func removeAvatar(_ caller: Identity) async throws {
        let profile = try await mine(caller)
        let now = clock.now()
        try await database.transaction { db in try await self.store.removeAvatar(of: profile.userID, at: now, db) }
    }

    func avatar(of id: UUID) async throws -> Avatar {
        guard let avatar = try await database.read({ db in try await self.store.listedAvatar(of: id, db) }) else { throw APIError.notFound }
        return avatar
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
