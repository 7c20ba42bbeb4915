import Egress25Console

/// Pages with every part filled in, for the tests.
enum Fixtures {
    static let token = "csrf-Zx81_q9v"

    static func layout(
        title: String = "Console",
        navigation: [ConsoleSection] = ConsoleSection.allCases,
        user: ConsoleUser? = ConsoleUser(name: "jdoe", role: "admin")
    ) -> ConsoleLayout {
        ConsoleLayout(
            title: title,
            user: user,
            navigation: navigation,
            successMessages: ["Exception exc-7k2mq9tz granted."],
            errorMessages: ["The store is read-only for a moment."],
            csrfToken: token
        )
    }

    static let hour: Int64 = 3600
    /// 2026-12-01 14:00 UTC.
    static let afternoon: Int64 = 1_796_133_600

    static let login = LoginPage(layout: layout(title: "Sign in", navigation: [], user: nil))
    static let refusedLogin = LoginPage(
        layout: layout(title: "Sign in", navigation: [], user: nil), errorMessage: "That token is not valid.")

    static let customerSearch = CustomerSearchPage(
        layout: layout(title: "Customers"),
        query: "192.0.2",
        searched: true,
        results: [
            CustomerSearchResult(
                id: "c-1001", name: "Ada Lovelace", addresses: ["192.0.2.7/32", "2001:db8:7::/56"],
                activeExceptions: 2, origin: "staff"),
            CustomerSearchResult(id: "c-1002", name: "", addresses: [], activeExceptions: 0, origin: "feed"),
        ],
        truncationNote: "Showing the first 50 matches."
    )

    static let customer = CustomerPage(
        layout: layout(title: "Customer c-1001"),
        customer: CustomerDetails(
            id: "c-1001", name: "Ada Lovelace", note: "Runs her own mail server", added: "2026-11-29 07:45 UTC",
            origin: "staff"),
        staticBindings: [
            StaticBindingRow(prefix: "198.51.100.0/29", from: "2026-11-29 07:45 UTC", until: "open-ended")
        ],
        sessions: [
            SessionRow(prefix: "192.0.2.7/32", from: "2026-12-01 06:12 UTC", leaseUntil: "2026-12-01 18:12 UTC")
        ],
        exceptions: [
            ExceptionRow(
                id: "exc-7k2mq9tz", status: .active, destinations: "203.0.113.25/32", expires: "2026-12-08 14:00 UTC",
                ticket: "T-4411", reason: "Own MX", grantedBy: "jdoe"),
            ExceptionRow(
                id: "exc-2b3c4d5e", status: .expired, destinations: "any", expires: "2026-11-30 00:00 UTC", ticket: "",
                reason: "Migration", grantedBy: "asmith"),
            ExceptionRow(
                id: "exc-9x8w7v6u", status: .revoked, destinations: "any", expires: "never", ticket: "T-1",
                reason: "Test", grantedBy: "asmith"),
        ],
        grantForm: GrantExceptionForm()
    )

    static let explain = ExplainPage(
        layout: layout(title: "Explain"),
        source: "192.0.2.7",
        destination: "203.0.113.25",
        answer: ExplainAnswer(
            verdict: .accept,
            reason: "Accepted: exception exc-7k2mq9tz of customer c-1001 covers 203.0.113.25.",
            customerID: "c-1001",
            customerName: "Ada Lovelace",
            exception: ExplainException(
                id: "exc-7k2mq9tz", status: .active, destinations: "203.0.113.25/32", expires: "2026-12-08 14:00 UTC",
                ticket: "T-4411", reason: "Own MX"),
            relay: nil
        )
    )

    static let topOffenders = TopOffendersPage(
        layout: layout(title: "Top offenders"),
        by: .source,
        since: "24h",
        rows: [
            TopOffenderRow(
                key: "192.0.2.7", attempts: 12_345, syns: 20_001, distinctDestinations: 871,
                firstSeen: "2026-12-01 06:12 UTC", lastSeen: "2026-12-01 14:03 UTC"),
            TopOffenderRow(
                key: "2001:db8::7", attempts: 12, syns: 12, distinctDestinations: 1,
                firstSeen: "2026-12-01 09:00 UTC", lastSeen: "2026-12-01 09:01 UTC"),
        ]
    )

