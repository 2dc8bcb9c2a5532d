import Foundation
import Hummingbird
import HummingbirdTesting
import SQLKit
import Testing

@testable import Tessera
@testable import TesseraSMTP

/// Hostile input: numbers out of range, NUL characters and oversized strings get a 400 or 404 with
/// SPEC's error body, never a crash, a 500 or a row keyed by them (SPEC §8).
@Suite("Hostile input", .throwawayDatabases)
struct HostileInputTests {
    static let lists = [
        "/api/v1/me/sessions", "/api/v1/users", "/api/v1/registrations", "/api/v1/audit", "/api/v1/resources", "/api/v1/actions",
        "/api/v1/permissions", "/api/v1/roles",
    ]

    @Test("a page number or size of any magnitude is a 400 or a 404, and the server goes on", arguments: TestDatabase.all)
    func hugePages(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            for path in Self.lists + ["/api/v1/users/\(admin.id)/sessions"] {
                for page in ["9223372036854775807", "9223372036854775808", "10000001", "99999999999999999999"] {
                    let reply = try await client.call(.get, "\(path)?page=\(page)", token: admin.access)
                    #expect([400, 404].contains(reply.status.code), "\(path)?page=\(page): \(reply.status.code) \(reply.text.prefix(200))")
                    #expect(reply.code != nil, "\(path)?page=\(page): \(reply.text.prefix(200))")
                }
                expectAPIError(try await client.call(.get, "\(path)?page=0", token: admin.access), .badRequest, "validation_error", "\(path)?page=0")
                expectAPIError(
                    try await client.call(.get, "\(path)?page=-5", token: admin.access), .badRequest, "validation_error", "\(path)?page=-5")
                let big = try await client.call(.get, "\(path)?page_size=9223372036854775807", token: admin.access)
                #expect(big.status == .ok, "\(path) with a huge page_size is read as the largest page: \(big.status.code) \(big.text.prefix(200))")
                let both = try await client.call(.get, "\(path)?page=9223372036854775807&page_size=100", token: admin.access)
                expectAPIError(both, .notFound, "not_found", "\(path) far past the end")
            }
            #expect(try await client.call(.get, "/health").status == .ok)
        }
    }

    @Test("a NUL in any JSON string or query text is a 400 validation_error, and nothing is stored", arguments: TestDatabase.all)
    func nulCharacters(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let nul = "\u{0}"
            let register = try await client.register(["email": "a\(nul)b@example.com", "password": goodPassword])
            expectAPIError(register, .badRequest, "validation_error", "register with a NUL in the e-mail")
            let named = try await client.register(["email": "named@example.com", "first_name": "Ann\(nul)", "password": goodPassword])
            expectAPIError(named, .badRequest, "validation_error", "register with a NUL in a name")
            expectAPIError(try await client.login("x\(nul)@example.com", goodPassword), .badRequest, "validation_error", "login with a NUL")
            expectAPIError(
                try await client.call(.patch, "/api/v1/me", json: ["first_name": "Bo\(nul)b"], token: admin.access), .badRequest,
                "validation_error", "PATCH /me with a NUL")
            expectAPIError(
                try await client.call(.post, "/api/v1/resources", json: ["code_name": "docs", "name": "D\(nul)"], token: admin.access), .badRequest,
                "validation_error", "a resource named with a NUL")
            for query in ["q", "role", "status"] {
                expectAPIError(
                    try await client.call(.get, "/api/v1/users?\(query)=a%00b", token: admin.access), .badRequest, "validation_error",
                    "users?\(query) with a NUL")
            }
            expectAPIError(
                try await client.call(.get, "/api/v1/audit?event=x%00", token: admin.access), .badRequest, "validation_error",
                "audit?event with a NUL")
            expectAPIError(
                try await client.call(.get, "/api/v1/authz/check?resource=users%00&action=read", token: admin.access), .badRequest,
                "validation_error", "authz/check with a NUL")
            // An escaped backslash followed by u0000 is text, not a NUL.
            let literal = try await client.call(.patch, "/api/v1/me", json: #"{"first_name": "C:\\u0000"}"#, token: admin.access)
            #expect(literal.status == .ok, "an escaped backslash before u0000: \(literal.text)")

            let users = try await client.call(.get, "/api/v1/users?page_size=100", token: admin.access)
            #expect(users["count"] as? Int == 1, "a user was stored: \(users.text.prefix(300))")
        }
    }

    @Test("oversized identifiers and texts are refused before they reach a query, a key or an index", arguments: TestDatabase.all)
    func oversizedInput(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["RATE_LIMITS": "on"])
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let long = String(repeating: "a", count: 4000)
            let login = try await client.login(long, goodPassword)
            expectAPIError(login, .badRequest, "validation_error", "a 4,000-character login")
            #expect(login.fields["login"] != nil, "fields: \(login.text.prefix(200))")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": long + "@example.com"]), .badRequest, "validation_error",
                "a reset for a 4,000-character login")
            expectAPIError(
                try await client.register(["phone": String(repeating: "9", count: 4000), "password": goodPassword]), .badRequest, "validation_error",
                "a 4,000-digit phone")
            expectAPIError(
                try await client.register(["email": "ann@example.com", "first_name": "Ann\nBcc: victim@example.com", "password": goodPassword]),
                .badRequest, "validation_error", "a name of two lines")
            expectAPIError(
                try await client.call(.post, "/api/v1/resources", json: ["code_name": "docs", "name": long], token: admin.access), .badRequest,
                "validation_error", "a 4,000-character resource name")
            expectAPIError(
                try await client.call(.get, "/api/v1/users?q=\(long)", token: admin.access), .badRequest, "validation_error",
                "a 4,000-character search")
            expectAPIError(
                try await client.call(.put, "/api/v1/users/\(admin.id)/roles", json: ["roles": [long]], token: admin.access), .badRequest,
                "validation_error", "a 4,000-character role code")

            let keys = try await app.tessera.database.read { db in
                try await db.raw("SELECT bucket AS k FROM rate_limit_windows UNION ALL SELECT login_key AS k FROM login_failures").all(
                    decodingColumn: "k", as: String.self)
            }
            #expect(keys.allSatisfy { $0.count < 300 }, "a long login became a key: \(keys.map(\.count))")
        }
    }
}

