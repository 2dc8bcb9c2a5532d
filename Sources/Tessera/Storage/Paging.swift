import SQLKit

extension SQLDatabase {
    /// One page of a list and how many rows match it: the count-then-page every list answers with.
    /// `filtered` names the table and adds the conditions, once for the count and once for the rows.
    func page<Row>(
        _ request: PageRequest, columns: [any SQLExpression], orderBy order: [(String, SQLDirection)],
        _ filtered: (SQLSelectBuilder) -> SQLSelectBuilder, as decode: (any SQLRow) throws -> Row
    ) async throws -> (Int, [Row]) {
        try await page(request, columns: columns, orderBy: order.map { (SQLColumn($0.0), $0.1) }, filtered, as: decode)
    }

    /// `page` ordered by expressions rather than plain columns (a collation, say).
    func page<Row>(
        _ request: PageRequest, columns: [any SQLExpression], orderBy order: [(any SQLExpression, SQLDirection)],
        _ filtered: (SQLSelectBuilder) -> SQLSelectBuilder, as decode: (any SQLRow) throws -> Row
    ) async throws -> (Int, [Row]) {
        let total =
            try await filtered(select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n"))
            .first(decodingColumn: "n", as: Int.self) ?? 0
        var query = filtered(select().columns(columns))
        for (expression, direction) in order { query = query.orderBy(expression, direction) }
        return (total, try await query.limit(request.size).offset(request.offset).all().map(decode))
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    func chunked(by size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
