import Foundation
import Hummingbird
import SQLKit

/// A specialist's public face (SPEC §6). It exists from sign-up: until the specialist first
/// changes it, it is read from the account (the name from first and last name, the rest empty).
struct Profile: Sendable {
    let userID: UUID
    var fullName: String
    var bio: String
    var city: String
    var experienceYears: Int
    /// The avatar's ETag; nil without one.
    var avatarETag: String?

    static let maximumExperience = 80

    /// A row of `ProfileStore.columns`: the account's columns and the profile's, which are NULL
    /// while it has no row of its own.
    init(row: any SQLRow) throws {
        userID = try row.decode(column: "id", as: UUID.self)
        let first = try row.decode(column: "first_name", as: String.self)
        let last = try row.decode(column: "last_name", as: String.self)
        fullName = try row.decode(column: "full_name", as: String?.self) ?? [first, last].filter { !$0.isEmpty }.joined(separator: " ")
        bio = try row.decode(column: "bio", as: String?.self) ?? ""
        city = try row.decode(column: "city", as: String?.self) ?? ""
        experienceYears = try row.decode(column: "experience_years", as: Int?.self) ?? 0
        avatarETag = try row.decode(column: "avatar_etag", as: String?.self)
    }
}

/// `{"id", "full_name", "bio", "city", "experience_years", "avatar"}`; `avatar` is the URL of the
/// image, or null.
struct ProfileResponse: ResponseEncodable, Sendable {
    let id: String
    let full_name: String
    let bio: String
    let city: String
    let experience_years: Int
    let avatar: String?

    init(_ profile: Profile, publicURL: String) {
        id = profile.userID.uuidString.lowercased()
        full_name = profile.fullName
        bio = profile.bio
        city = profile.city
        experience_years = profile.experienceYears
        // The version in the query lets the image be cached long and still change at once.
        let url = "\(publicURL)/api/v1/specialists/\(id)/avatar"
        avatar = profile.avatarETag.map { "\(url)?v=\($0.prefix(8))" }
    }

    /// `avatar` is null, not missing, without an image.
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(id, forKey: .id)
        try c.encode(full_name, forKey: .full_name)
        try c.encode(bio, forKey: .bio)
        try c.encode(city, forKey: .city)
        try c.encode(experience_years, forKey: .experience_years)
        try c.encode(avatar, forKey: .avatar)
    }

    private enum Keys: String, CodingKey {
        case id, full_name, bio, city, experience_years, avatar
    }
}

/// A specialist's page: the profile and their services.
struct SpecialistDetail: ResponseEncodable, Sendable {
    let profile: ProfileResponse
    let services: [OfferingResponse]

    init(_ profile: ProfileResponse, services: [Offering]) {
        self.profile = profile
        self.services = services.map(OfferingResponse.init)
    }

    /// The profile's fields, and `services` beside them.
    func encode(to encoder: any Encoder) throws {
        try profile.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(services, forKey: .services)
    }

    private enum Keys: String, CodingKey {
        case services
    }
}

struct SpecialistProfileChange: Decodable, Sendable {
    var full_name: String?
    var bio: String?
    var city: String?
    /// Read as a number, so `2.5` is named as the field at fault rather than failing the body.
    var experience_years: Double?
}

/// The directory's filters (SPEC §6).
struct SpecialistFilter: QueryFilter {
    var city: String?
    var min_experience: Int?
    var q: String?
    var service: String?
}
