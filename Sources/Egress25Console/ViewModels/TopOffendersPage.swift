/// Top offenders (`GET /abuse/top?by=source|customer&since=24h`): who made the most blocked attempts, with export
/// links for the same period.
public struct TopOffendersPage: Sendable, Hashable {
    /// Title, user, navigation, flash messages.
    public var layout: ConsoleLayout
    /// Grouped by source address or by customer.
    public var by: OffenderGrouping
    /// The period, as the `since` parameter takes it, e.g. `24h`.
    public var since: String
    /// The periods the selector offers; `since` is added when it is not among them.
    public var sinceChoices: [String]
    /// The offenders, most attempts first.
    public var rows: [TopOffenderRow]

    /// The periods offered by default.
    public static let defaultSinceChoices = ["1h", "6h", "24h", "7d", "30d"]

    /// Creates the top offenders page.
    public init(
        layout: ConsoleLayout,
        by: OffenderGrouping = .source,
        since: String = "24h",
        sinceChoices: [String] = TopOffendersPage.defaultSinceChoices,
        rows: [TopOffenderRow] = []
    ) {
        self.layout = layout
        self.by = by
        self.since = since
        self.sinceChoices = sinceChoices
        self.rows = rows
    }
}

/// What the top offenders are grouped by; the raw value is the `by` parameter and the timeline's parameter name.
public enum OffenderGrouping: String, Sendable, Hashable, CaseIterable {
    /// By source address.
    case source
    /// By customer id.
    case customer
}

/// One offender; the key links to its timeline (`/abuse/timeline?source=` or `?customer=`, same `since`).
public struct TopOffenderRow: Sendable, Hashable {
    /// The source address or customer id.
    public var key: String
    /// Blocked attempts.
    public var attempts: Int64
    /// Blocked initial SYNs (retransmissions included).
    public var syns: Int64
    /// Distinct destinations tried: the fan-out, the sign of a spam bot.
    public var distinctDestinations: Int64
    /// The first attempt, e.g. `2026-12-01 06:12 UTC`.
    public var firstSeen: String
    /// The last attempt.
    public var lastSeen: String

    /// Creates an offender row.
    public init(
        key: String,
        attempts: Int64,
        syns: Int64,
        distinctDestinations: Int64,
        firstSeen: String,
        lastSeen: String
    ) {
        self.key = key
        self.attempts = attempts
        self.syns = syns
        self.distinctDestinations = distinctDestinations
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
    }
}
