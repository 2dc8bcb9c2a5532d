import Foundation
import Hummingbird

/// `?page=N&page_size=M` (default 20, at most 100), as DRF's page-number pagination reads it.
struct PageRequest: Sendable {
    let number: Int
    let size: Int

    /// Cannot overflow: `number` is at most `maximumNumber` and `size` at most `maximumSize`.
    var offset: Int { (number - 1) * size }

    static let defaultSize = 20
    static let maximumSize = 100
    /// Far past the end of any list; a larger page number is past the end too (404), and bounding
    /// it keeps `offset` arithmetic and the SQL `OFFSET` in range.
    static let maximumNumber = 10_000_000

    init(number: Int = 1, size: Int = PageRequest.defaultSize) {
        self.number = number
        self.size = size
    }

    init(_ request: Request) throws(APIError) {
        let query = request.uri.queryParameters
        var number = 1
        var size = Self.defaultSize
        if let text = query["page"] {
            guard let value = Int(String(text)), value >= 1 else { throw APIError.validation(["page": ["A positive integer is required."]]) }
            guard value <= Self.maximumNumber else { throw APIError(.notFound, "not_found", "Invalid page.") }
            number = value
        }
        if let text = query["page_size"] {
            guard let value = Int(String(text)), value >= 1 else {
                throw APIError.validation(["page_size": ["A positive integer is required."]])
            }
            size = min(value, Self.maximumSize)
        }
        self.init(number: number, size: size)
    }
}

/// One page of a list: `{"count", "next", "previous", "results"}`, links absolute like DRF's.
struct Page<Item: Encodable & Sendable>: Encodable, Sendable, ResponseEncodable {
    let count: Int
    let next: String?
    let previous: String?
    let results: [Item]

    /// A page past the end is a 404, as in DRF; page 1 of an empty list is an empty page.
    init(_ results: [Item], count: Int, page: PageRequest, request: Request) throws(APIError) {
        if page.number > 1 && page.offset >= count { throw APIError(.notFound, "not_found", "Invalid page.") }
        self.count = count
        self.results = results
        self.next = page.offset + results.count < count ? Self.link(request, page: page.number + 1) : nil
        self.previous = page.number > 1 ? Self.link(request, page: page.number - 1) : nil
    }

    private static func link(_ request: Request, page: Int) -> String {
        let scheme = request.headers[.init("X-Forwarded-Proto")!] == "https" ? "https" : "http"
        let authority = request.head.authority ?? "localhost"
        var components = URLComponents()
        components.queryItems =
            request.uri.queryParameters.map { URLQueryItem(name: String($0.key), value: String($0.value)) }
            .filter { $0.name != "page" } + [URLQueryItem(name: "page", value: String(page))]
        return "\(scheme)://\(authority)\(request.uri.path)?\(components.percentEncodedQuery ?? "")"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(count, forKey: .count)
        try container.encode(next, forKey: .next)
        try container.encode(previous, forKey: .previous)
        try container.encode(results, forKey: .results)
    }

    private enum CodingKeys: String, CodingKey {
        case count, next, previous, results
    }
}

extension APIOperation.Parameter {
    static let page: [APIOperation.Parameter] = [
        .init(name: "page", location: "query", schema: ["type": "integer", "minimum": 1], description: "Page number, from 1"),
        .init(
            name: "page_size", location: "query", schema: ["type": "integer", "minimum": 1, "maximum": 100],
            description: "Items per page (default 20, at most 100)"),
    ]
}
