/// Suspects (`GET /abuse/suspects`): sources whose blocked attempts look like a spam bot, with the thresholds that
/// made them suspect.
public struct SuspectsPage: Sendable, Hashable {
    /// Title, user, navigation, flash messages.
    public var layout: ConsoleLayout
    /// The rules a source must meet, shown above the table.
    public var thresholds: [SuspectThreshold]
    /// The suspects, worst first.
    public var rows: [SuspectRow]

    /// Creates the suspects page.
    public init(layout: ConsoleLayout, thresholds: [SuspectThreshold], rows: [SuspectRow] = []) {
        self.layout = layout
        self.thresholds = thresholds
        self.rows = rows
    }
}

/// One threshold, e.g. `Distinct destinations` `≥ 20 in 10 min`.
public struct SuspectThreshold: Sendable, Hashable {
    /// What is measured, e.g. `Distinct destinations`.
    public var name: String
    /// The limit, e.g. `≥ 20 in 10 min`.
    public var value: String

    /// Creates a threshold.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// One suspect source; the source links to its timeline, the customer to the customer's timeline.
public struct SuspectRow: Sendable, Hashable {
    /// The source address, e.g. `192.0.2.7`.
    public var source: String
    /// The customer holding it; empty when nobody does.
    public var customer: String
    /// The window the numbers cover, e.g. `14:00–14:10 UTC`.
    public var window: String
    /// Blocked attempts in the window.
    public var attempts: Int64
    /// Distinct destinations in the window.
    public var distinctDestinations: Int64
    /// Initial SYNs per minute, e.g. `41.5`.
    public var synsPerMinute: String
    /// Which thresholds it crossed, e.g. `fan-out`, `rate`.
    public var reasons: [String]
    /// The destinations it tried most, e.g. `203.0.113.25 (41)`.
    public var topDestinations: [String]

    /// Creates a suspect row.
    public init(
        source: String,
        customer: String,
        window: String,
        attempts: Int64,
        distinctDestinations: Int64,
        synsPerMinute: String,
        reasons: [String],
        topDestinations: [String]
    ) {
        self.source = source
        self.customer = customer
        self.window = window
        self.attempts = attempts
        self.distinctDestinations = distinctDestinations
        self.synsPerMinute = synsPerMinute
        self.reasons = reasons
        self.topDestinations = topDestinations
    }
}
