import Foundation

/// What a new password must be: 8 characters to 1,024 bytes, not one of the 19,640 passwords
/// Django also refuses, not only digits, and not too close to the account's own e-mail or username.
public struct PasswordPolicy: Sendable {
    static let minimumCharacters = 8
    static let maximumBytes = 1024

    private static let common: Set<String> = {
        guard let url = Bundle.module.url(forResource: "common-passwords", withExtension: "txt"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else { return [] }
        return Set(text.split(separator: "\n").map(String.init))
    }()

    public init() {}

    /// The problems with `password`, empty when it is acceptable. `identifiers` are the e-mail,
    /// username and names the password must not resemble.
    public func problems(_ password: String, identifiers: [String?]) -> [String] {
        var problems: [String] = []
        if password.count < Self.minimumCharacters {
            problems.append("This password is too short. It must contain at least \(Self.minimumCharacters) characters.")
        }
        if password.utf8.count > Self.maximumBytes {
            problems.append("This password is too long. It must be at most \(Self.maximumBytes) bytes.")
        }
        let folded = password.lowercased().trimmingCharacters(in: .whitespaces)
        if Self.common.contains(folded) {
            problems.append("This password is too common.")
        }
        if !password.isEmpty && password.allSatisfy(\.isNumber) {
            problems.append("This password is entirely numeric.")
        }
        if identifiers.compactMap({ $0 }).contains(where: { resembles(folded, $0) }) {
            problems.append("The password is too similar to the account's e-mail or username.")
        }
        return problems
    }

    /// Django's rule: similar when the longest shared run covers 70% of the two strings together
    /// (a cheap stand-in for its SequenceMatcher ratio); e-mails are also compared by local part.
    private func resembles(_ password: String, _ identifier: String) -> Bool {
        let identifier = identifier.lowercased()
        var candidates = [identifier]
        if let at = identifier.firstIndex(of: "@") {
            candidates.append(String(identifier[..<at]))
        }
        return candidates.contains { candidate in
            guard candidate.count >= 3 else { return false }
            if password.contains(candidate) || candidate.contains(password) { return true }
            let shared = longestCommonRun(Array(password), Array(candidate))
            return Double(2 * shared) / Double(password.count + candidate.count) >= 0.7
        }
    }

    private func longestCommonRun(_ a: [Character], _ b: [Character]) -> Int {
        guard !a.isEmpty, !b.isEmpty, a.count <= 1024, b.count <= 1024 else { return 0 }
        var previous = [Int](repeating: 0, count: b.count + 1)
        var best = 0
        for i in 1...a.count {
            var current = [Int](repeating: 0, count: b.count + 1)
            for j in 1...b.count where a[i - 1] == b[j - 1] {
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
            }
            previous = current
        }
        return best
    }
}
