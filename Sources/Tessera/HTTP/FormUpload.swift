import Hummingbird
import MultipartKit
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
        let form = FormReader(field: field, maxBytes: maxBytes, boundary: boundary)
        var received = 0
        for try await chunk in body {
            guard chunk.readableBytes <= bodyLimit - received else { throw tooLarge }
            received += chunk.readableBytes
            do {
                try form.parser.execute(chunk)
            } catch {
                throw APIError.validation("Request body is not a well-formed multipart form.")
            }
            if form.fileTooLarge { throw tooLarge }
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

/// Feeds a form through multipart-kit's push parser and keeps the first complete part named
/// `field`; a part is kept only once its closing boundary arrives, so a cut-off body has no file.
private final class FormReader {
    /// Room for the boundaries and the parts' headers besides the file itself.
    static let formOverhead = 16 * 1024

    let parser: MultipartParser
    private(set) var file: ByteBuffer?
    private(set) var fileTooLarge = false
    private var inField = false
    private var current = ByteBuffer()

    init(field: String, maxBytes: Int, boundary: String) {
        parser = MultipartParser(boundary: boundary)
        parser.onHeader = { [unowned self] name, value in
            if name.lowercased() == "content-disposition", HeaderValue(value).parameters["name"] == field, file == nil {
                inField = true
            }
        }
        parser.onBody = { [unowned self] chunk in
            guard inField else { return }
            guard chunk.readableBytes <= maxBytes - current.readableBytes else {
                fileTooLarge = true
                return
            }
            current.writeBuffer(&chunk)
        }
        parser.onPartComplete = { [unowned self] in
            if inField { file = current }
            inField = false
            current = ByteBuffer()
        }
    }
}
