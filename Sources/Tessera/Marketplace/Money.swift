import Foundation

/// An amount of money in minor units (kopecks, cents), exact: never a floating-point number. It
/// reads a JSON number or a string with at most two decimals (`1500`, `"1500.5"`, `"1500.00"`) and
/// writes a string with two, as DRF renders a `DecimalField` (`"1500.00"`).
struct Money: Encodable, Sendable, Hashable, Comparable {
    let minor: Int64

    /// 999,999,999,999.99: any price or balance, and far from overflowing a sum of a few of them.
    static let maximum = Money(minor: 99_999_999_999_999)

    init(minor: Int64) {
        self.minor = minor
    }

    /// Exact decimal text: digits, optionally a point and one or two more. Nil for anything else,
    /// a sign, an exponent or a third decimal included, and for more than `maximum`.
    init?(text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = parts.first, !whole.isEmpty, whole.count <= 15, whole.allSatisfy(\.isASCIIDigit) else { return nil }
        let fraction = parts.count == 2 ? parts[1] : ""
        guard fraction.count <= 2, fraction.allSatisfy(\.isASCIIDigit), parts.count == 1 || !fraction.isEmpty else { return nil }
        guard let units = Int64(whole), let cents = Int64(fraction.padding(toLength: 2, withPad: "0", startingAt: 0)) else { return nil }
        let (scaled, overflow) = units.multipliedReportingOverflow(by: 100)
        guard !overflow, scaled <= Self.maximum.minor - cents else { return nil }
        minor = scaled + cents
    }

    /// `amount` as a field of a request: `errors` gets why it is not one.
    static func checked(_ field: String, _ amount: AmountInput, _ errors: inout FieldErrors) -> Money? {
        if amount.text.hasPrefix("-") {
            errors.add(field, "Ensure this value is greater than or equal to 0.")
            return nil
        }
        guard let money = Money(text: amount.text) else {
            errors.add(field, "A number with at most two decimal places, up to 999999999999.99, is required.")
            return nil
        }
        return money
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    /// `"1500.00"`.
    var text: String {
        let cents = minor % 100
        return "\(minor / 100).\(cents < 10 ? "0" : "")\(cents)"
    }

    static func < (lhs: Money, rhs: Money) -> Bool { lhs.minor < rhs.minor }
}

/// An amount as a client sent it, a JSON number or a string, kept as text until `Money.checked`
/// reads it exactly.
struct AmountInput: Decodable, Sendable {
    let text: String

    init(text: String) {
        self.text = text
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let string = try? container.decode(String.self) {
            text = string.trimmingCharacters(in: .whitespaces)
        } else if let number = try? container.decode(Double.self), number.isFinite {
            // The shortest text that reads back as the same double is the number as the client
            // wrote it, for any amount of 15 significant digits or fewer.
            text = number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : "\(number)"
        } else {
            throw DecodingError.typeMismatch(Double.self, .init(codingPath: decoder.codingPath, debugDescription: "not an amount"))
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
