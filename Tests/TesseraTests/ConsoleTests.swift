import Foundation
import HummingbirdTesting
import Testing

@testable import Tessera

/// SPEC §9's admin console: the files it is served as, and an operator's walk through it in a real
/// browser (`Tests/console_browser.py`: Debian's Chromium driven by Selenium).
@Suite("Admin console", .serialized, .throwawayDatabases)
struct ConsoleTests {
    static let policy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'"

    @Test("/admin and /docs and their files come from the package with a strict policy, no inline script, tokens in memory")
    func files() async throws {
        let app = try await TestApp.make(.sqlite)
        try await app.run { client in
            for (path, script, stylesheet) in [("/admin", "console.js", "console.css"), ("/docs", "docs.js", "docs.css")] {
                let page = try await client.call(.get, path)
                #expect(page.status == .ok)
                #expect(page.headers[.contentType] == "text/html; charset=utf-8")
                #expect(page.headers[.contentSecurityPolicy] == Self.policy, "\(path)")
                #expect(page.headers[.xContentTypeOptions] == "nosniff")
                #expect(page.headers[PageFiles.openerPolicy] == "same-origin")
                // Every script is a file of the origin; no inline handler or style for the policy to refuse.
                let tags = page.text.components(separatedBy: "<script").dropFirst()
                #expect(!tags.isEmpty && tags.allSatisfy { $0.hasPrefix(" src=\"\(path)/") }, "\(path)")
                #expect(page.text.range(of: #"\son[a-z]+="#, options: .regularExpression) == nil, "\(path)")
                #expect(!page.text.contains("style=") && !page.text.contains("<style"), "\(path)")
                for (file, type) in [(script, "text/javascript; charset=utf-8"), (stylesheet, "text/css; charset=utf-8")] {
                    let reply = try await client.call(.get, "\(path)/\(file)")
                    #expect(reply.status == .ok, "\(file)")
                    #expect(reply.headers[.contentType] == type)
                    #expect(reply.headers[.contentSecurityPolicy] == Self.policy)
                    #expect(reply.text.count > 1000)
                }
                // The script keeps tokens in memory only and makes no markup of strings.
                let code = try await client.call(.get, "\(path)/\(script)").text
                for storage in [
                    "localStorage.", "sessionStorage.", "document.cookie", "indexedDB.", "innerHTML", "outerHTML", "insertAdjacentHTML",
                    "document.write",
                ] {
                    #expect(!code.contains(storage), "\(script) uses \(storage)")
                }
                for missing in ["\(path)/index.html", "\(path)/nope.js", "\(path)/..%2Fdocs.html"] {
                    let reply = try await client.call(.get, missing)
                    #expect(reply.status == .notFound, "\(missing)")
                    #expect(reply.code == "not_found")
                }
            }
        }
    }