/// SPEC §4: a stolen access token must not become a stolen account.
@Suite("Account takeover", .throwawayDatabases)
struct AccountTakeoverTests {
    static let newPassword = "Copper-Meadow-Lantern-84"

    @Test(
        "changing e-mail, phone or username needs current_password; wrong ones count towards the lockout; the old address is told",
        arguments: TestDatabase.all)
    func identifierChangeNeedsPassword(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["RATE_LIMITS": "on", "LOCKOUT_FAILURES": "3", "LOCKOUT_WAIT": "1m"])
        try await app.run { client in
            let pair = try await client.signUp("owner@example.com")
            for change in [["email": "thief@example.com"], ["phone": "+79187020987"], ["username": "thief"]] {
                let reply = try await client.call(.patch, "/api/v1/me", json: change, token: pair.access)
                expectAPIError(reply, .badRequest, "validation_error", "\(change) without current_password")
                #expect(reply.fields["current_password"] != nil, "fields: \(reply.text)")
            }
            // Names need no password.
            #expect(try await client.call(.patch, "/api/v1/me", json: ["first_name": "Olga"], token: pair.access).status == .ok)

            for _ in 0..<3 {
                let wrong = try await client.call(
                    .patch, "/api/v1/me", json: ["email": "thief@example.com", "current_password": "not-the-password"], token: pair.access)
                expectAPIError(wrong, .badRequest, "validation_error", "a wrong current_password")
            }
            expectAPIError(
                try await client.login("owner@example.com", goodPassword), .tooManyRequests, "rate_limited", "sign-in after three wrong confirmations"
            )
            let me = try await client.call(.get, "/api/v1/me", token: pair.access)
            #expect(me["email"] as? String == "owner@example.com", "a refused change changed the e-mail: \(me.text)")

            app.clock.advance(by: 61)
            let changed = try await client.call(
                .patch, "/api/v1/me", json: ["email": "new@example.com", "current_password": goodPassword], token: pair.access)
            #expect(changed.status == .ok, "with the password: \(changed.text)")
            #expect(changed["email"] as? String == "new@example.com")
            let mail = try await queuedMail(app)
            let told = mail.filter { $0.recipient == "owner@example.com" && $0.subject.contains("changed") }
            #expect(told.count == 1, "the old address was not told: \(mail.map(\.subject))")
            #expect(told.first?.body.contains("new@example.com") == true)
        }
    }

    @Test("a password change, an e-mail change and a completed reset retire every outstanding link", arguments: TestDatabase.all)
    func linksRetire(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            // A password change retires the reset link and the verification link.
            let vera = try await client.signUp("vera@example.com")
            _ = try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "vera@example.com"])
            let verify = try #require(try await mailedToken(app, to: "vera@example.com", subject: "Confirm"))
            let reset = try #require(try await mailedToken(app, to: "vera@example.com", subject: "Reset"))
            let changed = try await client.call(
                .post, "/api/v1/me/password", json: ["current_password": goodPassword, "new_password": Self.newPassword], token: vera.access)
            #expect(changed.status == .noContent, "password change: \(changed.text)")
            expectAPIError(
                try await client.call(
                    .post, "/api/v1/auth/password/reset/confirm", json: ["token": reset, "new_password": "Another-Long-Phrase-93"]),
                .badRequest, "validation_error", "a reset link from before the password change")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/email/verify", json: ["token": verify]), .badRequest, "validation_error",
                "a verification link from before the password change")

            // An e-mail change retires the reset link.
            let ivan = try await client.signUp("ivan@example.com")
            _ = try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "ivan@example.com"])
            let ivanReset = try #require(try await mailedToken(app, to: "ivan@example.com", subject: "Reset"))
            let moved = try await client.call(
                .patch, "/api/v1/me", json: ["email": "ivan2@example.com", "current_password": goodPassword], token: ivan.access)
            #expect(moved.status == .ok, "e-mail change: \(moved.text)")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/password/reset/confirm", json: ["token": ivanReset, "new_password": Self.newPassword]),
                .badRequest, "validation_error", "a reset link from before the e-mail change")

            // A completed reset retires the verification link.
            _ = try await client.signUp("rita@example.com")
            let ritaVerify = try #require(try await mailedToken(app, to: "rita@example.com", subject: "Confirm"))
            _ = try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "rita@example.com"])
            let ritaReset = try #require(try await mailedToken(app, to: "rita@example.com", subject: "Reset"))
            let done = try await client.call(
                .post, "/api/v1/auth/password/reset/confirm", json: ["token": ritaReset, "new_password": Self.newPassword])
            #expect(done.status == .noContent, "reset: \(done.text)")
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/email/verify", json: ["token": ritaVerify]), .badRequest, "validation_error",
                "a verification link from before the reset")
        }
    }

    @Test("wrong current passwords on /me/password count towards the lockout, and the call is rate-limited", arguments: TestDatabase.all)
    func passwordChangeIsGuarded(_ database: TestDatabase) async throws {
        let locking = try await TestApp.make(database, ["RATE_LIMITS": "on", "LOCKOUT_FAILURES": "3"])
        try await locking.run { client in
            let pair = try await client.signUp("lock@example.com")
            let body = ["current_password": "wrong-password-1", "new_password": Self.newPassword]
            for _ in 0..<3 {
                expectAPIError(
                    try await client.call(.post, "/api/v1/me/password", json: body, token: pair.access), .badRequest, "validation_error",
                    "wrong current password")
            }
            let right = try await client.call(
                .post, "/api/v1/me/password", json: ["current_password": goodPassword, "new_password": Self.newPassword], token: pair.access)
            expectAPIError(right, .tooManyRequests, "rate_limited", "the right password while locked")
            expectAPIError(try await client.login("lock@example.com", goodPassword), .tooManyRequests, "rate_limited", "sign-in while locked")
        }
        let limited = try await TestApp.make(database, ["RATE_LIMITS": "on", "LOCKOUT_FAILURES": "100", "RATE_LIMIT_TOKEN_LOGIN": "3/1m"])
        try await limited.run { client in
            let pair = try await client.signUp("busy@example.com")
            let body = ["current_password": "wrong-password-1", "new_password": Self.newPassword]
            for _ in 0..<3 { _ = try await client.call(.post, "/api/v1/me/password", json: body, token: pair.access) }
            let fourth = try await client.call(.post, "/api/v1/me/password", json: body, token: pair.access)
            expectAPIError(fourth, .tooManyRequests, "rate_limited", "the fourth try within a minute")
            #expect(fourth.headers[.retryAfter] != nil)
        }
    }

    @Test("mail a signed-in caller can trigger is rate-limited per account", arguments: TestDatabase.all)
    func mailIsRateLimited(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["RATE_LIMITS": "on", "RATE_LIMIT_MAIL": "2/1h"])
        try await app.run { client in
            let pair = try await client.signUp("mailer@example.com")
            for _ in 0..<2 {
                #expect(try await client.call(.post, "/api/v1/auth/email/verify/request", token: pair.access).status == .accepted)
            }
            expectAPIError(
                try await client.call(.post, "/api/v1/auth/email/verify/request", token: pair.access), .tooManyRequests, "rate_limited",
                "a third verification mail within the hour")
            // An e-mail change sends mail too, and counts the same way.
            let change = try await client.call(
                .patch, "/api/v1/me", json: ["email": "other@example.com", "current_password": goodPassword], token: pair.access)
            expectAPIError(change, .tooManyRequests, "rate_limited", "an e-mail change past the mail limit")
            app.clock.advance(by: 3601)
            let again = try await client.signIn("mailer@example.com")
            let later = try await client.call(.post, "/api/v1/auth/email/verify/request", token: again.access)
            #expect(later.status == .accepted, "an hour later: \(later.text)")
        }
    }
}

