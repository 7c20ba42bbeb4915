/// Nodes (`GET /ops/nodes`): the routers' health as their heartbeats report it, and verdict rates.
public struct NodesPage: Sendable, Hashable {
    /// Title, user, navigation, flash messages.
    public var layout: ConsoleLayout
    /// One row per router.
    public var nodes: [NodeRow]
    /// Accepted and blocked verdicts per second, per node and/or in total.
    public var rates: [VerdictRateRow]
    /// Where the rates come from and over what window, e.g. `Last 5 minutes, from the routers' metrics.`
    public var ratesNote: String?

    /// Creates the nodes page.
    public init(layout: ConsoleLayout, nodes: [NodeRow], rates: [VerdictRateRow] = [], ratesNote: String? = nil) {
        self.layout = layout
        self.nodes = nodes
        self.rates = rates
        self.ratesNote = ratesNote
    }
}

/// One router.
public struct NodeRow: Sendable, Hashable {
    /// The node name, e.g. `bras-fra-1`.
    public var name: String
    /// Healthy or not; shown as a badge.
    public var healthy: Bool
    /// The last heartbeat, e.g. `2026-12-01 14:03 UTC (4 s ago)`.
    public var lastHeartbeat: String
    /// The policy generation it runs, e.g. `18211`.
    public var policyGeneration: String
    /// How old its policy data is, e.g. `0.3 s`.
    public var lag: String
    /// How far behind its block-log shipping is, e.g. `12 s`.
    public var shippingLag: String
    /// Anything else worth saying, e.g. `running from the policy cache`; may be empty.
    public var detail: String

    /// Creates a node row.
    public init(
        name: String,
        healthy: Bool,
        lastHeartbeat: String,
        policyGeneration: String,
        lag: String,
        shippingLag: String,
        detail: String
    ) {
        self.name = name
        self.healthy = healthy
        self.lastHeartbeat = lastHeartbeat
        self.policyGeneration = policyGeneration
        self.lag = lag
        self.shippingLag = shippingLag
        self.detail = detail
    }
}

/// Verdict rates of one node, or of all (`total`).
public struct VerdictRateRow: Sendable, Hashable {
    /// The node name, or e.g. `All nodes`.
    public var node: String
    /// Accepted verdicts per second, e.g. `1,204.5`.
    public var acceptedPerSecond: String
    /// Blocked verdicts per second, e.g. `3.2`.
    public var blockedPerSecond: String

    /// Creates a rate row.
    public init(node: String, acceptedPerSecond: String, blockedPerSecond: String) {
        self.node = node
        self.acceptedPerSecond = acceptedPerSecond
        self.blockedPerSecond = blockedPerSecond
    }
}
