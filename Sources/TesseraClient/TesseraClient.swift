import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Typed calls to a Tessera server for Swift apps (SPEC §9). Tokens live in the `TokenStore` the
/// app chooses. When the access token has expired, the next call refreshes it and tries again,
/// once; however many calls meet the expired token at the same moment, one refresh runs and the
/// others wait for it. A refused refresh signs out: the store is emptied and calls throw
/// `TesseraError.signedOut`.
public final class TesseraClient: Sendable {
    public let baseURL: String
    public let store: any TokenStore
    private let http: HTTPClient
    private let refresher = Refresher()
    static let timeout = TimeAmount.seconds(30)
    /// Tessera writes `first_name`; Swift reads `firstName`.
    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    /// `baseURL` without a trailing slash, e.g. `https://auth.example.com`.
    public init(baseURL: String, store: any TokenStore = InMemoryTokenStore(), httpClient: HTTPClient = .shared) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.store = store
        self.http = httpClient
    }

    // MARK: Signing up and in

    /// Creates an account; signed in at once unless registration needs approval (then the user
    /// is `pending` and no tokens are kept).
    public func register(
        email: String? = nil, phone: String? = nil, username: String? = nil, password: String, firstName: String? = nil,
        lastName: String? = nil, role: String? = nil
    ) async throws -> User {
        let body = [
            "email": email, "phone": phone, "username": username, "password": password, "first_name": firstName, "last_name": lastName,
            "role": role,
        ].compactMapValues { $0 }
        let registration: Registration = try await decode(try await send(.POST, "/api/v1/auth/register", body))
        if let access = registration.access, let refresh = registration.refresh { await store.save(Tokens(access: access, refresh: refresh)) }
        return registration.user
    }

    /// `login` is an e-mail, a phone or a username.
    public func signIn(login: String, password: String) async throws -> SignInResult {
        try await grant(try await send(.POST, "/api/v1/auth/token", ["login": login, "password": password]))
    }

    /// Texts a sign-in code to `phone` (the answer is the same whether or not it has an account).
    public func requestCode(phone: String) async throws {
        try check(try await send(.POST, "/api/v1/auth/otp/request", ["phone": phone]))
    }

    public func signIn(phone: String, code: String) async throws -> SignInResult {
        try await grant(try await send(.POST, "/api/v1/auth/token", ["phone": phone, "code": code]))
    }

    /// An OpenID Connect provider's id_token (Google, Apple, …), as the provider's SDK gave it.
    public func signIn(provider: String, idToken: String, nonce: String? = nil) async throws -> SignInResult {
        try await grant(try await send(.POST, "/api/v1/auth/social/\(provider)", ["id_token": idToken, "nonce": nonce].compactMapValues { $0 }))
    }

    /// The second step after `.mfaRequired`: a code from the authenticator app, or a recovery code.
    public func completeSignIn(mfaToken: String, code: String) async throws -> User {
        switch try await grant(try await send(.POST, "/api/v1/auth/token/mfa", ["mfa_token": mfaToken, "code": code])) {
        case .signedIn(let user, _): return user
        case .mfaRequired: throw TesseraError.unexpectedAnswer(status: 401)
        }
    }

    /// Ends this session at the server and forgets the tokens (also when the session had already ended).
    public func signOut() async throws {
        guard let tokens = await store.load() else { return }
        // Forgotten first: the app is signed out even if the server cannot be told. The refresh
        // token names the session even after the access token has expired.
        await store.save(nil)
        try check(try await send(.POST, "/api/v1/auth/token/revoke", ["refresh": tokens.refresh]))
    }

    // MARK: The signed-in user

    public func me() async throws -> User {
        try decode(try await authorized(.GET, "/api/v1/me"))
    }

    /// Changes names (`first_name`, `last_name`, `middle_name`); identifiers need `current_password` too.
    public func updateMe(_ changes: [String: String]) async throws -> User {
        try decode(try await authorized(.PATCH, "/api/v1/me", changes))
    }

    public func sessions() async throws -> Page<Session> {
        try decode(try await authorized(.GET, "/api/v1/me/sessions"))
    }

    public func endSession(id: String) async throws {
        try check(try await authorized(.DELETE, "/api/v1/me/sessions/\(id)"))
    }

    /// Refreshes now (calls do it by themselves when the access token has expired).
    public func refresh() async throws {
        guard let tokens = await store.load() else { throw TesseraError.signedOut }
        _ = try await refresher.refreshed { try await self.exchange(after: tokens.access) }
    }

    // MARK: Underneath

    struct Answer: Sendable {
        let status: Int
        let body: Data
    }

    /// A call with the access token; when it is refused, one refresh (shared with every call that
    /// met the same token) and one more try.
    func authorized(_ method: HTTPMethod, _ path: String, _ body: [String: String]? = nil) async throws -> Answer {
        guard let tokens = await store.load() else { throw TesseraError.signedOut }
        let answer = try await send(method, path, body, access: tokens.access)
        // An expired token, or one of a session that ended: a refresh tells which (and signs out if refused).
        let code = answer.status == 401 ? (try? Self.decoder.decode(ErrorBody.self, from: answer.body))?.code : nil
        guard code == "token_expired" || code == "token_not_valid" else { return answer }
        let fresh = try await refresher.refreshed { try await self.exchange(after: tokens.access) }
        return try await send(method, path, body, access: fresh.access)
    }

    /// POSTs the stored refresh token, unless the store already holds a pair newer than `stale`
    /// (another call refreshed it); keeps the new pair, or signs out when it is refused.
    private func exchange(after stale: String) async throws -> Tokens {
        guard let tokens = await store.load() else { throw TesseraError.signedOut }
        if tokens.access != stale { return tokens }
        let answer = try await send(.POST, "/api/v1/auth/token/refresh", ["refresh": tokens.refresh])
        // A sign-out or another sign-in while the refresh was out wins over its answer.
        let unchanged = await store.load() == tokens
        guard answer.status != 401 && answer.status != 403 else {
            if unchanged { await store.save(nil) }
            throw TesseraError.signedOut
        }
        let grant: Grant = try decode(answer)
        let fresh = Tokens(access: grant.access, refresh: grant.refresh)
        guard unchanged else { throw TesseraError.signedOut }
        await store.save(fresh)
        return fresh
    }

    private func grant(_ answer: Answer) async throws -> SignInResult {
        if answer.status == 401, let error = try? Self.decoder.decode(ErrorBody.self, from: answer.body), error.code == "mfa_required",
            let token = error.mfaToken
        {
            return .mfaRequired(mfaToken: token)
        }
        let grant: Grant = try decode(answer)
        await store.save(Tokens(access: grant.access, refresh: grant.refresh))
        return .signedIn(grant.user, created: grant.created ?? false)
    }

    private func send(_ method: HTTPMethod, _ path: String, _ body: [String: String]?, access: String? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        if let access { request.headers.add(name: "Authorization", value: "Bearer \(access)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        }
        let response = try await http.execute(request, timeout: Self.timeout)
        let data = try await response.body.collect(upTo: 4 << 20)
        return Answer(status: Int(response.status.code), body: Data(data.readableBytesView))
    }

    private func check(_ answer: Answer) throws {
        guard (200..<300).contains(answer.status) else { throw Self.error(answer) }
    }

    private func decode<T: Decodable>(_ answer: Answer) throws -> T {
        try check(answer)
        guard let value = try? Self.decoder.decode(T.self, from: answer.body) else { throw TesseraError.unexpectedAnswer(status: answer.status) }
        return value
    }

    private static func error(_ answer: Answer) -> TesseraError {
        guard let body = try? Self.decoder.decode(ErrorBody.self, from: answer.body) else { return .unexpectedAnswer(status: answer.status) }
        return .api(status: answer.status, code: body.code, detail: body.detail, fields: body.fields ?? [:])
    }
}

/// Makes concurrent refreshes one: the first call that meets an expired access token starts the
/// exchange; calls that meet it meanwhile wait for that same exchange (the check and the start
/// have no suspension between them, so no second one can begin); calls that come later with the
/// old token find the store already holds a newer pair and use it (`exchange(after:)`).
actor Refresher {
    private var running: Task<Tokens, any Error>?

    func refreshed(_ exchange: @escaping @Sendable () async throws -> Tokens) async throws -> Tokens {
        if let running { return try await running.value }
        let task = Task { try await exchange() }
        running = task
        defer { running = nil }
        return try await task.value
    }
}