/// SPEC §5: nobody hands out or moves authority they do not hold, by any door.
@Suite("RBAC side doors", .throwawayDatabases)
struct RBACSideDoorTests {
    @Test("renaming or deleting a resource, an action or a role needs every permission it changes", arguments: TestDatabase.all)
    func renameAndDelete(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let supervisor = try await rbacMember(app, client, "boss@example.com", roles: ["supervisor"])
            let docs = try #require(
                try await client.rbacCreated("/api/v1/resources", ["code_name": "docs", "name": "Docs"], token: admin.access)["id"] as? String)
            let publish = try #require(
                try await client.rbacCreated("/api/v1/actions", ["code_name": "publish", "name": "Publish"], token: admin.access)["id"] as? String)
            let docsRead = try #require(
                try await client.rbacCreated("/api/v1/permissions", ["resource": "docs", "action": "read"], token: admin.access)["id"] as? String)
            _ = try await client.rbacCreated("/api/v1/permissions", ["resource": "docs", "action": "publish"], token: admin.access)
            let reader = try #require(
                try await client.rbacCreated(
                    "/api/v1/roles", ["code_name": "reader", "name": "Reader", "permissions": [docsRead]], token: admin.access)["id"]
                    as? String)

            let refused: [(HTTPRequest.Method, String, [String: Any]?)] = [
                (.patch, "/api/v1/resources/\(docs)", ["code_name": "billing"]),
                (.patch, "/api/v1/resources/\(docs)", ["name": "Billing"]),
                (.delete, "/api/v1/resources/\(docs)", nil),
                (.patch, "/api/v1/actions/\(publish)", ["code_name": "approve_all"]),
                (.delete, "/api/v1/actions/\(publish)", nil),
                (.patch, "/api/v1/roles/\(reader)", ["code_name": "auditor"]),
                (.delete, "/api/v1/roles/\(reader)", nil),
            ]
            for (method, path, body) in refused {
                let reply = try await client.call(method, path, json: body, token: supervisor.access)
                expectAPIError(reply, .forbidden, "permission_denied", "supervisor \(method) \(path)")
            }
            #expect(try await client.call(.get, "/api/v1/resources/\(docs)", token: admin.access)["code_name"] as? String == "docs")
            #expect(try await client.call(.get, "/api/v1/roles/\(reader)", token: admin.access)["code_name"] as? String == "reader")

            // What the supervisor does hold, it may rename and delete.
            let notes = try #require(
                try await client.rbacCreated("/api/v1/resources", ["code_name": "notes", "name": "Notes"], token: supervisor.access)["id"] as? String)
            #expect(try await client.call(.patch, "/api/v1/resources/\(notes)", json: ["code_name": "memos"], token: supervisor.access).status == .ok)
            let rolesRead = try await rbacPermissionID(client, "roles", "read", admin.access)
            let helper = try #require(
                try await client.rbacCreated(
                    "/api/v1/roles", ["code_name": "helper", "name": "Helper", "permissions": [rolesRead]], token: supervisor.access)["id"]
                    as? String)
            #expect(try await client.call(.patch, "/api/v1/roles/\(helper)", json: ["code_name": "aide"], token: supervisor.access).status == .ok)
            #expect(try await client.call(.delete, "/api/v1/roles/\(helper)", token: supervisor.access).status == .noContent)
            // And the admin holds everything.
            #expect(try await client.call(.patch, "/api/v1/resources/\(docs)", json: ["code_name": "billing"], token: admin.access).status == .ok)
        }
    }

    @Test(
        "acting on a user needs every permission they hold; letting a sign-up in needs approve; nobody changes their own status or roles",
        arguments: TestDatabase.all)
    func actingOnUsers(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["REGISTRATION": "approval"])
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let supervisor = try await rbacMember(app, client, "boss@example.com", roles: ["supervisor"])
            let usersAll = try await rbacPermissionID(client, "users", "all", admin.access)
            let sessionsAll = try await rbacPermissionID(client, "sessions", "all", admin.access)
            let helpdeskRole = try #require(
                try await client.rbacCreated(
                    "/api/v1/roles", ["code_name": "helpdesk", "name": "Helpdesk", "permissions": [usersAll, sessionsAll]], token: admin.access)["id"]
                    as? String)
            let helpdesk = try await rbacMember(app, client, "help@example.com", roles: ["helpdesk"])
            let plain = try await rbacMember(app, client, "plain@example.com", roles: [])

            for target in [admin, supervisor] {
                expectAPIError(
                    try await client.call(.patch, "/api/v1/users/\(target.id)", json: ["status": "disabled"], token: helpdesk.access), .forbidden,
                    "permission_denied", "helpdesk disabling a user who holds more")
                expectAPIError(
                    try await client.call(.post, "/api/v1/users/\(target.id)/sessions/revoke-all", token: helpdesk.access), .forbidden,
                    "permission_denied", "helpdesk ending the sessions of a user who holds more")
            }
            #expect(try await client.call(.get, "/api/v1/me", token: admin.access).status == .ok, "a refused disable ended the admin's session")
            let renamed = try await client.call(.patch, "/api/v1/users/\(plain.id)", json: ["first_name": "Paula"], token: helpdesk.access)
            #expect(renamed.status == .ok, "helpdesk on a plain user: \(renamed.text)")

            let pending = try await client.register(["email": "new@example.com", "password": goodPassword])
            let pendingID = try #require((pending["user"] as? [String: Any])?["id"] as? String)
            expectAPIError(
                try await client.call(.patch, "/api/v1/users/\(pendingID)", json: ["status": "active"], token: helpdesk.access), .forbidden,
                "permission_denied", "activating a pending sign-up without registrations:approve")
            #expect(try await client.call(.get, "/api/v1/users/\(pendingID)", token: admin.access)["status"] as? String == "pending")
            let approve = try await rbacPermissionID(client, "registrations", "approve", admin.access)
            let granted = try await client.call(
                .patch, "/api/v1/roles/\(helpdeskRole)", json: ["permissions": [usersAll, sessionsAll, approve]], token: admin.access)
            #expect(granted.status == .ok, "granting approve: \(granted.text)")
            let activated = try await client.call(.patch, "/api/v1/users/\(pendingID)", json: ["status": "active"], token: helpdesk.access)
            #expect(activated.status == .ok, "with approve: \(activated.text)")

            expectAPIError(
                try await client.call(.patch, "/api/v1/users/\(admin.id)", json: ["status": "disabled"], token: admin.access), .forbidden,
                "permission_denied", "an admin disabling themselves")
            expectAPIError(
                try await client.call(.put, "/api/v1/users/\(admin.id)/roles", json: ["roles": ["client"]], token: admin.access), .forbidden,
                "permission_denied", "an admin dropping their own roles")
        }
    }

    @Test("authz/check answers false for an account that is not active", arguments: TestDatabase.all)
    func inactiveAccountsMayNothing(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let other = try await rbacMember(app, client, "other@example.com", roles: ["admin"])
            func allowed() async throws -> Bool? {
                try await client.call(.get, "/api/v1/authz/check?resource=users&action=read&user_id=\(other.id)", token: admin.access)["allowed"]
                    as? Bool
            }
            #expect(try await allowed() == true)
            for status in ["disabled", "pending", "rejected"] {
                #expect(try await client.call(.patch, "/api/v1/users/\(other.id)", json: ["status": status], token: admin.access).status == .ok)
                #expect(try await allowed() == false, "a \(status) admin is allowed")
            }
        }
    }
}

