import Foundation

/// The pair a signed-in app holds.
public struct Tokens: Codable, Sendable, Equatable {
    public var access: String
    public var refresh: String

    public init(access: String, refresh: String) {
        self.access = access
        self.refresh = refresh
    }
}

/// Where an app keeps its tokens: memory by default; the keychain (or any secure store) by
/// conforming to this.
public protocol TokenStore: Sendable {
    func load() async -> Tokens?
    /// Saves the pair, or forgets it (`nil`) on sign-out.
    func save(_ tokens: Tokens?) async
}

/// Tokens in memory only: gone when the process ends.
public actor InMemoryTokenStore: TokenStore {
    private var tokens: Tokens?

    public init(_ tokens: Tokens? = nil) {
        self.tokens = tokens
    }

    public func load() -> Tokens? { tokens }
    public func save(_ tokens: Tokens?) { self.tokens = tokens }
}
