import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLKit
import ServiceLifecycle
import SQLiteKit

/// SQLite in WAL mode: one writer connection behind a FIFO gate, and a separate reader connection
/// for files, so reads never see another request's uncommitted transaction.
final class SQLiteStore: Database {
    let dialect = SQLDialect.sqlite
    private let writer: SQLiteConnection
    private let reader: SQLiteConnection?
    private let gate = SerialGate()

    private init(writer: SQLiteConnection, reader: SQLiteConnection?) {
        self.writer = writer
        self.reader = reader
    }

    /// How long a write waits for another process's writer (`keys rotate`, say). SQLite waits on one
    /// of SQLiteNIO's few threads, which every connection of the process shares, so the wait stays
    /// short whatever `DATABASE_TIMEOUT` says.
    static let busyTimeout: TimeInterval = 5

    /// `busyTimeout` is how long a write waits for another process's writer.
    static func open(_ url: DatabaseURL, busyTimeout: TimeInterval, logger: Logger) async throws -> SQLiteStore {
        switch url {
        case .sqliteMemory:
            // An in-memory database lives in one connection, so reads go through the gate too.
            let connection = try await SQLiteConnection.open(storage: .memory, logger: logger)
            try await configure(connection, wal: false, busyTimeout: busyTimeout)
            return SQLiteStore(writer: connection, reader: nil)
        case .sqliteFile(let path):
            let writer = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
            try await configure(writer, wal: true, busyTimeout: busyTimeout)
            let reader = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
            try await configure(reader, wal: true, busyTimeout: busyTimeout)
            // Every write goes through the writer and its gate; the reader could not write if it tried.
            try await reader.sql().raw("PRAGMA query_only=ON").run()
            return SQLiteStore(writer: writer, reader: reader)
        case .postgres:
            preconditionFailure("SQLiteStore opened with a PostgreSQL URL")
        }
    }

    /// Another program's database (Django's, for an import), read only and left as it is: its
    /// journal mode is not changed.
    static func openForReading(path: String, logger: Logger) async throws -> SQLiteStore {
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        try await configure(connection, wal: false, busyTimeout: busyTimeout)
        try await connection.sql().raw("PRAGMA query_only=ON").run()
        return SQLiteStore(writer: connection, reader: nil)
    }

    private static func configure(_ connection: SQLiteConnection, wal: Bool, busyTimeout: TimeInterval) async throws {
        let db = connection.sql()
        // First, so that switching to WAL waits for another process's writer instead of failing.
        try await db.raw("PRAGMA busy_timeout=\(unsafeRaw: String(Int(busyTimeout * 1000)))").run()
        // WAL with synchronous=NORMAL is durable across a process crash; FULL would add an fsync per commit.
        if wal {
            try await db.raw("PRAGMA journal_mode=WAL").run()
            try await db.raw("PRAGMA synchronous=NORMAL").run()
        }
        try await db.raw("PRAGMA foreign_keys=ON").run()
        try await connection.install(customFunction: unicodeLower)
    }

    /// SQLite's own `lower()` and `LIKE` fold ASCII only; searches fold with Swift's rules instead.
    private static let unicodeLower = SQLiteCustomFunction("unicode_lower", argumentCount: 1, pure: true) { values in
        guard case .text(let text) = values.first else { return nil }
        return text.lowercased()
    }

    func read<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        if let reader {
            return try await mapErrors { try await body(reader.sql()) }
        }
        return try await gate.run { try await mapErrors { try await body(self.writer.sql()) } }
    }

    func transaction<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        // BEGIN IMMEDIATE is where another process's writer makes us wait: its errors are mapped too.
        try await gate.run {
            try await self.mapErrors { try await self.writer.sql().transaction(begin: "BEGIN IMMEDIATE") { db in try await body(db) } }
        }
    }

    func write<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await gate.run { try await AfterCommit.collecting { try await self.mapErrors { try await body(self.writer.sql()) } } }
    }

    func notifyOthers(_ channel: String, _ payloads: [String], _ db: any SQLDatabase) async throws {}

    func listen(_ channel: String, ready: @escaping @Sendable () async throws -> Void, receive: @escaping @Sendable (String) -> Void) async throws {
        try await ready()
        try? await gracefulShutdown()
    }

    func run() async throws {
        // Connections are opened eagerly; running only keeps them until shutdown or cancellation.
        try? await gracefulShutdown()
        // Closing must finish even when shutdown came as cancellation, so it runs in its own task.
        await Task {
            try? await self.reader?.close()
            try? await self.gate.run { try await self.writer.close() }
        }.value
    }

    private func mapErrors<R>(_ body: () async throws -> R) async throws -> R {
        do {
            return try await body()
        } catch let error as SQLiteError
            where [.busy, .busyTimeout, .busyInRecovery, .busyInSnapshot, .locked, .lockedBySharedCache, .full, .ioError, .cantOpen]
            .contains(error.reason)
        {
            throw DatabaseUnavailable(reason: error.message)
        } catch let error as SQLiteError
            where error.reason == .constraint || error.reason == .constraintUniqueFailed
            || error.reason == .constraintPrimaryKeyFailed
        {
            // "UNIQUE constraint failed: users.email_key"
            guard let range = error.message.range(of: "UNIQUE constraint failed: ") else { throw error }
            let first = error.message[range.upperBound...].split(separator: ",").first ?? ""
            throw UniqueViolation(column: String(first.split(separator: ".").last ?? first).trimmingCharacters(in: .whitespaces))
        }
    }
}

/// A FIFO async mutex: the one SQLite writer serves one transaction at a time.
actor SerialGate {
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func run<R: Sendable>(_ body: @Sendable () async throws -> R) async throws -> R {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        if busy {
            await withCheckedContinuation { waiters.append($0) }
        } else {
            busy = true
        }
    }

    private func release() {
        if waiters.isEmpty {
            busy = false
        } else {
            waiters.removeFirst().resume()
        }
    }
}
