import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import Tessera

/// Avatars (SPEC §6): images judged by their bytes, a limit that holds while the body streams
/// in, and a public URL that caches like a static file.
@Suite("Avatars", .throwawayDatabases)
struct AvatarTests {
    /// 2×2 images written by Pillow, so the checks meet real encoders' output.
    static let png = Data(
        base64Encoded: "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGM8Y5zGwMDAxMDAwMDAAAARTAFpBEdR8AAAAABJRU5ErkJggg==")!
    static let jpeg = Data(
        base64Encoded:
            "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAYEBQYFBAYGBQYHBwYIChAKCgkJChQODwwQFxQYGBcUFhYaHSUfGhsjHBYWICwgIyYnKSopGR8tMC0oMCUoKSj/2wBDAQcHBwoIChMKChMoGhYaKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCj/wAARCAACAAIDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDnqKKKD9SP/9k="
    )!
    static let webp = Data(base64Encoded: "UklGRjIAAABXRUJQVlA4ICYAAAAwAQCdASoCAAIAAUAmJaAAA3AA/u1NX//7aH//tof/+2h/0oAAAA==")!
    static let losslessWebP = Data(base64Encoded: "UklGRh4AAABXRUJQVlA4TBEAAAAvAUAAAAfQmTLXrP+BiOh/AAA=")!

    @Test("the formats are known by their bytes and their structure, not by a leading signature")
    func formatsByContent() {
        #expect(ImageFormat(of: Array(Self.png)) == .png)
        #expect(ImageFormat(of: Array(Self.jpeg)) == .jpeg)
        #expect(ImageFormat(of: Array(Self.webp)) == .webp)
        #expect(ImageFormat(of: Array(Self.losslessWebP)) == .webp)
        let script: [UInt8] = Array("<script>alert(document.cookie)</script>".utf8)
        let png: [UInt8] = Array(Self.png)
        let jpeg: [UInt8] = Array(Self.jpeg)
        let webp: [UInt8] = Array(Self.webp)
        var forgeries: [([UInt8], String)] = []
        forgeries.append((Array(png.prefix(8)) + script, "a PNG signature on a script"))
        forgeries.append((Array(png.prefix(33)) + script, "a PNG header chunk on a script"))
        forgeries.append((png + script, "a script after a PNG's end"))
        forgeries.append((Array(jpeg.prefix(20)) + script + [0xFF, 0xD9], "a JPEG start and end around a script"))
        forgeries.append((Array(webp.prefix(12)) + script, "a RIFF/WEBP header on a script"))
        forgeries.append((Array(png.dropLast(1)), "a truncated PNG"))
        forgeries.append((Array(jpeg.dropLast(2)), "a JPEG without its end"))
        forgeries.append((Array("GIF89a".utf8) + script, "a GIF"))
        forgeries.append(([], "nothing"))
        for (forged, what) in forgeries {
            #expect(ImageFormat(of: forged) == nil, "\(what)")
        }
        var damaged = Array(Self.png)
        damaged[40] ^= 0xFF
        #expect(ImageFormat(of: damaged) == nil, "a PNG whose chunk no longer matches its CRC")
    }

