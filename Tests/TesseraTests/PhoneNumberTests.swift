import Foundation
import Testing

@testable import Tessera

@Suite("Phone numbers")
struct PhoneNumberTests {
    private static let ru = PhoneRegion(code: "RU")!

    @Test(
        "every RU form SPEC lists is +79187020987",
        arguments: [
            "+7 (918) 702-09-87",
            "8 918 702 09 87",
            "79187020987",
            "9187020987",
            "+79187020987",
            "8 (918) 702-09-87",
            "+7 918 702 09 87",
            "  +7-918-702-09-87  ",
            "8-918-702-09-87",
            "918.702.09.87",
            "007 918 702 09 87",
        ])
    func russianForms(_ text: String) throws {
        let phone = try #require(PhoneNumber(text, region: Self.ru), "\(text) should parse")
        #expect(phone.e164 == "+79187020987")
        #expect(phone.description == "+79187020987")
    }

    @Test(
        "other regions",
        arguments: [
            ("KZ", "8 701 234 56 78", "+77012345678"),
            ("KZ", "+7 (701) 234-56-78", "+77012345678"),
            ("KZ", "7012345678", "+77012345678"),
            ("US", "(415) 555-2671", "+14155552671"),
            ("US", "1 415 555 2671", "+14155552671"),
            ("US", "+1 415-555-2671", "+14155552671"),
            ("GB", "020 7946 0958", "+442079460958"),
            ("GB", "07911 123456", "+447911123456"),
            ("GB", "+44 7911 123456", "+447911123456"),
            // An international number is kept as it is whatever the default region.
            ("US", "+7 918 702 09 87", "+79187020987"),
            ("RU", "+44 20 7946 0958", "+442079460958"),
        ])
    func otherRegions(_ region: String, _ text: String, _ expected: String) throws {
        let region = try #require(PhoneRegion(code: region))
        #expect(PhoneNumber(text, region: region)?.e164 == expected)
    }

    @Test(
        "junk is not a phone number",
        arguments: [
            "",
            "   ",
            "abc",
            "123",
            "+",
            "++79187020987",
            "+7+9187020987",
            "1234567890123456",
            "+1234567890123456",
            "918702098",
            "891870209870",
            "+7918702098",
            "+791870209876",
            "9187020987x",
            "918-702-O9-87",
            "+0 918 702 09 87",
            "8 918 702 09 87 ext 1",
            "79187020987@example.com",
            "٩١٨٧٠٢٠٩٨٧",
        ])
    func junk(_ text: String) {
        #expect(PhoneNumber(text, region: Self.ru) == nil, "\(text) should not parse")
    }

    @Test("unknown region codes are refused")
    func unknownRegion() {
        #expect(PhoneRegion(code: "XX") == nil)
        #expect(PhoneRegion(code: "RU")?.code == "RU")
    }
}
