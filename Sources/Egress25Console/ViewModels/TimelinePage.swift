/// Timeline (`GET /abuse/timeline?source=|customer=&since=`): one source's or customer's blocked attempts over time,
/// as summary numbers and a bar chart drawn on the server (``TimelineChart``).
public struct TimelinePage: Sendable, Hashable {
    /// Title, user, navigation, flash messages.
    public var layout: ConsoleLayout
    /// The source address entered; empty when asking about a customer.
    public var source: String
    /// The customer id entered; empty when asking about a source.
    public var customer: String
    /// The period, as the `since` parameter takes it, e.g. `24h`.
    public var since: String
    /// The periods the selector offers; `since` is added when it is not among them.
    public var sinceChoices: [String]
    /// What is wrong with the question, e.g. `Give a source address or a customer id.`, shown under the form.
    public var formError: String?
    /// The answer; `nil` before a question was asked.
    public var result: TimelineResult?

    /// Creates the timeline page.
    public init(
        layout: ConsoleLayout,
        source: String = "",
        customer: String = "",
        since: String = "24h",
        sinceChoices: [String] = TopOffendersPage.defaultSinceChoices,
        formError: String? = nil,
        result: TimelineResult? = nil
    ) {
        self.layout = layout
        self.source = source
        self.customer = customer
        self.since = since
        self.sinceChoices = sinceChoices
        self.formError = formError
        self.result = result
    }
}

/// A timeline's numbers and its buckets.
public struct TimelineResult: Sendable, Hashable {
    /// The chart's title, e.g. `Blocked attempts from 192.0.2.7, last 24 h`.
    public var title: String
    /// Blocked attempts in the period.
    public var attempts: Int64
    /// Blocked initial SYNs in the period.
    public var syns: Int64
    /// Distinct destinations in the period.
    public var distinctDestinations: Int64
    /// The first attempt, e.g. `2026-12-01 06:12 UTC`; empty when there was none.
    public var firstSeen: String
    /// The last attempt; empty when there was none.
    public var lastSeen: String
    /// The buckets with attempts (missing ones are drawn as zero). To draw the whole period, include a bucket of
    /// zero attempts at its first and its last bucket start.
    public var buckets: [TimelineBucket]
    /// The width of one bucket, seconds (e.g. 3600).
    public var bucketSeconds: Int64

    /// Creates a timeline result.
    public init(
        title: String,
        attempts: Int64,
        syns: Int64,
        distinctDestinations: Int64,
        firstSeen: String,
        lastSeen: String,
        buckets: [TimelineBucket],
        bucketSeconds: Int64
    ) {
        self.title = title
        self.attempts = attempts
        self.syns = syns
        self.distinctDestinations = distinctDestinations
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.buckets = buckets
        self.bucketSeconds = bucketSeconds
    }
}

/// One bucket of a timeline.
public struct TimelineBucket: Sendable, Hashable {
    /// The bucket's start, UTC seconds.
    public var start: Int64
    /// Blocked attempts in the bucket.
    public var attempts: Int64

    /// Creates a bucket.
    public init(start: Int64, attempts: Int64) {
        self.start = start
        self.attempts = attempts
    }
}