    @Test("a specialist sets, replaces and removes an avatar; anyone fetches it with its type, ETag and caching", arguments: TestDatabase.all)
    func avatarLifecycle(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database)
        try await app.run { client in
            let anna = try await rbacSignUp(client, "anna@example.com", kind: "specialist")
            let carl = try await rbacSignUp(client, "carl@example.com", kind: "client")
            _ = try await client.call(.patch, "/api/v1/me/profile", json: ["city": "Kazan"], token: anna.access)

            let set = try await client.upload(Self.png, filename: "me.jpg", declaring: "image/jpeg", token: anna.access)
            #expect(set.status == .ok, "\(set.text)")
            #expect(set.string("city") == "Kazan", "the profile's text is kept")
            let url = try #require(set.string("avatar"), "\(set.text)")
            #expect(url.hasPrefix("http://127.0.0.1:8080/api/v1/specialists/\(anna.id)/avatar?v="))
            #expect(try await client.call(.get, "/api/v1/me/profile", token: anna.access).string("avatar") == url)
            let listed = try await client.call(.get, "/api/v1/specialists/\(anna.id)")
            #expect(listed.string("avatar") == url)

            let path = String(url.dropFirst("http://127.0.0.1:8080".count))
            let image = try await client.fetch(path)
            #expect(image.status == .ok)
            #expect(image.body == Self.png)
            #expect(image.headers[.contentType] == "image/png", "the type found in the bytes, not the one declared")
            #expect(image.headers[.xContentTypeOptions] == "nosniff")
            #expect(image.headers[.cacheControl] == Avatar.cacheControl)
            let etag = try #require(image.headers[.eTag])
            #expect(etag.hasPrefix("\"") && !etag.hasPrefix("W/"), "a strong validator")
            for header in [etag, "\"other\", \(etag)", "W/\(etag)", "*"] {
                let revalidated = try await client.fetch(path, headers: [.ifNoneMatch: header])
                #expect(revalidated.status == .notModified, "\(header)")
                #expect(revalidated.body.isEmpty && revalidated.headers[.eTag] == etag)
            }
            #expect(try await client.fetch(path, headers: [.ifNoneMatch: "\"stale\""]).status == .ok)

            let replaced = try await client.upload(Self.webp, token: anna.access)
            #expect(replaced.status == .ok && replaced.string("avatar") != url, "a new image gets a new URL")
            let webp = try await client.fetch(path)
            #expect(webp.headers[.contentType] == "image/webp" && webp.body == Self.webp)
            #expect(webp.headers[.eTag] != etag)
            #expect(try await client.fetch(path, headers: [.ifNoneMatch: etag]).status == .ok, "the old ETag no longer matches")
            #expect(try await client.upload(Self.jpeg, token: anna.access).status == .ok)
            #expect(try await client.fetch(path).headers[.contentType] == "image/jpeg")

            let removed = try await client.call(.delete, "/api/v1/me/profile/avatar", token: anna.access)
            #expect(removed.status == .noContent)
            #expect(try await client.call(.get, "/api/v1/me/profile", token: anna.access)["avatar"] is NSNull)
            #expect(try await client.fetch(path).status == .notFound)
            #expect(try await client.call(.delete, "/api/v1/me/profile/avatar", token: anna.access).status == .noContent, "idempotent")

            expectAPIError(try await client.upload(Self.png, token: carl.access), .forbidden, "permission_denied", "a client has no profile")
            expectAPIError(try await client.upload(Self.png, token: nil), .unauthorized, "not_authenticated", "no token")
            expectAPIError(
                try await client.call(.delete, "/api/v1/me/profile/avatar", token: carl.access), .forbidden, "permission_denied", "a client")
            expectAPIError(try await client.fetch("/api/v1/specialists/\(carl.id)/avatar").reply, .notFound, "not_found", "a client's avatar")
        }
    }

    @Test("forged images, empty or missing fields, other encodings and oversized bodies are refused", arguments: TestDatabase.all)
    func hostileUploads(_ database: TestDatabase) async throws {
        let app = try await TestApp.make(database, ["AVATAR_MAX_BYTES": "2048"])
        try await app.run { client in
            let anna = try await rbacSignUp(client, "anna@example.com", kind: "specialist")
            let script = Data("<?php system($_GET['c']); ?>".utf8)
            for (bytes, what) in [
                (Self.png.prefix(8) + script, "a PNG header on a script"), (script, "a script named .png"), (Data(), "an empty file"),
                (Self.png.dropLast(12), "a PNG without its end"),
            ] {
                let reply = try await client.upload(bytes, filename: "avatar.png", declaring: "image/png", token: anna.access)
                expectAPIError(reply, .badRequest, "validation_error", what)
                #expect(reply.fields["avatar"] != nil, "\(what): \(reply.text)")
            }
            let other = try await client.upload(Self.png, field: "picture", token: anna.access)
            expectAPIError(other, .badRequest, "validation_error", "another field")
            #expect(other.fields["avatar"] != nil)
            expectAPIError(
                try await client.call(.put, "/api/v1/me/profile/avatar", json: ["avatar": Self.png.base64EncodedString()], token: anna.access),
                .unsupportedMediaType, "unsupported_media_type", "JSON instead of a form")
            expectAPIError(
                try await client.upload(Self.png, token: anna.access, contentType: "multipart/form-data"), .unsupportedMediaType,
                "unsupported_media_type", "no boundary")
            expectAPIError(
                try await client.call(
                    .put, "/api/v1/me/profile/avatar", json: "--x\r\nContent-Disposition form-data\r\n\r\n",
                    token: anna.access, headers: [.contentType: "multipart/form-data; boundary=x"]),
                .badRequest, "validation_error", "a malformed form")
            let cut = try await client.call(
                .put, "/api/v1/me/profile/avatar", json: "--b\r\nContent-Disposition: form-data; name=\"avatar\"\r\n\r\nPNG...",
                token: anna.access, headers: [.contentType: "multipart/form-data; boundary=b"])
            expectAPIError(cut, .badRequest, "validation_error", "a form cut off inside the file")

            let large = Self.png + Data(repeating: 0, count: 2048)
            expectAPIError(try await client.upload(large, token: anna.access), .contentTooLarge, "payload_too_large", "over the limit")
            #expect(try await client.call(.get, "/api/v1/me/profile", token: anna.access)["avatar"] is NSNull, "nothing was stored")
        }
    }

    @Test("the form parser: any split of the body, a preamble, other parts first; a non-ASCII header name is a 400, not a crash")
    func formParsing() async throws {
        func parse(_ body: [UInt8], chunk: Int, boundary: String = "b0und") async throws -> ByteBuffer? {
            let chunks = stride(from: 0, to: body.count, by: chunk).map { ByteBuffer(bytes: body[$0..<min($0 + chunk, body.count)]) }
            var head = HTTPRequest(method: .put, scheme: "http", authority: "localhost", path: "/api/v1/me/profile/avatar")
            head.headerFields[.contentType] = "multipart/form-data; boundary=\"\(boundary)\""
            let request = Request(head: head, body: RequestBody(asyncSequence: CountingBody(chunks: chunks, counter: ReadCounter())))
            return try await request.formFile("avatar", maxBytes: 4096)
        }
        let image = Array(Self.png) + Array("\r\n--b0un".utf8) + [0xFF, 0x0D, 0x0A]  // bytes that start like the delimiter
        let form =
            Array("preamble to ignore\r\n--b0und\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n".utf8)
            + Array("--b0und\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a;b.png\"\r\nContent-Type: image/png\r\n\r\n".utf8)
            + image + Array("\r\n--b0und--\r\nepilogue".utf8)
        for size in [1, 2, 7, 64, form.count] {
            let file = try await parse(form, chunk: size)
            #expect(file.map { Array($0.readableBytesView) } == image, "chunks of \(size)")
        }
        let cut = Array(form.prefix(form.count - 20))
        #expect(try await parse(cut, chunk: 64) == nil, "a form cut off before the file's delimiter has no file")
        let hostile = Array("--b0und\r\n".utf8) + [0xC3, 0x84] + Array(": x\r\n\r\ndata\r\n--b0und--\r\n".utf8)
        await #expect(throws: APIError.self) { _ = try await parse(hostile, chunk: 5) }
        let noHeaders = Array("--b0und\r\n\r\ndata\r\n--b0und--\r\n".utf8)
        #expect(try await parse(noHeaders, chunk: 5) == nil, "a part without headers names no field")
        let endless = Array("--b0und\r\n".utf8) + Array(repeating: UInt8(ascii: "X"), count: 10_000)
        await #expect(throws: APIError.self, "headers without an end") { _ = try await parse(endless, chunk: 100) }
    }

    @Test("the limit holds while the body streams in: a 25 MB upload is refused after little more than the limit is read")
    func limitWhileStreaming() async throws {
        let counter = ReadCounter()
        let boundary = "limit"
        let head = ByteBuffer(string: "--\(boundary)\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"\r\n\r\n")
        let chunk = ByteBuffer(repeating: 0x41, count: 64 * 1024)
        let chunks = [head] + Array(repeating: chunk, count: 400)
        let body = CountingBody(chunks: chunks, counter: counter)
        var head2 = HTTPRequest(method: .put, scheme: "http", authority: "localhost", path: "/api/v1/me/profile/avatar")
        head2.headerFields[.contentType] = "multipart/form-data; boundary=\(boundary)"
        let request = Request(head: head2, body: RequestBody(asyncSequence: body))
        let limit = 5 * 1024 * 1024
        await #expect(throws: APIError.self) { _ = try await request.formFile("avatar", maxBytes: limit) }
        #expect(counter.bytes < limit + 2 * chunk.readableBytes, "read \(counter.bytes) bytes of 25 MB")
    }
}

