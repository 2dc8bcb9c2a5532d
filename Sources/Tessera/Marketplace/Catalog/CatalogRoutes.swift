import Foundation
import Hummingbird

extension CatalogService {
    func addRoutes(to routes: RouteTable) {
        routes.signedIn(
            APIOperation(
                .post, "/api/v1/services", "Offer a service", tag: "Services",
                description: "Specialists only; the caller becomes its specialist. `price` is a number or a string with at most two decimals.",
                request: "ServiceRequest", responses: [(201, "Service"), (400, "Error"), (401, "Error"), (403, "Error")]
            ).requiring("services"),
            use: createOffering)
        routes.open(
            APIOperation(
                .get, "/api/v1/services", "Browse services", tag: "Services",
                description: "Services of active specialists. Open to everyone.",
                parameters: APIOperation.Parameter.page + [
                    .query("name", ["type": "string"], "Name contains, ignoring case"),
                    .query("min_price", ["type": "string"], "Lowest price, e.g. 1000 or 999.99"),
                    .query("max_price", ["type": "string"], "Highest price"),
                    .query("duration_minutes", ["type": "integer"], "Exact length in minutes"),
                    .query("specialist", ["type": "string", "format": "uuid"], "Only this specialist's"),
                    .query(
                        "ordering", ["type": "string", "enum": ["price", "-price", "created_at", "-created_at", "name", "-name"]],
                        "Order (default -created_at)"),
                ],
                responses: [(200, "ServicePage"), (400, "Error")]),
            use: listOfferings)
        routes.open(
            APIOperation(
                .get, "/api/v1/services/{id}", "One service", tag: "Services", parameters: [.id], responses: [(200, "Service"), (404, "Error")]),
            use: showOffering)
        routes.signedIn(
            APIOperation(
                .patch, "/api/v1/services/{id}", "Change a service", tag: "Services",
                description: "Its specialist, or a holder of services:all.", parameters: [.id], request: "ServiceRequest",
                responses: [(200, "Service"), (400, "Error"), (401, "Error"), (403, "Error"), (404, "Error")]
            ).requiring("services"),
            use: changeOffering)
        routes.signedIn(
            APIOperation(
                .delete, "/api/v1/services/{id}", "Remove a service", tag: "Services",
                description: "Its specialist, or a holder of services:all. Bookings made keep what was booked.", parameters: [.id],
                responses: [(204, nil), (401, "Error"), (403, "Error"), (404, "Error")]
            ).requiring("services"),
            use: removeOffering)
    }

    private func createOffering(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        let offering = try await create(try await request.decodeJSON(as: OfferingRequest.self, context: context), by: context.identity)
        return EditedResponse(status: .created, response: OfferingResponse(offering))
    }

    private func listOfferings(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        let page = try PageRequest(request)
        let query = try request.decodeQuery(as: OfferingFilter.self)
        var errors = FieldErrors()
        var filter = CatalogStore.Filter(
            name: query.name?.trimmingCharacters(in: .whitespaces), durationMinutes: query.duration_minutes, specialistID: query.specialist,
            ordering: query.ordering ?? .createdAtDescending)
        filter.minPrice = query.min_price.flatMap { Money.checked("min_price", AmountInput(text: $0), &errors) }
        filter.maxPrice = query.max_price.flatMap { Money.checked("max_price", AmountInput(text: $0), &errors) }
        try errors.throwIfAny()
        let (total, offerings) = try await list(filter, page: page)
        return try Page(offerings.map(OfferingResponse.init), count: total, page: page, request: request)
    }

    private func showOffering(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        OfferingResponse(try await listed(try context.pathID()))
    }

    private func changeOffering(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        let id = try context.pathID()
        return OfferingResponse(try await change(id, try await request.decodeJSON(as: OfferingRequest.self, context: context), by: context.identity))
    }

    private func removeOffering(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        try await remove(try context.pathID(), by: context.identity)
        return HTTPResponse.Status.noContent
    }
}
