import Foundation
import Hummingbird

extension Request {
    /// Decodes a JSON body, turning every way it can be wrong into a 4xx with `detail` and `code`:
    /// a wrong content type (415), too large (413), malformed JSON or wrong types (400 with `fields`).
    mutating func decodeJSON<T: Decodable>(as type: T.Type, context: some RequestContext) async throws -> T {
        guard let value = try await decodeJSONIfPresent(as: type, context: context) else {
            throw APIError.validation("Request body must be a JSON object.")
        }
        return value
    }

    /// Like `decodeJSON`, for bodies that may be left out: an empty body is nil.
    mutating func decodeJSONIfPresent<T: Decodable>(as type: T.Type, context: some RequestContext) async throws -> T? {
        let buffer: ByteBuffer
        do {
            buffer = try await collectBody(upTo: context.maxUploadSize)
        } catch {
            throw APIError.payloadTooLarge
        }
        guard buffer.readableBytes > 0 else { return nil }
        if let contentType = headers[.contentType], !contentType.lowercased().hasPrefix("application/json") {
            throw APIError.unsupportedMediaType
        }
        // PostgreSQL cannot store a NUL in text and SQLite would keep it inside an identifier: no
        // string of this API may hold one, so it is refused before any field is read.
        if JSONText.hasEscapedNUL(buffer.readableBytesView) {
            throw APIError.validation("Text may not contain NUL characters.")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw APIError(decoding: error)
        }
    }
}

enum JSONText {
    /// Whether a JSON text holds `\u0000` in a string (a raw NUL byte is not JSON at all).
    /// Escapes are skipped whole, so an escaped backslash followed by `u0000` is not one.
    static func hasEscapedNUL(_ bytes: some Collection<UInt8>) -> Bool {
        var iterator = bytes.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "\\") else { continue }
            guard iterator.next() == UInt8(ascii: "u") else { continue }
            var digits: [UInt8] = []
            while digits.count < 4, let digit = iterator.next() { digits.append(digit) }
            if digits == Array("0000".utf8) { return true }
        }
        return false
    }
}

extension APIError {
    init(decoding error: DecodingError) {
        func field(_ path: [any CodingKey]) -> String {
            path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            self = .validation([field(context.codingPath + [key]): ["This field is required."]])
        case .valueNotFound(_, let context) where !context.codingPath.isEmpty:
            self = .validation([field(context.codingPath): ["This field may not be null."]])
        case .typeMismatch(let type, let context) where !context.codingPath.isEmpty:
            self = .validation([field(context.codingPath): ["Expected \(JSONTypeName(type))."]])
        case .dataCorrupted(let context) where !context.codingPath.isEmpty:
            self = .validation([field(context.codingPath): ["Invalid value."]])
        case .typeMismatch, .valueNotFound:
            self = .validation("Request body must be a JSON object.")
        default:
            self = .validation("Malformed JSON.")
        }
    }
}

private func JSONTypeName(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: "a string"
    case is Bool.Type: "a boolean"
    case is Int.Type, is Double.Type, is Decimal.Type: "a number"
    case is [Any].Type: "a list"
    default: "an object"
    }
}