/// The signing keys: a rotation reaches running instances, a retired key is trusted nowhere, and
/// made-up key ids cost nothing.
@Suite("Signing keys", .throwawayDatabases)
struct SigningKeyTests {
    @Test("keys rotate reaches a running instance without a restart; a key no longer kept is no longer trusted", arguments: TestDatabase.all)
    func rotationReachesRunningInstance(_ database: TestDatabase) async throws {
        let url = try await database.freshURL()
        let app = try await TestApp.make(database, url: url)
        try await app.run { client in
            let first = try await client.signUp("keys@example.com")
            let firstKid = try #require(header(of: first.access)["kid"] as? String)
            // As `tessera keys rotate` does: another process, its own connections.
            let settings = try Settings(["DATABASE_URL": url])
            func rotate() async throws -> String {
                let cli = try await openDatabase(settings.database.url, timeout: 60, logger: app.tessera.logger)
                return try await cli.whileRunning { try await SigningKeys.rotate(settings: settings.tokens, database: cli) }
            }
            let second = try await rotate()
            try await eventually("the running instance signs with the new key") {
                header(of: try await client.signIn("keys@example.com").access)["kid"] as? String == second
            }
            #expect(try await client.call(.get, "/api/v1/me", token: first.access).status == .ok, "the previous key still verifies")
            let third = try await rotate()
            try await eventually("the running instance signs with the third key") {
                header(of: try await client.signIn("keys@example.com").access)["kid"] as? String == third
            }
            let jwks = try await client.call(.get, "/.well-known/jwks.json")
            let kids = (jwks["keys"] as? [[String: Any]] ?? []).compactMap { $0["kid"] as? String }
            #expect(Set(kids) == [second, third], "published: \(kids)")
            expectAPIError(
                try await client.call(.get, "/api/v1/me", token: first.access), .unauthorized, "token_not_valid",
                "a token of the retired key \(firstKid)")
        }
    }

