import Foundation
import Hummingbird

/// The one error type of the API: a stable snake_case `code`, a human `detail`, and for validation
/// errors the `fields` at fault. Every failure leaves the server as this body.
public struct APIError: Error, HTTPResponseError, Sendable, Equatable {
    public let status: HTTPResponse.Status
    public let code: String
    public let detail: String
    public var fields: [String: [String]]?
    /// The second step of a sign-in that needs a two-factor code (`mfa_required`).
    public var mfaToken: String?
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: String, _ detail: String, fields: [String: [String]]? = nil) {
        self.status = status
        self.code = code
        self.detail = detail
        self.fields = fields
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try body())))
    }

    /// The JSON body this error answers with.
    func body() throws -> Data {
        try JSONCoding.encoder.encode(ErrorBody(detail: detail, code: code, fields: fields, mfa_token: mfaToken))
    }
}

private struct ErrorBody: Encodable {
    let detail: String
    let code: String
    let fields: [String: [String]]?
    let mfa_token: String?
}

extension APIError {
    public static func validation(_ fields: [String: [String]], detail: String = "Invalid input.") -> APIError {
        APIError(.badRequest, "validation_error", detail, fields: fields)
    }
    public static func validation(_ detail: String) -> APIError {
        APIError(.badRequest, "validation_error", detail)
    }
    public static let invalidCredentials = APIError(.unauthorized, "invalid_credentials", "No active account found with the given credentials.")
    public static let notAuthenticated = APIError(.unauthorized, "not_authenticated", "Authentication credentials were not provided.")
    public static func tokenNotValid(_ detail: String = "Token is invalid.") -> APIError {
        APIError(.unauthorized, "token_not_valid", detail)
    }
    public static let tokenExpired = APIError(.unauthorized, "token_expired", "Token has expired.")
    public static let tokenReused = APIError(.unauthorized, "token_reused", "Refresh token was already used; the session has been ended.")
    public static let accountDisabled = APIError(.forbidden, "account_disabled", "This account is disabled.")
    public static let accountPending = APIError(.forbidden, "account_pending", "This account is waiting for approval.")
    public static let permissionDenied = APIError(.forbidden, "permission_denied", "You do not have permission to perform this action.")
    public static let notFound = APIError(.notFound, "not_found", "Not found.")
    public static func mfaRequired(_ token: String) -> APIError {
        var error = APIError(
            .unauthorized, "mfa_required", "A two-factor code is required: send it with mfa_token to /api/v1/auth/token/mfa.")
        error.mfaToken = token
        return error
    }
    public static let codeInvalid = APIError(
        .badRequest, "code_invalid", "The code is wrong or has expired.", fields: ["code": ["The code is wrong or has expired."]])
    public static func invalidState(_ detail: String) -> APIError {
        APIError(.conflict, "invalid_state", detail)
    }
    public static let payloadTooLarge = APIError(.contentTooLarge, "payload_too_large", "Request body is too large.")
    public static let unsupportedMediaType = APIError(
        .unsupportedMediaType, "unsupported_media_type", "Request body must be JSON (Content-Type: application/json).")
    public static let internalError = APIError(.internalServerError, "internal_error", "Internal server error.")
    public static let databaseUnavailable: APIError = {
        var error = APIError(.serviceUnavailable, "database_unavailable", "The database is unavailable; try again shortly.")
        error.headers[.retryAfter] = "5"
        return error
    }()

    public static func alreadyExists(_ field: String) -> APIError {
        APIError(
            .conflict, "already_exists", "A user with this \(field) already exists.", fields: [field: ["A user with this \(field) already exists."]])
    }

    public static func methodNotAllowed(_ allowed: [HTTPRequest.Method]) -> APIError {
        var error = APIError(.methodNotAllowed, "method_not_allowed", "Method not allowed.")
        error.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
        return error
    }
}
