struct LoginContext: Sendable {
    let error: [String]

    init(_ page: LoginPage) {
        error = optional(page.errorMessage)
    }
}

struct ErrorContext: Sendable {
    let status: String
    let title: String
    let detail: String

    init(_ page: ErrorPage) {
        status = String(page.status)
        title = page.title
        detail = page.detail
    }
}

struct CustomerSearchContext: Sendable {
    struct Result: Sendable {
        let id: String
        let href: String
        let name: [String]
        let addresses: [String]
        let activeExceptions: String
        let origin: String
    }

    let query: String
    let results: [Result]
    let hasResults: Bool
    let noResults: Bool
    let truncationNote: [String]

    init(_ page: CustomerSearchPage) {
        query = page.query
        results = page.results.map {
            Result(
                id: $0.id,
                href: ConsoleURL.customer($0.id),
                name: optional($0.name),
                addresses: $0.addresses,
                activeExceptions: ConsoleText.grouped($0.activeExceptions),
                origin: $0.origin
            )
        }
        hasResults = !results.isEmpty
        noResults = page.searched && results.isEmpty
        truncationNote = optional(page.truncationNote)
    }
}

struct CustomerContext: Sendable {
    struct Exception: Sendable {
        let id: String
        let status: Badge
        let active: Bool
        let destinations: String
        let expires: String
        let ticket: [String]
        let reason: String
        let grantedBy: String
        let revokeAction: String
        let revokeConfirm: String
        let revokeFieldID: String
        let revokeReason: String
        let revokeError: [String]
    }

    struct Grant: Sendable {
        let action: String
        let destinations: String
        let anyDestination: Bool
        let durations: [SelectOption]
        let expiresAt: String
        let reason: String
        let ticket: String
        let destinationsError: [String]
        let durationError: [String]
        let expiresAtError: [String]
        let reasonError: [String]
        let ticketError: [String]
    }

    let id: String
    let name: [String]
    let note: [String]
    let added: String
    let origin: String
    let staticBindings: [StaticBindingRow]
    let hasStaticBindings: Bool
    let sessions: [SessionRow]
    let hasSessions: Bool
    let exceptions: [Exception]
    let hasExceptions: Bool
    let grant: Grant

    init(_ page: CustomerPage) {
        let customer = page.customer
        id = customer.id
        name = optional(customer.name)
        note = optional(customer.note)
        added = customer.added
        origin = customer.origin
        staticBindings = page.staticBindings
        hasStaticBindings = !staticBindings.isEmpty
        sessions = page.sessions
        hasSessions = !sessions.isEmpty
        exceptions = page.exceptions.enumerated().map { index, row in
            Exception(
                id: row.id,
                status: Badge(row.status),
                active: row.status == .active,
                destinations: row.destinations,
                expires: row.expires,
                ticket: optional(row.ticket),
                reason: row.reason,
                grantedBy: row.grantedBy,
                revokeAction: ConsoleURL.revoke(exception: row.id),
                revokeConfirm: "Revoke exception \(row.id) of customer \(customer.id)? Port 25 to "
                    + "\(row.destinations) will be blocked again.",
                revokeFieldID: "revoke-reason-\(index + 1)",
                revokeReason: row.revokeReason,
                revokeError: optional(row.revokeError)
            )
        }
        hasExceptions = !exceptions.isEmpty
        let form = page.grantForm
        grant = Grant(
            action: ConsoleURL.grant(customer: customer.id),
            destinations: form.destinations,
            anyDestination: form.anyDestination,
            durations: GrantDuration.allCases.map {
                SelectOption(value: $0.rawValue, label: $0.label, selected: $0 == form.duration)
            },
            expiresAt: form.expiresAt,
            reason: form.reason,
            ticket: form.ticket,
            destinationsError: optional(form.destinationsError),
            durationError: optional(form.durationError),
            expiresAtError: optional(form.expiresAtError),
            reasonError: optional(form.reasonError),
            ticketError: optional(form.ticketError)
        )
    }
}

struct ExplainContext: Sendable {
    struct Answer: Sendable {
        let verdict: Badge
        let reason: String
        let customer: [Customer]
        let exception: [Exception]
        let relay: [String]
    }

    struct Customer: Sendable {
        let id: String
        let href: String
        let name: [String]
    }

    struct Exception: Sendable {
        let id: String
        let status: Badge
        let destinations: String
        let expires: String
        let ticket: [String]
        let reason: String
    }

    let source: String
    let destination: String
    let port: String
    let sourceError: [String]
    let destinationError: [String]
    let portError: [String]
    let answer: [Answer]

    init(_ page: ExplainPage) {
        source = page.source
        destination = page.destination
        port = page.port
        sourceError = optional(page.sourceError)
        destinationError = optional(page.destinationError)
        portError = optional(page.portError)
        answer =
            page.answer.map { answer in
                [
                    Answer(
                        verdict: Badge(
                            label: answer.verdict == .accept ? "accepted" : "blocked", kind: answer.verdict.rawValue),
                        reason: answer.reason,
                        customer: optional(answer.customerID).map {
                            Customer(id: $0, href: ConsoleURL.customer($0), name: optional(answer.customerName))
                        },
                        exception: answer.exception.map { exception in
                            [
                                Exception(
                                    id: exception.id,
                                    status: Badge(exception.status),
                                    destinations: exception.destinations,
                                    expires: exception.expires,
                                    ticket: optional(exception.ticket),
                                    reason: exception.reason
                                )
                            ]
                        } ?? [],
                        relay: optional(answer.relay)
                    )
                ]
            } ?? []
    }
}

