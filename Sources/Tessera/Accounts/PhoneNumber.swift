/// A region's dialling rules, enough to turn the ways people type a number into E.164.
public struct PhoneRegion: Sendable, Equatable {
    public let code: String
    let callingCode: String
    let nationalLength: Int
    /// What people dial before a national number at home: `8` in Russia, `0` in most of Europe.
    let trunkPrefix: String

    /// The regions Tessera knows; the README lists them. Unknown codes are refused at start-up.
    static let known: [String: PhoneRegion] = Dictionary(
        uniqueKeysWithValues: [
            PhoneRegion(code: "RU", callingCode: "7", nationalLength: 10, trunkPrefix: "8"),
            PhoneRegion(code: "KZ", callingCode: "7", nationalLength: 10, trunkPrefix: "8"),
            PhoneRegion(code: "BY", callingCode: "375", nationalLength: 9, trunkPrefix: "80"),
            PhoneRegion(code: "UA", callingCode: "380", nationalLength: 9, trunkPrefix: "0"),
            PhoneRegion(code: "UZ", callingCode: "998", nationalLength: 9, trunkPrefix: ""),
            PhoneRegion(code: "KG", callingCode: "996", nationalLength: 9, trunkPrefix: "0"),
            PhoneRegion(code: "AM", callingCode: "374", nationalLength: 8, trunkPrefix: "0"),
            PhoneRegion(code: "GE", callingCode: "995", nationalLength: 9, trunkPrefix: "0"),
            PhoneRegion(code: "AZ", callingCode: "994", nationalLength: 9, trunkPrefix: "0"),
            PhoneRegion(code: "US", callingCode: "1", nationalLength: 10, trunkPrefix: "1"),
            PhoneRegion(code: "CA", callingCode: "1", nationalLength: 10, trunkPrefix: "1"),
            PhoneRegion(code: "GB", callingCode: "44", nationalLength: 10, trunkPrefix: "0"),
            PhoneRegion(code: "FR", callingCode: "33", nationalLength: 9, trunkPrefix: "0"),
            PhoneRegion(code: "TR", callingCode: "90", nationalLength: 10, trunkPrefix: "0"),
            PhoneRegion(code: "IN", callingCode: "91", nationalLength: 10, trunkPrefix: "0"),
        ].map { ($0.code, $0) }
    )

    public init?(code: String) {
        guard let region = Self.known[code] else { return nil }
        self = region
    }

    private init(code: String, callingCode: String, nationalLength: Int, trunkPrefix: String) {
        self.code = code
        self.callingCode = callingCode
        self.nationalLength = nationalLength
        self.trunkPrefix = trunkPrefix
    }
}

/// A phone number in E.164 (`+79187020987`), the one form Tessera stores and compares.
public struct PhoneNumber: Sendable, Equatable, CustomStringConvertible {
    public let e164: String

    public var description: String { e164 }

    /// Reads what a person typed: `+7 (918) 702-09-87`, `8 918 702 09 87`, `79187020987` and
    /// `9187020987` all name the same number in region RU. Returns nil for anything else.
    /// No way of writing a phone number needs more; longer input is refused before it is read.
    static let maximumInputLength = 40

    public init?(_ text: String, region: PhoneRegion) {
        guard text.count <= Self.maximumInputLength else { return nil }
        var digits = ""
        var international = false
        for (index, character) in text.trimmingCharacters(in: .whitespaces).enumerated() {
            if character == "+" && index == 0 {
                international = true
            } else if let ascii = character.asciiValue, (48...57).contains(ascii) {
                digits.append(character)
            } else if !" ()-.\u{00A0}".contains(character) {
                return nil
            }
        }
        if !international && digits.hasPrefix("00") {
            international = true
            digits.removeFirst(2)
        }
        let national = region.nationalLength
        if international {
            // E.164 allows at most 15 digits; shorter than 8 is no real subscriber number.
            guard (8...15).contains(digits.count), !digits.hasPrefix("0") else { return nil }
            if digits.hasPrefix(region.callingCode) && digits.count != region.callingCode.count + national {
                return nil
            }
            e164 = "+" + digits
        } else if digits.count == national {
            e164 = "+" + region.callingCode + digits
        } else if digits.count == region.callingCode.count + national && digits.hasPrefix(region.callingCode) {
            e164 = "+" + digits
        } else if !region.trunkPrefix.isEmpty && digits.count == region.trunkPrefix.count + national
            && digits.hasPrefix(region.trunkPrefix)
        {
            e164 = "+" + region.callingCode + digits.dropFirst(region.trunkPrefix.count)
        } else {
            return nil
        }
    }
}
