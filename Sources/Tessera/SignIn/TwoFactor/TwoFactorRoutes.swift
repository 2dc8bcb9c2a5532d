import Foundation
import Hummingbird

private struct CompletionBody: Decodable {
    var mfa_token: String
    var code: String
}

extension TwoFactorService {
    func addRoutes(to routes: RouteTable) {
        routes.signedIn(
            APIOperation(
                .post, "/api/v1/me/mfa/totp", "Start two-factor sign-in (TOTP)", tag: "Two-factor",
                description:
                    "A new secret for an authenticator app (RFC 6238: SHA-1, 6 digits, 30 s). Nothing changes at sign-in until it is confirmed.",
                responses: [(200, "TOTPEnrolment"), (401, "Error"), (409, "Error")]),
            use: startEnrolment)
        routes.signedIn(
            APIOperation(
                .post, "/api/v1/me/mfa/totp/confirm", "Turn two-factor on with the app's first code", tag: "Two-factor",
                description: "Answers ten recovery codes, each usable once in place of a code; they are shown only here.",
                request: "CodeRequest", responses: [(200, "RecoveryCodes"), (400, "Error"), (401, "Error"), (409, "Error"), (429, "Error")]),
            use: confirmEnrolment)
        routes.signedIn(
            APIOperation(
                .delete, "/api/v1/me/mfa/totp", "Turn two-factor off", tag: "Two-factor",
                description: "Needs a current code or a recovery code; wrong codes count towards the account's lockout.",
                request: "CodeRequest", responses: [(204, nil), (400, "Error"), (401, "Error"), (409, "Error"), (429, "Error")]),
            use: turnOff)
        routes.open(
            APIOperation(
                .post, "/api/v1/auth/token/mfa", "Finish a sign-in with a two-factor code", tag: "Tokens",
                description:
                    "After a sign-in answered 401 mfa_required: its mfa_token and a code (or a recovery code). A wrong code is 401 invalid_credentials and counts towards the lockout; the mfa_token stays usable for its 5 minutes.",
                request: "MFACompletion", responses: [(200, "TokenGrant"), (400, "Error"), (401, "Error"), (403, "Error"), (429, "Error")]),
            use: finishSignIn)
    }

    private func startEnrolment(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        try await enrol(context.identity)
    }

    private func confirmEnrolment(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        let body = try await request.decodeJSON(as: CodeBody.self, context: context)
        return try await confirm(context.identity, code: body.code, client: context.client(request))
    }

    private func turnOff(_ request: Request, context: SignedInContext) async throws -> some ResponseGenerator {
        var request = request
        let body = try await request.decodeJSON(as: CodeBody.self, context: context)
        try await disable(context.identity, code: body.code, client: context.client(request))
        return HTTPResponse.Status.noContent
    }

    private func finishSignIn(_ request: Request, context: AppRequestContext) async throws -> some ResponseGenerator {
        var request = request
        let body = try await request.decodeJSON(as: CompletionBody.self, context: context)
        return try await complete(mfaToken: body.mfa_token, code: body.code, client: context.client(request))
    }
}
