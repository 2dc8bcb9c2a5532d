import Hummingbird

/// The query parameters of a list or a check, decoded as one value (`request.decodeQuery`), so a
/// handler reads typed fields instead of picking at the query string.
protocol QueryFilter: Decodable {
    /// The longest value each parameter may have, where it is not `QueryLimits.maxLength`.
    static var maxLengths: [String: Int] { get }
    /// What a 400 says of a parameter whose value does not parse, where "Invalid value." would not
    /// tell the client what we expected.
    static var invalidValueMessages: [String: String] { get }
}

extension QueryFilter {
    static var maxLengths: [String: Int] { [:] }
    static var invalidValueMessages: [String: String] { [:] }
}

enum QueryLimits {
    /// Anything a client sends in a query reaches a query of ours: no value is longer than this.
    static let maxLength = 200
}

extension Request {
    /// The query string as `Filter`. Every way it can be wrong is a 400 naming the parameter: a
    /// value longer than its limit, a NUL (which PostgreSQL refuses), a number that is not one or
    /// does not fit, a value outside an enumeration.
    func decodeQuery<Filter: QueryFilter>(as filter: Filter.Type) throws(APIError) -> Filter {
        for (name, value) in uri.queryParameters {
            let name = String(name)
            let limit = Filter.maxLengths[name] ?? QueryLimits.maxLength
            guard value.count <= limit else { throw APIError.validation([name: ["Ensure this value has at most \(limit) characters."]]) }
            guard !value.contains("\0") else { throw APIError.validation([name: ["Text may not contain NUL characters."]]) }
        }
        do {
            return try URLEncodedFormDecoder().decode(Filter.self, from: uri.query ?? "")
        } catch let error as DecodingError {
            throw APIError(decodingQuery: error, messages: Filter.invalidValueMessages)
        } catch {
            throw APIError.validation("Malformed query string.")
        }
    }
}

extension APIError {
    /// A query parameter is text: what JSON calls a type mismatch is a value that does not parse.
    /// `messages` says what to answer about such a value, by parameter.
    init(decodingQuery error: DecodingError, messages: [String: String]) {
        func field(_ path: [any CodingKey]) -> String {
            path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            self = .validation([field(context.codingPath + [key]): ["This parameter is required."]])
        case .typeMismatch(_, let context) where !context.codingPath.isEmpty,
            .valueNotFound(_, let context) where !context.codingPath.isEmpty,
            .dataCorrupted(let context) where !context.codingPath.isEmpty:
            let name = field(context.codingPath)
            self = .validation([name: [messages[name] ?? "Invalid value."]])
        default:
            self = .validation("Malformed query string.")
        }
    }
}
