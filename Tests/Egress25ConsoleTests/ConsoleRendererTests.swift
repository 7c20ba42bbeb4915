import Testing

@testable import Egress25Console

@Suite struct ConsoleRendererTests {
    let renderer = ConsoleRenderer()

    func render(_ page: ConsolePage) -> String {
        renderer.render(page)
    }

    static let pageNames = Fixtures.allPages.map(\.name)

    static func page(named name: String) -> ConsolePage {
        Fixtures.allPages.first { $0.name == name }!.page
    }

    // MARK: - Every page

    @Test(arguments: pageNames)
    func everyPageIsAWholeDocument(name: String) {
        let html = render(Self.page(named: name))
        #expect(html.hasPrefix("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"))
        #expect(html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"))
        #expect(html.contains("<link rel=\"stylesheet\" href=\"/static/console.css\">"))
        #expect(html.contains("<script src=\"/static/console.js\" defer></script>"))
        #expect(html.contains("<main id=\"main\">"))
        #expect(html.hasSuffix("</html>\n"))
        #expect(!html.contains("{{") && !html.contains("}}"), "a Mustache tag was left in the output")
    }

    @Test(arguments: pageNames)
    func everyPageKeepsToTheContentSecurityPolicy(name: String) {
        let html = render(Self.page(named: name))
        checkContentSecurityPolicy(html, page: name, hostileText: false)
    }

    @Test(arguments: pageNames)
    func everyPostFormCarriesTheCSRFToken(name: String) throws {
        let html = render(Self.page(named: name))
        let postForms = HTML.forms(html).filter { $0.contains("method=\"post\"") }
        for form in postForms {
            let hidden = HTML.tags("input", in: form, having: ["name=\"csrf_token\""])
            #expect(hidden.count == 1, "\(name): \(form.prefix(80))")
            #expect(hidden.first.map { HTML.attribute("type", of: $0) } == "hidden")
            #expect(hidden.first.map { HTML.attribute("value", of: $0) } == Fixtures.token)
        }
        // GET forms put their fields in the URL: the token must not be among them.
        for form in HTML.forms(html) where form.contains("method=\"get\"") {
            #expect(!form.contains("csrf_token"), "\(name): a GET form would put the token in the URL")
        }
        #expect(HTML.forms(html).allSatisfy { $0.contains("method=\"post\"") || $0.contains("method=\"get\"") })
    }

    @Test(arguments: pageNames)
    func everyPageIsWellNestedWithUniqueIDsAndWorkingReferences(name: String) {
        let html = render(Self.page(named: name))
        for element in ["div", "form", "table", "thead", "tbody", "tr", "td", "section", "dl", "select", "ul", "nav"] {
            let opened = HTML.tags(element, in: html).count
            let closed = HTML.count("</\(element)>", in: html)
            #expect(opened == closed, "\(name): <\(element)> opened \(opened) times, closed \(closed) times")
        }
        let ids = HTML.startTags(html).compactMap { HTML.attribute("id", of: $0) }
        #expect(Set(ids).count == ids.count, "\(name): duplicate ids \(ids)")
        let references = HTML.startTags(html).flatMap { tag in
            [
                HTML.attribute("for", of: tag), HTML.attribute("aria-describedby", of: tag),
                HTML.attribute("data-disables", of: tag),
            ]
            .compactMap { $0 }.flatMap { $0.split(separator: " ").map(String.init) }
        }
        for reference in references {
            #expect(ids.contains(reference), "\(name): nothing has id \(reference)")
        }
    }

    // MARK: - Layout

    @Test func theLayoutShowsTheUserTheFlashMessagesAndALogoutForm() throws {
        let html = render(.customerSearch(Fixtures.customerSearch))
        #expect(html.contains("<title>Customers · egress25</title>"))
        #expect(html.contains("<span class=\"user-name\">jdoe</span>"))
        #expect(html.contains("<span class=\"user-role\">admin</span>"))
        #expect(html.contains("<p class=\"flash flash-success\" role=\"status\">Exception exc-7k2mq9tz granted.</p>"))
        #expect(html.contains("<p class=\"flash flash-error\" role=\"alert\">The store is read-only for a moment.</p>"))
        let logout = try #require(HTML.forms(html).first { $0.contains("action=\"/logout\"") })
        #expect(logout.hasPrefix("<form method=\"post\" action=\"/logout\""))
        #expect(logout.contains("<button type=\"submit\""))
    }

