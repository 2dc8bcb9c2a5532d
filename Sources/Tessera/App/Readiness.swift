import ServiceLifecycle
import Synchronization

/// Opens once the database is migrated and the signing keys are loaded (`Tessera.prepare`). The
/// background services wait for it, so none of them touches a table before the table exists.
final class Readiness: Sendable {
    private let isOpen = Mutex(false)

    func open() {
        isOpen.withLock { $0 = true }
    }

    /// Returns once open (true), or when the service is shutting down first (false).
    func wait() async -> Bool {
        while !isOpen.withLock({ $0 }) {
            // Start-up takes a moment; a short poll keeps this free of continuations to cancel.
            guard (try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(20)) }) != nil else { return false }
        }
        return true
    }
}
