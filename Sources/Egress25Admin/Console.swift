import BlockLog
import Egress25Configuration
import Egress25Console
import Egress25Core
import Egress25Operations
import ExceptionStore
import Foundation
import HTTPTypes
import Hummingbird

/// The web console: server-rendered pages (``ConsoleRenderer``) over the same operations as the API
/// (``AdminState``). Login takes a token and starts a session (HttpOnly, SameSite=Strict cookie, Secure under
/// TLS); every POST carries the session's CSRF token; pages are sent with a Content-Security-Policy that allows
/// no inline script and nothing from elsewhere.
enum Console {
    /// The policy every HTML page is sent with.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
        + "frame-ancestors 'none'; base-uri 'none'"

    static func register(on router: Router<AdminRequestContext>, state: AdminState) {
        let renderer = ConsoleRenderer()
        let pages = ConsolePages(state: state, renderer: renderer)
        router.get("static/console.css") { _, _ in
            asset(ConsoleAssets.css, type: "text/css; charset=utf-8")
        }
        router.get("static/console.js") { _, _ in
            asset(ConsoleAssets.javascript, type: "text/javascript; charset=utf-8")
        }
        router.get("login") { _, _ in pages.html(.login(LoginPage(layout: pages.layout("Sign in", nil)))) }
        router.post("login") { request, context in try await pages.login(request, context) }

        let console = router.group().add(middleware: ConsoleSessionMiddleware(state: state, pages: pages))
        console.post("logout") { request, context in pages.logout(request, context) }
        console.get("/") { _, context in
            Response.redirect(to: pages.home(for: context.principal!.role), type: .found)
        }
        console.get("customers") { request, context in try await pages.customerSearch(request, context) }
        console.get("customers/:id") { request, context in
            try await pages.customer(id: try pages.pathID(context), request, context)
        }
        console.post("customers/:id/exceptions") { request, context in
            try await pages.grant(customer: try pages.pathID(context), request, context)
        }
        console.post("exceptions/:id/revoke") { request, context in
            try await pages.revoke(exception: try pages.pathID(context), request, context)
        }
        console.get("explain") { request, context in try await pages.explain(request, context) }
        console.get("abuse/top") { request, context in try await pages.topOffenders(request, context) }
        console.get("abuse/suspects") { request, context in try await pages.suspects(request, context) }
        console.get("abuse/timeline") { request, context in try await pages.timeline(request, context) }
        console.get("abuse/export") { request, context in try await pages.export(request, context) }
        console.get("ops/nodes") { request, context in try await pages.nodes(request, context) }
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "public, max-age=3600"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// Checks the session cookie of console pages: no session (or an ended one, or one whose token was revoked)
/// redirects to the login page; a POST without the session's CSRF token, or sent from another site, gets 403.
struct ConsoleSessionMiddleware: RouterMiddleware {
    typealias Context = AdminRequestContext
    let state: AdminState
    let pages: ConsolePages

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let id = request.cookies[ConsoleSessions.cookieName]?.value,
            let session = state.sessions.session(id: id)
        else {
            return Response.redirect(to: "/login", type: .found)
        }
        let principal: Principal
        do {
            principal = try await state.authenticator.authenticate(token: session.token, client: context.clientAddress)
        } catch let problem as APIProblem where problem.status == .unauthorized {
            state.sessions.end(id: id)
            return Response.redirect(to: "/login", type: .found)
        }
        var context = context
        context.principal = principal
        context.consoleSession = session
        var request = request
        if request.method == .post {
            if let site = request.headers[.secFetchSite], site != "same-origin" && site != "none" {
                return pages.error(403, "Forbidden", "cross-site form submissions are refused", context)
            }
            let form = try await pages.form(&request)
            guard ConsoleSessions.csrfMatches(session, form["csrf_token"]) else {
                return pages.error(
                    403, "Forbidden", "the form's CSRF token is missing or stale: reload the page and try again",
                    context)
            }
        }
        return try await next(request, context)
    }
}

/// What the console's routes do: read through ``AdminState``, fill the view models, render.
struct ConsolePages: Sendable {
    let state: AdminState
    let renderer: ConsoleRenderer

    var secureCookies: Bool { state.configuration.admin.tls != nil }

    // MARK: - Rendering

