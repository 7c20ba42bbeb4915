import BlockLog
import Egress25Configuration
import Egress25Core

/// One source that crossed a threshold of `abuse.suspects` in one detection window: the evidence egress25-admin
/// announces on its webhook and lists in its API.
///
/// Encoded as JSON with snake_case keys, times as RFC 3339 UTC text (`window_start`, `window_end` in seconds,
/// `first_seen`, `last_seen` in milliseconds), `customer` null when no row named one, `syns_per_minute` rounded to
/// two decimals.
public struct Suspect: Sendable, Hashable, Encodable {
    /// Which threshold a source crossed.
    public enum Reason: String, Sendable, Hashable, Encodable, CaseIterable {
        /// `abuse.suspects.distinct_destinations`: it tried at least this many distinct destination addresses.
        case distinctDestinations = "distinct_destinations"
        /// `abuse.suspects.syns_per_minute`: its blocked attempts per minute reached this rate.
        case synsPerMinute = "syns_per_minute"
    }

    /// The source address, canonical text (dotted decimal, or RFC 5952 for IPv6).
    public var source: String
    /// The customer that held the source in most of the window's attempts; `nil` when no row named one.
    public var customer: String?
    /// The window's start, UTC seconds (a multiple of `abuse.suspects.window`).
    public var windowStart: Int64
    /// The window's end (exclusive), UTC seconds: `windowStart` plus the window length.
    public var windowEnd: Int64
    /// Blocked attempts (new connections: distinct TCP source ports) in the window.
    public var attempts: Int64
    /// Distinct destination addresses tried in the window.
    public var distinctDestinations: Int
    /// Attempts per minute: `attempts` over the minutes between the first and the last attempt (at least 1).
    public var synsPerMinute: Double
    /// The earliest `first_seen` of the window's rows, Unix ms UTC.
    public var firstSeenMilliseconds: Int64
    /// The latest `last_seen` of the window's rows, Unix ms UTC.
    public var lastSeenMilliseconds: Int64
    /// Up to 10 destination addresses, most attempts first (then by address).
    public var topDestinations: [String]
    /// The routers that blocked the attempts, sorted.
    public var nodes: [String]
    /// The thresholds crossed, in ``Reason`` order.
    public var reasons: [Reason]

    /// Creates a suspect; window bounds are UTC seconds, first and last seen Unix ms UTC.
    public init(
        source: String, customer: String?, windowStart: Int64, windowEnd: Int64, attempts: Int64,
        distinctDestinations: Int, synsPerMinute: Double, firstSeenMilliseconds: Int64, lastSeenMilliseconds: Int64,
        topDestinations: [String], nodes: [String], reasons: [Reason]
    ) {
        self.source = source
        self.customer = customer
        self.windowStart = windowStart
        self.windowEnd = windowEnd
        self.attempts = attempts
        self.distinctDestinations = distinctDestinations
        self.synsPerMinute = synsPerMinute
        self.firstSeenMilliseconds = firstSeenMilliseconds
        self.lastSeenMilliseconds = lastSeenMilliseconds
        self.topDestinations = topDestinations
        self.nodes = nodes
        self.reasons = reasons
    }

    private enum CodingKeys: String, CodingKey {
        case source, customer, attempts, nodes, reasons
        case windowStart = "window_start"
        case windowEnd = "window_end"
        case distinctDestinations = "distinct_destinations"
        case synsPerMinute = "syns_per_minute"
        case firstSeen = "first_seen"
        case lastSeen = "last_seen"
        case topDestinations = "top_destinations"
    }

    /// Encodes the JSON form described on the type (RFC 3339 UTC times, snake_case keys).
    /// - Throws: What the encoder throws.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(source, forKey: .source)
        try container.encode(customer, forKey: .customer)
        try container.encode(UTCTime.format(windowStart), forKey: .windowStart)
        try container.encode(UTCTime.format(windowEnd), forKey: .windowEnd)
        try container.encode(attempts, forKey: .attempts)
        try container.encode(distinctDestinations, forKey: .distinctDestinations)
        try container.encode((synsPerMinute * 100).rounded() / 100, forKey: .synsPerMinute)
        try container.encode(UTCTime.formatMilliseconds(firstSeenMilliseconds), forKey: .firstSeen)
        try container.encode(UTCTime.formatMilliseconds(lastSeenMilliseconds), forKey: .lastSeen)
        try container.encode(topDestinations, forKey: .topDestinations)
        try container.encode(nodes, forKey: .nodes)
        try container.encode(reasons, forKey: .reasons)
    }
}

/// Finds the suspects of `abuse.suspects` in the block log.
///
/// Windows are `abuse.suspects.window` long and aligned to multiples of it (UTC). A block-log row is attributed to
/// the window its `first_seen` falls in, whole, even when its `last_seen` is in the next window (the block log
/// aggregates a (source, destination, port) over its own aggregation window, so a row may straddle two detection
/// windows). For each (window, source):
/// - attempts: the sum of the rows' attempts (new connections, i.e. distinct TCP source ports);
/// - distinct destinations: the distinct destination addresses of the rows;
/// - rate: attempts / max(1, minutes between the earliest `first_seen` and the latest `last_seen` of the rows), so a
///   burst within one minute counts in full.
///
/// The source is a suspect in the window when distinct destinations ≥ `distinct_destinations` or rate ≥
/// `syns_per_minute`; ``Suspect/reasons`` says which.
public enum SuspectDetector {
    /// The suspects of the windows overlapping `[since, until)` (UTC seconds), each window counted in full: the
    /// rows whose `first_seen` lies in `[since rounded down, until rounded up to a window boundary)` are read with
    /// `forEach`, one at a time. Memory grows with the distinct (window, source, destination) triples, never with
    /// the rows. Ordered by window start, then source text.
    /// - Throws: What `source.forEach` throws (``OperationError`` `unavailable`, the block log's error).
    public static func suspects(
        in source: BlockedAttemptSource, since: Int64, until: Int64, settings: AbuseSettings
    ) throws -> [Suspect] {
        try suspects(since: since, until: until, settings: settings) { filter, body in
            try source.forEach(filter, body)
        }
    }

