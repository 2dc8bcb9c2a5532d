import Foundation
import Logging
import PostgresKit
import PostgresNIO
import SQLKit
import ServiceLifecycle
import Synchronization

/// PostgreSQL through PostgresNIO's pooled `PostgresClient`; SQLKit (and `FixedStatement`) runs over each borrowed connection.
final class PostgresStore: Database {
    let dialect = SQLDialect.postgres
    private let client: PostgresClient
    /// How long a request waits for a connection (and a new connection for its server) before it
    /// is told the database is unavailable (`TESSERA_DATABASE_TIMEOUT`). The pool keeps trying to
    /// connect in the background, so service resumes by itself once the server is back.
    private let connectionWait: Duration
    /// Prefixes what this instance sends, so it skips its own notifications: it has applied them.
    private let origin = UUID().uuidString.prefix(8) + ":"
    /// Leases still waiting for a connection, which `expireLeases` ends when they have waited too long.
    private let waiting = Mutex<[ObjectIdentifier: Lease]>([:])

    init(_ url: DatabaseURL, connectionWait: Duration, logger: Logger) {
        guard case .postgres(let host, let port, let user, let password, let database, let requireTLS) = url else {
            preconditionFailure("PostgresStore opened with a SQLite URL")
        }
        var configuration = PostgresClient.Configuration(
            host: host,
            port: port,
            username: user,
            password: password,
            database: database,
            tls: requireTLS ? .require(.makeClientConfiguration()) : .disable
        )
        configuration.options.maximumConnections = 16
        configuration.options.minimumConnections = 2
        configuration.options.connectTimeout = connectionWait
        self.connectionWait = connectionWait
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.client.run() }
            group.addTask { try await self.expireLeases() }
            // The pool runs until shutdown; the clock stops with it.
            try await group.next()
            group.cancelAll()
        }
    }

    func read<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await mapErrors {
            try await self.withConnection { connection in
                try await body(PostgresSQL(connection))
            }
        }
    }

    func transaction<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await mapErrors {
            try await self.withConnection { connection in try await PostgresSQL(connection).transaction(begin: "BEGIN", body) }
        }
    }

    /// A pooled connection, or `DatabaseUnavailable` when none can be had within `connectionWait`:
    /// while the server is down, the pool would otherwise hold every request until it returns. The
    /// lease runs in a task of its own, which `expireLeases` cancels once the wait is over: one
    /// clock for every waiting lease, where a timer and a task group for each call cost 12% of a
    /// refresh's CPU.
    private func withConnection<R: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> R) async throws -> R {
        let lease = Lease(deadline: .now + connectionWait)
        waiting.withLock { $0[ObjectIdentifier(lease)] = lease }
        let task = Task {
            try await self.client.withConnection { connection in
                self.waiting.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(lease)) }
                guard lease.take() else { throw CancellationError() }
                return try await body(connection)
            }
        }
        lease.whenExpired { task.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
        } catch {
            if lease.expired { throw DatabaseUnavailable(reason: "no connection within \(connectionWait)") }
            throw error
        }
    }

    /// Ends the leases that have waited longer than `connectionWait`, checking ten times as often.
    private func expireLeases() async throws {
        let tick = max(connectionWait / 10, .milliseconds(10))
        while true {
            try await Task.sleep(for: tick)
            let now = ContinuousClock.now
            let overdue = waiting.withLock { waiting in
                let overdue = waiting.values.filter { $0.deadline <= now }
                for lease in overdue { waiting.removeValue(forKey: ObjectIdentifier(lease)) }
                return overdue
            }
            for lease in overdue { lease.expire() }
        }
    }

    func write<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await AfterCommit.collecting { try await read(body) }
    }

    func notifyOthers(_ channel: String, _ payloads: [String], _ db: any SQLDatabase) async throws {
        for payload in payloads {
            try await db.run(Notify.self, channel, origin + payload)
        }
    }

    private enum Notify: FixedStatement {
        static let sql = "SELECT pg_notify($1, $2)"
    }

    /// Holds one pooled connection for as long as it listens. A connection can die without a word
    /// (a NAT or firewall forgetting it, a failover), and a silent feed would leave revocations
    /// unheard: every `heartbeat` the connection must answer a query within another, or it counts
    /// as lost.
    func listen(_ channel: String, ready: @escaping @Sendable () async throws -> Void, receive: @escaping @Sendable (String) -> Void) async throws {
        let origin = self.origin
        let heartbeat = Self.heartbeat
        try await cancelWhenGracefulShutdown {
            try await self.client.withConnection { connection in
                try await connection.listen(on: channel) { notifications in
                    try await ready()
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for try await notification in notifications where !notification.payload.hasPrefix(origin) {
                                receive(String(notification.payload.drop { $0 != ":" }.dropFirst()))
                            }
                            throw FeedLost(reason: "the notification stream ended")
                        }
                        group.addTask {
                            while true {
                                try await Task.sleep(for: heartbeat)
                                try await withThrowingTaskGroup(of: Void.self) { probe in
                                    // Named, so pg_stat_activity shows which connection is the feed.
                                    probe.addTask {
                                        for try await _ in try await connection.query("SELECT 1 AS change_feed_heartbeat", logger: connection.logger)
                                        {}
                                    }
                                    probe.addTask {
                                        try await Task.sleep(for: heartbeat)
                                        throw FeedLost(reason: "no answer to the heartbeat within \(heartbeat)")
                                    }
                                    try await probe.next()
                                    probe.cancelAll()
                                }
                            }
                        }
                        try await group.next()
                    }
                }
            }
        }
    }

    /// A request for a connection: waiting, then either given one or expired (its task cancelled).
    private final class Lease: Sendable {
        let deadline: ContinuousClock.Instant
        private let state = Mutex(State.waiting(cancel: nil))

        private enum State {
            case waiting(cancel: (@Sendable () -> Void)?)
            case leased
            case expired
        }

        init(deadline: ContinuousClock.Instant) {
            self.deadline = deadline
        }

        /// Takes the connection the pool gave; false once expired (the request has been answered).
        func take() -> Bool {
            state.withLock { state in
                guard case .waiting = state else { return false }
                state = .leased
                return true
            }
        }

        /// `cancel` runs when the lease expires, or now if it already has.
        func whenExpired(_ cancel: @escaping @Sendable () -> Void) {
            let now = state.withLock { state in
                switch state {
                case .waiting:
                    state = .waiting(cancel: cancel)
                    return false
                case .leased: return false
                case .expired: return true
                }
            }
            if now { cancel() }
        }

        func expire() {
            let cancel: (@Sendable () -> Void)? = state.withLock { state in
                guard case .waiting(let cancel) = state else { return nil }
                state = .expired
                return cancel ?? {}
            }
            cancel?()
        }

        var expired: Bool {
            state.withLock { if case .expired = $0 { true } else { false } }
        }
    }

    /// How often the listening connection must prove alive, and how long it may take.
    static let heartbeat = Duration.seconds(5)

    private struct FeedLost: Error, CustomStringConvertible {
        let reason: String
        var description: String { reason }
    }

    private func mapErrors<R>(_ body: () async throws -> R) async throws -> R {
        do {
            return try await body()
        } catch let error as PSQLError where Self.meansUnavailable(error) {
            throw DatabaseUnavailable(reason: "\(error.code)\(error.serverInfo?[.message].map { ": \($0)" } ?? "")")
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23P01" {
            throw OverlapViolation(constraint: error.serverInfo?[.constraintName] ?? "")
        } catch let error as PSQLError
            where error.serverInfo?[.sqlState] == "40P01" && (error.serverInfo?[.locationContext] ?? "").contains("exclusion constraint")
        {
            // Two inserts that overlap each other, each checking the constraint against the other's
            // row before either commits, wait on each other; PostgreSQL ends one of them. The other
            // goes on to commit: for the one ended, the stretch is taken.
            throw OverlapViolation(constraint: "")
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            // detail: "Key (email_key)=(a@b.c) already exists."
            let detail = error.serverInfo?[.detail] ?? ""
            guard let open = detail.range(of: "Key ("), let close = detail[open.upperBound...].firstIndex(of: ")") else {
                throw UniqueViolation(column: error.serverInfo?[.constraintName] ?? "")
            }
            let columns = detail[open.upperBound..<close]
            throw UniqueViolation(column: String(columns.split(separator: ",").first ?? columns).trimmingCharacters(in: .whitespaces))
        }
    }
}

extension PostgresStore {
    /// A lost or refused connection, or a server shutting down or out of resources (SQLSTATE
    /// classes 08, 53 and 57): the database is unavailable, not the request wrong.
    static func meansUnavailable(_ error: PSQLError) -> Bool {
        switch error.code {
        case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .poolClosed:
            return true
        case .server:
            let state = error.serverInfo?[.sqlState] ?? ""
            return state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57")
        default:
            return false
        }
    }
}

/// Opens the database a URL names, SQLite or PostgreSQL; `timeout` bounds a request's wait for a
/// PostgreSQL connection.
public func openDatabase(_ url: DatabaseURL, timeout: TimeInterval = 5, logger: Logger) async throws -> any Database {
    switch url {
    case .sqliteFile, .sqliteMemory: try await SQLiteStore.open(url, busyTimeout: SQLiteStore.busyTimeout, logger: logger)
    case .postgres: PostgresStore(url, connectionWait: .milliseconds(Int64(timeout * 1000)), logger: logger)
    }
}
