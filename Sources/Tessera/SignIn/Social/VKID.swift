import Foundation

/// VK ID's OAuth 2.0 code exchange, the two calls SPEC §5b describes: the code for an access token,
/// then the access token for the user. A refusal is 401 `invalid_credentials`; a VK that does not
/// answer in time is 502 `provider_unavailable`.
struct VKID: Sendable {
    let settings: VKSettings
    let http: ProviderHTTP

    private struct TokenAnswer: Decodable {
        let access_token: String
        let user_id: FlexibleID
    }

    private struct UserAnswer: Decodable {
        struct Person: Decodable {
            let user_id: FlexibleID
            let first_name: String?
            let last_name: String?
            let email: String?
        }
        let user: Person
    }

    func person(for request: VKSignInBody) async throws -> ProviderPerson {
        var form = [
            ("grant_type", "authorization_code"), ("code", request.code), ("redirect_uri", request.redirect_uri),
            ("client_id", settings.clientID), ("client_secret", settings.clientSecret),
        ]
        if let verifier = request.code_verifier { form.append(("code_verifier", verifier)) }
        if let device = request.device_id { form.append(("device_id", device)) }
        let token: TokenAnswer = try await call(settings.tokenURL, form)
        let user: UserAnswer = try await call(settings.userInfoURL, [("access_token", token.access_token), ("client_id", settings.clientID)])
        // The user-info answer must be about the user the code was exchanged for.
        guard user.user.user_id.value == token.user_id.value else { throw APIError.invalidCredentials }
        // VK does not say whether it checked the address: it is kept, never trusted to link accounts.
        return ProviderPerson(
            provider: "vk", subject: token.user_id.value, email: user.user.email, emailVerified: false,
            firstName: user.user.first_name ?? "", lastName: user.user.last_name ?? "")
    }

    private func call<Answer: Decodable>(_ url: String, _ form: [(String, String)]) async throws -> Answer {
        let answer: ProviderHTTP.Answer
        do {
            answer = try await http.postForm(url, form)
        } catch {
            throw APIError.providerUnavailable("vk")
        }
        guard answer.status == 200, let decoded = try? JSONDecoder().decode(Answer.self, from: answer.body) else {
            if answer.status >= 500 { throw APIError.providerUnavailable("vk") }
            throw APIError.invalidCredentials
        }
        return decoded
    }
}

/// VK writes user ids as numbers in one answer and strings in the other.
private struct FlexibleID: Decodable {
    let value: String

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int64.self) {
            value = String(number)
        } else {
            value = try container.decode(String.self)
        }
        guard (1...64).contains(value.utf8.count) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "a user id of 1 to 64 characters")
        }
    }
}
