import Foundation

/// A Python script of `Tests/` run as a real peer on a free loopback port: it prints
/// "ready <port>" once it listens, and exits when its stdin closes — even if the test process
/// dies without calling ``stop()``. Starting and stopping wait on threads of their own (see
/// ``ChildProcess``).
final class PythonPeer: Sendable {
    let port: Int
    private let process: Process
    private let stdin: Pipe

    init(script: String, arguments: [String], stderr stderrFile: URL, hint: String) async throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(script)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", path.path, "--port", "0"] + arguments
        let stdout = Pipe()
        process.standardOutput = stdout
        let stdin = Pipe()
        process.standardInput = stdin
        _ = FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: stderrFile)
        try process.run()
        self.process = process
        self.stdin = stdin

        let output = try await ChildProcess.onOwnThread {
            var output = Data()
            while !output.contains(UInt8(ascii: "\n")) {
                let chunk = stdout.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                output += chunk
            }
            return output
        }
        let line = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard line.hasPrefix("ready "), let port = Int(line.dropFirst(6)) else {
            Self.end(process, stdin: stdin)
            let stderr = (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? ""
            throw SinkError(description: "\(script) did not start (\(hint)): \(line)\n\(stderr)")
        }
        self.port = port
    }

    func stop() {
        Self.end(process, stdin: stdin)
    }

    /// Asks the peer to end and returns; a thread of its own kills it if it has not ended in 5 s.
    private static func end(_ process: Process, stdin: Pipe) {
        try? stdin.fileHandleForWriting.close()
        guard process.isRunning else { return }
        process.terminate()
        Thread {
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }.start()
    }
}
