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

    /// `amount` as a field of a request, from `minimum` to `maximum`: `errors` gets why it is not one.
    static func checked(
        _ field: String, _ amount: AmountInput, from minimum: Money = Money(minor: 0), to maximum: Money = .maximum, _ errors: inout FieldErrors
    ) -> Money? {
        if amount.text.hasPrefix("-") {
            errors.add(field, "Ensure this value is greater than or equal to \(minimum.text).")
            return nil
        }
        guard let money = Money(text: amount.text), money <= maximum else {
            errors.add(field, "A number with at most two decimal places, up to \(maximum.text), is required.")
            return nil
        }
        guard money >= minimum else {
            errors.add(field, "Ensure this value is greater than or equal to \(minimum.text).")
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

/// A signed change of an amount, as the ledger shows it: `"-10.01"`, `"10.51"`.
struct MoneyChange: Encodable, Sendable, Hashable {
    let minor: Int64

    var text: String { (minor < 0 ? "-" : "") + Money(minor: minor.magnitude > UInt64(Int64.max) ? Int64.max : Int64(minor.magnitude)).text }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }
}

/// An amount as a client sent it, a JSON number or a string, kept as text until `Money.checked`
/// reads it exactly. No binary floating point touches it on the way.
struct AmountInput: Decodable, Sendable {
    let text: String

    init(text: String) {
        self.text = text
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let string = try? container.decode(String.self) {
            text = string.trimmingCharacters(in: .whitespaces)
        } else if let number = try? container.decode(Decimal.self) {
            // Foundation reads a JSON number into a Decimal from its digits, so `10.01` stays
            // exactly 10.01 (a binary floating-point number would not) and its text is the client's.
            text = number.description
        } else {
            throw DecodingError.typeMismatch(Decimal.self, .init(codingPath: decoder.codingPath, debugDescription: "not an amount"))
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
