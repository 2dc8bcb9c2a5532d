import Foundation
import Hummingbird

extension ProfileService {
    func addRoutes(to routes: RouteTable) {
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/me/profile", "The caller's specialist profile", tag: "Specialists",
                description: "Specialists only (403 for clients).", responses: [(200, "SpecialistProfile"), (401, "Error"), (403, "Error")]),
            use: showMyProfile)
        routes.signedIn(
            APIOperation(
                .patch, "/api/v1/me/profile", "Change the caller's specialist profile", tag: "Specialists",
                description: "`experience_years` is a whole number 0–80.", request: "SpecialistProfileChange",
                responses: [(200, "SpecialistProfile"), (400, "Error"), (401, "Error"), (403, "Error")]),
            use: changeMyProfile)
        routes.signedIn(
            APIOperation(
                .put, "/api/v1/me/profile/avatar", "Set the caller's avatar", tag: "Specialists",
                description:
                    "Multipart form field `avatar`: a JPEG, PNG or WebP image, judged by its bytes, of at most `TESSERA_AVATAR_MAX_BYTES` (413 beyond, refused while it streams in).",
                request: "AvatarUpload",
                responses: [(200, "SpecialistProfile"), (400, "Error"), (401, "Error"), (403, "Error"), (413, "Error"), (415, "Error")]),
            use: uploadAvatar)
        routes.signedIn(
            APIOperation(
                .delete, "/api/v1/me/profile/avatar", "Remove the caller's avatar", tag: "Specialists",
                description: "Idempotent: 204 whether or not there was one.", responses: [(204, nil), (401, "Error"), (403, "Error")]),
            use: deleteAvatar)
        routes.open(
            APIOperation(
                .get, "/api/v1/specialists", "Find specialists", tag: "Specialists",
                description: "Active specialists, newest first. Open to everyone.",
                parameters: APIOperation.Parameter.page + [
                    .query("city", ["type": "string"], "City, ignoring case"),
                    .query("min_experience", ["type": "integer", "minimum": 0], "At least this many years of experience"),
                    .query("q", ["type": "string"], "Name or bio contains, ignoring case"),
                    .query("service", ["type": "string"], "Offers a service whose name contains this"),
                ],
                responses: [(200, "SpecialistPage"), (400, "Error")]),
            use: listSpecialists)
        routes.open(
            APIOperation(
                .get, "/api/v1/specialists/{id}", "A specialist and their services", tag: "Specialists", parameters: [.id],
                responses: [(200, "SpecialistDetail"), (404, "Error")]),
            use: showSpecialist)
        routes.open(
            APIOperation(
                .get, "/api/v1/specialists/{id}/avatar", "A specialist's avatar", tag: "Specialists",
                description:
                    "The image with its own content type, a strong `ETag` (304 to a matching `If-None-Match`) and `Cache-Control: \(Avatar.cacheControl)`.",
                parameters: [.id], responses: [(200, "Image"), (304, nil), (404, "Error")]),
            use: showAvatar)
    }

    private func showMyProfile(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        response(try await mine(context.identity))
    }

    private func changeMyProfile(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        return response(try await change(context.identity, try await request.decodeJSON(as: SpecialistProfileChange.self, context: context)))
    }

    private func uploadAvatar(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        // Only a specialist's upload is worth reading.
        let profile = try await mine(context.identity)
        return response(try await setAvatar(of: profile, try await request.formFile("avatar", maxBytes: avatarMaxBytes)))
    }

    private func deleteAvatar(_ request: Request, context: SignedInContext) async throws -> HTTPResponse.Status {
        try await removeAvatar(context.identity)
        return .noContent
    }

    private func showAvatar(_ request: Request, context: AppRequestContext) async throws -> Response {
        let avatar = try await avatar(of: try context.pathID())
        var headers: HTTPFields = [.eTag: "\"\(avatar.etag)\"", .cacheControl: Avatar.cacheControl, .xContentTypeOptions: "nosniff"]
        if let ifNoneMatch = request.headers[.ifNoneMatch], avatar.matches(ifNoneMatch: ifNoneMatch) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = avatar.format.rawValue
        headers[.contentLength] = String(avatar.image.count)
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: avatar.image)))
    }

    private func listSpecialists(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        let page = try PageRequest(request)
        let query = try request.decodeQuery(as: SpecialistFilter.self)
        if let years = query.min_experience, years < 0 {
            throw APIError.validation(["min_experience": ["Ensure this value is greater than or equal to 0."]])
        }
        let filter = ProfileStore.Filter(
            city: query.city?.trimmingCharacters(in: .whitespaces), minimumExperience: query.min_experience,
            text: query.q?.trimmingCharacters(in: .whitespaces), service: query.service?.trimmingCharacters(in: .whitespaces))
        let (total, profiles) = try await directory(filter, page: page)
        return try Page(profiles.map(response), count: total, page: page, request: request)
    }

    private func showSpecialist(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        try await specialist(try context.pathID())
    }
}