    /// The suspects among `records`, each attributed to the window of its `first_seen`; with `since` and `until`
    /// (UTC seconds), only those of the windows overlapping `[since, until)`, as
    /// ``suspects(in:since:until:settings:)`` counts them. Ordered by window start, then source text.
    public static func suspects(
        records: some Sequence<BlockedRecord>, since: Int64? = nil, until: Int64? = nil, settings: AbuseSettings
    ) -> [Suspect] {
        guard let since, let until else {
            var accumulator = Accumulator(windowSeconds: max(1, settings.windowSeconds))
            for record in records { accumulator.add(record) }
            return accumulator.suspects(settings: settings)
        }
        return suspects(since: since, until: until, settings: settings) { _, body in
            for record in records { body(record) }
        }
    }

    /// The windows overlapping `[since, until)` of the rows `read` hands to its body (it may hand more: the rows
    /// that start outside those windows are dropped here). `read` gets the filter of the rows needed.
    static func suspects<E: Error>(
        since: Int64, until: Int64, settings: AbuseSettings,
        read: (BlockLogFilter, (BlockedRecord) -> Void) throws(E) -> Void
    ) throws(E) -> [Suspect] {
        let window = max(1, settings.windowSeconds)
        guard since < until else { return [] }
        let firstMilliseconds = floorMultiple(since, of: window) * 1000
        let endMilliseconds = (floorMultiple(until - 1, of: window) + window) * 1000
        var accumulator = Accumulator(windowSeconds: window)
        // The filter selects the rows overlapping the range; only those that start in it are attributed.
        try read(BlockLogFilter(sinceMilliseconds: firstMilliseconds, untilMilliseconds: endMilliseconds)) { record in
            guard record.firstSeenMilliseconds >= firstMilliseconds, record.firstSeenMilliseconds < endMilliseconds
            else { return }
            accumulator.add(record)
        }
        return accumulator.suspects(settings: settings)
    }

    /// `value` rounded down to a multiple of `step` (toward −∞, for times before 1970 too).
    static func floorMultiple(_ value: Int64, of step: Int64) -> Int64 {
        let remainder = value % step
        return remainder < 0 ? value - remainder - step : value - remainder
    }

    struct Key: Hashable {
        var windowStart: Int64
        var source: IPAddress
    }

    /// What one (window, source) adds up to.
    struct Tally {
        var attempts: Int64 = 0
        var firstSeen = Int64.max
        var lastSeen = Int64.min
        var destinations: [IPAddress: Int64] = [:]
        var customers: [String: Int64] = [:]
        var nodes: Set<String> = []
    }

    struct Accumulator {
        let windowSeconds: Int64
        var tallies: [Key: Tally] = [:]

        mutating func add(_ record: BlockedRecord) {
            let windowStart = SuspectDetector.floorMultiple(
                SuspectDetector.floorMultiple(record.firstSeenMilliseconds, of: 1000) / 1000, of: windowSeconds)
            let key = Key(windowStart: windowStart, source: record.source)
            tallies[key, default: Tally()].add(record)
        }

        func suspects(settings: AbuseSettings) -> [Suspect] {
            var suspects: [Suspect] = []
            for (key, tally) in tallies {
                let minutes = Double(max(0, tally.lastSeen - tally.firstSeen)) / 60_000
                let rate = Double(tally.attempts) / max(1, minutes)
                var reasons: [Suspect.Reason] = []
                if Int64(tally.destinations.count) >= settings.distinctDestinations {
                    reasons.append(.distinctDestinations)
                }
                if rate >= Double(settings.synsPerMinute) { reasons.append(.synsPerMinute) }
                guard !reasons.isEmpty else { continue }
                let top = tally.destinations.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(10)
                let customer = tally.customers.min { ($1.value, $0.key) < ($0.value, $1.key) }?.key
                suspects.append(
                    Suspect(
                        source: key.source.description, customer: customer, windowStart: key.windowStart,
                        windowEnd: key.windowStart + windowSeconds, attempts: tally.attempts,
                        distinctDestinations: tally.destinations.count, synsPerMinute: rate,
                        firstSeenMilliseconds: tally.firstSeen, lastSeenMilliseconds: tally.lastSeen,
                        topDestinations: top.map(\.key.description), nodes: tally.nodes.sorted(), reasons: reasons))
            }
            return suspects.sorted { ($0.windowStart, $0.source) < ($1.windowStart, $1.source) }
        }
    }
}

extension SuspectDetector.Tally {
    mutating func add(_ record: BlockedRecord) {
        attempts += record.attempts
        firstSeen = min(firstSeen, record.firstSeenMilliseconds)
        lastSeen = max(lastSeen, record.lastSeenMilliseconds)
        destinations[record.destination, default: 0] += record.attempts
        if let customer = record.customer { customers[customer, default: 0] += record.attempts }
        nodes.insert(record.nodeName)
    }
}