/// How many bytes a streamed body has handed out.
private final class ReadCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var total = 0
    var bytes: Int { lock.withLock { total } }
    func add(_ count: Int) { lock.withLock { total += count } }
}

private struct CountingBody: AsyncSequence, Sendable {
    let chunks: [ByteBuffer]
    let counter: ReadCounter

    struct AsyncIterator: AsyncIteratorProtocol {
        var chunks: IndexingIterator<[ByteBuffer]>
        let counter: ReadCounter
        mutating func next() async -> ByteBuffer? {
            guard let chunk = chunks.next() else { return nil }
            counter.add(chunk.readableBytes)
            return chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(chunks: chunks.makeIterator(), counter: counter) }
}

/// A raw answer: status, headers and bytes.
private struct Fetched {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let body: Data

    var reply: Reply { Reply(status: status, headers: headers, text: String(decoding: body, as: UTF8.self)) }
}

extension TestClientProtocol {
    /// `PUT /api/v1/me/profile/avatar` with `bytes` as the form's file.
    fileprivate func upload(
        _ bytes: Data, field: String = "avatar", filename: String = "avatar", declaring type: String = "application/octet-stream",
        token: String?, contentType: String = "multipart/form-data; boundary=tessera-test-boundary"
    ) async throws -> Reply {
        var body = ByteBuffer()
        body.writeString(
            "--tessera-test-boundary\r\nContent-Disposition: form-data; name=\"\(field)\"; filename=\"\(filename)\"\r\nContent-Type: \(type)\r\n\r\n")
        body.writeBytes(bytes)
        body.writeString("\r\n--tessera-test-boundary--\r\n")
        var headers: HTTPFields = [.contentType: contentType]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await execute(uri: "/api/v1/me/profile/avatar", method: .put, headers: headers, body: body) { response in
            Reply(status: response.status, headers: response.headers, text: String(buffer: response.body))
        }
    }

    fileprivate func fetch(_ path: String, headers: HTTPFields = [:]) async throws -> Fetched {
        try await execute(uri: path, method: .get, headers: headers) { response in
            Fetched(status: response.status, headers: response.headers, body: Data(response.body.readableBytesView))
        }
    }
}
