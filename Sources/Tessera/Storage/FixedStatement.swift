import PostgresKit
import PostgresNIO
import SQLKit

/// A statement whose text never changes, for the paths every sign-in and refresh take. PostgreSQL
/// parses and plans such a statement once per connection and then only binds and runs it; a
/// statement built with SQLKit is parsed and planned again every time, which was a third of
/// PostgreSQL's CPU for a refresh. SQLite runs the same text. Parameters are written `$1`, `$2`, …
/// as PostgreSQL spells them (SQLite gets `?1`, `?2`, …: the same numbered parameters); the text
/// holds no other `$`.
protocol FixedStatement {
    static var sql: String { get }
}

/// A value bound to a fixed statement: what both drivers can encode. `nil` binds NULL.
typealias FixedBind = (any PostgresThrowingDynamicTypeEncodable & Encodable & Sendable)?

extension SQLDatabase {
    /// Runs `Statement` with `binds` for `$1`, `$2`, … and returns its rows.
    @discardableResult
    func run<Statement: FixedStatement>(_: Statement.Type, _ binds: FixedBind...) async throws -> [any SQLRow] {
        if let postgres = self as? PostgresSQL {
            var bindings = PostgresBindings(capacity: binds.count)
            for bind in binds {
                if let bind { try bindings.append(bind) } else { bindings.appendNull() }
            }
            var rows: [any SQLRow] = []
            for try await row in try await postgres.connection.execute(Prepared<Statement>(bindings: bindings), logger: postgres.logger) {
                rows.append(row)
            }
            return rows
        }
        return try await raw("\(NumberedParameters(sql: Statement.sql, binds: binds))").all()
    }
}

/// PostgreSQL's side of a `FixedStatement`: PostgresNIO prepares it on a connection the first time
/// the connection runs it, under the statement's type name.
private struct Prepared<Statement: FixedStatement>: PostgresPreparedStatement {
    static var name: String { String(reflecting: Statement.self) }
    static var sql: String { Statement.sql }
    let bindings: PostgresBindings

    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> any SQLRow { row.sql() }
}

/// SQLite's side: `$n` becomes `?n`, SQLite's numbered parameter, and the values bind in order.
private struct NumberedParameters: SQLExpression {
    let sql: String
    let binds: [FixedBind]

    func serialize(to serializer: inout SQLSerializer) {
        serializer.write(sql.replacingOccurrences(of: "$", with: "?"))
        for bind in binds {
            serializer.binds.append(bind.map { $0 as any Encodable & Sendable } ?? String?.none)
        }
    }
}

/// The SQL database `PostgresStore` hands to stores: SQLKit's, with the connection under it, so a
/// `FixedStatement` can run as a prepared statement on that same connection (inside the same
/// transaction).
struct PostgresSQL: SQLDatabase {
    let connection: PostgresConnection
    private let kit: any SQLDatabase

    init(_ connection: PostgresConnection) {
        self.connection = connection
        self.kit = connection.sql(queryLogLevel: nil)
    }

    var logger: Logger { kit.logger }
    var eventLoop: any EventLoop { kit.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { kit.version }
    var dialect: any SQLKit.SQLDialect { kit.dialect }
    var queryLogLevel: Logger.Level? { nil }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
        kit.execute(sql: query, onRow)
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        try await kit.execute(sql: query, onRow)
    }
}
