import Crypto
import Foundation
import HummingbirdOTP

/// RFC 6238 codes as authenticator apps make them (SHA-1, six digits, 30 s), and recovery codes.
enum TOTPCodes {
    static let step: TimeInterval = 30
    /// Steps either side of now a code may come from: a phone's clock and a slow typist.
    static let tolerance: Int64 = 1

    /// A new secret: 32 characters of the base-32 alphabet, whose UTF-8 bytes are the HMAC key
    /// (as HummingbirdOTP reads a secret), 160 bits of randomness.
    static func newSecret() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        return String((0..<32).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] })
    }

    /// The `otpauth://` URI an authenticator app scans, and the base-32 secret it holds for typing in.
    static func enrolment(secret: String, account: String, issuer: String) -> (secret: String, uri: String) {
        let uri = TOTP(secret: secret).createAuthenticatorURL(label: "\(issuer):\(account)", issuer: issuer)
        let typed = URLComponents(string: uri)?.queryItems?.first { $0.name == "secret" }?.value ?? ""
        return (typed, uri)
    }

    /// The time step of `now` or one next to it whose code is `code`, later than `after`.
    static func matchingStep(_ code: String, secret: String, at now: Date, after lastStep: Int64) -> Int64? {
        guard code.utf8.count == 6, code.utf8.allSatisfy({ (48...57).contains($0) }) else { return nil }
        let current = Int64((now.timeIntervalSince1970 / step).rounded(.down))
        let totp = TOTP(secret: secret)
        var found: Int64?
        // Every candidate is computed and compared, so the time taken says nothing about which matched.
        for candidate in (current - tolerance)...(current + tolerance) {
            let expected = String(format: "%06d", totp.compute(date: Date(timeIntervalSince1970: Double(candidate) * step)))
            if constantTimeEquals(Array(expected.utf8), Array(code.utf8)), candidate > lastStep, found == nil { found = candidate }
        }
        return found
    }

    static let recoveryCodeCount = 10

    /// Ten codes like `k7qm2-x9fta`: 50 random bits each, easy to read out and type.
    static func newRecoveryCodes() -> [String] {
        let alphabet = Array("abcdefghijkmnpqrstuvwxyz23456789")
        return (0..<recoveryCodeCount).map { _ in
            let characters = (0..<10).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] }
            return String(characters[..<5]) + "-" + String(characters[5...])
        }
    }

    /// A recovery code as stored: its hash, after dropping case, spaces and dashes.
    static func recoveryHash(_ code: String) -> String? {
        let normal = code.lowercased().filter { $0 != "-" && $0 != " " }
        guard normal.count == 10, normal.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else { return nil }
        return SHA256.hash(data: Data(normal.utf8)).hexString
    }
}
