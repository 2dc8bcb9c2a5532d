import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Tessera

/// SPEC §6 on both databases: services and money, profiles and the directory, schedules,
/// availability and bookings, and the hostile cases of each.
@Suite("Marketplace", .throwawayDatabases)
struct MarketplaceTests {
    @Test("money is exact: numbers and strings in, two decimals out; negatives, a third decimal and garbage are 400")
    func money() {
        #expect(Money(text: "1500")?.text == "1500.00")
        #expect(Money(text: "1500.5")?.text == "1500.50")
        #expect(Money(text: "0.07")?.text == "0.07")
        #expect(Money(text: "10.01")?.minor == 1001)
        for bad in ["", ".5", "5.", "1.001", "-1", "+1", "1e3", "1,5", " 1", "99999999999999999", "١٢"] {
            #expect(Money(text: bad) == nil, "\(bad) was read as money")
        }
        #expect(Money(text: "999999999999.99") == Money.maximum)
        #expect(Money(text: "1000000000000.00") == nil)
    }

    @Test("a specialist offers, changes and removes services; clients and other specialists may not; admins may", arguments: TestDatabase.all)
    func servicesBelongToTheirSpecialist(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let anna = try await rbacSignUp(client, "anna@example.com", kind: "specialist")
            let boris = try await rbacSignUp(client, "boris@example.com", kind: "specialist")
            let carl = try await rbacSignUp(client, "carl@example.com", kind: "client")
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])

            let created = try await client.call(
                .post, "/api/v1/services", json: ["name": "Massage", "description": "Back", "price": 1500, "duration_minutes": 60],
                token: anna.access)
            #expect(created.status == .created, "\(created.text)")
            #expect(created.string("price") == "1500.00")
            #expect(created.string("specialist") == anna.id)
            let id = try #require(created.string("id"))

            let string = try await client.call(
                .post, "/api/v1/services", json: ["name": "Tea", "price": "10.01", "duration_minutes": 30], token: anna.access)
            #expect(string.string("price") == "10.01", "\(string.text)")
            let decimal = try await client.call(
                .post, "/api/v1/services", json: ["name": "Nap", "price": 99.5, "duration_minutes": 30], token: anna.access)
            #expect(decimal.string("price") == "99.50", "\(decimal.text)")

            for (price, what) in [("10.001", "three decimals"), ("-5", "negative"), ("abc", "text")] as [(Any, String)] {
                let reply = try await client.call(
                    .post, "/api/v1/services", json: ["name": "X", "price": price, "duration_minutes": 30], token: anna.access)
                expectAPIError(reply, .badRequest, "validation_error", "price \(what)")
                #expect(reply.fields["price"] != nil, "price \(what): \(reply.text)")
            }
            for price in [-1, 1e20, 10.001] as [Any] {
                let reply = try await client.call(
                    .post, "/api/v1/services", json: ["name": "X", "price": price, "duration_minutes": 30], token: anna.access)
                expectAPIError(reply, .badRequest, "validation_error", "price \(price)")
            }
            for minutes in [0, -30, 1441, Int.max] {
                let reply = try await client.call(
                    .post, "/api/v1/services", json: ["name": "X", "price": 1, "duration_minutes": minutes], token: anna.access)
                expectAPIError(reply, .badRequest, "validation_error", "duration \(minutes)")
            }
            expectAPIError(
                try await client.call(.post, "/api/v1/services", json: ["price": 1, "duration_minutes": 30], token: anna.access), .badRequest,
                "validation_error", "no name")
            expectAPIError(
                try await client.call(.post, "/api/v1/services", json: ["name": "X", "price": 1, "duration_minutes": 30], token: carl.access),
                .forbidden, "permission_denied", "a client offering a service")

            expectAPIError(
                try await client.call(.patch, "/api/v1/services/\(id)", json: ["price": 1], token: boris.access), .forbidden, "permission_denied",
                "another specialist changing it")
            expectAPIError(
                try await client.call(.delete, "/api/v1/services/\(id)", token: boris.access), .forbidden, "permission_denied",
                "another specialist removing it")
            let changed = try await client.call(.patch, "/api/v1/services/\(id)", json: ["price": "2000.5"], token: anna.access)
            #expect(changed.status == .ok && changed.string("price") == "2000.50", "\(changed.text)")
            #expect(changed.string("name") == "Massage")
            let moderated = try await client.call(.patch, "/api/v1/services/\(id)", json: ["name": "Deep massage"], token: admin.access)
            #expect(moderated.status == .ok && moderated.string("name") == "Deep massage", "\(moderated.text)")
            #expect(try await client.call(.get, "/api/v1/services/\(id)").string("price") == "2000.50")

            #expect(try await client.call(.delete, "/api/v1/services/\(id)", token: anna.access).status == .noContent)
            expectAPIError(try await client.call(.get, "/api/v1/services/\(id)"), .notFound, "not_found", "a removed service")
            let borisOwn = try await client.call(
                .post, "/api/v1/services", json: ["name": "Haircut", "price": 700, "duration_minutes": 30], token: boris.access)
            let borisID = try #require(borisOwn.string("id"), "\(borisOwn.text)")
            #expect(try await client.call(.delete, "/api/v1/services/\(borisID)", token: admin.access).status == .noContent, "admins remove any")
        }
    }

    @Test("the public list filters, orders and pages, and shows only active specialists' services", arguments: TestDatabase.all)
    func publicServiceList(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let anna = try await rbacSignUp(client, "anna@example.com", kind: "specialist")
            let boris = try await rbacSignUp(client, "boris@example.com", kind: "specialist")
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            for (who, name, price, minutes) in [
                (anna, "Swedish massage", "1500", 60), (anna, "Hot stones", "2500.50", 90), (anna, "Foot massage", "900", 30),
                (boris, "Haircut", "700", 30), (boris, "MASSAGE for kids", "1200", 45),
            ] {
                let reply = try await client.call(
                    .post, "/api/v1/services", json: ["name": name, "price": price, "duration_minutes": minutes], token: who.access)
                try #require(reply.status == .created, "\(reply.text)")
                app.clock.advance(by: 1)
            }
            func names(_ query: String) async throws -> [String] {
                let reply = try await client.call(.get, "/api/v1/services\(query)")
                #expect(reply.status == .ok, "\(query): \(reply.text)")
                return (reply["results"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            }
            #expect(try await names("") == ["MASSAGE for kids", "Haircut", "Foot massage", "Hot stones", "Swedish massage"])
            #expect(try await names("?ordering=price") == ["Haircut", "Foot massage", "MASSAGE for kids", "Swedish massage", "Hot stones"])
            #expect(try await names("?ordering=-price").first == "Hot stones")
            #expect(try await names("?ordering=name") == ["Foot massage", "Haircut", "Hot stones", "MASSAGE for kids", "Swedish massage"])
            #expect(try await names("?ordering=created_at").first == "Swedish massage")
            #expect(Set(try await names("?name=massage")) == ["Swedish massage", "Foot massage", "MASSAGE for kids"])
            #expect(Set(try await names("?min_price=900&max_price=1500")) == ["Swedish massage", "Foot massage", "MASSAGE for kids"])
            #expect(try await names("?max_price=2500.49&min_price=2000").isEmpty)
            #expect(try await names("?duration_minutes=30&ordering=price") == ["Haircut", "Foot massage"])
            #expect(Set(try await names("?specialist=\(boris.id)")) == ["Haircut", "MASSAGE for kids"])
            let paged = try await client.call(.get, "/api/v1/services?page_size=2&page=2&ordering=price")
            #expect(paged["count"] as? Int == 5)
            #expect((paged["results"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["MASSAGE for kids", "Swedish massage"])

            for bad in [
                "?ordering=password", "?min_price=-1", "?max_price=1.001", "?duration_minutes=abc", "?specialist=nope",
                "?duration_minutes=99999999999999999999",
            ] {
                expectAPIError(try await client.call(.get, "/api/v1/services\(bad)"), .badRequest, "validation_error", bad)
            }

            let disabled = try await client.call(.patch, "/api/v1/users/\(boris.id)", json: ["status": "disabled"], token: admin.access)
            #expect(disabled.status == .ok, "\(disabled.text)")
            #expect(try await names("").count == 3, "a disabled specialist's services are hidden")
            expectAPIError(try await client.call(.get, "/api/v1/specialists/\(boris.id)"), .notFound, "not_found", "a disabled specialist")
        }
    }

    @Test("the public list comes from memory and follows every change: services, and their specialist's status", arguments: TestDatabase.all)
    func listFollowsChanges(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            let anna = try await rbacSignUp(client, "anna@example.com", kind: "specialist")
            func names() async throws -> [String] {
                let reply = try await client.call(.get, "/api/v1/services?ordering=name")
                #expect(reply.status == .ok, "\(reply.text)")
                return (reply["results"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            }
            try await eventually("the catalogue follows its feed") { app.tessera.catalog.store.catalogue.isCurrent }
            let massage = try await client.call(
                .post, "/api/v1/services", json: ["name": "Massage", "price": 10, "duration_minutes": 60], token: anna.access)
            let id = try #require(massage.string("id"))
            #expect(try await names() == ["Massage"])
            // Kept in memory: a row written behind Tessera's back (never done in production) is not seen…
            try await app.tessera.database.transaction { db in try await db.raw("UPDATE services SET name = 'Behind'").run() }
            #expect(try await names() == ["Massage"], "the list read the table again")
            // …while every change through Tessera shows on the next request.
            _ = try await client.call(.patch, "/api/v1/services/\(id)", json: ["name": "Long massage"], token: anna.access)
            #expect(try await names() == ["Long massage"])
            _ = try await client.call(.post, "/api/v1/services", json: ["name": "Haircut", "price": 5, "duration_minutes": 30], token: anna.access)
            #expect(try await names() == ["Haircut", "Long massage"])
            #expect(try await client.call(.patch, "/api/v1/users/\(anna.id)", json: ["status": "disabled"], token: admin.access).status == .ok)
            #expect(try await names() == [], "a disabled specialist's services leave the list at once")
            #expect(try await client.call(.patch, "/api/v1/users/\(anna.id)", json: ["status": "active"], token: admin.access).status == .ok)
            #expect(try await names() == ["Haircut", "Long massage"])
            #expect(try await client.call(.delete, "/api/v1/services/\(id)", token: admin.access).status == .noContent)
            #expect(try await names() == ["Haircut"])

            // Memory and the database (the path while the feed is down) agree on every order, mixed case and accents included.
            for name in ["banana", "Apple", "apple", "Äpfel", "Zebra massage"] {
                _ = try await client.call(.post, "/api/v1/services", json: ["name": name, "price": 7, "duration_minutes": 30], token: anna.access)
            }
            for ordering in [OfferingFilter.Ordering.name, .nameDescending, .price, .createdAtDescending] {
                for text in [nil, "a"] as [String?] {
                    let filter = CatalogStore.Filter(name: text, ordering: ordering)
                    let sql = try await app.tessera.database.read { db in try await app.tessera.catalog.store.list(filter, page: PageRequest(), db) }
                    let memory = try #require(try await app.tessera.catalog.store.catalogue.value()).page(filter, PageRequest())
                    #expect(
                        sql.0 == memory.0 && sql.1.map(\.id) == memory.1.map(\.id),
                        "\(ordering) \(text ?? "-"): \(sql.1.map(\.name)) vs \(memory.1.map(\.name))")
                }
            }
        }
    }

    @Test("PostgreSQL: a service added on one instance is listed by the others within a second")
    func listAcrossInstances() async throws {
        try #require(TestDatabase.all.contains(.postgres), "TESSERA_TEST_POSTGRES_URL is not set; run scripts/test")
        let url = try await TestDatabase.postgres.freshURL()
        let first = try await TestApp.make(.postgres, url: url)
        try await first.run { one in
            let second = try await TestApp.make(.postgres, url: url)
            try await second.run { other in
                let anna = try await rbacSignUp(one, "anna@example.com", kind: "specialist")
                try await eventually("both indexes follow the feed") {
                    first.tessera.catalog.store.catalogue.isCurrent && second.tessera.catalog.store.catalogue.isCurrent
                        && second.tessera.schedules.store.memory.isCurrent
                }
                #expect(try await other.call(.get, "/api/v1/services")["count"] as? Int == 0)
                _ = try await one.call(.post, "/api/v1/services", json: ["name": "Massage", "price": 10, "duration_minutes": 60], token: anna.access)
                try await eventually("the other instance lists it") { try await other.call(.get, "/api/v1/services")["count"] as? Int == 1 }
                // Schedules are kept in memory the same way.
                let id = try #require(
                    try await other.call(.get, "/api/v1/services").json["results"].flatMap { ($0 as? [[String: Any]])?.first?["id"] as? String })
                let monday = "/api/v1/specialists/\(anna.id)/availability?service=\(id)&date=2027-02-01"
                #expect((try await other.call(.get, monday)["slots"] as? [Any])?.isEmpty == true, "no hours yet")
                let hours = ["timezone": "UTC", "weekly": [["weekday": 1, "start": "09:00", "end": "11:00"]], "days_off": []] as [String: Any]
                #expect(try await one.call(.put, "/api/v1/me/schedule", json: hours, token: anna.access).status == .ok)
                try await eventually("the other instance offers the new hours") {
                    (try await other.call(.get, monday)["slots"] as? [Any])?.count == 2
                }
                // …and the bookings availability subtracts.
                let carl = try await rbacSignUp(one, "carl@example.com", kind: "client")
                let booked = try await one.call(
                    .post, "/api/v1/bookings", json: ["service": id, "start": "2027-02-01T09:00:00Z"], token: carl.access)
                #expect(booked.status == .created, "\(booked.text)")
                try await eventually("the other instance no longer offers the booked slot") {
                    (try await other.call(.get, monday)["slots"] as? [Any])?.count == 1
                }
            }
        }
    }

    @Test("profiles: there from sign-up, validated, specialists only; the directory filters and shows services", arguments: TestDatabase.all)
    func profilesAndDirectory(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let registered = try await client.register([
                "email": "anna@example.com", "password": goodPassword, "role": "specialist", "first_name": "Anna", "last_name": "Petrova",
            ])
            let anna = try TokenPair(registered)
            let boris = try await rbacSignUp(client, "boris@example.com", kind: "specialist")
            let carl = try await rbacSignUp(client, "carl@example.com", kind: "client")

            let fresh = try await client.call(.get, "/api/v1/me/profile", token: anna.access)
            #expect(fresh.status == .ok, "\(fresh.text)")
            #expect(fresh.string("full_name") == "Anna Petrova")
            #expect(fresh["experience_years"] as? Int == 0)
            #expect(fresh["avatar"] is NSNull)
            expectAPIError(
                try await client.call(.get, "/api/v1/me/profile", token: carl.access), .forbidden, "permission_denied", "a client's profile")

            for (body, field) in [
                (["experience_years": 81], "experience_years"), (["experience_years": -1], "experience_years"),
                (["experience_years": 2.5], "experience_years"), (["city": String(repeating: "x", count: 101)], "city"),
                (["full_name": "two\nlines"], "full_name"), (["bio": String(repeating: "b", count: 2001)], "bio"),
            ] as [([String: Any], String)] {
                let reply = try await client.call(.patch, "/api/v1/me/profile", json: body, token: anna.access)
                expectAPIError(reply, .badRequest, "validation_error", "\(body)")
                #expect(reply.fields[field] != nil, "\(body): \(reply.text)")
            }
            let changed = try await client.call(
                .patch, "/api/v1/me/profile", json: ["bio": "Sports massage.\nTen years.", "city": "Kazan", "experience_years": 10],
                token: anna.access)
            #expect(changed.status == .ok && changed.string("city") == "Kazan", "\(changed.text)")
            #expect(try await client.call(.get, "/api/v1/me/profile", token: anna.access)["experience_years"] as? Int == 10)
            _ = try await client.call(.patch, "/api/v1/me/profile", json: ["city": "Moscow", "experience_years": 3], token: boris.access)
            _ = try await client.call(
                .post, "/api/v1/services", json: ["name": "Haircut", "price": 700, "duration_minutes": 30], token: boris.access)

            func ids(_ query: String) async throws -> [String] {
                let reply = try await client.call(.get, "/api/v1/specialists\(query)")
                #expect(reply.status == .ok, "\(query): \(reply.text)")
                return (reply["results"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            }
            let annaID = try #require((registered["user"] as? [String: Any])?["id"] as? String)
            #expect(Set(try await ids("")) == [annaID, boris.id], "clients are not in the directory")
            #expect(try await ids("?city=kazan") == [annaID])
            #expect(try await ids("?min_experience=5") == [annaID])
            #expect(try await ids("?q=sports") == [annaID])
            #expect(try await ids("?q=petrova") == [annaID])
            #expect(try await ids("?service=hair") == [boris.id])
            expectAPIError(try await client.call(.get, "/api/v1/specialists?min_experience=-1"), .badRequest, "validation_error", "negative")
            expectAPIError(try await client.call(.get, "/api/v1/specialists?min_experience=x"), .badRequest, "validation_error", "text")

            let page = try await client.call(.get, "/api/v1/specialists/\(boris.id)")
            #expect(page.status == .ok)
            #expect((page["services"] as? [[String: Any]])?.first?["price"] as? String == "700.00")
            expectAPIError(try await client.call(.get, "/api/v1/specialists/\(carl.id)"), .notFound, "not_found", "a client is no specialist")
        }
    }

    @Test("schedules: set and read back; unknown zones, overlaps, bad times and clients are refused", arguments: TestDatabase.all)
    func schedules(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let anna = try await rbacSignUp(client, "anna@example.com", kind: "specialist")
            let carl = try await rbacSignUp(client, "carl@example.com", kind: "client")
            let empty = try await client.call(.get, "/api/v1/me/schedule", token: anna.access)
            #expect(empty.string("timezone") == "UTC" && (empty["weekly"] as? [Any])?.isEmpty == true, "\(empty.text)")

            let week: [String: Any] = [
                "timezone": "Europe/Moscow",
                "weekly": [
                    ["weekday": 1, "start": "13:00", "end": "15:00"], ["weekday": 1, "start": "09:00", "end": "12:00"],
                    ["weekday": 5, "start": "18:00", "end": "24:00"],
                ],
                "days_off": ["2027-12-31"],
            ]
            let put = try await client.call(.put, "/api/v1/me/schedule", json: week, token: anna.access)
            #expect(put.status == .ok, "\(put.text)")
            let read = try await client.call(.get, "/api/v1/me/schedule", token: anna.access)
            #expect(read.string("timezone") == "Europe/Moscow")
            let weekly = read["weekly"] as? [[String: Any]] ?? []
            #expect(
                weekly.map { "\($0["weekday"] ?? "")@\($0["start"] ?? "")-\($0["end"] ?? "")" } == [
                    "1@09:00-12:00", "1@13:00-15:00", "5@18:00-24:00",
                ])
            #expect(read["days_off"] as? [String] == ["2027-12-31"])

            for (body, field) in [
                (["timezone": "Mars/Olympus", "weekly": [], "days_off": []], "timezone"),
                (
                    [
                        "timezone": "UTC",
                        "weekly": [["weekday": 1, "start": "09:00", "end": "12:00"], ["weekday": 1, "start": "11:00", "end": "13:00"]],
                        "days_off": [],
                    ], "weekly"
                ),
                (["timezone": "UTC", "weekly": [["weekday": 8, "start": "09:00", "end": "12:00"]], "days_off": []], "weekly.0"),
                (["timezone": "UTC", "weekly": [["weekday": 1, "start": "12:00", "end": "09:00"]], "days_off": []], "weekly.0"),
                (["timezone": "UTC", "weekly": [["weekday": 1, "start": "9:00", "end": "25:00"]], "days_off": []], "weekly.0"),
                (["timezone": "UTC", "weekly": [], "days_off": ["2027-02-30"]], "days_off.0"),
            ] as [([String: Any], String)] {
                let reply = try await client.call(.put, "/api/v1/me/schedule", json: body, token: anna.access)
                expectAPIError(reply, .badRequest, "validation_error", "\(body)")
                #expect(reply.fields[field] != nil, "\(field): \(reply.text)")
            }
            expectAPIError(
                try await client.call(.put, "/api/v1/me/schedule", json: week, token: carl.access), .forbidden, "permission_denied", "a client")
        }
    }

    @Test("availability: slots of the service's length in working hours, minus days off, bookings and the past, in UTC", arguments: TestDatabase.all)
    func availability(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let market = try await Market.open(client, app)
            // 2027-02-01 is a Monday: 09:00–12:00 and 13:00–15:00 in Moscow (UTC+3).
            #expect(try await market.slots(market.hour, "2027-02-01") == ["06:00", "07:00", "08:00", "10:00", "11:00"])
            #expect(try await market.slots(market.longer, "2027-02-01") == ["06:00", "07:30", "10:00"])
            #expect(try await market.slots(market.hour, "2027-02-02").isEmpty, "Tuesday has no hours")
            #expect(try await market.slots(market.hour, "2027-02-08").isEmpty, "a day off")

            let booked = try await market.book(market.carl, market.hour, "2027-02-01T07:00:00Z")
            #expect(booked.status == .created, "\(booked.text)")
            #expect(try await market.slots(market.hour, "2027-02-01") == ["06:00", "08:00", "10:00", "11:00"])
            #expect(try await market.slots(market.longer, "2027-02-01") == ["10:00"], "a booking holds the time across services")

            // At 07:30 UTC that day, the slots that started are gone.
            app.clock.advance(by: try #require(Instant.parse("2027-02-01T07:30:00Z")).timeIntervalSince(app.tessera.clock.now()))
            #expect(try await market.slots(market.hour, "2027-02-01") == ["08:00", "10:00", "11:00"])

            for bad in [
                "?date=2027-02-01", "?service=\(market.hour)", "?service=\(market.hour)&date=2027-02-30", "?service=x&date=2027-02-01",
                "?service=\(market.hour)&date=99999-01-01",
            ] {
                expectAPIError(
                    try await client.call(.get, "/api/v1/specialists/\(market.anna.id)/availability\(bad)"), .badRequest, "validation_error", bad)
            }
            expectAPIError(
                try await client.call(.get, "/api/v1/specialists/\(market.carl.id)/availability?service=\(market.hour)&date=2027-02-01"),
                .notFound, "not_found", "another specialist's service")
        }
    }

    @Test("availability follows daylight-saving changes: a night range holds as many hours as it really lasts")
    func daylightSaving() throws {
        let berlin = try #require(TimeZone(identifier: "Europe/Berlin"))
        let night = Schedule(zoneName: "Europe/Berlin", timeZone: berlin, weekly: [Schedule.Hours(weekday: 7, start: 0, end: 240)], daysOff: [])
        func starts(_ date: String) throws -> [String] {
            BookingService.slots(of: night, on: try #require(LocalDate(date)), minutes: 60).map { $0.start.formatted(.iso8601) }
        }
        // 2027-03-28: clocks go from 02:00 to 03:00, so 00:00–04:00 lasts three hours.
        #expect(try starts("2027-03-28") == ["2027-03-27T23:00:00Z", "2027-03-28T00:00:00Z", "2027-03-28T01:00:00Z"])
        // 2027-10-31: clocks go from 03:00 back to 02:00, so it lasts five.
        #expect(try starts("2027-10-31").count == 5)
        #expect(try starts("2027-10-31").first == "2027-10-30T22:00:00Z")
        // An ordinary Sunday: four, from midnight CET.
        #expect(try starts("2027-02-07") == ["2027-02-06T23:00:00Z", "2027-02-07T00:00:00Z", "2027-02-07T01:00:00Z", "2027-02-07T02:00:00Z"])
    }

    @Test("anyone's bookings (GET /api/v1/users/{id}/bookings) are for holders of bookings:all, not of users:read", arguments: TestDatabase.all)
    func usersBookings(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let market = try await Market.open(client, app)
            #expect(try await market.book(market.carl, market.hour, "2027-02-01T06:00:00Z").status == .created)
            let admin = try await rbacMember(app, client, "root@example.com", roles: ["admin"])
            for (party, role) in [(market.carl.id, "client"), (market.anna.id, "specialist")] {
                let page = try await client.call(.get, "/api/v1/users/\(party)/bookings?status=pending", token: admin.access)
                #expect(page.status == .ok, "\(page.text)")
                #expect(page["count"] as? Int == 1, "the \(role)'s bookings: \(page.text)")
            }
            expectAPIError(
                try await client.call(.get, "/api/v1/users/\(UUID().uuidString)/bookings", token: admin.access), .notFound, "not_found", "nobody")
            let usersRead = try await client.call(.get, "/api/v1/permissions?resource=users&action=read", token: admin.access)
            let permission = try #require((usersRead["results"] as? [[String: Any]])?.first?["id"] as? String, "\(usersRead.text)")
            _ = try await client.rbacCreated(
                "/api/v1/roles", ["code_name": "reader", "name": "Reader", "permissions": [permission]], token: admin.access)
            let reader = try await rbacMember(app, client, "reader@example.com", roles: ["reader"])
            for (who, token) in [("a users:read holder", reader.access), ("the specialist herself", market.anna.access)] {
                expectAPIError(
                    try await client.call(.get, "/api/v1/users/\(market.carl.id)/bookings", token: token), .forbidden, "permission_denied", who)
            }
        }
    }

    @Test("bookings: only offered slots; the parties confirm and cancel as SPEC says; mails go out; others see nothing", arguments: TestDatabase.all)
    func bookings(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let market = try await Market.open(client, app)
            let dora = try await rbacSignUp(client, "dora@example.com", kind: "client")

            for (start, what) in [
                ("2027-02-01T07:15:00Z", "off the grid"), ("2027-02-01T05:00:00Z", "outside the hours"),
                ("2027-02-08T07:00:00Z", "a day off"), ("2026-01-05T07:00:00Z", "in the past"),
            ] {
                expectAPIError(try await market.book(market.carl, market.hour, start), .conflict, "slot_unavailable", what)
            }
            expectAPIError(try await market.book(market.carl, market.hour, "tomorrow"), .badRequest, "validation_error", "not a time")
            expectAPIError(
                try await market.book(market.carl, UUID().uuidString, "2027-02-01T07:00:00Z"), .badRequest, "validation_error", "no such service")
            expectAPIError(
                try await market.book(market.anna, market.hour, "2027-02-01T08:00:00Z"), .forbidden, "permission_denied", "a specialist booking")

            // Any offset names the instant: 11:00 in Moscow is the 08:00 UTC slot.
            let booked = try await market.book(market.carl, market.hour, "2027-02-01T11:00:00+03:00")
            #expect(booked.status == .created, "\(booked.text)")
            #expect(booked.string("start") == "2027-02-01T08:00:00Z")
            let first = try await market.book(market.carl, market.hour, "2027-02-01T06:00:00Z")
            #expect(first.status == .created && first.string("status") == "pending" && first.string("price") == "1500.00", "\(first.text)")
            #expect(first.string("end") == "2027-02-01T07:00:00Z")
            let id = try #require(first.string("id"))
            expectAPIError(try await market.book(dora, market.hour, "2027-02-01T06:00:00Z"), .conflict, "slot_unavailable", "the same slot again")
            expectAPIError(
                try await market.book(dora, market.longer, "2027-02-01T06:00:00Z"), .conflict, "slot_unavailable", "an overlapping service")
            #expect(try await queuedMail(app).contains { $0.recipient == "anna@example.com" && $0.subject.contains("New booking") })

            expectAPIError(try await client.call(.get, "/api/v1/bookings/\(id)", token: dora.access), .notFound, "not_found", "a stranger reading it")
            expectAPIError(
                try await client.call(.patch, "/api/v1/bookings/\(id)", json: ["action": "cancel"], token: dora.access), .notFound, "not_found",
                "a stranger cancelling it")
            expectAPIError(
                try await client.call(.patch, "/api/v1/bookings/\(id)", json: ["action": "confirm"], token: market.carl.access), .forbidden,
                "permission_denied", "the client confirming")
            expectAPIError(
                try await client.call(.patch, "/api/v1/bookings/\(id)", json: ["action": "steal"], token: market.anna.access), .badRequest,
                "validation_error", "an unknown action")
            let confirmed = try await client.call(.patch, "/api/v1/bookings/\(id)", json: ["action": "confirm"], token: market.anna.access)
            #expect(confirmed.status == .ok && confirmed.string("status") == "confirmed", "\(confirmed.text)")
            #expect(try await queuedMail(app).contains { $0.recipient == "carl@example.com" && $0.subject.contains("confirmed") })

            let asClient = try await client.call(.get, "/api/v1/bookings", token: market.carl.access)
            #expect(asClient["count"] as? Int == 2)
            let asSpecialist = try await client.call(.get, "/api/v1/bookings?status=confirmed", token: market.anna.access)
            #expect((asSpecialist["results"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [id])
            let window = try await client.call(
                .get, "/api/v1/bookings?from=2027-02-01T05:00:00Z&to=2027-02-01T06:30:00Z", token: market.anna.access)
            #expect(window["count"] as? Int == 1, "\(window.text)")
            #expect(try await client.call(.get, "/api/v1/bookings", token: dora.access)["count"] as? Int == 0)
            expectAPIError(
                try await client.call(.get, "/api/v1/bookings?status=lost", token: dora.access), .badRequest, "validation_error", "status")
            expectAPIError(try await client.call(.get, "/api/v1/bookings?from=soon", token: dora.access), .badRequest, "validation_error", "from")

            let cancelled = try await client.call(.patch, "/api/v1/bookings/\(id)", json: ["action": "cancel"], token: market.carl.access)
            #expect(cancelled.status == .ok && cancelled.string("status") == "cancelled", "\(cancelled.text)")
            #expect(try await queuedMail(app).contains { $0.recipient == "anna@example.com" && $0.subject.contains("cancelled") })
            expectAPIError(
                try await client.call(.patch, "/api/v1/bookings/\(id)", json: ["action": "confirm"], token: market.anna.access), .conflict,
                "invalid_state", "confirming a cancelled booking")
            #expect(try await market.slots(market.hour, "2027-02-01").contains("06:00"), "a cancelled booking frees its slot")
            let rebooked = try await market.book(dora, market.hour, "2027-02-01T06:00:00Z")
            #expect(rebooked.status == .created)
            let doraID = try #require(rebooked.string("id"))
            for party in [dora, market.anna] {
                let seen = try await client.call(.get, "/api/v1/bookings/\(doraID)", token: party.access)
                #expect(seen.status == .ok && seen.string("client") == dora.id, "a party reading it: \(seen.text)")
            }
            let bySpecialist = try await client.call(.patch, "/api/v1/bookings/\(doraID)", json: ["action": "cancel"], token: market.anna.access)
            #expect(bySpecialist.string("status") == "cancelled", "\(bySpecialist.text)")
            #expect(try await queuedMail(app).contains { $0.recipient == "dora@example.com" && $0.subject.contains("cancelled") })

            // Once it has started, a booking can no longer be cancelled.
            let late = try await market.book(dora, market.hour, "2027-02-01T10:00:00Z")
            let lateID = try #require(late.string("id"), "\(late.text)")
            app.clock.advance(by: try #require(Instant.parse("2027-02-01T10:05:00Z")).timeIntervalSince(app.tessera.clock.now()))
            let doraNow = try await client.signIn("dora@example.com")  // the clock moved past her access token's life
            expectAPIError(
                try await client.call(.patch, "/api/v1/bookings/\(lateID)", json: ["action": "cancel"], token: doraNow.access), .conflict,
                "invalid_state", "cancelling a booking that has started")
        }
    }

    @Test("20 clients race for one slot, and 20 for overlapping slots of two services: one booking each time", arguments: TestDatabase.all)
    func neverDoubleBooked(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run(.live) { client in
            let market = try await Market.open(client, app)
            var clients: [RBACMember] = []
            for index in 0..<20 { clients.append(try await rbacSignUp(client, "racer\(index)@example.com", kind: "client")) }
            let port = try #require(client.port)

            func race(_ attempts: [(RBACMember, String, String)]) async throws -> [Int] {
                try await concurrently(
                    port: port,
                    attempts.map { member, service, start in
                        try jsonRequest(.post, "/api/v1/bookings", ["service": service, "start": start], token: member.access)
                    }
                ).map(\.status)
            }
            let one = try await race(clients.map { ($0, market.hour, "2027-02-01T08:00:00Z") })
            #expect(one.filter { $0 == 201 }.count == 1, "one slot, \(one.filter { $0 == 201 }.count) bookings: \(one)")
            #expect(one.filter { $0 == 409 }.count == 19, "\(one)")

            // 06:00–07:00 (an hour) and 06:00–07:30 (an hour and a half) overlap.
            let mixed = try await race(
                clients.enumerated().map { index, member in
                    index % 2 == 0 ? (member, market.hour, "2027-02-01T06:00:00Z") : (member, market.longer, "2027-02-01T06:00:00Z")
                })
            #expect(mixed.filter { $0 == 201 }.count == 1, "overlapping services, \(mixed.filter { $0 == 201 }.count) bookings: \(mixed)")
            #expect(mixed.allSatisfy { $0 == 201 || $0 == 409 }, "\(mixed)")

            let live = try await app.tessera.database.read { db in
                try await db.raw("SELECT COUNT(*) AS n FROM bookings WHERE status <> 'cancelled'").first(decodingColumn: "n", as: Int.self)
            }
            #expect(live == 2)
        }
    }
}

