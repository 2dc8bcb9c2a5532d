import Foundation
import Hummingbird

extension PhoneSignIn {
    func addRoutes(to routes: RouteTable) {
        routes.signedIn(
            APIOperation(
                .post, "/api/v1/auth/phone/verify/request", "Send a code to the caller's phone", tag: "Phone",
                description: "Six digits by SMS, valid for 5 minutes. Limited per phone and per address (TESSERA_RATE_LIMIT_SMS).",
                responses: [(202, "Empty"), (400, "Error"), (401, "Error"), (429, "Error")]),
            use: sendVerificationCode)
        routes.signedIn(
            APIOperation(
                .post, "/api/v1/auth/phone/verify", "Confirm the caller's phone with the code", tag: "Phone",
                description: "A wrong or expired code answers 400 code_invalid; five wrong tries use the code up.",
                request: "CodeRequest", responses: [(200, "User"), (400, "Error"), (401, "Error")]),
            use: confirmPhone)
        routes.open(
            APIOperation(
                .post, "/api/v1/auth/otp/request", "Send a sign-in code by SMS", tag: "Phone",
                description:
                    "202 whatever the phone: whether it has an account is not told. Then POST /api/v1/auth/token with {\"phone\", \"code\"}.",
                request: "PhoneRequest", responses: [(202, "Empty"), (400, "Error"), (429, "Error")]),
            use: sendSignInCode)
    }

    private func sendVerificationCode(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        try await requestVerification(context.identity, client: context.client(request))
        return EditedResponse(status: .accepted, response: JSON.object([]))
    }

    private func confirmPhone(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        let body = try await request.decodeJSON(as: CodeBody.self, context: context)
        return try await verify(context.identity, code: body.code, client: context.client(request))
    }

    private func sendSignInCode(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        var request = request
        let body = try await request.decodeJSON(as: PhoneBody.self, context: context)
        try await requestSignInCode(phone: body.phone, client: context.client(request))
        return EditedResponse(status: .accepted, response: JSON.object([]))
    }
}