    @Test("an operator signs in, ends a user's sessions, accepts and rejects sign-ups and credits a balance", arguments: TestDatabase.all)
    func operatorWalk(_ database: TestDatabase) async throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"), "scripts/bootstrap --postgres installs chromium-driver")
        let app = try await TestApp.make(database, ["REGISTRATION": "approval"])
        try await app.run(.live) { client in
            _ = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            _ = try await rbacMember(app, client, "sue@example.com", roles: ["supervisor"])
            let admin = try #require(try await client.login("root@example.com", goodPassword).string("access"))
            let (carl, service) = try await Self.market(app, client)
            for email in ["dana@example.com", "eve@example.com"] {
                #expect(try await client.register(["email": email, "password": goodPassword]).status == .created)
            }
            let credit = try await client.call(
                .patch, "/api/v1/balance", json: ["action": "in", "value_type": "real", "value": "20.00", "user_id": carl.id], token: admin)
            #expect(credit.status == .ok, "\(credit.text)")

            let walk = try await Self.browse([
                "--base", "http://127.0.0.1:\(try #require(client.port))", "--login", "root@example.com", "--password", goodPassword,
                "--accept", "dana@example.com", "--reject", "eve@example.com", "--reason", "Not one of our customers",
                "--user", "carl@example.com", "--service", service, "--expect-real", "120.00", "--markup-name", Self.markupName,
                "--supervisor", "sue@example.com",
            ])
            #expect(walk["ok"] as? Bool == true, "the browser walk failed: \(walk)")

            // What the clicks did, as the API sees it.
            #expect(try await client.call(.get, "/api/v1/me", token: carl.access).status == .unauthorized)
            let users = try await client.call(.get, "/api/v1/users?page_size=100", token: admin)
            let status = Dictionary(
                uniqueKeysWithValues: (users["results"] as? [[String: Any]] ?? []).map {
                    ($0["email"] as? String ?? "", $0["status"] as? String ?? "")
                })
            #expect(status["dana@example.com"] == "active")
            #expect(status["eve@example.com"] == "rejected")
            let rejected = try await client.call(.get, "/api/v1/audit?event=registration.rejected", token: admin)
            let detail = (rejected["results"] as? [[String: Any]])?.first?["detail"] as? [String: String]
            #expect(detail?["reason"] == "Not one of our customers", "\(rejected.text)")
            let resources = try await client.call(.get, "/api/v1/resources?page_size=100", token: admin)
            #expect((resources["results"] as? [[String: Any]])?.contains { $0["code_name"] as? String == "reports" } == true)
            let balance = try await client.call(.get, "/api/v1/users/\(carl.id)/balance", token: admin)
            #expect(balance.string("real") == "120.00", "\(balance.text)")
        }
    }

    /// Carl's first name: markup the console must show as text.
    static let markupName = "<img src=x onerror=\"window.pwned=1\">"

    /// A specialist with a service and working hours every day, and a client (Carl, named with
    /// markup) who booked it.
    static func market(_ app: TestApp, _ client: any TestClientProtocol) async throws -> (carl: RBACMember, service: String) {
        _ = try await app.tessera.accounts.createUser(
            RegisterRequest(email: "anna@example.com", password: goodPassword, first_name: "Anna", last_name: "Petrova", role: "specialist"),
            roles: [])
        let anna = try #require(try await client.login("anna@example.com", goodPassword).string("access"))
        let profile = try await client.call(
            .patch, "/api/v1/me/profile", json: ["full_name": "Anna Petrova", "city": "Moscow", "experience_years": 7, "bio": "Sports massage"],
            token: anna)
        #expect(profile.status == .ok, "\(profile.text)")
        let week = (1...7).map { ["weekday": $0, "start": "08:00", "end": "20:00"] as [String: Any] }
        #expect(
            try await client.call(.put, "/api/v1/me/schedule", json: ["timezone": "UTC", "weekly": week, "days_off": []], token: anna).status == .ok)
        let name = "Deep tissue massage"
        let created = try await client.call(.post, "/api/v1/services", json: ["name": name, "price": "2500", "duration_minutes": 60], token: anna)
        let serviceID = try #require(created.string("id"), "\(created.text)")
        let carl = try await rbacMember(app, client, "carl@example.com", roles: [])
        let named = try await client.call(.patch, "/api/v1/me", json: ["first_name": markupName], token: carl.access)
        #expect(named.status == .ok, "\(named.text)")
        let day = ISO8601DateFormatter.string(from: Date().addingTimeInterval(2 * 86_400), timeZone: .gmt, formatOptions: [.withFullDate])
        let specialist = try #require(created.string("specialist"))
        let slots = try await client.call(.get, "/api/v1/specialists/\(specialist)/availability?service=\(serviceID)&date=\(day)")
        let start = try #require((slots["slots"] as? [[String: Any]])?.first?["start"] as? String, "\(slots.text)")
        let booked = try await client.call(.post, "/api/v1/bookings", json: ["service": serviceID, "start": start], token: carl.access)
        #expect(booked.status == .created, "\(booked.text)")
        return (carl, name)
    }

    /// Runs the browser walk and returns its report. `TESSERA_CONSOLE_SCREENSHOTS` keeps the
    /// screenshots there (how docs/console/ was made).
    static func browse(_ arguments: [String]) async throws -> [String: Any] {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
            "console_browser.py")
        var arguments = ["python3", script.path] + arguments
        if let folder = ProcessInfo.processInfo.environment["TESSERA_CONSOLE_SCREENSHOTS"] { arguments += ["--screenshots", folder] }
        let run = try await ChildProcess.run(arguments, timeout: 300)
        let text = run.output + run.errors
        let line = run.output.split(separator: "\n").last.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? ["ok": false, "output": text]
    }
}
