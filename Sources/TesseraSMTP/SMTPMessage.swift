import Foundation

/// A plain-text e-mail to one recipient, as the outbox hands it to ``SMTPClient``.
///
/// `from` and `to` are either a bare address (`ann@example.com`) or a name and an address
/// (`Ann Example <ann@example.com>`); the name may be any Unicode text.
public struct MailMessage: Sendable, Equatable {
    public var from: String
    public var to: String
    public var subject: String
    public var text: String

    public init(from: String, to: String, subject: String, text: String) {
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
    }
}

/// One address field of a ``MailMessage``, split into what goes into the header and into the envelope.
struct MailAddress: Equatable {
    /// The header form as foldable words, e.g. `["=?UTF-8?B?...?=", "<ann@example.com>"]`.
    var headerWords: [String]
    /// The bare address for `MAIL FROM:<...>` / `RCPT TO:<...>`.
    var mailbox: String

    var domain: Substring { mailbox[mailbox.index(after: mailbox.lastIndex(of: "@")!)...] }

    init(parsing field: String, name: String) throws {
        guard !field.unicodeScalars.contains(where: MailAddress.isControl) else {
            throw SMTPError.invalidMessage("\(name) contains a line break or control character")
        }
        let trimmed = field.trimmingCharacters(in: .whitespaces)
        var displayName = ""
        var mailbox = trimmed
        if let open = trimmed.lastIndex(of: "<") {
            guard trimmed.hasSuffix(">") else {
                throw SMTPError.invalidMessage("\(name) is not a valid address: \(field)")
            }
            displayName = trimmed[..<open].trimmingCharacters(in: .whitespaces)
            mailbox = String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)])
        }
        guard MailAddress.isValidMailbox(mailbox) else {
            throw SMTPError.invalidMessage("\(name) is not a valid address: \(field)")
        }
        self.mailbox = mailbox
        self.headerWords =
            displayName.isEmpty ? [mailbox] : MailAddress.encodedDisplayName(displayName) + ["<\(mailbox)>"]
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7F
    }

    private static func isValidMailbox(_ mailbox: String) -> Bool {
        guard let at = mailbox.lastIndex(of: "@"), at != mailbox.startIndex,
            mailbox.index(after: at) != mailbox.endIndex
        else { return false }
        return !mailbox.contains { $0.isWhitespace || "<>()[],;:\"\\".contains($0) }
    }

    private static func encodedDisplayName(_ name: String) -> [String] {
        if !name.unicodeScalars.allSatisfy({ $0.isASCII }) || name.contains("=?") {
            return SMTPMessageComposer.encodedWords(name)
        }
        let alreadyQuoted = name.count >= 2 && name.hasPrefix("\"") && name.hasSuffix("\"")
        if alreadyQuoted || !name.contains(where: { "()<>[]:;@\\,.\"".contains($0) }) { return [name] }
        let escaped = name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return ["\"\(escaped)\""]
    }
}

/// Renders a ``MailMessage`` in RFC 5322 / MIME form: CRLF line endings, encoded-word subject,
/// UTF-8 text body in base64 wrapped at 76 columns.
struct SMTPMessageComposer {
    var from: MailAddress
    var to: MailAddress
    var subject: String
    var text: String

    /// Validates the message; throws ``SMTPError`` (permanent) on header injection or a malformed address.
    init(_ message: MailMessage) throws {
        from = try MailAddress(parsing: message.from, name: "From")
        to = try MailAddress(parsing: message.to, name: "To")
        guard !message.subject.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) else {
            throw SMTPError.invalidMessage("Subject contains a line break")
        }
        subject = message.subject
        text = message.text
    }

    /// The whole message, headers and body, every line ending in CRLF. Not yet dot-stuffed.
    func render(date: Date, messageID: String) -> String {
        let headers = [
            "Date: \(Self.rfc5322Date(date))",
            Self.folded("From", from.headerWords),
            Self.folded("To", to.headerWords),
            Self.folded("Subject", Self.headerWords(subject)),
            "Message-ID: \(messageID)",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64",
        ]
        return headers.joined(separator: "\r\n") + "\r\n\r\n" + Self.base64Body(text)
    }

    /// `<uuid@domain-of-from>`; falls back to `fallbackDomain` when the sender's domain is not ASCII.
    func makeMessageID(fallbackDomain: String) -> String {
        let domain = from.domain.unicodeScalars.allSatisfy(\.isASCII) ? String(from.domain) : fallbackDomain
        return "<\(UUID().uuidString.lowercased())@\(domain)>"
    }

    static func rfc5322Date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }

    /// `Name: word word`, folded (CRLF + space) before a word that would pass column 78. Unfolding
    /// restores the original, since the fold replaces a space or sits between encoded-words.
    static func folded(_ name: String, _ words: [String]) -> String {
        var result = ""
        var line = name + ":"
        for word in words {
            if line.utf8.count + 1 + word.utf8.count > 78 && line.utf8.count > name.utf8.count + 1 {
                result += line + "\r\n"
                line = ""
            }
            line += " " + word
        }
        return result + line
    }

    /// Printable ASCII stays readable, split at spaces; anything else (or text a decoder could
    /// mistake for an encoded-word, or a word too long for RFC 5322's 998-character lines) becomes
    /// RFC 2047 encoded-words.
    static func headerWords(_ text: String) -> [String] {
        let printable = text.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F }
        let words = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        if printable && !text.contains("=?") && words.allSatisfy({ $0.utf8.count <= 900 }) {
            return words
        }
        return encodedWords(text)
    }

    /// `=?UTF-8?B?...?=` words (RFC 2047 allows 75 characters; these have at most 68). Each holds
    /// whole characters because decoders may decode the words one at a time.
    static func encodedWords(_ text: String) -> [String] {
        // 56 base64 characters + 12 for `=?UTF-8?B?` and `?=`: 68, so even "Subject: " + word fits in 78.
        let maxBytesPerWord = 42
        var words: [String] = []
        var chunk: [UInt8] = []
        for scalar in text.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            if chunk.count + bytes.count > maxBytesPerWord {
                words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty || words.isEmpty {
            words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=")
        }
        return words
    }

    static func base64Body(_ text: String) -> String {
        let encoded = Array(Data(normalizedLineEndings(text).utf8).base64EncodedString().utf8)
        return stride(from: 0, to: encoded.count, by: 76).map { start in
            String(decoding: encoded[start..<min(start + 76, encoded.count)], as: UTF8.self) + "\r\n"
        }.joined()
    }

    /// Every CR, LF or CRLF becomes CRLF.
    static func normalizedLineEndings(_ text: String) -> String {
        var result = ""
        result.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        var previousWasCR = false
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\r":
                result.unicodeScalars.append(contentsOf: "\r\n".unicodeScalars)
                previousWasCR = true
                continue
            case "\n" where previousWasCR:
                break
            case "\n":
                result.unicodeScalars.append(contentsOf: "\r\n".unicodeScalars)
            default:
                result.unicodeScalars.append(scalar)
            }
            previousWasCR = false
        }
        return result
    }
}