    @Test(arguments: [
        ("support", [ConsoleSection.customers, .explain]),
        ("abuse", [.topOffenders, .suspects, .timeline]),
        ("ops", [.nodes]),
        ("admin", ConsoleSection.allCases),
    ])
    func theNavigationShowsOnlyTheLinksPassedForTheRole(role: String, sections: [ConsoleSection]) throws {
        let layout = Fixtures.layout(navigation: sections, user: ConsoleUser(name: "kim", role: role))
        let html = render(.error(ErrorPage(layout: layout, status: 403, title: "Forbidden", detail: "Not for you.")))
        let nav = try #require(HTML.elements("nav", in: html).first)
        let hrefs = HTML.tags("a", in: nav).compactMap { HTML.attribute("href", of: $0) }
        #expect(hrefs == sections.map(\.path))
        for section in sections {
            #expect(nav.contains(">\(section.label)</a>"))
        }
        for hidden in ConsoleSection.allCases where !sections.contains(hidden) {
            #expect(!html.contains("href=\"\(hidden.path)\""), "\(role) must not see \(hidden)")
        }
    }

    @Test func theCurrentSectionIsMarked() throws {
        let html = render(.topOffenders(Fixtures.topOffenders))
        let nav = try #require(HTML.elements("nav", in: html).first)
        let current = HTML.tags("a", in: nav, having: ["aria-current=\"page\""])
        #expect(current == ["<a href=\"/abuse/top\" aria-current=\"page\">"])
        let customer = render(.customer(Fixtures.customer))
        #expect(customer.contains("<a href=\"/customers\" aria-current=\"page\">Customers</a>"))
    }

    @Test func withoutNavigationThereIsNoNavElement() {
        let html = render(.login(Fixtures.login))
        #expect(!html.contains("<nav"))
        #expect(!html.contains("/logout"))
    }

    // MARK: - Pages

    @Test func theLoginFormPostsATokenFromAPasswordField() throws {
        let html = render(.login(Fixtures.login))
        let form = try #require(HTML.forms(html).first)
        #expect(HTML.forms(html).count == 1)
        #expect(form.hasPrefix("<form method=\"post\" action=\"/login\" autocomplete=\"off\">"))
        let token = try #require(HTML.tags("input", in: form, having: ["name=\"token\""]).first)
        #expect(HTML.attribute("type", of: token) == "password")
        #expect(HTML.attribute("autocomplete", of: token) == "off")
        #expect(HTML.attributeNames(token).contains("required"))
        #expect(!html.contains("role=\"alert\" id=\"login-token-error\""))

        let refused = render(.login(Fixtures.refusedLogin))
        #expect(refused.contains("id=\"login-token-error\">That token is not valid.</p>"))
        #expect(refused.contains("aria-invalid=\"true\" aria-describedby=\"login-token-error\""))
    }

    @Test func customerSearchHasASearchBoxAndLinksEachResult() throws {
        let html = render(.customerSearch(Fixtures.customerSearch))
        let form = try #require(HTML.forms(html).first { $0.contains("action=\"/customers\"") })
        #expect(form.hasPrefix("<form method=\"get\" action=\"/customers\""))
        #expect(form.contains("name=\"query\" type=\"search\" value=\"192.0.2\""))
        #expect(html.contains("<td><a href=\"/customers/c-1001\">c-1001</a></td>"))
        #expect(html.contains("<td>Ada Lovelace</td>"))
        #expect(
            html.contains("<span class=\"address\">192.0.2.7/32</span> <span class=\"address\">2001:db8:7::/56</span>"))
        #expect(html.contains("<td class=\"num\">2</td>"))
        #expect(html.contains("<td>feed</td>"))
        #expect(html.contains("Showing the first 50 matches."))
        #expect(!html.contains("No customer matches"))

