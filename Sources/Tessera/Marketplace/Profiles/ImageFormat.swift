/// The image formats an avatar may be, judged by the bytes alone and by their structure, not by a
/// file name or a declared type: a PNG signature in front of a script is no PNG, because its
/// chunks do not add up. Browsers are told the type found here and never to sniff another.
enum ImageFormat: String, Sendable, CaseIterable {
    case jpeg = "image/jpeg"
    case png = "image/png"
    case webp = "image/webp"

    init?(of bytes: [UInt8]) {
        if Self.isPNG(bytes) {
            self = .png
        } else if Self.isJPEG(bytes) {
            self = .jpeg
        } else if Self.isWebP(bytes) {
            self = .webp
        } else {
            return nil
        }
    }

    /// The signature, then chunks (length, type, data, CRC-32) from `IHDR` to `IEND` and nothing after.
    private static func isPNG(_ b: [UInt8]) -> Bool {
        guard b.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else { return false }
        var at = 8
        while b.count - at >= 12 {
            let length = Int(b.bigEndian32(at))
            guard length <= b.count - at - 12 else { return false }
            let type = b[(at + 4)..<(at + 8)]
            guard type.allSatisfy(\.isASCIILetter), CRC32.of(b[(at + 4)..<(at + 8 + length)]) == b.bigEndian32(at + 8 + length) else {
                return false
            }
            if at == 8 {
                guard type.elementsEqual("IHDR".utf8), length == 13, b.bigEndian32(at + 8) > 0, b.bigEndian32(at + 12) > 0 else { return false }
            }
            if type.elementsEqual("IEND".utf8) { return at + 12 + length == b.count }
            at += 12 + length
        }
        return false
    }

    /// Start of image, then marker segments with a frame header before the start of scan, and the
    /// end-of-image marker last.
    private static func isJPEG(_ b: [UInt8]) -> Bool {
        guard b.count >= 6, b.starts(with: [0xFF, 0xD8, 0xFF]), b[b.count - 2] == 0xFF, b[b.count - 1] == 0xD9 else { return false }
        var at = 2
        var framed = false
        while b.count - at >= 4 {
            guard b[at] == 0xFF else { return false }
            let marker = b[at + 1]
            if marker == 0xFF {
                at += 1
                continue
            }
            let length = Int(b[at + 2]) << 8 | Int(b[at + 3])
            guard length >= 2, length <= b.count - at - 2 else { return false }
            if (0xC0...0xCF).contains(marker), ![0xC4, 0xC8, 0xCC].contains(marker) { framed = true }
            if marker == 0xDA { return framed }
            at += 2 + length
        }
        return false
    }

    /// A RIFF container of exactly the file's length holding `WEBP`, a first chunk that is a VP8,
    /// VP8L or VP8X header, and chunks that end where the file does.
    private static func isWebP(_ b: [UInt8]) -> Bool {
        guard b.count >= 26, b.starts(with: "RIFF".utf8), b[8..<12].elementsEqual("WEBP".utf8), Int(b.littleEndian32(4)) == b.count - 8 else {
            return false
        }
        let first = b[12..<16]
        let firstSize = Int(b.littleEndian32(16))
        if first.elementsEqual("VP8 ".utf8) {
            guard firstSize >= 10, b[23..<26].elementsEqual([0x9D, 0x01, 0x2A]) else { return false }
        } else if first.elementsEqual("VP8L".utf8) {
            guard firstSize >= 5, b[20] == 0x2F else { return false }
        } else if !(first.elementsEqual("VP8X".utf8) && firstSize == 10) {
            return false
        }
        var at = 12
        while b.count - at >= 8 {
            let size = Int(b.littleEndian32(at + 4))
            guard size <= b.count - at - 8 else { return false }
            at += 8 + size + size % 2
        }
        return at == b.count
    }
}

extension [UInt8] {
    fileprivate func bigEndian32(_ at: Int) -> UInt32 {
        self[at..<(at + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }

    fileprivate func littleEndian32(_ at: Int) -> UInt32 {
        self[at..<(at + 4)].reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }
}

extension UInt8 {
    fileprivate var isASCIILetter: Bool { (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) }
}

/// The CRC-32 of PNG chunks (ISO 3309, reflected polynomial 0xEDB88320).
private enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n in
        (0..<8).reduce(UInt32(n)) { c, _ in c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    }

    static func of(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        ~bytes.reduce(~UInt32(0)) { table[Int(($0 ^ UInt32($1)) & 0xFF)] ^ ($0 >> 8) }
    }
}
