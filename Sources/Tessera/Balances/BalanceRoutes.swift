import Foundation
import HTTPTypes
import Hummingbird

extension BalanceService {
    func addRoutes(to routes: RouteTable) {
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/me/balance", "The caller's balances", tag: "Balances", responses: [(200, "Balance"), (401, "Error")]),
            use: showMine)
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/me/balance/transactions", "The caller's ledger, newest first", tag: "Balances",
                parameters: APIOperation.Parameter.page, responses: [(200, "LedgerPage"), (401, "Error")]),
            use: listMine)
        routes.signedIn(
            APIOperation(
                .patch, "/api/v1/balance", "Credit, take out or convert", tag: "Balances",
                description: """
                    `in` needs the `balances` update permission, as does `user_id` (someone else's balance); owners may `out` and \
                    `convert` (real into virtual, plus 5% rounded down) their own. With an `Idempotency-Key`, a retry with the same \
                    body gets the first answer again (header `Idempotent-Replayed: true`) without applying anything; another body is \
                    422 `idempotency_key_reused`; while the first still runs, 409 `request_in_progress`. Keys are the caller's own and \
                    kept 24 hours. Too little money is 409 `insufficient_funds`; more than a balance may hold, 409 `balance_limit_exceeded`.
                    """,
                parameters: [.idempotencyKey], request: "BalanceChange",
                responses: [(200, "BalanceChangeResult"), (400, "Error"), (401, "Error"), (403, "Error"), (409, "Error"), (422, "Error")]),
            use: changeBalance)
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/users/{id}/balance", "A user's balances", tag: "Balances", parameters: [.id],
                responses: [(200, "Balance"), (401, "Error"), (403, "Error"), (404, "Error")]
            ).requiring("balances"),
            use: showUsers)
        routes.signedIn(
            APIOperation(
                .get, "/api/v1/users/{id}/balance/transactions", "A user's ledger, newest first", tag: "Balances",
                parameters: [.id] + APIOperation.Parameter.page, responses: [(200, "LedgerPage"), (401, "Error"), (403, "Error"), (404, "Error")]
            ).requiring("balances"),
            use: listUsers)
    }

    private func showMine(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        BalanceResponse(try await balance(of: context.identity.userID))
    }

    private func listMine(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        try await ledgerPage(of: context.identity.userID, request)
    }

    private func changeBalance(_ request: Request, context: SignedInContext) async throws -> Response {
        var request = request
        let key = try Self.idempotencyKey(request)
        let body = try await request.decodeJSON(as: BalanceChangeRequest.self, context: context)
        let answer = try await change(body, key: key, by: context.identity, client: context.client(request))
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if answer.replayed { headers[Self.replayed] = "true" }
        return Response(status: answer.status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: answer.body)))
    }

    private func showUsers(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        let id = try context.pathID()
        try await requireUser(id)
        return BalanceResponse(try await balance(of: id))
    }

    private func listUsers(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        let id = try context.pathID()
        try await requireUser(id)
        return try await ledgerPage(of: id, request)
    }

    private func ledgerPage(of userID: UUID, _ request: Request) async throws -> Page<LedgerEntryResponse> {
        let page = try PageRequest(request)
        let (total, entries) = try await ledger(of: userID, page: page)
        return try Page(entries.map(LedgerEntryResponse.init), count: total, page: page, request: request)
    }

    static let replayed = HTTPField.Name("Idempotent-Replayed")!

    /// The `Idempotency-Key` header: 1 to 255 visible ASCII characters, or none.
    static func idempotencyKey(_ request: Request) throws(APIError) -> String? {
        guard let key = request.headers[.idempotencyKey] else { return nil }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw APIError.validation(["Idempotency-Key": ["1 to 255 visible ASCII characters, without spaces."]])
        }
        return key
    }
}

extension HTTPField.Name {
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
}

extension APIOperation.Parameter {
    static let idempotencyKey = APIOperation.Parameter(
        name: "Idempotency-Key", location: "header", schema: ["type": "string", "minLength": 1, "maxLength": 255],
        description: "Makes a retried request apply once (24 hours, the caller's own)")
}