    static let suspects = SuspectsPage(
        layout: layout(title: "Suspects"),
        thresholds: [
            SuspectThreshold(name: "Distinct destinations", value: "≥ 20 in 10 min"),
            SuspectThreshold(name: "SYN rate", value: "≥ 30/min"),
        ],
        rows: [
            SuspectRow(
                source: "192.0.2.7", customer: "c-1001", window: "14:00–14:10 UTC", attempts: 480,
                distinctDestinations: 212, synsPerMinute: "41.5", reasons: ["fan-out", "rate"],
                topDestinations: ["203.0.113.25 (41)", "198.51.100.9 (12)"]),
            SuspectRow(
                source: "192.0.2.99", customer: "", window: "14:00–14:10 UTC", attempts: 60, distinctDestinations: 25,
                synsPerMinute: "6", reasons: ["fan-out"], topDestinations: []),
        ]
    )

    static let timeline = TimelinePage(
        layout: layout(title: "Timeline"),
        source: "192.0.2.7",
        since: "24h",
        result: TimelineResult(
            title: "Blocked attempts from 192.0.2.7, last 24h",
            attempts: 487,
            syns: 512,
            distinctDestinations: 212,
            firstSeen: "2026-12-01 14:02 UTC",
            lastSeen: "2026-12-01 16:59 UTC",
            buckets: [
                TimelineBucket(start: afternoon, attempts: 312),
                TimelineBucket(start: afternoon + 2 * hour, attempts: 175),
            ],
            bucketSeconds: hour
        )
    )

    static let nodes = NodesPage(
        layout: layout(title: "Nodes"),
        nodes: [
            NodeRow(
                name: "bras-fra-1", healthy: true, lastHeartbeat: "2026-12-01 14:03 UTC (4 s ago)",
                policyGeneration: "18211", lag: "0.3 s", shippingLag: "12 s", detail: ""),
            NodeRow(
                name: "bras-ber-2", healthy: false, lastHeartbeat: "2026-12-01 12:40 UTC (83 min ago)",
                policyGeneration: "18190", lag: "83 min", shippingLag: "85 min", detail: "running from the policy cache"
            ),
        ],
        rates: [
            VerdictRateRow(node: "bras-fra-1", acceptedPerSecond: "1,204.5", blockedPerSecond: "3.2"),
            VerdictRateRow(node: "All nodes", acceptedPerSecond: "1,204.5", blockedPerSecond: "3.2"),
        ],
        ratesNote: "Last 5 minutes."
    )

    static let notFound = ErrorPage(
        layout: layout(title: "Not found"), status: 404, title: "Not found", detail: "There is no customer c-9999.")

    /// One of every page, by name.
    static let allPages: [(name: String, page: ConsolePage)] = [
        ("login", .login(login)),
        ("refused login", .login(refusedLogin)),
        ("customer search", .customerSearch(customerSearch)),
        ("empty customer search", .customerSearch(CustomerSearchPage(layout: layout()))),
        ("customer", .customer(customer)),
        ("customer with grant errors", .customer(customerWithErrors)),
        ("explain", .explain(explain)),
        ("explain, blocked", .explain(blockedExplain)),
        ("empty explain", .explain(ExplainPage(layout: layout()))),
        ("top offenders", .topOffenders(topOffenders)),
        ("top offenders, none", .topOffenders(TopOffendersPage(layout: layout(), by: .customer, since: "3d"))),
        ("suspects", .suspects(suspects)),
        ("timeline", .timeline(timeline)),
        (
            "timeline, asked nothing",
            .timeline(TimelinePage(layout: layout(), formError: "Give a source or a customer."))
        ),
        ("nodes", .nodes(nodes)),
        ("error", .error(notFound)),
    ]

    static var customerWithErrors: CustomerPage {
        var page = customer
        page.exceptions[0].revokeReason = "dup"
        page.exceptions[0].revokeError = "Say why in a few words."
        page.grantForm = GrantExceptionForm(
            destinations: "300.1.1.1",
            anyDestination: true,
            duration: .ninetyDays,
            expiresAt: "2020-01-01",
            reason: "",
            ticket: "T-9",
            destinationsError: "\"300.1.1.1\" is not an address or prefix.",
            durationError: "Pick a duration.",
            expiresAtError: "The date is in the past.",
            reasonError: "A reason is required.",
            ticketError: "Tickets look like T-1234."
        )
        return page
    }

    static var blockedExplain: ExplainPage {
        var page = explain
        page.answer = ExplainAnswer(
            verdict: .block, reason: "Blocked: customer c-1001 has no exception for 198.51.100.1.",
            customerID: "c-1001",
            relay: "smtp.isp.example (203.0.113.10)")
        return page
    }
}