    @Test("a flood of tokens with made-up key ids neither reloads the keys nor empties the remembered tokens", arguments: TestDatabase.all)
    func madeUpKids(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let pair = try await client.signUp("flood@example.com")
            #expect(try await client.call(.get, "/api/v1/me", token: pair.access).status == .ok)
            #expect(app.tessera.keys.verifiedClaims(of: pair.access) != nil, "a verified token is remembered")
            let parts = pair.access.split(separator: ".")
            for index in 0..<60 {
                let kid = index % 2 == 0 ? String(format: "%08x-es256", UInt32.random(in: 0...UInt32.max)) : UUID().uuidString
                let header = Data(#"{"alg":"ES256","typ":"JWT","kid":"\#(kid)"}"#.utf8).base64URLEncoded
                let forged = "\(header).\(parts[1]).\(parts[2])"
                expectAPIError(try await client.call(.get, "/api/v1/me", token: forged), .unauthorized, "token_not_valid", "a made-up kid")
                if index % 20 == 0 { try await Task.sleep(for: .milliseconds(1100)) }
            }
            #expect(app.tessera.keys.verifiedClaims(of: pair.access) != nil, "made-up key ids emptied the remembered tokens")
        }
    }
}

/// Mail and tokens at rest, and the answers that carry tokens.
@Suite("Secrets at rest", .throwawayDatabases)
struct SecretsAtRestTests {
    @Test("a delivered message's body (which holds a live link) is not kept", arguments: TestDatabase.all)
    func deliveredBodyDropped(_ database: TestDatabase) async throws {
        let sink = try await SMTPSink()
        defer { sink.stop() }
        let app = try await TestApp.make(database, ["SMTP_URL": "smtp://127.0.0.1:\(sink.port)?starttls=never"])
        try await app.run { client in
            _ = try await client.signUp("body@example.com")
            try await eventually("the mail is delivered") {
                let rows = try await queuedMail(app)
                return try sink.messages().count == 1 && rows.allSatisfy(\.sent)
            }
            #expect(try sink.messages().first?.parsed.text?.contains("token=") == true, "the delivered mail holds its link")
            let rows = try await queuedMail(app)
            #expect(rows.count == 1)
            #expect(rows.allSatisfy { $0.body.isEmpty }, "a sent body is kept: \(rows.map(\.body))")
        }
    }

