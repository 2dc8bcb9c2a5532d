/// Collects field errors so one response names every problem at once.
struct FieldErrors {
    private(set) var fields: [String: [String]] = [:]

    mutating func add(_ field: String, _ message: String) {
        fields[field, default: []].append(message)
    }

    func throwIfAny() throws(APIError) {
        if !fields.isEmpty { throw APIError.validation(fields) }
    }
}