    func layout(
        _ title: String, _ context: AdminRequestContext?, success: [String] = [], errors: [String] = []
    ) -> ConsoleLayout {
        guard let principal = context?.principal else {
            return ConsoleLayout(
                title: title, user: nil, navigation: [], successMessages: success, errorMessages: errors,
                csrfToken: "")
        }
        return ConsoleLayout(
            title: title, user: ConsoleUser(name: principal.name, role: principal.role.rawValue),
            navigation: Self.sections(for: principal.role), successMessages: success, errorMessages: errors,
            csrfToken: context?.consoleSession?.csrfToken ?? "")
    }

    static func sections(for role: APIRole) -> [ConsoleSection] {
        switch role {
        case .support: return [.customers, .explain]
        case .abuse: return [.topOffenders, .suspects, .timeline, .explain]
        case .ops: return [.nodes, .explain]
        case .admin: return ConsoleSection.allCases
        }
    }

    func home(for role: APIRole) -> String {
        switch role {
        case .support, .admin: return "/customers"
        case .abuse: return "/abuse/top"
        case .ops: return "/ops/nodes"
        }
    }

    func html(_ page: ConsolePage, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.contentSecurityPolicy] = Console.contentSecurityPolicy
        headers[.cacheControl] = "no-store"
        return Response(
            status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: renderer.render(page))))
    }

    func error(_ status: Int, _ title: String, _ detail: String, _ context: AdminRequestContext) -> Response {
        html(
            .error(ErrorPage(layout: layout(title, context), status: status, title: title, detail: detail)),
            status: HTTPResponse.Status(code: status))
    }

    /// The page for an error of an operation: 400/404/409/503 with its message.
    func error(for error: any Error, _ context: AdminRequestContext) -> Response {
        let problem = ProblemMiddleware.problem(for: error)
        return self.error(Int(problem.status.code), problem.title, problem.detail, context)
    }

    /// Checks the role; the error page (403) when it may not.
    func allowed(_ roles: Set<APIRole>, _ context: AdminRequestContext) -> Response? {
        guard let principal = context.principal, !principal.may(roles) else { return nil }
        return error(
            403, "Not allowed for this role",
            "role \(principal.role.rawValue) may not open this page; it needs one of: "
                + roles.map(\.rawValue).sorted().joined(separator: ", ") + ", admin", context)
    }

    // MARK: - Input

    /// The form fields of a URL-encoded body (the body is collected and kept for the route).
    func form(_ request: inout Request) async throws -> [String: String] {
        let buffer = try await request.collectBody(upTo: Int(state.configuration.admin.maxBodyBytes))
        return Self.fields(String(buffer: buffer))
    }

    /// `a=1&b=two+words` → fields (later duplicates win), `+` as space, percent-decoded.
    static func fields(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String {
                String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(part)
            }
            guard let key = parts.first else { continue }
            fields[decode(key)] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }

    /// The query's fields, decoded like a form.
    func query(_ request: Request) -> [String: String] {
        Self.fields(request.uri.query ?? "")
    }

    func pathID(_ context: AdminRequestContext) throws -> String {
        let raw = try context.parameters.require("id")
        return try AdminAPI.pathID(raw.removingPercentEncoding ?? raw)
    }

    // MARK: - Login

    func login(_ request: Request, _ context: AdminRequestContext) async throws -> Response {
        if let site = request.headers[.secFetchSite], site != "same-origin" && site != "none" {
            return error(403, "Forbidden", "cross-site form submissions are refused", context)
        }
        var request = request
        let token = try await form(&request)["token"]?.trimmingCharacters(in: .whitespacesAndNewlines)
        let principal: Principal
        do {
            principal = try await state.authenticator.authenticate(token: token, client: context.clientAddress)
        } catch let problem as APIProblem {
            let message =
                problem.status == .tooManyRequests
                ? problem.detail : "That token is unknown, revoked or expired."
            return html(
                .login(LoginPage(layout: layout("Sign in", nil), errorMessage: message)),
                status: problem.status == .tooManyRequests ? .tooManyRequests : .unauthorized)
        }
        let session = state.sessions.create(principal: principal, token: token ?? "")
        var response = Response.redirect(to: home(for: principal.role), type: .normal)
        response.setCookie(
            Cookie(
                name: ConsoleSessions.cookieName, value: session.id,
                maxAge: Int(max(1, session.expiresAt - UTCTime.now())), path: "/", secure: secureCookies,
                httpOnly: true, sameSite: .strict))
        return response
    }

    func logout(_ request: Request, _ context: AdminRequestContext) -> Response {
        if let session = context.consoleSession { state.sessions.end(id: session.id) }
        var response = Response.redirect(to: "/login", type: .normal)
        response.setCookie(
            Cookie(
                name: ConsoleSessions.cookieName, value: "", maxAge: 0, path: "/", secure: secureCookies,
                httpOnly: true, sameSite: .strict))
        return response
    }

    // MARK: - Support

    func customerSearch(_ request: Request, _ context: AdminRequestContext) async throws -> Response {
        if let refused = allowed(Permission.customers, context) { return refused }
        let text = query(request)["query"] ?? ""
        let searched = query(request)["query"] != nil
        var results: [CustomerSearchResult] = []
        var note: String?
        if searched {
            do {
                let found = try await state.searchCustomers(query: text, limit: 100)
                results = found.customers.map { summary in
                    CustomerSearchResult(
                        id: summary.customer.id, name: summary.customer.name ?? "", addresses: summary.addresses,
                        activeExceptions: summary.activeExceptions.count,
                        origin: summary.customer.autoCreated ? "feed" : "staff")
                }
                if found.truncated { note = "Showing the first 100 matches; narrow the search." }
            } catch {
                return self.error(for: error, context)
            }
        }
        return html(
            .customerSearch(
                CustomerSearchPage(
                    layout: layout("Customers", context), query: text, searched: searched, results: results,
                    truncationNote: note)))
    }

    func customer(
        id: String, _ request: Request, _ context: AdminRequestContext, form: GrantExceptionForm = GrantExceptionForm(),
        status: HTTPResponse.Status = .ok, errors: [String] = []
    ) async throws -> Response {
        if let refused = allowed(Permission.customers, context) { return refused }
        let detail: AdminState.CustomerDetail
        do {
            detail = try await state.customerDetail(id: id)
        } catch {
            return self.error(for: error, context)
        }
        let parameters = query(request)
        var success: [String] = []
        if let granted = parameters["granted"] { success.append("Exception \(granted) granted.") }
        if let revoked = parameters["revoked"] { success.append("Exception \(revoked) revoked.") }
        let customer = detail.customer
        let page = CustomerPage(
            layout: layout("Customer \(customer.id)", context, success: success, errors: errors),
            customer: CustomerDetails(
                id: customer.id, name: customer.name ?? "", note: customer.note ?? "",
                added: UTCTime.format(customer.createdAt), origin: customer.autoCreated ? "session feed" : "staff"),
            staticBindings: detail.bindings.filter { $0.kind == .static }.map {
                StaticBindingRow(
                    prefix: $0.prefix.description, from: UTCTime.format($0.validFrom),
                    until: $0.validUntil.map(UTCTime.format) ?? "")
            },
            sessions: detail.bindings.filter { $0.kind == .session }.map {
                SessionRow(
                    prefix: $0.prefix.description, from: UTCTime.format($0.validFrom),
                    leaseUntil: $0.leaseUntil.map(UTCTime.format) ?? "")
            },
            exceptions: detail.exceptions.map { exception in
                let status = ExceptionStatus(rawValue: exception.status(at: detail.now).rawValue) ?? .active
                return ExceptionRow(
                    id: exception.id, status: status, destinations: Self.scope(exception.destinations),
                    expires: exception.expiresAt.map(UTCTime.format) ?? "never", ticket: exception.ticket ?? "",
                    reason: exception.reason, grantedBy: exception.grantedBy,
                    revokeReason: exception.revocation?.reason ?? "")
            }, grantForm: form)
        return html(.customer(page), status: status)
    }

    static func scope(_ scope: DestinationScope) -> String {
        switch scope {
        case .any: return "any destination"
        case .prefixes(let prefixes): return prefixes.map(\.description).joined(separator: ", ")
        }
    }

    func grant(customer id: String, _ request: Request, _ context: AdminRequestContext) async throws -> Response {
        if let refused = allowed(Permission.customers, context) { return refused }
        var request = request
        let fields = try await form(&request)
        let any = fields["any_destination"] != nil
        let destinationsText = fields["destinations"] ?? ""
        let expires = (fields["expires_at"] ?? "").trimmingCharacters(in: .whitespaces)
        let durationText = fields["duration"] ?? "7d"
        let reason = fields["reason"] ?? ""
        let ticket = (fields["ticket"] ?? "").trimmingCharacters(in: .whitespaces)
        var form = GrantExceptionForm(
            destinations: destinationsText, anyDestination: any,
            duration: GrantDuration(rawValue: durationText) ?? .sevenDays, expiresAt: expires, reason: reason,
            ticket: ticket)
        let destinations = any ? [] : [destinationsText]
        if !any && destinationsText.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            form.destinationsError = "Give the mail server's address or prefix, or tick any destination."
            return try await customer(id: id, request, context, form: form, status: .badRequest)
        }
        do {
            let granted = try await state.grant(
                principal: context.principal!, customer: id, destinations: destinations,
                duration: expires.isEmpty ? durationText : nil, expires: expires.isEmpty ? nil : expires,
                reason: reason, ticket: ticket.isEmpty ? nil : ticket)
            let target = "/customers/\(Self.pathComponent(id))?granted=\(granted.exception.id)"
            return Response.redirect(to: target, type: .normal)
        } catch {
            let problem = ProblemMiddleware.problem(for: error)
            guard problem.status == .badRequest else { return self.error(for: error, context) }
            switch problem.field ?? "" {
            case "body.destinations": form.destinationsError = problem.detail
            case "body.duration": form.durationError = problem.detail
            case "body.expires_at": form.expiresAtError = problem.detail
            case "body.ticket": form.ticketError = problem.detail
            default: form.reasonError = problem.detail
            }
            return try await customer(id: id, request, context, form: form, status: .badRequest)
        }
    }

    func revoke(exception id: String, _ request: Request, _ context: AdminRequestContext) async throws -> Response {
        if let refused = allowed(Permission.customers, context) { return refused }
        var request = request
        let reason = try await form(&request)["reason"] ?? ""
        let principal = context.principal!
        let existing: StoredException?
        do {
            existing = try await state.read { store in try store.exception(id: id) }
        } catch {
            return self.error(for: error, context)
        }
        guard let existing else { return self.error(404, "Not found", "unknown exception \(id)", context) }
        do {
            _ = try await state.write(principal, field: "reason") { store in
                try store.revokeException(id: id, reason: reason, by: principal.name)
            }
        } catch {
            let problem = ProblemMiddleware.problem(for: error)
            return try await customer(
                id: existing.customer, request, context, status: problem.status,
                errors: ["Exception \(id) was not revoked: \(problem.detail)"])
        }
        return Response.redirect(
            to: "/customers/\(Self.pathComponent(existing.customer))?revoked=\(id)", type: .normal)
    }

    static func pathComponent(_ text: String) -> String {
        text.addingPercentEncoding(
            withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#")))
            ?? text
    }

    func explain(_ request: Request, _ context: AdminRequestContext) async throws -> Response {
        if let refused = allowed(Permission.explain, context) { return refused }
        let parameters = query(request)
        let source = parameters["source"] ?? ""
        let destination = parameters["destination"] ?? ""
        let portText = parameters["port"] ?? "25"
        var page = ExplainPage(
            layout: layout("Explain a verdict", context), source: source, destination: destination, port: portText)
        guard parameters["source"] != nil || parameters["destination"] != nil else { return html(.explain(page)) }
        guard let port = Int(portText) else {
            page.portError = "\(portText) is not a TCP port (1-65535)"
            return html(.explain(page), status: .badRequest)
        }
        do {
            let explanation = try await state.check.explain(
                source: source, destination: destination, port: port, at: nil)
            var exception: ExplainException?
            if let rule = explanation.exception {
                exception = ExplainException(
                    id: rule.id, status: explanation.decision.verdict == .accept ? .active : .expired,
                    destinations: PolicyExplanation.scopeText(rule.destinations),
                    expires: rule.expiresAt.map(UTCTime.format) ?? "never", ticket: rule.ticket ?? "",
                    reason: rule.reason ?? "")
            }
            page.answer = ExplainAnswer(
                verdict: explanation.decision.verdict == .accept ? .accept : .block,
                reason: explanation.verdictText + ": " + explanation.reasonText, customerID: explanation.customer,
                exception: exception, relay: explanation.relay.map { $0.prefix.description })
            return html(.explain(page))
        } catch let error as OperationError {
            switch error.field {
            case "source": page.sourceError = error.message
            case "destination": page.destinationError = error.message
            case "port": page.portError = error.message
            default: return self.error(for: error, context)
            }
            return html(.explain(page), status: .badRequest)
        }
    }

    // MARK: - Abuse desk

    func topOffenders(_ request: Request, _ context: AdminRequestContext) async throws -> Response {
        if let refused = allowed(Permission.abuseDesk, context) { return refused }
        let parameters = query(request)
        let by = OffenderGrouping(rawValue: parameters["by"] ?? "source") ?? .source
        let since = parameters["since"] ?? "24h"
        do {
            let filter = try BlockedAttemptSource.filter(since: since, until: nil, now: UTCTime.now())
            let grouping: BlockLogGrouping = by == .customer ? .customer : .source
            let entries = try await state.blocked(node: nil) { source in
                try source.top(by: grouping, filter: filter, limit: 50)
            }
            let rows = entries.map { entry in
                TopOffenderRow(
                    key: entry.key, attempts: entry.attempts, syns: entry.syns,
                    distinctDestinations: Int64(entry.destinations),
                    firstSeen: UTCTime.format(entry.firstSeenMilliseconds / 1000),
                    lastSeen: UTCTime.format(entry.lastSeenMilliseconds / 1000))
            }
            return html(
                .topOffenders(
                    TopOffendersPage(layout: layout("Top offenders", context), by: by, since: since, rows: rows)))
        } catch let error as OperationError where error.kind == .notFound {
            return html(
                .topOffenders(
                    TopOffendersPage(
                        layout: layout("Top offenders", context, errors: [error.message]), by: by, since: since)))
        } catch {
            return self.error(for: error, context)
        }
    }

    func suspects(_ request: Request, _ context: AdminRequestContext) async throws -> Response {
        if let refused = allowed(Permission.abuseDesk, context) { return refused }
        let settings = state.configuration.abuse
        let thresholds = [
            SuspectThreshold(name: "Distinct destinations per window", value: String(settings.distinctDestinations)),
            SuspectThreshold(name: "Blocked SYNs per minute", value: String(settings.synsPerMinute)),
            SuspectThreshold(name: "Window", value: "\(settings.windowSeconds / 60) min"),
        ]
        let now = UTCTime.now()
        var errors: [String] = []
        var rows: [SuspectRow] = []
        do {
            rows = try await state.suspects(since: now - 86400, until: now).reversed().map { suspect in
                SuspectRow(
                    source: suspect.source, customer: suspect.customer ?? "",
                    window: "\(UTCTime.format(suspect.windowStart)) – \(UTCTime.format(suspect.windowEnd))",
                    attempts: suspect.attempts, distinctDestinations: Int64(suspect.distinctDestinations),
                    synsPerMinute: String(format: "%.1f", suspect.synsPerMinute),
                    reasons: suspect.reasons.map(\.rawValue), topDestinations: suspect.topDestinations)
            }
        } catch let error as OperationError where error.kind == .notFound {
            errors.append(error.message)
        } catch {
            return self.error(for: error, context)
        }
        return html(
            .suspects(
                SuspectsPage(layout: layout("Suspects", context, errors: errors), thresholds: thresholds, rows: rows)))
    }

    func timeline(_ request: Request, _ context: AdminRequestContext) async throws -> Response {
        if let refused = allowed(Permission.abuseDesk, context) { return refused }
        let parameters = query(request)
        let source = (parameters["source"] ?? "").trimmingCharacters(in: .whitespaces)
        let customer = (parameters["customer"] ?? "").trimmingCharacters(in: .whitespaces)
        let since = parameters["since"] ?? "24h"
        var page = TimelinePage(
            layout: layout("Timeline", context), source: source, customer: customer, since: since)
        guard !source.isEmpty || !customer.isEmpty else { return html(.timeline(page)) }
        do {
            let now = UTCTime.now()
            let filter = try BlockedAttemptSource.filter(
                source: source.isEmpty ? nil : source, customer: customer.isEmpty ? nil : customer, since: since,
                until: nil, now: now)
            let start = (filter.sinceMilliseconds ?? 0) / 1000
            let bucket = Int64(AdminAPI.defaultBucketSeconds(span: now - start))
            let (buckets, top) = try await state.blocked(node: nil) { blocked in
                (
                    try blocked.timeline(filter, bucketSeconds: bucket),
                    try blocked.top(by: .source, filter: filter, limit: 1_000_000)
                )
            }
            var rows = buckets.map { TimelineBucket(start: $0.startMilliseconds / 1000, attempts: $0.attempts) }
            // The whole period: zero bars at both ends.
            let first = start / bucket * bucket
            let last = now / bucket * bucket
            if rows.first?.start != first { rows.insert(TimelineBucket(start: first, attempts: 0), at: 0) }
            if rows.last?.start != last { rows.append(TimelineBucket(start: last, attempts: 0)) }
            let attempts = buckets.reduce(Int64(0)) { $0 + $1.attempts }
            let syns = buckets.reduce(Int64(0)) { $0 + $1.syns }
            let destinations = top.map(\.destinations).max() ?? 0
            let firstSeen = top.map(\.firstSeenMilliseconds).min()
            let lastSeen = top.map(\.lastSeenMilliseconds).max()
            page.result = TimelineResult(
                title: customer.isEmpty ? "Source \(source)" : "Customer \(customer)", attempts: attempts, syns: syns,
                distinctDestinations: Int64(destinations),
                firstSeen: firstSeen.map { UTCTime.format($0 / 1000) } ?? "-",
                lastSeen: lastSeen.map { UTCTime.format($0 / 1000) } ?? "-", buckets: rows, bucketSeconds: bucket)
            return html(.timeline(page))
        } catch let error as OperationError {
            guard case .invalidInput = error.kind else {
                if error.kind == .notFound {
                    page.formError = error.message
                    return html(.timeline(page))
                }
                return self.error(for: error, context)
            }
            page.formError = error.message
            return html(.timeline(page), status: .badRequest)
        }
    }

    func export(_ request: Request, _ context: AdminRequestContext) async throws -> Response {
        if let refused = allowed(Permission.abuseDesk, context) { return refused }
        let parameters = query(request)
        let format = parameters["format"] ?? "csv"
        guard ["csv", "json", "xarf"].contains(format) else {
            return error(400, "Invalid request", "format must be csv, json or xarf", context)
        }
        do {
            let filter = try BlockedAttemptSource.filter(
                source: parameters["source"], customer: parameters["customer"], since: parameters["since"] ?? "24h",
                until: parameters["until"], now: UTCTime.now())
            let export = try await state.export(format: format, filter: filter, node: nil)
            let stamp = UTCTime.format(UTCTime.now()).replacingOccurrences(of: ":", with: "")
            let body: String
            let type: String
            switch export {
            case .csv(let text):
                (body, type) = (text, "text/csv; charset=utf-8")
            case .json(let objects):
                (body, type) = ("[\n" + objects.joined(separator: ",\n") + "\n]\n", "application/json")
            }
            let name = "egress25-blocked-\(stamp).\(format == "csv" ? "csv" : "json")"
            return Response(
                status: .ok,
                headers: [
                    .contentType: type, .contentDisposition: "attachment; filename=\"\(name)\"",
                    .cacheControl: "no-store",
                ], body: .init(byteBuffer: ByteBuffer(string: body)))
        } catch {
            return self.error(for: error, context)
        }
    }

    // MARK: - Operations

    func nodes(_ request: Request, _ context: AdminRequestContext) async throws -> Response {
        if let refused = allowed(Permission.operations, context) { return refused }
        let now = UTCTime.now()
        let nodes: [NodeStatus]
        do {
            nodes = try await state.nodes.nodes(now: now)
        } catch {
            return self.error(for: error, context)
        }
        let rows = nodes.map { node in
            NodeRow(
                name: node.name, healthy: node.healthy,
                lastHeartbeat: node.lastHeartbeat.map { "\(UTCTime.format($0)) (\(now - $0) s ago)" } ?? "never",
                policyGeneration: node.policyGeneration.map(String.init) ?? "-",
                lag: node.lagSeconds.map { String(format: "%.0f s", $0) } ?? "-",
                shippingLag: node.shippingLagSeconds.map { String(format: "%.0f s", $0) } ?? "-",
                detail: node.detail)
        }
        let rates = nodes.compactMap { node -> VerdictRateRow? in
            guard let accepted = node.acceptedPerSecond, let blocked = node.blockedPerSecond else { return nil }
            return VerdictRateRow(
                node: node.name, acceptedPerSecond: String(format: "%.1f", accepted),
                blockedPerSecond: String(format: "%.1f", blocked))
        }
        let note =
            rates.isEmpty
            ? (state.configuration.store.location.isFleet
                ? "Verdict rates are on each router's own /metrics endpoint (Prometheus); the fleet store keeps "
                    + "heartbeats only."
                : "Verdict rates appear from the second visit: they are the change since the previous look.")
            : nil
        return html(.nodes(NodesPage(layout: layout("Routers", context), nodes: rows, rates: rates, ratesNote: note)))
    }
}

extension StoreLocation {
    /// Whether this is the fleet's PostgreSQL store.
    var isFleet: Bool {
        if case .postgresql = self { return true }
        return false
    }
}

extension HTTPField.Name {
    static let secFetchSite = Self("Sec-Fetch-Site")!
}
