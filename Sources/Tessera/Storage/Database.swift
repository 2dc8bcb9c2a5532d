import Foundation
import SQLKit
import ServiceLifecycle

/// Where Tessera keeps its rows: one code path over SQLKit for both engines.
///
/// Reads run on any connection; writes that must be atomic run in `transaction` (or, one statement, `write`), which on SQLite
/// serialises writers (`BEGIN IMMEDIATE`) and on PostgreSQL relies on row locks taken with
/// `SQLDialect.lockForUpdate` inside it. It is a `Service`: running it keeps connections open until shutdown.
public protocol Database: Service {
    var dialect: SQLDialect { get }
    func read<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R
    func transaction<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R
    /// One write that is atomic by itself (a single statement, committed as it ends): no
    /// `BEGIN`/`COMMIT` round trips, for the hottest write, a refresh.
    func write<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R

    /// Sends `payloads` on `channel` to the other instances (PostgreSQL's `NOTIFY`, delivered only if
    /// the caller's transaction commits). SQLite serves one instance: there is nobody to tell.
    func notifyOthers(_ channel: String, _ payloads: [String], _ db: any SQLDatabase) async throws

    /// Hears what other instances send on `channel` (PostgreSQL's `LISTEN`): calls `ready` once
    /// listening, then `receive` with each payload, until the connection ends (it then throws) or
    /// the service shuts down (it returns). SQLite serves one instance, so nothing ever arrives.
    func listen(
        _ channel: String, ready: @escaping @Sendable () async throws -> Void, receive: @escaping @Sendable (String) -> Void
    ) async throws
}

extension Database {
    /// Runs `body` with the database's connections alive, for commands that run outside the server.
    public func whileRunning<R: Sendable>(_ body: @escaping @Sendable () async throws -> R) async throws -> R {
        try await withThrowingTaskGroup(of: R?.self) { group in
            group.addTask {
                try await self.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body()
        }
    }

    /// `true` when the database answers a trivial query.
    public func isReachable() async -> Bool {
        do {
            try await read { db in try await db.raw("SELECT 1").run() }
            return true
        } catch {
            return false
        }
    }
}

extension SQLDatabase {
    /// Runs `body` between `begin` and `COMMIT` (`ROLLBACK` if it throws), then the work it held
    /// back for after the commit (`AfterCommit`).
    func transaction<R>(begin: String, _ body: (any SQLDatabase) async throws -> R) async throws -> R {
        try await AfterCommit.collecting {
            try await raw("\(unsafeRaw: begin)").run()
            do {
                let result = try await body(self)
                try await raw("COMMIT").run()
                return result
            } catch {
                try? await raw("ROLLBACK").run()
                throw error
            }
        }
    }
}

/// The database cannot be reached or cannot serve now (server down, connection lost, busy beyond
/// its timeout): the request is answered 503 and the cause logged, and the next one may succeed.
public struct DatabaseUnavailable: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { "database unavailable: \(reason)" }
}

/// Thrown when a write breaks an exclusion constraint (`SQLDialect.noOverlap`), named here.
public struct OverlapViolation: Error, Sendable {
    public let constraint: String
}

/// Thrown when a write breaks a unique constraint; `column` names the first column of the index.
public struct UniqueViolation: Error, Sendable {
    public let column: String
}
