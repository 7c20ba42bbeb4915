import Egress25Admin
import ExceptionStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The console's login, session cookie, CSRF check, role checks and grant/revoke forms, in process.
@Suite struct ConsoleRouteTests {
    /// Signs in with `token`; the session cookie (`name=value`) and the CSRF token of the page it lands on.
    static func signIn(
        _ client: any TestClientProtocol, token: String
    ) async throws -> (cookie: String, csrf: String, landing: String) {
        let login = try await client.execute(
            uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
            body: ByteBuffer(string: "token=\(token)"))
        #expect(login.status == .seeOther, "\(login.status)")
        let setCookie = try #require(login.headers[.setCookie])
        #expect(setCookie.contains("HttpOnly"))
        #expect(setCookie.contains("SameSite=Strict"))
        let cookie = String(setCookie.split(separator: ";")[0])
        let landing = try #require(login.headers[.location])
        let page = try await client.execute(uri: landing, method: .get, headers: [.cookie: cookie])
        #expect(page.status == .ok)
        return (cookie, csrf(in: page.text) ?? "", landing)
    }

    /// The value of the first `name="csrf_token"` input.
    static func csrf(in html: String) -> String? {
        guard let range = html.range(of: "name=\"csrf_token\" value=\"") else { return nil }
        return String(html[range.upperBound...].prefix { $0 != "\"" })
    }

    static func form(_ fields: [String: String]) -> ByteBuffer {
        ByteBuffer(
            string: fields.map { key, value in
                "\(key)=\(value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value)"
            }.joined(separator: "&"))
    }

    @Test func pagesNeedASessionAndCarryTheSecurityPolicy() async throws {
        let fixture = try AdminFixture()
        defer { fixture.cleanup() }
        try await fixture.withClient { client in
            let anonymous = try await client.execute(uri: "/customers", method: .get)
            #expect(anonymous.status == .found)
            #expect(anonymous.headers[.location] == "/login")
            let login = try await client.execute(uri: "/login", method: .get)
            #expect(login.status == .ok)
            let policy = try #require(login.headers[.contentSecurityPolicy])
            #expect(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"))
            let wrong = try await client.execute(
                uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "token=e25_nope"))
            #expect(wrong.status == .unauthorized)
            #expect(wrong.headers[.setCookie] == nil)
            let css = try await client.execute(uri: "/static/console.css", method: .get)
            #expect(css.status == .ok)
        }
    }

    @Test func supportGrantsAndRevokesWithTheFormsAndIsRefusedTheAbusePages() async throws {
        let fixture = try AdminFixture()
        defer { fixture.cleanup() }
        try await fixture.withClient { client in
            let session = try await Self.signIn(client, token: fixture.tokens["support"]!)
            #expect(session.landing == "/customers")
            let search = try await client.execute(
                uri: "/customers?query=100.64.1.10", method: .get, headers: [.cookie: session.cookie])
            #expect(search.text.contains("/customers/c-1001"))
            #expect(!search.text.contains("/customers/c-2002"))
            let page = try await client.execute(
                uri: "/customers/c-1001", method: .get, headers: [.cookie: session.cookie])
            let csrf = try #require(Self.csrf(in: page.text))
            let headers: HTTPFields = [.cookie: session.cookie, .contentType: "application/x-www-form-urlencoded"]

            // Without the CSRF token: 403, nothing granted.
            let before = try fixture.store.exceptions(customer: "c-1001", status: .all).count
            let forged = try await client.execute(
                uri: "/customers/c-1001/exceptions", method: .post, headers: headers,
                body: Self.form(["destinations": "198.51.100.25", "duration": "1d", "reason": "forged"]))
            #expect(forged.status == .forbidden)
            #expect(try fixture.store.exceptions(customer: "c-1001", status: .all).count == before)

            // A bad destination comes back beside its field, nothing granted.
            let bad = try await client.execute(
                uri: "/customers/c-1001/exceptions", method: .post, headers: headers,
                body: Self.form([
                    "csrf_token": csrf, "destinations": "mx.example", "duration": "1d", "reason": "x",
                ]))
            #expect(bad.status == .badRequest)
            #expect(bad.text.contains("mx.example"))
            #expect(try fixture.store.exceptions(customer: "c-1001", status: .all).count == before)

            let granted = try await client.execute(
                uri: "/customers/c-1001/exceptions", method: .post, headers: headers,
                body: Self.form([
                    "csrf_token": csrf, "destinations": "198.51.100.25", "duration": "30d", "reason": "new MX",
                    "ticket": "T-42",
                ]))
            #expect(granted.status == .seeOther, "\(granted.text)")
            let location = try #require(granted.headers[.location])
            let id = String(try #require(location.split(separator: "granted=").last))
            let exception = try #require(try fixture.store.exception(id: id))
            #expect(exception.grantedBy == "support-user" && exception.ticket == "T-42")
            #expect(try fixture.store.auditEntries(objectID: id).first?.role == "support")

            let revoked = try await client.execute(
                uri: "/exceptions/\(id)/revoke", method: .post, headers: headers,
                body: Self.form(["csrf_token": csrf, "reason": "customer asked"]))
            #expect(revoked.status == .seeOther)
            #expect(try fixture.store.exception(id: id)?.revocation?.by == "support-user")

            let abuse = try await client.execute(uri: "/abuse/top", method: .get, headers: [.cookie: session.cookie])
            #expect(abuse.status == .forbidden)
            #expect(!abuse.text.contains("href=\"/abuse/top\""))

            let logout = try await client.execute(
                uri: "/logout", method: .post, headers: headers, body: Self.form(["csrf_token": csrf]))
            #expect(logout.status == .seeOther)
            let after = try await client.execute(uri: "/customers", method: .get, headers: [.cookie: session.cookie])
            #expect(after.status == .found)
        }
    }

    @Test func revokingTheTokenEndsItsConsoleSession() async throws {
        let fixture = try AdminFixture()
        defer { fixture.cleanup() }
        try await fixture.withClient { client in
            let session = try await Self.signIn(client, token: fixture.tokens["abuse"]!)
            #expect(session.landing == "/abuse/top")
            try fixture.store.revokeAPIToken(name: "abuse-user", actor: "test")
            try await Task.sleep(for: .milliseconds(Int(TokenAuthenticator.refreshMilliseconds) + 100))
            let after = try await client.execute(uri: "/abuse/top", method: .get, headers: [.cookie: session.cookie])
            #expect(after.status == .found)
            #expect(after.headers[.location] == "/login")
        }
    }
}
