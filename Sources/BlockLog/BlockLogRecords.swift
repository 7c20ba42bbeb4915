import Egress25Core

/// One row of the block log: the blocked SYNs of one (source, destination, destination port) within one
/// aggregation window.
public struct BlockedRecord: Sendable, Hashable {
    /// First SYN, Unix ms UTC.
    public var firstSeenMilliseconds: Int64
    /// Last SYN, Unix ms UTC.
    public var lastSeenMilliseconds: Int64
    /// The blocked subscriber address (IP source).
    public var source: IPAddress
    /// The address the SYNs were sent to (IP destination).
    public var destination: IPAddress
    /// The TCP destination port of the SYNs (policed port, usually 25).
    public var destinationPort: UInt16
    /// New connections: distinct TCP source ports.
    public var attempts: Int64
    /// All SYNs, retransmissions included.
    public var syns: Int64
    /// Customer id holding the source at block time.
    public var customer: String?
    /// Why the SYNs were blocked (or would have been, in shadow mode).
    public var reason: BlockReason
    /// The exception that did not apply (expired or out of scope).
    public var exceptionID: String?
    /// The router that blocked.
    public var nodeName: String

    /// Creates a row; times are Unix ms UTC.
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
    /// Customer id that held the source when the SYNs were blocked.
    public var customer: String?
    /// Destination address or CIDR prefix.
    public var destination: IPPrefix?
    /// Rows whose `[first_seen, last_seen]` overlaps `[since, until)`, Unix ms UTC.
    public var sinceMilliseconds: Int64?
    /// End of the time range, Unix ms UTC, exclusive; `nil` for no end.
    public var untilMilliseconds: Int64?

    /// Creates a filter; `nil` fields match everything.
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
    /// New connections: distinct TCP source ports, summed over the matching rows.
    public var attempts: Int64
    /// All SYNs, retransmissions included, summed over the matching rows.
    public var syns: Int64
    /// Distinct destination addresses (1 when ranking by destination).
    public var destinations: Int
    /// Distinct source addresses (1 when ranking by source; a customer's addresses across address changes).
    public var sources: Int
    /// Earliest `first_seen` of the matching rows, Unix ms UTC.
    public var firstSeenMilliseconds: Int64
    /// Latest `last_seen` of the matching rows, Unix ms UTC.
    public var lastSeenMilliseconds: Int64

    /// Creates an entry (for other readers of blocked attempts, such as the fleet store).
    public init(
        key: String, attempts: Int64, syns: Int64, destinations: Int, sources: Int, firstSeenMilliseconds: Int64,
        lastSeenMilliseconds: Int64
    ) {
        self.key = key
        self.attempts = attempts
        self.syns = syns
        self.destinations = destinations
        self.sources = sources
        self.firstSeenMilliseconds = firstSeenMilliseconds
        self.lastSeenMilliseconds = lastSeenMilliseconds
    }
}

/// One bucket of a timeline.
public struct BlockLogTimelineBucket: Sendable, Hashable {
    /// Bucket start, Unix ms UTC (rows are bucketed by `first_seen`).
    public var startMilliseconds: Int64
    /// New connections (distinct TCP source ports) of the rows in this bucket.
    public var attempts: Int64
    /// All SYNs, retransmissions included, of the rows in this bucket.
    public var syns: Int64
    /// Distinct destination addresses.
    public var destinations: Int
    /// The source addresses seen (a customer's addresses across address changes), sorted.
    public var sources: [IPAddress]
    /// The customers seen, sorted.
    public var customers: [String]

    /// Creates a bucket (for other readers of blocked attempts, such as the fleet store).
    public init(
        startMilliseconds: Int64, attempts: Int64, syns: Int64, destinations: Int, sources: [IPAddress],
        customers: [String]
    ) {
        self.startMilliseconds = startMilliseconds
        self.attempts = attempts
        self.syns = syns
        self.destinations = destinations
        self.sources = sources
        self.customers = customers
    }
}

/// Everything blocked from one source address, per destination: the content of one X-ARF report.
public struct BlockLogSourceSummary: Sendable, Hashable {
    /// The SYNs from the source to one destination address and port.
    public struct Destination: Sendable, Hashable {
        /// The destination address.
        public var address: IPAddress
        /// The TCP destination port.
        public var port: UInt16
        /// New connections (distinct TCP source ports).
        public var attempts: Int64
        /// All SYNs, retransmissions included.
        public var syns: Int64
        /// First SYN to this destination, Unix ms UTC.
        public var firstSeenMilliseconds: Int64
        /// Last SYN to this destination, Unix ms UTC.
        public var lastSeenMilliseconds: Int64
    }
    /// The source address the report is about.
    public var source: IPAddress
    /// Customer ids that held the source in the rows, sorted.
    public var customers: [String]
    /// First blocked SYN, Unix ms UTC.
    public var firstSeenMilliseconds: Int64
    /// Last blocked SYN, Unix ms UTC.
    public var lastSeenMilliseconds: Int64
    /// New connections (distinct TCP source ports), all destinations.
    public var attempts: Int64
    /// All SYNs, retransmissions included, all destinations.
    public var syns: Int64
    /// Ordered by SYNs, most first, then address.
    public var destinations: [Destination]
}

extension BlockLogSourceSummary {
    /// Sums the records `forEach` hands out per source address and, within it, per (destination, port): one
    /// summary per source, most SYNs first (``BlockLogReader/sourceSummaries(_:)``, and the fleet store's export).
    /// - Throws: What `forEach` throws.
    public static func summarize(
        _ forEach: ((BlockedRecord) throws -> Void) throws -> Void
    ) throws -> [BlockLogSourceSummary] {
        struct DestinationKey: Hashable {
            var address: IPAddress
            var port: UInt16
        }
        struct Accumulator {
            var customers = Set<String>()
            var destinations: [DestinationKey: Destination] = [:]
        }
        var sources: [IPAddress: Accumulator] = [:]
        try forEach { record in
            let key = DestinationKey(address: record.destination, port: record.destinationPort)
            if let customer = record.customer {
                sources[record.source, default: Accumulator()].customers.insert(customer)
            }
            var destination =
                sources[record.source]?.destinations[key]
                ?? .init(
                    address: record.destination, port: record.destinationPort, attempts: 0, syns: 0,
                    firstSeenMilliseconds: .max, lastSeenMilliseconds: .min)
            destination.attempts += record.attempts
            destination.syns += record.syns
            destination.firstSeenMilliseconds = min(destination.firstSeenMilliseconds, record.firstSeenMilliseconds)
            destination.lastSeenMilliseconds = max(destination.lastSeenMilliseconds, record.lastSeenMilliseconds)
            sources[record.source, default: Accumulator()].destinations[key] = destination
        }
        return sources.map { source, value in
            let destinations = value.destinations.values.sorted {
                ($0.syns, $1.address, $1.port) > ($1.syns, $0.address, $0.port)
            }
            return BlockLogSourceSummary(
                source: source, customers: value.customers.sorted(),
                firstSeenMilliseconds: destinations.map(\.firstSeenMilliseconds).min() ?? 0,
                lastSeenMilliseconds: destinations.map(\.lastSeenMilliseconds).max() ?? 0,
                attempts: destinations.reduce(0) { $0 + $1.attempts },
                syns: destinations.reduce(0) { $0 + $1.syns },
                destinations: destinations)
        }.sorted { ($0.syns, $1.source) > ($1.syns, $0.source) }
    }
}
