import Foundation
import Hummingbird
import Logging

/// Turns every failure into the error body of SPEC §3: `APIError`s as they are, Hummingbird's own
/// errors by status, a 404 on a known path with another method into 405, unique-constraint races
/// into 409, and anything else into a 500 that names no internals (the log has the error).
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let catalog: RouteCatalog

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as UniqueViolation {
            throw APIError.alreadyExists(UserField(column: error.column))
        } catch let error as DatabaseUnavailable {
            context.logger.error("database unavailable", metadata: ["error": "\(error.reason)"])
            throw APIError.databaseUnavailable
        } catch let error as any HTTPResponseError {
            throw translate(error, request)
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            throw APIError.internalError
        }
    }

    private func translate(_ error: any HTTPResponseError, _ request: Request) -> APIError {
        switch error.status {
        case .notFound:
            let allowed = catalog.methods(for: request.uri.path)
            return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed)
        case .contentTooLarge:
            return .payloadTooLarge
        case .unauthorized:
            return .notAuthenticated
        case .forbidden:
            return .permissionDenied
        case .unsupportedMediaType:
            return .unsupportedMediaType
        case .badRequest:
            return .validation("Bad request.")
        default:
            let code = error.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_")
            return APIError(error.status, code, error.status.reasonPhrase)
        }
    }
}

/// The API's name for a unique column: `email_key` is the `email` field.
private func UserField(column: String) -> String {
    column.hasSuffix("_key") ? String(column.dropLast(4)) : column
}
