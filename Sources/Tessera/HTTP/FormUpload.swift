import Hummingbird
import NIOCore

extension Request {
    /// The bytes of the file in form field `field` of a `multipart/form-data` body, nil when the
    /// form has none. The limit holds while the body streams in: reading stops, and 413 answers,
    /// as soon as the field holds more than `maxBytes` or the whole body more than `maxBytes` and
    /// room for the form's own lines, so a client cannot make the server buffer what it refuses.
    func formFile(_ field: String, maxBytes: Int) async throws -> ByteBuffer? {
        let contentType = HeaderValue(headers[.contentType] ?? "")
        guard contentType.value.lowercased() == "multipart/form-data", let boundary = contentType.parameters["boundary"],
            (1...70).contains(boundary.utf8.count), boundary.utf8.allSatisfy({ (0x20...0x7E).contains($0) })
        else {
            throw APIError(.unsupportedMediaType, "unsupported_media_type", "Request body must be multipart/form-data with a boundary.")
        }
        let tooLarge = APIError(.contentTooLarge, "payload_too_large", "The file in `\(field)` may be at most \(maxBytes) bytes.")
        let bodyLimit = maxBytes + FormReader.formOverhead
        if let declared = headers[.contentLength].flatMap(Int.init), declared > bodyLimit { throw tooLarge }
        var form = FormReader(field: field, maxBytes: maxBytes, boundary: boundary)
        var received = 0
        for try await chunk in body {
            guard chunk.readableBytes <= bodyLimit - received else { throw tooLarge }
            received += chunk.readableBytes
            switch form.read(chunk) {
            case .more: continue
            case .malformed: throw APIError.validation("Request body is not a well-formed multipart form.")
            case .tooLarge: throw tooLarge
            }
        }
        return form.file
    }
}

/// A header value and its `; name=value` parameters (names lowercased, quotes and escapes
/// removed), as `Content-Type` and `Content-Disposition` write them.
struct HeaderValue {
    let value: String
    let parameters: [String: String]

    init(_ text: String) {
        var parameters: [String: String] = [:]
        var scalars = Substring(text).unicodeScalars[...]
        func take(while condition: (Unicode.Scalar) -> Bool) -> String {
            let taken = scalars.prefix(while: condition)
            scalars = scalars.dropFirst(taken.count)
            return String(String.UnicodeScalarView(taken)).trimmingCharacters(in: .whitespaces)
        }
        let value = take { $0 != ";" }
        while scalars.first == ";" {
            scalars = scalars.dropFirst()
            let name = take { $0 != "=" && $0 != ";" }.lowercased()
            guard scalars.first == "=" else { continue }
            scalars = scalars.dropFirst()
            while scalars.first == " " { scalars = scalars.dropFirst() }
            var parameter = ""
            if scalars.first == "\"" {
                scalars = scalars.dropFirst()
                while let scalar = scalars.popFirst(), scalar != "\"" {
                    parameter.unicodeScalars.append(scalar == "\\" ? (scalars.popFirst() ?? scalar) : scalar)
                }
                _ = take { $0 != ";" }
            } else {
                parameter = take { $0 != ";" }
            }
            if !name.isEmpty, parameters[name] == nil { parameters[name] = parameter }
        }
        self.value = value
        self.parameters = parameters
    }
}

/// A push parser for `multipart/form-data` (RFC 7578) that keeps the first complete part named
/// `field`. Written here rather than taken from multipart-kit, whose 4.7 parser indexes a
/// 128-entry table with every header-name byte and so traps on the first byte above 0x7F: a crash
/// any client could send. A part is kept only once its closing delimiter arrives, so a cut-off
/// body has no file; a part's headers may not exceed 8 KiB.
private struct FormReader {
    /// Room for the delimiters and the parts' headers besides the file itself.
    static let formOverhead = 16 * 1024
    static let maxHeaderBytes = 8 * 1024

    enum Outcome {
        case more
        case malformed
        case tooLarge
    }

    private enum State {
        case preamble
        case headers
        case body(wanted: Bool)
        case epilogue
    }