    @Test("answers under /api/ carry Cache-Control: no-store, token answers above all", arguments: TestDatabase.all)
    func noStore(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let registered = try await client.register(["email": "cache@example.com", "password": goodPassword])
            let login = try await client.login("cache@example.com", goodPassword)
            let refresh = try await client.call(.post, "/api/v1/auth/token/refresh", json: ["refresh": try TokenPair(login).refresh])
            let failed = try await client.login("cache@example.com", "wrong-password")
            for (what, reply) in [("register", registered), ("login", login), ("refresh", refresh), ("failed login", failed)] {
                #expect(reply.headers[.cacheControl] == "no-store", "\(what): \(reply.headers[.cacheControl] ?? "no Cache-Control")")
            }
        }
    }

    @Test("smtp:// to a host other than loopback requires STARTTLS unless the URL says never")
    func startTLSRequired() throws {
        #expect(SMTPConfiguration(url: "smtp://mail.example.com")?.security == .startTLS)
        #expect(SMTPConfiguration(url: "smtp://user:pass@203.0.113.5:587")?.security == .startTLS)
        #expect(SMTPConfiguration(url: "smtp://mail.example.com?starttls=never")?.security == .plain)
        #expect(SMTPConfiguration(url: "smtp://127.0.0.1:2525")?.security == .startTLSIfAvailable)
        #expect(SMTPConfiguration(url: "smtp://localhost")?.security == .startTLSIfAvailable)
    }
}

