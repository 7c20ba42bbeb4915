import Egress25Core

/// One row of the block log: the blocked SYNs of one (source, destination, destination port) within one
/// aggregation window.
public struct BlockedRecord: Sendable, Hashable {
    /// First SYN, Unix ms UTC.
    public var firstSeenMilliseconds: Int64
    /// Last SYN, Unix ms UTC.
    public var lastSeenMilliseconds: Int64
    public var source: IPAddress
    public var destination: IPAddress
    public var destinationPort: UInt16
    /// New connections: distinct TCP source ports.
    public var attempts: Int64
    /// All SYNs, retransmissions included.
    public var syns: Int64
    /// Customer id holding the source at block time.
    public var customer: String?
    public var reason: BlockReason
    /// The exception that did not apply (expired or out of scope).
    public var exceptionID: String?
    /// The router that blocked.
    public var nodeName: String

    public init(
        firstSeenMilliseconds: Int64, lastSeenMilliseconds: Int64, source: IPAddress, destination: IPAddress,
        destinationPort: UInt16, attempts: Int64, syns: Int64, customer: String?, reason: BlockReason,
        exceptionID: String?, nodeName: String
    ) {
        self.firstSeenMilliseconds = firstSeenMilliseconds
        self.lastSeenMilliseconds = lastSeenMilliseconds
        self.source = source
        self.destination = destination
        self.destinationPort = destinationPort
        self.attempts = attempts
        self.syns = syns
        self.customer = customer
        self.reason = reason
        self.exceptionID = exceptionID
        self.nodeName = nodeName
    }
}

/// Which rows a query selects. Every field is optional; all given ones must match.
public struct BlockLogFilter: Sendable, Hashable {
    /// Source address or CIDR prefix (a bare address is a host prefix).
    public var source: IPPrefix?
    public var customer: String?
    /// Destination address or CIDR prefix.
    public var destination: IPPrefix?
    /// Rows whose `[first_seen, last_seen]` overlaps `[since, until)`, Unix ms UTC.
    public var sinceMilliseconds: Int64?
    public var untilMilliseconds: Int64?

    public init(
        source: IPPrefix? = nil, customer: String? = nil, destination: IPPrefix? = nil,
        sinceMilliseconds: Int64? = nil, untilMilliseconds: Int64? = nil
    ) {
        self.source = source
        self.customer = customer
        self.destination = destination
        self.sinceMilliseconds = sinceMilliseconds
        self.untilMilliseconds = untilMilliseconds
    }
}

/// What `top` ranks.
public enum BlockLogGrouping: String, Sendable, CaseIterable {
    case source, customer, destination
}

/// One line of `top`: everything blocked for one source address, customer or destination.
public struct BlockLogTopEntry: Sendable, Hashable {
    /// The address or customer id.
    public var key: String
    public var attempts: Int64
    public var syns: Int64
    /// Distinct destination addresses (1 when ranking by destination).
    public var destinations: Int
    /// Distinct source addresses (1 when ranking by source; a customer's addresses across address changes).
    public var sources: Int
    public var firstSeenMilliseconds: Int64
    public var lastSeenMilliseconds: Int64
}

/// One bucket of a timeline.
public struct BlockLogTimelineBucket: Sendable, Hashable {
    /// Bucket start, Unix ms UTC (rows are bucketed by `first_seen`).
    public var startMilliseconds: Int64
    public var attempts: Int64
    public var syns: Int64
    /// Distinct destination addresses.
    public var destinations: Int
    /// The source addresses seen (a customer's addresses across address changes), sorted.
    public var sources: [IPAddress]
    /// The customers seen, sorted.
    public var customers: [String]
}

/// Everything blocked from one source address, per destination: the content of one X-ARF report.
public struct BlockLogSourceSummary: Sendable, Hashable {
    public struct Destination: Sendable, Hashable {
        public var address: IPAddress
        public var port: UInt16
        public var attempts: Int64
        public var syns: Int64
        public var firstSeenMilliseconds: Int64
        public var lastSeenMilliseconds: Int64
    }
    public var source: IPAddress
    public var customers: [String]
    public var firstSeenMilliseconds: Int64
    public var lastSeenMilliseconds: Int64
    public var attempts: Int64
    public var syns: Int64
    /// Ordered by SYNs, most first, then address.
    public var destinations: [Destination]
}