    let field: String
    let maxBytes: Int
    /// `\r\n--boundary`: what ends a part. The first delimiter may come without the CRLF.
    private let delimiter: [UInt8]
    private var state = State.preamble
    private var pending: [UInt8] = []
    private var current: [UInt8] = []
    private(set) var file: ByteBuffer?

    init(field: String, maxBytes: Int, boundary: String) {
        self.field = field
        self.maxBytes = maxBytes
        delimiter = Array("\r\n--\(boundary)".utf8)
        pending = Array("\r\n".utf8)
    }

    mutating func read(_ chunk: ByteBuffer) -> Outcome {
        pending.append(contentsOf: chunk.readableBytesView)
        while true {
            switch state {
            case .preamble:
                guard let end = find(delimiter, in: pending) else {
                    // Keep only what could be the start of the delimiter.
                    pending.removeFirst(max(0, pending.count - delimiter.count))
                    return .more
                }
                guard let next = afterDelimiter(at: end) else { return .more }
                pending.removeFirst(next.consumed)
                state = next.last ? .epilogue : .headers
            case .headers:
                guard let end = find(Array("\r\n\r\n".utf8), in: pending) else {
                    return pending.count > Self.maxHeaderBytes ? .malformed : .more
                }
                guard end <= Self.maxHeaderBytes, let wanted = isWanted(headers: pending[..<end]) else { return .malformed }
                pending.removeFirst(end + 4)
                current = []
                state = .body(wanted: wanted && file == nil)
            case .body(let wanted):
                guard let end = find(delimiter, in: pending) else {
                    // Everything but a possible start of the delimiter belongs to the part.
                    let safe = max(0, pending.count - delimiter.count + 1)
                    if wanted {
                        guard safe <= maxBytes - current.count else { return .tooLarge }
                        current.append(contentsOf: pending[..<safe])
                    }
                    pending.removeFirst(safe)
                    return .more
                }
                guard let next = afterDelimiter(at: end) else { return .more }
                if wanted {
                    guard end <= maxBytes - current.count else { return .tooLarge }
                    current.append(contentsOf: pending[..<end])
                    file = ByteBuffer(bytes: current)
                }
                pending.removeFirst(next.consumed)
                state = next.last ? .epilogue : .headers
            case .epilogue:
                pending.removeAll()
                return .more
            }
        }
    }

    /// After a delimiter at `start`: `--` ends the form, CRLF starts the next part's headers
    /// (transport padding allowed before it). Nil until enough bytes have arrived.
    private func afterDelimiter(at start: Int) -> (consumed: Int, last: Bool)? {
        var at = start + delimiter.count
        guard pending.count - at >= 2 else { return nil }
        if pending[at] == UInt8(ascii: "-"), pending[at + 1] == UInt8(ascii: "-") { return (at + 2, true) }
        while at < pending.count, pending[at] == UInt8(ascii: " ") || pending[at] == UInt8(ascii: "\t") { at += 1 }
        guard pending.count - at >= 2 else { return nil }
        guard pending[at] == UInt8(ascii: "\r"), pending[at + 1] == UInt8(ascii: "\n") else { return (at, false) }
        return (at + 2, false)
    }

    /// Whether these header lines name the field wanted; nil when they are not header lines.
    private func isWanted(headers: ArraySlice<UInt8>) -> Bool? {
        var wanted = false
        for line in String(decoding: headers, as: UTF8.self).components(separatedBy: "\r\n") where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let name = line[..<colon]
            // A header name is a token: visible ASCII only.
            guard !name.isEmpty, name.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
            if name.lowercased() == "content-disposition",
                HeaderValue(String(line[line.index(after: colon)...])).parameters["name"] == field
            {
                wanted = true
            }
        }
        return wanted
    }

    /// Where `needle` first starts in `haystack`.
    private func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var from = 0
        while let start = haystack[from...].firstIndex(of: first), haystack.count - start >= needle.count {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return start }
            from = start + 1
        }
        return nil
    }
}
