import Foundation
import Hummingbird

extension ScheduleService {
    func addRoutes(to routes: RouteTable) {
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/me/schedule", "The caller's working hours", tag: "Specialists",
                description: "Specialists only (403 for clients). Without one set: UTC, no hours.",
                responses: [(200, "Schedule"), (401, "Error"), (403, "Error")]),
            use: showMySchedule)
        routes.signedIn(
            APIOperation(
                .put, "/api/v1/me/schedule", "Set the caller's working hours", tag: "Specialists",
                description:
                    "An IANA time zone, ranges per ISO weekday (1 Monday … 7 Sunday; several a day, none overlapping; times HH:MM, end up to 24:00) and days off (YYYY-MM-DD). Replaces the whole schedule.",
                request: "Schedule", responses: [(200, "Schedule"), (400, "Error"), (401, "Error"), (403, "Error")]),
            use: replaceMySchedule)
    }

    private func showMySchedule(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        ScheduleBody(try await mine(context.identity))
    }

    private func replaceMySchedule(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        return ScheduleBody(try await replace(context.identity, with: try await request.decodeJSON(as: ScheduleBody.self, context: context)))
    }
}
