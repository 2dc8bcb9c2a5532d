import Foundation

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

extension FieldErrors {
    /// Text a client sets, trimmed: at most `maxLength` characters, and one line without control
    /// characters unless `multiline` (which allows line breaks and tabs, nothing else).
    mutating func text(_ field: String, _ raw: String?, maxLength: Int, multiline: Bool = false) -> String {
        let text = (raw ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if text.count > maxLength { add(field, "Ensure this field has no more than \(maxLength) characters.") }
        let allowed: Set<Unicode.Scalar> = multiline ? ["\n", "\r", "\t"] : []
        if text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && !allowed.contains($0) }) {
            add(
                field,
                multiline ? "Text may not hold control characters other than line breaks." : "A name is one line of text without control characters.")
        }
        return text
    }
}