/// Housekeeping keeps every table bounded; client addresses are read the way proxies write them.
@Suite("Housekeeping", .throwawayDatabases)
struct HousekeepingTests {
    @Test(
        "expired windows, failures, one-time tokens, ended sessions and delivered mail are pruned; what still matters stays",
        arguments: TestDatabase.all)
    func prune(_ database: TestDatabase) async throws {
        let sink = try await SMTPSink()
        defer { sink.stop() }
        let app = try await TestApp.make(database, ["RATE_LIMITS": "on", "SMTP_URL": "smtp://127.0.0.1:\(sink.port)?starttls=never"])
        try await app.run { client in
            let old = try await client.signUp("old@example.com")
            _ = try await client.signIn("old@example.com")
            _ = try await client.login("ghost@example.com", "wrong-password")
            _ = try await client.call(.post, "/api/v1/auth/password/reset", json: ["login": "old@example.com"])
            #expect(try await client.call(.post, "/api/v1/auth/logout", token: old.access).status == .noContent)
            try await eventually("both mails are delivered") { (try await queuedMail(app)).filter(\.sent).count == 2 }
            let before = try await counts(app)
            for table in ["sessions", "one_time_tokens", "rate_limit_windows", "login_failures", "mail_outbox"] {
                #expect(before[table, default: 0] > 0, "no \(table) rows to prune: \(before)")
            }
            // Nothing has run out yet.
            #expect(try await app.tessera.housekeeping.prune().values.reduce(0, +) == 0)
            #expect(try await counts(app) == before)

            // Past SESSION_TTL (30 days) and the day of grace after it.
            app.clock.advance(by: 32 * 86400)
            // Just ended: its access tokens may still be alive, so the row must stay.
            let recent = try await client.signIn("old@example.com")
            #expect(try await client.call(.post, "/api/v1/auth/logout", token: recent.access).status == .noContent)
            let live = try await client.signIn("old@example.com")
            try await app.tessera.housekeeping.prune()
            let after = try await counts(app)
            #expect(after["sessions"] == 2, "sessions left: \(after)")
            #expect(after["one_time_tokens"] == 0, "\(after)")
            #expect(after["mail_outbox"] == 0, "\(after)")
            #expect(after["login_failures"] == 0, "\(after)")
            // The two sign-ins just now started their windows again; the reset's windows are gone.
            #expect(after["rate_limit_windows"] == 2, "\(after)")
            #expect(try await client.call(.get, "/api/v1/me", token: live.access).status == .ok)
            expectAPIError(
                try await client.call(.get, "/api/v1/me", token: recent.access), .unauthorized, "token_not_valid", "a session ended just now")
        }
    }

