extension Schemas {
    static let signIn: [(String, JSON)] = [
        (
            "CodeRequest",
            object([("code", ["type": "string", "description": "The six digits (or, where it says so, a recovery code)"])], required: ["code"])
        ),
        ("PhoneRequest", object([("phone", text(40))], required: ["phone"])),
        (
            "OIDCSignIn",
            object(
                [
                    ("id_token", ["type": "string", "description": "The provider's id_token, as the app received it"]),
                    ("nonce", ["type": "string", "description": "The nonce the app sent, raw or as SHA-256 hex"]),
                ], required: ["id_token"])
        ),
        (
            "VKSignIn",
            object(
                [
                    ("code", string), ("redirect_uri", string), ("code_verifier", string), ("device_id", string),
                ], required: ["code", "redirect_uri"])
        ),
        ("SocialSignIn", ["anyOf": [ref("OIDCSignIn"), ref("VKSignIn")]]),
        ("Identity", object([("id", uuid), ("provider", string), ("created_at", dateTime)], required: ["id", "provider", "created_at"])),
        ("IdentityPage", page(of: "Identity")),
        (
            "TOTPEnrolment",
            object(
                [
                    ("secret", ["type": "string", "description": "Base32, for typing into an authenticator app"]),
                    ("uri", ["type": "string", "description": "otpauth://totp/… for a QR code"]),
                ], required: ["secret", "uri"])
        ),
        (
            "RecoveryCodes",
            object([("recovery_codes", ["type": "array", "items": string, "minItems": 10, "maxItems": 10])], required: ["recovery_codes"])
        ),
        ("MFACompletion", object([("mfa_token", string), ("code", string)], required: ["mfa_token", "code"])),
    ]
}
