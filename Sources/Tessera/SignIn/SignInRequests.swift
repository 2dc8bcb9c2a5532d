/// `{"code"}`: an SMS code, or a two-factor code.
struct CodeBody: Decodable {
    var code: String
}

/// `{"phone"}`, where a sign-in code goes.
struct PhoneBody: Decodable {
    var phone: String
}

/// `POST /api/v1/auth/social/{provider}` for an OpenID Connect provider.
struct OIDCSignInBody: Decodable {
    var id_token: String
    var nonce: String?
}

/// `POST /api/v1/auth/social/vk`: what VK ID gave the app.
struct VKSignInBody: Decodable {
    var code: String
    var redirect_uri: String
    var code_verifier: String?
    var device_id: String?
}
