/// JSON Schemas of the API's bodies, referenced by name from each `APIOperation`.
enum Schemas {
    static let string: JSON = ["type": "string"]
    static let nullableString: JSON = ["type": ["string", "null"]]
    static let dateTime: JSON = ["type": "string", "format": "date-time"]
    static let uuid: JSON = ["type": "string", "format": "uuid"]
    static func text(_ maxLength: Int) -> JSON { ["type": "string", "maxLength": .number(Double(maxLength))] }
    static let name = text(150)
    static let password: JSON = ["type": "string", "minLength": 8, "maxLength": 1024]

    static func object(_ properties: [(String, JSON)], required: [String] = []) -> JSON {
        var pairs: [(String, JSON)] = [("type", "object"), ("properties", .object(properties))]
        if !required.isEmpty { pairs.append(("required", .array(required.map(JSON.string)))) }
        return .object(pairs)
    }

    static func ref(_ name: String) -> JSON { ["$ref": .string("#/components/schemas/\(name)")] }

    /// A body's `content`: JSON, unless the schema is one of the few that are not.
    static func content(_ name: String) -> JSON {
        let media: [String] =
            switch name {
            case "HTML": ["text/html"]
            case "PageFile": ["text/javascript", "text/css"]
            case "Metrics": ["text/plain"]
            case "Image": ImageFormat.allCases.map(\.rawValue)
            case "AvatarUpload": ["multipart/form-data"]
            default: ["application/json"]
            }
        return .object(media.map { ($0, ["schema": ref(name)]) })
    }

    static func page(of item: String) -> JSON {
        object(
            [
                ("count", ["type": "integer"]), ("next", nullableString), ("previous", nullableString),
                ("results", ["type": "array", "items": ref(item)]),
            ], required: ["count", "next", "previous", "results"])
    }

