import Foundation
import Logging
import SQLKit
import ServiceLifecycle
import Synchronization

/// What one instance keeps in memory and must keep true to the database: it hears the changes
/// on its `topic`, is told when the feed (re)starts, so it can reload, and when it is lost, so it
/// stops answering from memory until the feed is back.
protocol ChangeFollower: Sendable {
    var topic: String { get }
    func ready() async throws
    func receive(_ payload: String)
    func lost()
}

/// How every instance's memory stays true to the database: a change is announced inside the
/// transaction that makes it and applied here once that commits; on PostgreSQL the other instances
/// hear it through `NOTIFY` on one channel (delivered only if it commits), each over one `LISTEN`
/// connection that this service holds, and listens again a second after losing it.
final class ChangeFeed: Service, Sendable {
    static let channel = "tessera_changes"
    private let database: any Database
    private let followers: [String: any ChangeFollower]
    private let readiness: Readiness
    private let logger: Logger

    init(database: any Database, followers: [any ChangeFollower], readiness: Readiness, logger: Logger) {
        self.database = database
        self.followers = Dictionary(uniqueKeysWithValues: followers.map { ($0.topic, $0) })
        self.readiness = readiness
        self.logger = logger
    }

    func run() async throws {
        guard await readiness.wait() else { return }
        while true {
            do {
                try await database.listen(Self.channel, ready: { for follower in self.followers.values { try await follower.ready() } }) { message in
                    let (topic, payload) = (message.prefix { $0 != "|" }, message.drop { $0 != "|" }.dropFirst())
                    self.followers[String(topic)]?.receive(String(payload))
                }
            } catch {
                if !Task.isShuttingDownGracefully && !Task.isCancelled {
                    logger.warning("lost the change feed; answering from the database until it is back", metadata: ["error": "\(error)"])
                }
            }
            for follower in followers.values { follower.lost() }
            // A second before listening again; a shutdown, or one already under way, ends the wait and the feed.
            guard (try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }) != nil else { return }
        }
    }
}

extension Database {
    /// Announces `payloads` on `topic` from inside the caller's transaction, to the other
    /// instances; `local` applies the change to this instance's memory once the transaction commits.
    func announce(_ topic: String, _ payloads: [String], _ db: any SQLDatabase, local: @escaping @Sendable () -> Void) async throws {
        try await notifyOthers(ChangeFeed.channel, payloads.map { topic + "|" + $0 }, db)
        AfterCommit.run(local)
    }
}

/// Work held back until the transaction around it has committed: changes to what this process
/// keeps in memory, which no request may see before the rows are durable, nor at all if they roll back.
enum AfterCommit {
    @TaskLocal private static var pending: Pending?

    /// Runs `work` once the enclosing `Database.transaction` commits, or now outside one.
    static func run(_ work: @escaping @Sendable () -> Void) {
        if let pending { pending.work.withLock { $0.append(work) } } else { work() }
    }

    /// Runs `transaction` (which commits before it returns), then the work it held back.
    static func collecting<R>(_ transaction: () async throws -> R) async throws -> R {
        let pending = Pending()
        let result = try await $pending.withValue(pending) { try await transaction() }
        for work in pending.work.withLock({ $0 }) { work() }
        return result
    }

    private final class Pending: Sendable {
        let work = Mutex<[@Sendable () -> Void]>([])
    }
}