    private func counts(_ app: TestApp) async throws -> [String: Int] {
        try await app.tessera.database.read { db in
            var counts: [String: Int] = [:]
            for table in ["sessions", "one_time_tokens", "rate_limit_windows", "login_failures", "mail_outbox"] {
                counts[table] = try await db.raw("SELECT COUNT(*) AS n FROM \(unsafeRaw: table)").first(decodingColumn: "n", as: Int.self)
            }
            return counts
        }
    }

    @Test("X-Forwarded-For hops written with a port are read; an IPv4-mapped peer matches IPv4 ranges")
    func forwardedFor() throws {
        let proxy = ClientAddressMiddleware(trusted: [try #require(IPRange("127.0.0.1")), try #require(IPRange("10.0.0.0/8"))])
        #expect(proxy.resolve(peer: "::ffff:127.0.0.1", forwarded: ["203.0.113.7:4711"]) == "203.0.113.7")
        #expect(proxy.resolve(peer: "127.0.0.1", forwarded: ["[2001:db8::1]:443"]) == "2001:db8::1")
        #expect(proxy.resolve(peer: "127.0.0.1", forwarded: ["2001:db8::2"]) == "2001:db8::2")
        #expect(proxy.resolve(peer: "127.0.0.1", forwarded: ["198.51.100.1:80, 10.1.2.3:9000"]) == "198.51.100.1")
        #expect(proxy.resolve(peer: "::ffff:192.0.2.9", forwarded: ["203.0.113.7"]) == "192.0.2.9", "an untrusted peer is the client")
        #expect(try #require(IPRange("10.0.0.0/8")).contains("::ffff:10.9.8.7"))
        #expect(try #require(IPRange("10.0.0.0/8")).contains("::ffff:11.9.8.7") == false)
    }
}

/// The JOSE header of a JWT, decoded by hand.
func header(of token: String) -> [String: Any] {
    guard let first = token.split(separator: ".").first, let data = Data(base64URL: String(first)) else { return [:] }
    return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
}

struct OutboxMessage: Sendable {
    let recipient: String
    let subject: String
    let body: String
    let sent: Bool
}

/// Every row of the mail outbox, oldest first.
func queuedMail(_ app: TestApp) async throws -> [OutboxMessage] {
    try await app.tessera.database.read { db in
        try await db.raw("SELECT recipient, subject, body, status FROM mail_outbox ORDER BY created_at").all().map {
            OutboxMessage(
                recipient: try $0.decode(column: "recipient", as: String.self), subject: try $0.decode(column: "subject", as: String.self),
                body: try $0.decode(column: "body", as: String.self), sent: try $0.decode(column: "status", as: String.self) == "sent")
        }
    }
}

/// The `token=` of the newest mail to `recipient` whose subject contains `subject`.
func mailedToken(_ app: TestApp, to recipient: String, subject: String) async throws -> String? {
    let body = try await queuedMail(app).last { $0.recipient == recipient && $0.subject.contains(subject) }?.body ?? ""
    guard let range = body.range(of: "token=") else { return nil }
    return String(body[range.upperBound...].prefix { !$0.isWhitespace })
}