    static let all: [(String, JSON)] =
        [
            (
                "Error",
                object(
                    [
                        ("detail", string), ("code", string),
                        ("fields", ["type": "object", "additionalProperties": ["type": "array", "items": string]]),
                        ("mfa_token", ["type": "string", "description": "With `mfa_required`: the second step's token (single use, 5 minutes)"]),
                    ], required: ["detail", "code"])
            ),
            (
                "User",
                object(
                    [
                        ("id", uuid), ("email", nullableString), ("phone", ["type": ["string", "null"], "description": "E.164"]),
                        ("username", nullableString), ("first_name", string), ("last_name", string), ("middle_name", string),
                        ("role", ["type": "string", "enum": ["client", "specialist"]]), ("roles", ["type": "array", "items": string]),
                        ("status", ["type": "string", "enum": ["active", "pending", "rejected", "disabled"]]),
                        ("email_verified", ["type": "boolean"]), ("phone_verified", ["type": "boolean"]), ("date_joined", dateTime),
                        ("last_login", ["type": ["string", "null"], "format": "date-time"]),
                    ],
                    required: [
                        "id", "email", "phone", "username", "first_name", "last_name", "middle_name", "role", "roles", "status",
                        "email_verified", "phone_verified", "date_joined", "last_login",
                    ])
            ),
            (
                "RegisterRequest",
                object(
                    [
                        ("email", ["type": "string", "format": "email", "maxLength": 254]), ("phone", text(40)),
                        ("username", ["type": "string", "pattern": "^[\\w.+-]{1,150}$"]), ("password", password), ("password2", password),
                        ("first_name", name), ("last_name", name), ("middle_name", name),
                        ("role", ["type": "string", "enum": ["client", "specialist"], "default": "client"]),
                    ], required: ["password"])
            ),
            ("Registration", object([("user", ref("User")), ("access", string), ("refresh", string)], required: ["user"])),
            (
                "LoginRequest",
                object(
                    [
                        ("login", ["type": "string", "description": "E-mail, phone or username", "maxLength": 254]), ("email", text(254)),
                        ("phone", text(40)), ("username", text(150)), ("password", ["type": "string", "maxLength": 1024]),
                        ("code", ["type": "string", "description": "A code sent by SMS to `phone`, in place of a password"]),
                    ])
            ),
            (
                "TokenGrant",
                object(
                    [
                        ("access", string), ("refresh", string), ("token_type", ["type": "string", "const": "Bearer"]),
                        ("expires_in", ["type": "integer", "description": "Seconds until the access token expires"]),
                        ("refresh_expires_in", ["type": "integer"]), ("user", ref("User")),
                        ("created", ["type": "boolean", "const": true, "description": "Present when this sign-in created the account"]),
                    ], required: ["access", "refresh", "token_type", "expires_in", "refresh_expires_in", "user"])
            ),
            (
                "ProfileChange",
                object([
                    ("email", nullableString), ("phone", nullableString), ("username", nullableString), ("first_name", nullableString),
                    ("last_name", nullableString), ("middle_name", nullableString),
                    ("current_password", ["type": "string", "description": "Needed to change email, phone or username"]),
                ])
            ),
            ("PasswordChange", object([("current_password", string), ("new_password", string)], required: ["current_password", "new_password"])),
            ("RefreshRequest", object([("refresh", string)], required: ["refresh"])),
            ("VerifyRequest", object([("token", string)], required: ["token"])),
            ("RevokeAllRequest", object([("keep_current", ["type": "boolean", "default": false])])),
            ("RevokedCount", object([("revoked", ["type": "integer"])], required: ["revoked"])),
            (
                "Session",
                object(
                    [
                        ("id", uuid), ("created_at", dateTime), ("last_used_at", dateTime), ("expires_at", dateTime), ("ip_address", string),
                        ("user_agent", string), ("current", ["type": "boolean"]),
                    ], required: ["id", "created_at", "last_used_at", "expires_at", "ip_address", "user_agent", "current"])
            ),
            ("SessionPage", page(of: "Session")),
            ("Empty", object([])),
            ("Health", object([("status", string)], required: ["status"])),
            ("Ready", object([("status", string), ("database", string)], required: ["status", "database"])),
            ("JWKS", object([("keys", ["type": "array", "items": ["type": "object"]])], required: ["keys"])),
            (
                "CatalogueEntry",
                object(
                    [("id", uuid), ("code_name", string), ("name", string), ("description", string), ("built_in", ["type": "boolean"])],
                    required: ["id", "code_name", "name", "description", "built_in"])
            ),
            ("CataloguePage", page(of: "CatalogueEntry")),
            (
                "CatalogueChange",
                object([("code_name", ["type": "string", "pattern": "^[a-z][a-z0-9_.-]{0,63}$"]), ("name", string), ("description", string)])
            ),
            ("Permission", object([("id", uuid), ("resource", string), ("action", string)], required: ["id", "resource", "action"])),
            ("PermissionPage", page(of: "Permission")),
            ("PermissionChange", object([("resource", string), ("action", string)], required: ["resource", "action"])),
            (
                "Role",
                object(
                    [
                        ("id", uuid), ("code_name", string), ("name", string), ("description", string), ("built_in", ["type": "boolean"]),
                        ("permissions", ["type": "array", "items": uuid]),
                    ], required: ["id", "code_name", "name", "description", "built_in", "permissions"])
            ),
            ("RolePage", page(of: "Role")),
            (
                "RoleChange",
                object([
                    ("code_name", ["type": "string", "pattern": "^[a-z][a-z0-9_.-]{0,63}$"]), ("name", string), ("description", string),
                    ("permissions", ["type": "array", "items": uuid]),
                ])
            ),
            ("RoleAssignment", object([("roles", ["type": "array", "items": string])], required: ["roles"])),
            (
                "MyPermissions",
                object(
                    [
                        ("roles", ["type": "array", "items": string]), ("admin", ["type": "boolean"]),
                        ("permissions", ["type": "array", "items": object([("resource", string), ("action", string)])]),
                    ], required: ["roles", "admin", "permissions"])
            ),
            ("Decision", object([("allowed", ["type": "boolean"])], required: ["allowed"])),
            ("UserPage", page(of: "User")),
            (
                "UserAdminChange",
                object([
                    ("status", ["type": "string", "enum": ["active", "pending", "rejected", "disabled"]]),
                    ("role", ["type": "string", "enum": ["client", "specialist"]]), ("first_name", string), ("last_name", string),
                    ("middle_name", string), ("email_verified", ["type": "boolean"]), ("phone_verified", ["type": "boolean"]),
                ])
            ),
            (
                "RegistrationDecision",
                object([("action", ["type": "string", "enum": ["accept", "reject"]]), ("reason", string)], required: ["action"])
            ),
            (
                "AuditEntry",
                object(
                    [
                        ("id", uuid), ("at", dateTime), ("event", string), ("user_id", ["type": ["string", "null"], "format": "uuid"]),
                        ("actor_id", ["type": ["string", "null"], "format": "uuid"]), ("ip_address", string), ("user_agent", string),
                        ("detail", ["type": "object", "additionalProperties": string]),
                    ], required: ["id", "at", "event", "user_id", "actor_id", "ip_address", "user_agent", "detail"])
            ),
            ("AuditPage", page(of: "AuditEntry")),
            ("TokenRequest", object([("token", string)], required: ["token"])),
            ("ResetRequest", object([("login", ["type": "string", "description": "E-mail, phone or username"])], required: ["login"])),
            ("ResetConfirmation", object([("token", string), ("new_password", string)], required: ["token", "new_password"])),
            ("Metrics", ["type": "string", "description": "Prometheus text format"]),
            ("OpenAPI", ["type": "object", "description": "This document"]),
            ("HTML", ["type": "string"]),
            ("PageFile", ["type": "string"]),
        ] + marketplace + balances + signIn
}