        let before = render(.customerSearch(CustomerSearchPage(layout: Fixtures.layout())))
        #expect(!before.contains("<table"))
        #expect(!before.contains("No customer matches"))
        let nothing = render(
            .customerSearch(CustomerSearchPage(layout: Fixtures.layout(), query: "zz", searched: true)))
        #expect(nothing.contains("No customer matches “zz”."))
    }

    @Test func theCustomerPageShowsHeaderAddressesAndExceptions() {
        let html = render(.customer(Fixtures.customer))
        #expect(html.contains("<h1>Customer c-1001 <span class=\"subtitle\">Ada Lovelace</span></h1>"))
        #expect(html.contains("<dd>Runs her own mail server</dd>"))
        #expect(html.contains("<dd>2026-11-29 07:45 UTC</dd>"))
        #expect(
            html.contains("<td class=\"address\">198.51.100.0/29</td><td>2026-11-29 07:45 UTC</td><td>open-ended</td>"))
        #expect(
            html.contains(
                "<td class=\"address\">192.0.2.7/32</td><td>2026-12-01 06:12 UTC</td><td>2026-12-01 18:12 UTC</td>"))
        #expect(html.contains("<span class=\"badge badge-active\">active</span>"))
        #expect(html.contains("<span class=\"badge badge-expired\">expired</span>"))
        #expect(html.contains("<span class=\"badge badge-revoked\">revoked</span>"))
        #expect(html.contains("<td>T-4411</td>"))
        #expect(html.contains("<td>Own MX</td>"))
        #expect(html.contains("<td>asmith</td>"))
    }

    @Test func onlyActiveExceptionsHaveARevokeFormThatAsksFirst() throws {
        let html = render(.customer(Fixtures.customer))
        let revokes = HTML.forms(html).filter { $0.contains("/revoke\"") }
        try #require(revokes.count == 1)
        let form = revokes[0]
        let tag = try #require(HTML.startTags(form).first)
        #expect(HTML.attribute("method", of: tag) == "post")
        #expect(HTML.attribute("action", of: tag) == "/exceptions/exc-7k2mq9tz/revoke")
        let question = try #require(HTML.attribute("data-confirm", of: tag))
        #expect(question.contains("exc-7k2mq9tz"))
        let reason = try #require(HTML.tags("input", in: form, having: ["name=\"reason\""]).first)
        #expect(HTML.attributeNames(reason).contains("required"))
        #expect(HTML.attribute("type", of: reason) == "text")
        #expect(!html.contains("/exceptions/exc-2b3c4d5e/revoke"))
        #expect(!html.contains("/exceptions/exc-9x8w7v6u/revoke"))
    }

    @Test func theGrantFormPostsEveryFieldTheServerReads() throws {
        let html = render(.customer(Fixtures.customer))
        let form = try #require(HTML.forms(html).first { $0.contains("class=\"grant\"") })
        #expect(form.hasPrefix("<form method=\"post\" action=\"/customers/c-1001/exceptions\" class=\"grant\">"))
        #expect(form.contains("<input type=\"hidden\" name=\"csrf_token\" value=\"\(Fixtures.token)\">"))
        let destinations = try #require(HTML.tags("textarea", in: form, having: ["name=\"destinations\""]).first)
        #expect(HTML.attributeNames(destinations).contains("required"))
        #expect(!HTML.attributeNames(destinations).contains("disabled"))
        let any = try #require(HTML.tags("input", in: form, having: ["name=\"any_destination\""]).first)
        #expect(HTML.attribute("type", of: any) == "checkbox")
        #expect(HTML.attribute("data-disables", of: any) == HTML.attribute("id", of: destinations))
        #expect(!HTML.attributeNames(any).contains("checked"))
        let select = try #require(HTML.elements("select", in: form).first)
        #expect(select.hasPrefix("<select id=\"grant-duration\" name=\"duration\">"))
        let values = HTML.tags("option", in: select).compactMap { HTML.attribute("value", of: $0) }
        #expect(values == ["1d", "7d", "30d", "90d", "365d"])
        #expect(HTML.tags("option", in: select, having: ["selected"]) == ["<option value=\"7d\" selected>"])
        let expires = try #require(HTML.tags("input", in: form, having: ["name=\"expires_at\""]).first)
        #expect(HTML.attribute("type", of: expires) == "date")
        let reason = try #require(HTML.tags("input", in: form, having: ["name=\"reason\""]).first)
        #expect(HTML.attributeNames(reason).contains("required"))
        let ticket = try #require(HTML.tags("input", in: form, having: ["name=\"ticket\""]).first)
        #expect(!HTML.attributeNames(ticket).contains("required"))
        #expect(!form.contains("class=\"field-error\""))
    }

    @Test func aRefusedGrantShowsEachErrorBesideItsFieldWithWhatWasEntered() throws {
        let html = render(.customer(Fixtures.customerWithErrors))
        let form = try #require(HTML.forms(html).first { $0.contains("class=\"grant\"") })
        let fields: [(tag: String, name: String, error: String)] = [
            ("textarea", "destinations", "&quot;300.1.1.1&quot; is not an address or prefix."),
            ("select", "duration", "Pick a duration."),
            ("input", "expires_at", "The date is in the past."),
            ("input", "reason", "A reason is required."),
            ("input", "ticket", "Tickets look like T-1234."),
        ]
        for field in fields {
            let tag = try #require(HTML.tags(field.tag, in: form, having: ["name=\"\(field.name)\""]).first)
            #expect(HTML.attribute("aria-invalid", of: tag) == "true", "\(field.name)")
            let errorID = try #require(HTML.attribute("aria-describedby", of: tag)?.split(separator: " ").last)
            #expect(form.contains("<p class=\"field-error\" id=\"\(errorID)\">\(field.error)</p>"), "\(field.name)")
        }
        #expect(form.contains(">\n300.1.1.1</textarea>"))
        let destinations = try #require(HTML.tags("textarea", in: form, having: ["name=\"destinations\""]).first)
        #expect(HTML.attributeNames(destinations).contains("disabled"))
        let any = try #require(HTML.tags("input", in: form, having: ["name=\"any_destination\""]).first)
        #expect(HTML.attributeNames(any).contains("checked"))
        #expect(form.contains("<option value=\"90d\" selected>90 days</option>"))
        #expect(form.contains("name=\"expires_at\" type=\"date\" value=\"2020-01-01\""))
        #expect(form.contains("name=\"ticket\" type=\"text\" value=\"T-9\""))

        let revoke = try #require(HTML.forms(html).first { $0.contains("/revoke\"") })
        #expect(revoke.contains("value=\"dup\" aria-invalid=\"true\""))
        #expect(revoke.contains(">Say why in a few words.</p>"))
    }

    @Test func explainAsksForSourceDestinationAndPortAndShowsTheVerdict() throws {
        let empty = render(.explain(ExplainPage(layout: Fixtures.layout())))
        let form = try #require(HTML.forms(empty).first { $0.contains("action=\"/explain\"") })
        #expect(form.hasPrefix("<form method=\"get\" action=\"/explain\""))
        for name in ["source", "destination", "port"] {
            #expect(HTML.tags("input", in: form, having: ["name=\"\(name)\""]).count == 1, "\(name)")
        }
        #expect(form.contains("name=\"port\" type=\"number\" min=\"1\" max=\"65535\" required value=\"25\""))
        #expect(!empty.contains("Verdict"))

        let html = render(.explain(Fixtures.explain))
        #expect(html.contains("value=\"192.0.2.7\""))
        #expect(html.contains("Verdict <span class=\"badge badge-accept\">accepted</span>"))
        #expect(
            html.contains(
                "<p class=\"reason\">Accepted: exception exc-7k2mq9tz of customer c-1001 covers 203.0.113.25.</p>"))
        #expect(html.contains("<a href=\"/customers/c-1001\">c-1001</a> (Ada Lovelace)"))
        #expect(html.contains("<dd>exc-7k2mq9tz <span class=\"badge badge-active\">active</span></dd>"))
        #expect(html.contains("<dd>T-4411</dd>"))
        #expect(!html.contains("<dt>Relay</dt>"))

        let blocked = render(.explain(Fixtures.blockedExplain))
        #expect(blocked.contains("Verdict <span class=\"badge badge-block\">blocked</span>"))
        #expect(blocked.contains("<div><dt>Relay</dt><dd>smtp.isp.example (203.0.113.10)</dd></div>"))
        #expect(blocked.contains("<div><dt>Exception</dt><dd><span class=\"muted\">none</span></dd></div>"))
    }

    @Test func topOffendersLinkTheirTimelinesAndOfferExports() throws {
        let html = render(.topOffenders(Fixtures.topOffenders))
        #expect(html.contains("<th scope=\"col\">Source</th>"))
        #expect(html.contains("Distinct destinations</th>"))
        #expect(html.contains("<a href=\"/abuse/timeline?source=192.0.2.7&amp;since=24h\">192.0.2.7</a>"))
        #expect(html.contains("<a href=\"/abuse/timeline?source=2001:db8::7&amp;since=24h\">2001:db8::7</a>"))
        #expect(html.contains("<td class=\"num\">12,345</td>"))
        #expect(html.contains("<td class=\"num\">20,001</td>"))
        #expect(html.contains("<td class=\"num\">871</td>"))
        #expect(
            html.contains("<a class=\"button secondary\" href=\"/abuse/export?format=csv&amp;since=24h\" download>"))
        #expect(
            html.contains("<a class=\"button secondary\" href=\"/abuse/export?format=xarf&amp;since=24h\" download>"))
        let form = try #require(HTML.forms(html).first { $0.contains("action=\"/abuse/top\"") })
        #expect(form.hasPrefix("<form method=\"get\" action=\"/abuse/top\""))
        #expect(form.contains("<option value=\"source\" selected>"))
        #expect(form.contains("<option value=\"24h\" selected>last 24h</option>"))

        let byCustomer = TopOffendersPage(
            layout: Fixtures.layout(), by: .customer, since: "3d",
            rows: [
                TopOffenderRow(
                    key: "c-1001", attempts: 1, syns: 1, distinctDestinations: 1, firstSeen: "", lastSeen: "")
            ])
        let other = render(.topOffenders(byCustomer))
        #expect(other.contains("<th scope=\"col\">Customer</th>"))
        #expect(other.contains("<a href=\"/abuse/timeline?customer=c-1001&amp;since=3d\">c-1001</a>"))
        #expect(other.contains("<option value=\"customer\" selected>"))
        #expect(other.contains("<option value=\"3d\" selected>last 3d</option>"))
        #expect(other.contains("/abuse/export?format=csv&amp;since=3d"))
    }

    @Test func suspectsShowThresholdsAndTheirNumbers() {
        let html = render(.suspects(Fixtures.suspects))
        #expect(html.contains("<div><dt>Distinct destinations</dt><dd>≥ 20 in 10 min</dd></div>"))
        #expect(html.contains("<a href=\"/abuse/timeline?source=192.0.2.7\">192.0.2.7</a>"))
        #expect(html.contains("<a href=\"/abuse/timeline?customer=c-1001\">c-1001</a>"))
        #expect(html.contains("<td>14:00–14:10 UTC</td>"))
        #expect(html.contains("<td class=\"num\">480</td>"))
        #expect(html.contains("<td class=\"num\">212</td>"))
        #expect(html.contains("<td class=\"num\">41.5</td>"))
        #expect(
            html.contains(
                "<span class=\"badge badge-reason\">fan-out</span> <span class=\"badge badge-reason\">rate</span>"))
        #expect(html.contains("<span class=\"address\">203.0.113.25 (41)</span>"))
        #expect(HTML.count("<span class=\"muted\">none</span>", in: html) == 1)

        let none = render(.suspects(SuspectsPage(layout: Fixtures.layout(), thresholds: [])))
        #expect(none.contains("No suspects right now."))
        #expect(!none.contains("Thresholds"))
    }

    @Test func theTimelineHasAFormSummaryNumbersAndAChart() throws {
        let html = render(.timeline(Fixtures.timeline))
        let form = try #require(HTML.forms(html).first { $0.contains("action=\"/abuse/timeline\"") })
        #expect(form.hasPrefix("<form method=\"get\" action=\"/abuse/timeline\""))
        #expect(form.contains("name=\"source\" type=\"text\" value=\"192.0.2.7\""))
        #expect(form.contains("name=\"customer\" type=\"text\" value=\"\""))
        #expect(form.contains("<option value=\"24h\" selected>"))
        #expect(html.contains("<div><dt>Attempts</dt><dd>487</dd></div>"))
        #expect(html.contains("<div><dt>Distinct destinations</dt><dd>212</dd></div>"))
        #expect(html.contains("<div><dt>Last seen</dt><dd>2026-12-01 16:59 UTC</dd></div>"))
        let svg = try #require(HTML.elements("svg", in: html).first)
        #expect(svg.contains("role=\"img\""))
        #expect(HTML.count("<rect class=\"bar\"", in: svg) == 3)
        #expect(svg.contains("<title>2026-12-01 14:00 UTC: 312 attempts</title>"))
        #expect(svg.contains("<title>2026-12-01 15:00 UTC: 0 attempts</title>"))

        let asked = render(
            .timeline(TimelinePage(layout: Fixtures.layout(), formError: "Give a source or a customer.")))
        #expect(asked.contains("<p class=\"field-error\" role=\"alert\">Give a source or a customer.</p>"))
        #expect(!asked.contains("<svg"))
    }

    @Test func nodesShowHealthAndRates() {
        let html = render(.nodes(Fixtures.nodes))
        #expect(
            html.contains(
                "<td class=\"nowrap\">bras-fra-1</td>\n<td><span class=\"badge badge-healthy\">healthy</span></td>"))
        #expect(
            html.contains(
                "<td class=\"nowrap\">bras-ber-2</td>\n<td><span class=\"badge badge-unhealthy\">unhealthy</span></td>")
        )
        #expect(html.contains("<td class=\"num\">18211</td>"))
        #expect(html.contains("<td class=\"num\">85 min</td>"))
        #expect(html.contains("<td>running from the policy cache</td>"))
        #expect(html.contains("<tr><td>All nodes</td><td class=\"num\">1,204.5</td><td class=\"num\">3.2</td></tr>"))
        #expect(html.contains("<p class=\"muted\">Last 5 minutes.</p>"))

        let none = render(.nodes(NodesPage(layout: Fixtures.layout(), nodes: [])))
        #expect(none.contains("No node has sent a heartbeat."))
        #expect(none.contains("No rates available."))
    }

    @Test func theErrorPageShowsStatusTitleAndDetail() {
        let html = render(.error(Fixtures.notFound))
        #expect(
            html.contains("<p class=\"error-status\">404</p>\n<h1>Not found</h1>\n<p>There is no customer c-9999.</p>"))
    }

    // MARK: - Escaping

    static let script = "<script>alert(1)</script>"
    static let quoted = "Says \"hi\" & 'bye' <b>"
    static let escapedScript = "&lt;script&gt;alert(1)&lt;/script&gt;"
    static let escapedQuoted = "Says &quot;hi&quot; &amp; &#39;bye&#39; &lt;b&gt;"

    /// Every page with hostile text in the fields a customer, a ticket or a typing agent can fill.
    static var hostilePages: [(name: String, page: ConsolePage)] {
        var layout = Fixtures.layout(title: script, user: ConsoleUser(name: script, role: quoted))
        layout.successMessages = [script]
        layout.errorMessages = [quoted]
        var customer = Fixtures.customerWithErrors
        customer.layout = layout
        customer.customer.name = script
        customer.customer.note = quoted
        customer.customer.id = "c-1\"><script>x</script>"
        customer.exceptions[0].reason = quoted
        customer.exceptions[0].ticket = script
        customer.exceptions[0].destinations = quoted
        customer.exceptions[0].revokeError = script
        customer.grantForm.reason = quoted
        customer.grantForm.destinations = "</textarea>" + script
        customer.grantForm.reasonError = script
        var search = Fixtures.customerSearch
        search.layout = layout
        search.query = quoted
        search.results[0].name = script
        search.results[0].addresses = [script]
        search.results[0].id = quoted
        var explain = Fixtures.explain
        explain.layout = layout
        explain.source = quoted
        explain.sourceError = script
        explain.answer?.reason = quoted
        explain.answer?.customerName = script
        explain.answer?.exception?.reason = script
        var top = Fixtures.topOffenders
        top.layout = layout
        top.since = quoted
        top.rows[0].key = script
        var suspects = Fixtures.suspects
        suspects.layout = layout
        suspects.rows[0].customer = script
        suspects.rows[0].reasons = [quoted]
        suspects.thresholds[0].value = script
        var timeline = Fixtures.timeline
        timeline.layout = layout
        timeline.source = quoted
        timeline.result?.title = script
        timeline.formError = script
        var nodes = Fixtures.nodes
        nodes.layout = layout
        nodes.nodes[0].name = script
        nodes.nodes[1].detail = quoted
        let error = ErrorPage(layout: layout, status: 404, title: script, detail: quoted)
        var login = Fixtures.refusedLogin
        login.layout.title = script
        login.errorMessage = quoted
        return [
            ("customer", .customer(customer)), ("search", .customerSearch(search)), ("explain", .explain(explain)),
            ("top", .topOffenders(top)), ("suspects", .suspects(suspects)), ("timeline", .timeline(timeline)),
            ("nodes", .nodes(nodes)), ("error", .error(error)), ("login", .login(login)),
        ]
    }

    @Test func aScriptInACustomerNameAndQuotesInAReasonAreEscaped() {
        var page = Fixtures.customer
        page.customer.name = Self.script
        page.exceptions[0].reason = "Own MX \"mail.example\" & backup"
        let html = render(.customer(page))
        #expect(!html.contains("<script>alert"))
        #expect(html.contains("<h1>Customer c-1001 <span class=\"subtitle\">\(Self.escapedScript)</span></h1>"))
        #expect(html.contains("<td>Own MX &quot;mail.example&quot; &amp; backup</td>"))
        #expect(!html.contains("\"mail.example\""))
    }

    @Test(arguments: hostilePages.map(\.name))
    func hostileTextIsEscapedEverywhere(name: String) {
        let page = Self.hostilePages.first { $0.name == name }!.page
        let html = render(page)
        #expect(!html.contains("<script>alert") && !html.contains("<script>x"), "\(name)")
        #expect(!html.contains("<b>"), "\(name)")
        #expect(!html.contains(Self.quoted), "\(name)")
        #expect(html.contains(Self.escapedScript) || html.contains("&lt;script&gt;"), "\(name)")
        checkContentSecurityPolicy(html, page: name, hostileText: true)
    }

    @Test func idsInURLsArePercentEncoded() {
        var page = Fixtures.customer
        page.customer.id = "c 1/../x?y#z"
        page.exceptions[0].id = "exc-1&b"
        let html = render(.customer(page))
        #expect(html.contains("action=\"/customers/c%201%2F..%2Fx%3Fy%23z/exceptions\""))
        #expect(html.contains("action=\"/exceptions/exc-1%26b/revoke\""))
    }

    // MARK: - Sharing

    @Test func oneRendererServesConcurrentRequests() async {
        let renderer = self.renderer
        let expected = renderer.render(.customer(Fixtures.customer))
        let results = await withTaskGroup(of: String.self) { group in
            for _ in 0..<16 {
                group.addTask { renderer.render(.customer(Fixtures.customer)) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 16)
        #expect(results.allSatisfy { $0 == expected })
    }

    // MARK: - Helpers

    /// No script without `src`, no event-handler attribute, no `style` attribute or element, nothing loaded from
    /// elsewhere. With `hostileText`, escaped text may spell ` onclick=`, so only tags are examined.
    func checkContentSecurityPolicy(
        _ html: String, page: String, hostileText: Bool, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let tags = HTML.startTags(html)
        for tag in tags {
            let names = HTML.attributeNames(tag)
            #expect(
                !names.contains { $0.hasPrefix("on") }, "\(page): event handler in \(tag)",
                sourceLocation: sourceLocation)
            #expect(!names.contains("style"), "\(page): style attribute in \(tag)", sourceLocation: sourceLocation)
            for attribute in ["src", "href", "action"] {
                if let value = HTML.attribute(attribute, of: tag) {
                    let local = (value.hasPrefix("/") && !value.hasPrefix("//")) || value.hasPrefix("#")
                    #expect(local, "\(page): \(tag)", sourceLocation: sourceLocation)
                }
            }
        }
        let scripts = HTML.tags("script", in: html)
        #expect(scripts == ["<script src=\"/static/console.js\" defer>"], "\(page)", sourceLocation: sourceLocation)
        #expect(HTML.count("<script", in: html) == 1, "\(page): a script without src", sourceLocation: sourceLocation)
        #expect(HTML.tags("style", in: html).isEmpty && !html.contains("<style"), sourceLocation: sourceLocation)
        #expect(!html.lowercased().contains("javascript:"), "\(page)", sourceLocation: sourceLocation)
        if !hostileText {
            #expect(html.firstMatch(of: try! Regex(" on[a-z]+=")) == nil, "\(page)", sourceLocation: sourceLocation)
            #expect(!html.contains("style="), "\(page)", sourceLocation: sourceLocation)
            let withoutNamespace = html.replacing("xmlns=\"http://www.w3.org/2000/svg\"", with: "")
            #expect(
                !withoutNamespace.contains("http:") && !withoutNamespace.contains("https:"), "\(page)",
                sourceLocation: sourceLocation)
        }
    }
}
