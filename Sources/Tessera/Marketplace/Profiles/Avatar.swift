import Crypto
import Foundation
import SQLKit

/// A specialist's picture, kept in the database so every instance serves it.
struct Avatar: Sendable {
    let format: ImageFormat
    /// The strong validator: the image's SHA-256, shortened; it changes with every byte.
    let etag: String
    let image: Data

    static let cacheControl = "public, max-age=600"

    init?(image bytes: [UInt8]) {
        guard let format = ImageFormat(of: bytes) else { return nil }
        self.format = format
        etag = SHA256.hash(data: bytes).prefix(16).map { String(format: "%02x", $0) }.joined()
        image = Data(bytes)
    }

    init(row: any SQLRow) throws {
        guard let format = ImageFormat(rawValue: try row.decode(column: "content_type", as: String.self)) else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "avatars.content_type is not a known image type"))
        }
        self.format = format
        etag = try row.decode(column: "etag", as: String.self)
        image = try row.decode(column: "image", as: Data.self)
    }

    /// Whether an `If-None-Match` list names this image (weak comparison, as RFC 9110 asks there).
    func matches(ifNoneMatch header: String) -> Bool {
        header.split(separator: ",").contains { tag in
            let tag = tag.trimmingCharacters(in: .whitespaces)
            return tag == "*" || (tag.hasPrefix("W/") ? String(tag.dropFirst(2)) : tag) == "\"\(etag)\""
        }
    }
}
