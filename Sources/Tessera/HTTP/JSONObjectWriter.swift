import Foundation
import Hummingbird

/// JSON written straight into a string, for the answers and tokens every sign-in and refresh make:
/// Foundation's `JSONEncoder` was the largest single cost left in a refresh after the signatures.
/// It writes what `JSONCoding.encoder` writes (keys in the order given, which callers sort; dates in
/// RFC 3339 like `.iso8601`; `/` unescaped), and a test holds the two to the same bytes.
struct JSONObjectWriter {
    private(set) var text = "{"

    /// Starts the next member of the current object.
    mutating func key(_ name: String) {
        if let last = text.utf8.last, last != UInt8(ascii: "{"), last != UInt8(ascii: "[") { text += "," }
        Self.append(name, to: &text)
        text += ":"
    }

    mutating func member(_ name: String, _ value: String?) {
        key(name)
        if let value { Self.append(value, to: &text) } else { text += "null" }
    }

    mutating func member(_ name: String, _ value: Int) {
        key(name)
        text += String(value)
    }

    mutating func member(_ name: String, _ value: Bool) {
        key(name)
        text += value ? "true" : "false"
    }

    mutating func member(_ name: String, _ value: Date?) {
        member(name, value?.formatted(.iso8601))
    }

    mutating func member(_ name: String, _ values: [String]) {
        key(name)
        text += "["
        for (index, value) in values.enumerated() {
            if index > 0 { text += "," }
            Self.append(value, to: &text)
        }
        text += "]"
    }

    /// A nested object, written by `body`.
    mutating func member(_ name: String, object body: (inout JSONObjectWriter) -> Void) {
        key(name)
        var inner = JSONObjectWriter()
        body(&inner)
        text += inner.closed
    }

    /// The object, closed.
    var closed: String { text + "}" }

    /// `value` as a JSON string, escaped as `JSONEncoder` escapes it.
    static func append(_ value: String, to text: inout String) {
        text += "\""
        // Nearly every string (ids, names, times, tokens) has nothing to escape: copied whole, not
        // scalar by scalar, which was 6% of a refresh.
        if value.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            text += value
            text += "\""
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\u{8}": text += "\\b"
            case "\u{C}": text += "\\f"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }

    /// A 200 answer carrying the object, with the headers `JSONCoding.encoder`'s answers carry.
    var response: Response {
        let body = closed
        return Response(
            status: .ok,
            headers: [.contentType: "application/json; charset=utf-8", .contentLength: String(body.utf8.count)],
            body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
