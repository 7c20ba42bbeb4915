import Egress25Admin
import Egress25AdminAPI
import Egress25Configuration
import ExceptionStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Bad input gets a 4xx problem document naming the field, and writes nothing; nothing answers 5xx.
@Suite struct APIBadInputTests {
    /// The store's state a refused request must leave alone: the audit log's length and the change token.
    static func storeState(_ store: ExceptionStore) throws -> [Int64] {
        [Int64(try store.auditEntries().count), try store.changeToken()]
    }

    @Test func malformedInputIsA400NamingTheFieldAndWritesNothing() async throws {
        let fixture = try AdminFixture()
        defer { fixture.cleanup() }
        let before = try Self.storeState(fixture.store)
        let support = fixture.tokens["support"]
        let cases: [(HTTPRequest.Method, String, String?, String)] = [
            (.get, "/api/v1/check?source=100.64.1.999&destination=203.0.113.25", nil, "source"),
            (.get, "/api/v1/check?source=100.64.1.10&destination=mx.example", nil, "destination"),
            (.get, "/api/v1/check?source=100.64.1.10&destination=2001:db8::25", nil, "destination"),
            (.get, "/api/v1/check?source=100.64.1.10&destination=203.0.113.25&port=0", nil, "port"),
            (.get, "/api/v1/check?source=100.64.1.10&destination=203.0.113.25&port=x", nil, "port"),
            (.get, "/api/v1/check?source=100.64.1.10&destination=203.0.113.25&at=yesterday", nil, "at"),
            (.get, "/api/v1/check?destination=203.0.113.25", nil, "source"),
            (
                .post, "/api/v1/customers/c-1001/exceptions",
                #"{"destinations":["203.0.113.25"],"duration":"forever","reason":"x"}"#, "body.duration"
            ),
            (
                .post, "/api/v1/customers/c-1001/exceptions",
                #"{"destinations":["203.0.113.25"],"duration":"1d","expires_at":"2030-01-01","reason":"x"}"#,
                "body.duration"
            ),
            (
                .post, "/api/v1/customers/c-1001/exceptions",
                #"{"destinations":["203.0.113.25"],"expires_at":"2001-01-01","reason":"x"}"#, "body.expires_at"
            ),
            (
                .post, "/api/v1/customers/c-1001/exceptions",
                #"{"destinations":["mx.example.net"],"duration":"1d","reason":"x"}"#, "body.destinations"
            ),
            (
                .post, "/api/v1/customers/c-1001/exceptions", #"{"destinations":[],"duration":"1d","reason":"x"}"#,
                "body.destinations"
            ),
            (
                .post, "/api/v1/customers/c-1001/exceptions", #"{"destinations":"any","duration":"1d"}"#,
                "body.reason"
            ),
            (
                .post, "/api/v1/customers/c-1001/exceptions", #"{"destinations":"any","duration":"1d","reason":" "}"#,
                "body.reason"
            ),
            (.post, "/api/v1/customers/c-1001/exceptions", #"{"destinations":"any","#, "body"),
            (.post, "/api/v1/customers", #"{"id":"has space"}"#, "body"),
            (.post, "/api/v1/exceptions/\(fixture.exceptionID)/revoke", #"{}"#, "body.reason"),
            // A NUL must not cut an id short (c-1001%00x is not c-1001), nor a slash or a huge id reach the store.
            (.get, "/api/v1/customers/c-1001%00garbage", nil, "id"),
            (.post, "/api/v1/exceptions/\(fixture.exceptionID)%00junk/revoke", #"{"reason":"x"}"#, "id"),
            (.get, "/api/v1/customers/..%2F..%2Fetc%2Fpasswd", nil, "id"),
            (.get, "/api/v1/customers/\(String(repeating: "c", count: 5000))", nil, "id"),
            (
                .post, "/api/v1/customers/c-1001%00x/exceptions",
                #"{"destinations":"any","duration":"1d","reason":"x"}"#,
                "id"
            ),
        ]
        try await fixture.withClient { client in
            for (method, path, json, field) in cases {
                let response = try await client.call(method, path, token: support, json: json)
                #expect(response.status == .badRequest, "\(method) \(path) \(json ?? ""): \(response.status)")
                #expect(response.headers[.contentType] == "application/problem+json", "\(path)")
                let problem = response.object
                #expect(problem["status"] as? Int == 400)
                #expect((problem["detail"] as? String)?.isEmpty == false)
                #expect(
                    (problem["field"] as? String)?.hasPrefix(field) == true,
                    "\(path) \(json ?? ""): field \(problem["field"] ?? "none"), expected \(field): \(problem["detail"] ?? "")"
                )
            }
        }
        #expect(try Self.storeState(fixture.store) == before)
    }

    /// What schemathesis found (issue: browser and schemathesis tests): the document's string constraints are held
    /// (400), times beyond year 9999 or before year 1 are refused instead of answered as text no reader takes, and an
    /// undeclared method gets 405 with `Allow` rather than 404.
    @Test func theDocumentsConstraintsHoldAndUndeclaredMethodsAre405() async throws {
        let fixture = try AdminFixture()
        defer { fixture.cleanup() }
        try FileManager.default.createDirectory(
            atPath: fixture.configuration.state.blockLog, withIntermediateDirectories: true)
        let before = try Self.storeState(fixture.store)
        let admin = fixture.tokens["admin"]
        let long = String(repeating: "a", count: 201)
        let cases: [(HTTPRequest.Method, String, String?, String)] = [
            (.get, "/api/v1/audit?customer=%C3%97%C3%B8", nil, "customer"),
            (.get, "/api/v1/customers?query=\(long)", nil, "query"),
            (.get, "/api/v1/customers?query=", nil, "query"),
            (.get, "/api/v1/blocked?customer=a%20b", nil, "customer"),
            (.get, "/api/v1/blocked/top?since=1s1s1s1s1s1s", nil, "since"),
            (.get, "/api/v1/blocked/top?since=46972499d&until=548588347h", nil, "since"),
            (.get, "/api/v1/blocked/timeline?until=2026-11-29T07:45:00.1234567890Z", nil, "until"),
            (.get, "/api/v1/suspects?since=999999999w", nil, "since"),
            (.get, "/api/v1/check?source=100.64.1.10/32&destination=203.0.113.25", nil, "source"),
            (
                .post, "/api/v1/customers/c-1001/exceptions",
                #"{"destinations":"any","expires_at":"9999-12-31","reason":"x"}"#, "body.expires_at"
            ),
            (
                .post, "/api/v1/customers/c-1001/exceptions",
                #"{"destinations":"any","duration":"1d1d1d1d1d1d","reason":"x"}"#, "body.duration"
            ),
            (
                .post, "/api/v1/customers/c-1001/exceptions",
                #"{"destinations":"any","duration":"1d","reason":"x","ticket":"\#(long)"}"#, "body.ticket"
            ),
            (.post, "/api/v1/customers", #"{"id":"c-3003","name":"\#(long)"}"#, "body.name"),
        ]
        try await fixture.withClient { client in
            for (method, path, json, field) in cases {
                let response = try await client.call(method, path, token: admin, json: json)
                #expect(response.status == .badRequest, "\(method) \(path) \(json ?? ""): \(response.status)")
                #expect(
                    response.object["field"] as? String == field,
                    "\(path): field \(response.object["field"] ?? "none"), expected \(field): \(response.text)")
            }
            let trace = try await client.call(.trace, "/api/v1/me", token: admin)
            #expect(trace.status == .methodNotAllowed, "\(trace.status)")
            #expect(trace.headers[.allow] == "GET")
            #expect(trace.headers[.contentType] == "application/problem+json")
            let delete = try await client.call(.delete, "/api/v1/customers/c-1001", token: admin)
            #expect(delete.status == .methodNotAllowed && delete.headers[.allow] == "GET")
            let put = try await client.call(.put, "/api/v1/customers", token: admin)
            #expect(put.status == .methodNotAllowed && put.headers[.allow] == "GET, POST")
            let query = try await client.call(HTTPRequest.Method("QUERY")!, "/api/v1/me", token: admin)
            #expect(query.status == .methodNotAllowed && query.headers[.allow] == "GET")
            let nothing = try await client.call(.get, "/api/v1/nothing-here", token: admin)
            #expect(nothing.status == .notFound)
        }
        #expect(try Self.storeState(fixture.store) == before)
    }

    @Test func unknownThingsAre404AndRevokingTwiceIs409() async throws {
        let fixture = try AdminFixture()
        defer { fixture.cleanup() }
        let support = fixture.tokens["support"]
        try await fixture.withClient { client in
            let unknown = try await client.call(.get, "/api/v1/customers/c-9999", token: support)
            #expect(unknown.status == .notFound)
            #expect(unknown.headers[.contentType] == "application/problem+json")
            let grant = try await client.call(
                .post, "/api/v1/customers/c-9999/exceptions", token: support,
                json: #"{"destinations":"any","duration":"1d","reason":"x"}"#)
            #expect(grant.status == .notFound, "\(grant.text)")
            let noSuchException = try await client.call(
                .post, "/api/v1/exceptions/exc-nothere/revoke", token: support, json: #"{"reason":"x"}"#)
            #expect(noSuchException.status == .notFound)
            let first = try await client.call(
                .post, "/api/v1/exceptions/\(fixture.exceptionID)/revoke", token: support, json: #"{"reason":"x"}"#)
            #expect(first.status == .ok)
            let before = try Self.storeState(fixture.store)
            let second = try await client.call(
                .post, "/api/v1/exceptions/\(fixture.exceptionID)/revoke", token: support, json: #"{"reason":"x"}"#)
            #expect(second.status == .conflict, "\(second.text)")
            #expect(second.object["status"] as? Int == 409)
            #expect(try Self.storeState(fixture.store) == before)
            let duplicate = try await client.call(.post, "/api/v1/customers", token: support, json: #"{"id":"c-1001"}"#)
            #expect(duplicate.status == .conflict)
            #expect(try Self.storeState(fixture.store) == before)
        }
    }

    @Test func oversizedBodiesAre413AndFailedAuthenticationIsRateLimited() async throws {
        let fixture = try AdminFixture()
        defer { fixture.cleanup() }
        try await fixture.withClient { client in
            let reason = String(repeating: "x", count: 70 * 1024)
            let big = try await client.call(
                .post, "/api/v1/customers/c-1001/exceptions", token: fixture.tokens["support"],
                json: #"{"destinations":"any","duration":"1d","reason":"\#(reason)"}"#)
            #expect(big.status == .contentTooLarge)
            #expect(big.headers[.contentType] == "application/problem+json")
            // admin.login_failures: 5 per minute per client address; then 429 even with a good token.
            for attempt in 1...5 {
                let wrong = try await client.call(.get, "/api/v1/me", token: "e25_wrong\(attempt)")
                #expect(wrong.status == .unauthorized)
            }
            let limited = try await client.call(.get, "/api/v1/me", token: fixture.tokens["admin"])
            #expect(limited.status == .tooManyRequests)
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 > 0)
        }
    }

    @Test func theServedDocumentIsTheCommittedOne() async throws {
        let fixture = try AdminFixture()
        defer { fixture.cleanup() }
        let committed = try String(
            contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("../../Sources/Egress25AdminAPI/openapi.yaml").path, encoding: .utf8)
        try await fixture.withClient { client in
            let response = try await client.call(.get, "/api/v1/openapi.yaml", token: nil)
            #expect(response.status == .ok)
            #expect(response.text == committed)
        }
    }

    @Test func checkExplainsAsEgress25ctlDoes() async throws {
        let fixture = try AdminFixture()
        defer { fixture.cleanup() }
        try await fixture.withClient { client in
            let allowed = try await client.call(
                .get, "/api/v1/check?source=100.64.1.10&destination=203.0.113.25", token: fixture.tokens["ops"])
            #expect(allowed.object["verdict"] as? String == "accept")
            #expect(allowed.object["customer"] as? String == "c-1001")
            #expect((allowed.object["exception"] as? [String: Any])?["id"] as? String == fixture.exceptionID)
            let scoped = try await client.call(
                .get, "/api/v1/check?source=100.64.1.10&destination=198.51.100.25", token: fixture.tokens["ops"])
            #expect(scoped.object["verdict"] as? String == "block")
            #expect(scoped.object["reason"] as? String == "blocked_outside_scope")
            let relay = try await client.call(
                .get, "/api/v1/check?source=100.64.9.9&destination=192.0.2.25", token: fixture.tokens["ops"])
            #expect(relay.object["verdict"] as? String == "accept")
            #expect((relay.object["relay"] as? [String: Any])?["host"] as? String == "192.0.2.25/32")
            // A revocation made elsewhere (egress25ctl) shows at once.
            try fixture.store.revokeException(id: fixture.exceptionID, reason: "ended", by: "ctl")
            try await Task.sleep(for: .milliseconds(150))
            let revoked = try await client.call(
                .get, "/api/v1/check?source=100.64.1.10&destination=203.0.113.25", token: fixture.tokens["ops"])
            #expect(revoked.object["verdict"] as? String == "block", "\(revoked.text)")
        }
    }
}