/// A specialist (Anna, Moscow, Mondays 09:00–12:00 and 13:00–15:00, 2027-02-08 off) with a
/// one-hour and a ninety-minute service, and a client (Carl).
private struct Market {
    let client: any TestClientProtocol
    let anna: RBACMember
    let carl: RBACMember
    let hour: String
    let longer: String

    static func open(_ client: any TestClientProtocol, _ app: TestApp) async throws -> Market {
        let anna = try await rbacSignUp(client, "anna@example.com", kind: "specialist")
        let carl = try await rbacSignUp(client, "carl@example.com", kind: "client")
        let schedule = try await client.call(
            .put, "/api/v1/me/schedule",
            json: [
                "timezone": "Europe/Moscow",
                "weekly": [["weekday": 1, "start": "09:00", "end": "12:00"], ["weekday": 1, "start": "13:00", "end": "15:00"]],
                "days_off": ["2027-02-08"],
            ], token: anna.access)
        try #require(schedule.status == .ok, "\(schedule.text)")
        var ids: [String] = []
        for (name, minutes) in [("Massage", 60), ("Long massage", 90)] {
            let reply = try await client.call(
                .post, "/api/v1/services", json: ["name": name, "price": 1500, "duration_minutes": minutes], token: anna.access)
            ids.append(try #require(reply.string("id"), "\(reply.text)"))
        }
        return Market(client: client, anna: anna, carl: carl, hour: ids[0], longer: ids[1])
    }

    /// The free slots' UTC start times, `HH:MM`.
    func slots(_ service: String, _ date: String) async throws -> [String] {
        let reply = try await client.call(.get, "/api/v1/specialists/\(anna.id)/availability?service=\(service)&date=\(date)")
        #expect(reply.status == .ok, "\(reply.text)")
        #expect(reply.string("date") == date)
        return (reply["slots"] as? [[String: Any]] ?? []).compactMap { ($0["start"] as? String).map { String($0.dropFirst(11).prefix(5)) } }
    }

    func book(_ who: RBACMember, _ service: String, _ start: String) async throws -> Reply {
        try await client.call(.post, "/api/v1/bookings", json: ["service": service, "start": start], token: who.access)
    }
}
