import Foundation

/// Child processes for tests, waited for on threads of their own. Swift's cooperative pool has one
/// thread per core, and it also runs every in-process test server's requests: two tests blocked on
/// a child (a Django fixture, a Python peer starting) would stall every server in the process, and
/// the live tests' clients give up after 20 s.
enum ChildProcess {
    /// A finished child: how it ended (an exit or a signal, and its number), what it wrote to stdout,
    /// and what it wrote to stderr.
    struct Finished: Sendable {
        let reason: Process.TerminationReason
        let status: Int32
        let output: String
        let errors: String
    }

    /// Runs `arguments` (the first found on PATH) to completion, terminating it after `timeout` seconds.
    static func run(
        _ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil, timeout: TimeInterval = 300
    ) async throws -> Finished {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        // Files rather than pipes: a child filling one pipe while the other is read cannot deadlock.
        let (outputFile, errorsFile) = (scratch.appendingPathComponent("stdout"), scratch.appendingPathComponent("stderr"))
        for file in [outputFile, errorsFile] { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = directory }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: outputFile)
        process.standardError = try FileHandle(forWritingTo: errorsFile)
        let (reason, status) = try await onOwnThread { () throws -> (Process.TerminationReason, Int32) in
            try process.run()
            let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
            process.waitUntilExit()
            watchdog.cancel()
            return (process.terminationReason, process.terminationStatus)
        }
        return Finished(
            reason: reason, status: status, output: try String(contentsOf: outputFile, encoding: .utf8),
            errors: try String(contentsOf: errorsFile, encoding: .utf8))
    }

    /// Runs blocking `body` on a new thread and waits for it without holding a cooperative one.
    static func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result(catching: body)) }.start()
        }
    }
}
