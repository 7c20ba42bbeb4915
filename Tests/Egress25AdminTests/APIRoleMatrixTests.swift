import Egress25Admin
import Egress25Configuration
import Egress25Core
import ExceptionStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Every route against every role: allowed (2xx), no token or a bad one (401), another role (403). The routes and
/// their roles are the issue's matrix; `admin` may do everything.
@Suite struct APIRoleMatrixTests {
    struct Route: Sendable, CustomStringConvertible {
        var method: HTTPRequest.Method
        var path: String
        var json: String?
        var roles: Set<String>
        var description: String { "\(method) \(path)" }
    }

    static func routes(exceptionID: String) -> [Route] {
        let grant = #"{"destinations":["203.0.113.99"],"duration":"1d","reason":"matrix","ticket":"T-9"}"#
        return [
            Route(method: .get, path: "/api/v1/me", roles: ["support", "abuse", "ops", "admin"]),
            Route(
                method: .get, path: "/api/v1/check?source=100.64.1.10&destination=203.0.113.25",
                roles: ["support", "abuse", "ops", "admin"]),
            Route(method: .get, path: "/api/v1/customers?query=c-1", roles: ["support", "admin"]),
            Route(method: .post, path: "/api/v1/customers", json: #"{"id":"NEW"}"#, roles: ["support", "admin"]),
            Route(method: .get, path: "/api/v1/customers/c-1001", roles: ["support", "admin"]),
            Route(
                method: .post, path: "/api/v1/customers/c-1001/exceptions", json: grant, roles: ["support", "admin"]),
            Route(method: .get, path: "/api/v1/exceptions/\(exceptionID)", roles: ["support", "abuse", "admin"]),
            Route(
                method: .post, path: "/api/v1/exceptions/EXC/revoke", json: #"{"reason":"matrix"}"#,
                roles: ["support", "admin"]),
            Route(method: .get, path: "/api/v1/audit?customer=c-1001", roles: ["support", "abuse", "admin"]),
            Route(method: .get, path: "/api/v1/blocked?since=1h", roles: ["abuse", "admin"]),
            Route(method: .get, path: "/api/v1/blocked/top?by=source", roles: ["abuse", "admin"]),
            Route(method: .get, path: "/api/v1/blocked/timeline?source=100.64.1.10", roles: ["abuse", "admin"]),
            Route(method: .get, path: "/api/v1/blocked/export?format=csv", roles: ["abuse", "admin"]),
            Route(method: .get, path: "/api/v1/suspects", roles: ["abuse", "admin"]),
            Route(method: .get, path: "/api/v1/nodes", roles: ["ops", "admin"]),
        ]
    }

    @Test func everyRouteAgainstEveryRole() async throws {
        let fixture = try AdminFixture(loginFailuresPerMinute: 10_000)
        defer { fixture.cleanup() }
        // The block log exists (empty), so the abuse desk's routes answer 200 rather than 404.
        try FileManager.default.createDirectory(
            atPath: fixture.configuration.state.blockLog, withIntermediateDirectories: true)
        let tokens = fixture.tokens
        let routes = Self.routes(exceptionID: fixture.exceptionID)
        try await fixture.withClient { client in
            var customerNumber = 0
            for route in routes {
                for role in ["support", "abuse", "ops", "admin"] {
                    var route = route
                    if route.path.contains("/customers") && route.method == .post && route.json == #"{"id":"NEW"}"# {
                        customerNumber += 1
                        route.json = #"{"id":"c-new-\#(customerNumber)"}"#
                    }
                    if route.path.contains("EXC") {
                        // A fresh exception per attempt, so an allowed revoke is a real 200.
                        let granted = try fixture.store.grantException(
                            ExceptionGrant(
                                customer: "c-2002", destinations: .any, expiresAt: nil, reason: "to revoke",
                                ticket: nil, grantedBy: "setup"))
                        route.path = route.path.replacingOccurrences(of: "EXC", with: granted.exception.id)
                    }
                    let response = try await client.call(
                        route.method, route.path, token: tokens[role], json: route.json)
                    if route.roles.contains(role) {
                        #expect(
                            (200..<300).contains(Int(response.status.code)),
                            "\(route) as \(role): \(response.status) \(response.text)")
                    } else {
                        #expect(response.status == .forbidden, "\(route) as \(role): \(response.status)")
                        #expect(response.headers[.contentType] == "application/problem+json")
                        #expect(response.object["status"] as? Int == 403)
                    }
                }
                for (what, token) in [
                    ("no token", nil), ("revoked", tokens["revoked"]), ("expired", tokens["expired"]),
                ] {
                    let response = try await client.call(
                        route.method, route.path, token: token, json: route.json,
                        headers: [.init("X-Test")!: what])
                    #expect(response.status == .unauthorized, "\(route) with \(what): \(response.status)")
                    #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
            }
        }
    }

    @Test func changesAreAuditedUnderTheTokensNameAndRoleNotAClaimedOne() async throws {
        let fixture = try AdminFixture()
        defer { fixture.cleanup() }
        try await fixture.withClient { client in
            let granted = try await client.call(
                .post, "/api/v1/customers/c-1001/exceptions", token: fixture.tokens["support"],
                json: #"{"destinations":"any","duration":"7d","reason":"business line","ticket":"T-77"}"#)
            #expect(granted.status == .created, "\(granted.text)")
            let id = try #require(granted.object["id"] as? String)
            #expect(granted.object["holds_address"] as? Bool == true)
            // A body that names its own actor is refused: the schema has no such field.
            let claimed = try await client.call(
                .post, "/api/v1/customers/c-1001/exceptions", token: fixture.tokens["support"],
                json: #"{"destinations":"any","duration":"7d","reason":"x","granted_by":"mallory"}"#)
            #expect(claimed.status == .badRequest, "\(claimed.text)")
            let revoked = try await client.call(
                .post, "/api/v1/exceptions/\(id)/revoke", token: fixture.tokens["admin"], json: #"{"reason":"done"}"#)
            #expect(revoked.status == .ok, "\(revoked.text)")
            #expect(revoked.object["status"] as? String == "revoked")
        }
        let entries = try fixture.store.auditEntries(customer: "c-1001").suffix(2)
        #expect(entries.map(\.action) == ["exception.grant", "exception.revoke"])
        #expect(entries.map(\.actor) == ["support-user", "admin-user"])
        #expect(entries.map(\.role) == ["support", "admin"])
        #expect(try fixture.store.auditEntries().allSatisfy { $0.actor != "mallory" })
    }
}