struct TopOffendersContext: Sendable {
    struct Row: Sendable {
        let key: String
        let href: String
        let attempts: String
        let syns: String
        let distinctDestinations: String
        let firstSeen: String
        let lastSeen: String
    }

    let groupings: [SelectOption]
    let periods: [SelectOption]
    let keyHeading: String
    let rows: [Row]
    let hasRows: Bool
    let csvHref: String
    let xarfHref: String

    init(_ page: TopOffendersPage) {
        groupings = OffenderGrouping.allCases.map {
            SelectOption(
                value: $0.rawValue, label: $0 == .source ? "source address" : "customer", selected: $0 == page.by)
        }
        periods = SelectOption.periods(page.sinceChoices, selected: page.since)
        keyHeading = page.by == .source ? "Source" : "Customer"
        rows = page.rows.map {
            Row(
                key: $0.key,
                href: ConsoleURL.timeline(page.by, $0.key, since: page.since),
                attempts: ConsoleText.grouped($0.attempts),
                syns: ConsoleText.grouped($0.syns),
                distinctDestinations: ConsoleText.grouped($0.distinctDestinations),
                firstSeen: $0.firstSeen,
                lastSeen: $0.lastSeen
            )
        }
        hasRows = !rows.isEmpty
        csvHref = ConsoleURL.export(format: "csv", since: page.since)
        xarfHref = ConsoleURL.export(format: "xarf", since: page.since)
    }
}

struct SuspectsContext: Sendable {
    struct Row: Sendable {
        let source: Link
        let customer: [Link]
        let window: String
        let attempts: String
        let distinctDestinations: String
        let synsPerMinute: String
        let reasons: [String]
        let topDestinations: [String]
    }

    let thresholds: [SuspectThreshold]
    let hasThresholds: Bool
    let rows: [Row]
    let hasRows: Bool

    init(_ page: SuspectsPage) {
        thresholds = page.thresholds
        hasThresholds = !thresholds.isEmpty
        rows = page.rows.map { row in
            Row(
                source: Link(text: row.source, href: ConsoleURL.timeline(.source, row.source, since: "")),
                customer: optional(row.customer).map {
                    Link(text: $0, href: ConsoleURL.timeline(.customer, $0, since: ""))
                },
                window: row.window,
                attempts: ConsoleText.grouped(row.attempts),
                distinctDestinations: ConsoleText.grouped(row.distinctDestinations),
                synsPerMinute: row.synsPerMinute,
                reasons: row.reasons,
                topDestinations: row.topDestinations
            )
        }
        hasRows = !rows.isEmpty
    }
}

struct TimelineContext: Sendable {
    struct Result: Sendable {
        let attempts: String
        let syns: String
        let distinctDestinations: String
        let firstSeen: [String]
        let lastSeen: [String]
        /// Markup from ``TimelineChart``, which escapes its own text: the one value rendered with `{{{ }}}`.
        let chart: String
    }

    let source: String
    let customer: String
    let periods: [SelectOption]
    let formError: [String]
    let result: [Result]

    init(_ page: TimelinePage) {
        source = page.source
        customer = page.customer
        periods = SelectOption.periods(page.sinceChoices, selected: page.since)
        formError = optional(page.formError)
        result =
            page.result.map { result in
                [
                    Result(
                        attempts: ConsoleText.grouped(result.attempts),
                        syns: ConsoleText.grouped(result.syns),
                        distinctDestinations: ConsoleText.grouped(result.distinctDestinations),
                        firstSeen: optional(result.firstSeen),
                        lastSeen: optional(result.lastSeen),
                        chart: TimelineChart.svg(
                            buckets: result.buckets.map { (start: $0.start, attempts: $0.attempts) },
                            bucketSeconds: result.bucketSeconds,
                            title: result.title
                        )
                    )
                ]
            } ?? []
    }
}

struct NodesContext: Sendable {
    struct Node: Sendable {
        let name: String
        let health: Badge
        let lastHeartbeat: String
        let policyGeneration: String
        let lag: String
        let shippingLag: String
        let detail: [String]
    }

    let nodes: [Node]
    let hasNodes: Bool
    let rates: [VerdictRateRow]
    let hasRates: Bool
    let ratesNote: [String]

    init(_ page: NodesPage) {
        nodes = page.nodes.map {
            Node(
                name: $0.name,
                health: $0.healthy
                    ? Badge(label: "healthy", kind: "healthy") : Badge(label: "unhealthy", kind: "unhealthy"),
                lastHeartbeat: $0.lastHeartbeat,
                policyGeneration: $0.policyGeneration,
                lag: $0.lag,
                shippingLag: $0.shippingLag,
                detail: optional($0.detail)
            )
        }
        hasNodes = !nodes.isEmpty
        rates = page.rates
        hasRates = !rates.isEmpty
        ratesNote = optional(page.ratesNote)
    }
}
