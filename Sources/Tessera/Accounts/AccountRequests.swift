import Foundation

/// `POST /api/v1/auth/register`. Fields a caller may not set (status, roles, ids) are not decoded at all.
struct RegisterRequest: Decodable, Sendable {
    var email: String?
    var phone: String?
    var username: String?
    var password: String
    var password2: String?
    var first_name: String?
    var last_name: String?
    var middle_name: String?
    var role: String?
}

/// `POST /api/v1/auth/token`: `login`, or one of `email`, `phone`, `username`, with the password.
struct LoginRequest: Decodable, Sendable {
    var login: String?
    var email: String?
    var phone: String?
    var username: String?
    var password: String?
    /// A code sent by SMS (`POST /api/v1/auth/otp/request`), in place of a password.
    var code: String?

    var name: String? {
        [login, email, phone, username].compactMap { $0?.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty }
    }
}

extension LoginName {
    /// The longest login string that can name an account (an e-mail address); a longer one is
    /// refused before it becomes a rate-limit or lockout key.
    static let maximumLength = 254

    /// `text` as a login, or a 400 naming `field` when it cannot be one.
    static func checked(_ text: String, field: String, region: PhoneRegion) throws(APIError) -> LoginName {
        guard text.count <= maximumLength else {
            throw APIError.validation([field: ["Ensure this field has no more than \(maximumLength) characters."]])
        }
        return LoginName(text, region: region)
    }
}

/// A field of a PATCH body: left out, set to null, or set to a value.
enum Change<Value: Decodable & Sendable>: Sendable {
    case unchanged
    case cleared
    case set(Value)
}

/// `PATCH /api/v1/me`: names, and the identifiers; `role`, `status` and the rest are ignored.
struct ProfileChange: Decodable, Sendable {
    var email: Change<String> = .unchanged
    var phone: Change<String> = .unchanged
    var username: Change<String> = .unchanged
    var first_name: Change<String> = .unchanged
    var last_name: Change<String> = .unchanged
    var middle_name: Change<String> = .unchanged
    /// Needed to change e-mail, phone or username.
    var current_password: String?

    private enum Keys: String, CodingKey {
        case email, phone, username, first_name, last_name, middle_name, current_password
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        func read(_ key: Keys) throws -> Change<String> {
            guard c.contains(key) else { return .unchanged }
            if try c.decodeNil(forKey: key) { return .cleared }
            return .set(try c.decode(String.self, forKey: key))
        }
        email = try read(.email)
        phone = try read(.phone)
        username = try read(.username)
        first_name = try read(.first_name)
        last_name = try read(.last_name)
        middle_name = try read(.middle_name)
        current_password = try c.decodeIfPresent(String.self, forKey: .current_password)
    }
}

struct PasswordChange: Decodable, Sendable {
    var current_password: String
    var new_password: String
}

/// The checks and normal forms of the identifiers and names an account carries.
struct AccountFields {
    let region: PhoneRegion

    /// An address a sign-in provider gave, if it is one Tessera would accept from a person.
    func validEmail(_ raw: String) -> String? {
        var errors = FieldErrors()
        return email(raw, &errors)
    }

    func email(_ raw: String, _ errors: inout FieldErrors) -> String? {
        let email = raw.trimmingCharacters(in: .whitespaces)
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."),
            !parts[1].hasSuffix("."), !email.contains(where: { $0.isWhitespace || $0.isNewline })
        else {
            errors.add("email", "Enter a valid email address.")
            return nil
        }
        return email
    }

    func phone(_ raw: String, _ errors: inout FieldErrors) -> String? {
        guard let phone = PhoneNumber(raw, region: region) else {
            errors.add("phone", "Enter a valid phone number.")
            return nil
        }
        return phone.e164
    }

    /// Letters, digits and `. _ + -`, up to 150 characters; never an `@` or something that reads as
    /// a phone number, so every login string names at most one kind of identifier.
    func username(_ raw: String, _ errors: inout FieldErrors) -> String? {
        let username = raw.trimmingCharacters(in: .whitespaces)
        guard (1...150).contains(username.count), username.allSatisfy({ $0.isLetter || $0.isNumber || "._+-".contains($0) }) else {
            errors.add("username", "Enter a valid username: letters, digits and . _ + - only, at most 150 characters.")
            return nil
        }
        guard PhoneNumber(username, region: region) == nil else {
            errors.add("username", "A username cannot look like a phone number.")
            return nil
        }
        return username
    }

    /// Names go into mail greetings and headers: one line, no control characters.
    static func name(_ field: String, _ raw: String?, _ errors: inout FieldErrors) -> String {
        errors.text(field, raw, maxLength: 150)
    }

    /// A name a sign-in provider gave: one line, no control characters, at most 150 characters.
    static func providerName(_ raw: String) -> String {
        let kept = raw.unicodeScalars.filter { ![.control, .format].contains($0.properties.generalCategory) }
        return String(String(String.UnicodeScalarView(kept)).trimmingCharacters(in: .whitespaces).prefix(150))
    }
}
