import Hummingbird

extension Request {
    /// A query parameter as text, or nil when it is absent. Anything a client sends here reaches a
    /// query, so it is bounded first: longer than `maxLength` characters, or holding a NUL
    /// (which PostgreSQL refuses), is a 400 naming the parameter.
    func queryText(_ name: String, maxLength: Int = 200) throws(APIError) -> String? {
        guard let value = uri.queryParameters[Substring(name)].map(String.init) else { return nil }
        guard value.count <= maxLength else { throw APIError.validation([name: ["Ensure this value has at most \(maxLength) characters."]]) }
        guard !value.contains("\0") else { throw APIError.validation([name: ["Text may not contain NUL characters."]]) }
        return value
    }
}
