import Egress25Core
import GRDB

/// Read-only queries over the segment files of a block-log directory, safe while the daemon writes.
///
/// Each query opens only the segments whose time slice can hold matching rows (slice overlapping
/// `[since - aggregation window, until)`), reads each in one read transaction (a WAL snapshot: the writer
/// never blocks it and it never blocks the writer), closes it, and merges the results across segments.
/// Read-only: opens files with `SQLITE_OPEN_READONLY` and never creates one.
public final class BlockLogReader: Sendable {
    /// The block-log directory the reader lists (`<state_directory>/blocklog`).
    public let directory: String
    /// The writer's aggregation window in ms: a row's `last_seen` may lie this far past its segment's slice.
    let aggregationWindowMilliseconds: Int64

    /// - Parameters:
    ///   - directory: the block-log directory (`<state_directory>/blocklog`).
    ///   - aggregationWindowSeconds: the writer's `aggregation_window` (an upper bound is fine).
    public init(directory: String, aggregationWindowSeconds: Int64 = 60) {
        self.directory = directory
        self.aggregationWindowMilliseconds = max(aggregationWindowSeconds, 0) * 1000
    }

    /// The segment files that can hold rows matching `filter`'s time range, oldest first.
    public func segments(for filter: BlockLogFilter) -> [SegmentDirectory.File] {
        SegmentDirectory.list(directory).filter { file in
            let start = file.slice.startSeconds * 1000
            let end = file.slice.endSeconds * 1000 + aggregationWindowMilliseconds
            if let until = filter.untilMilliseconds, start >= until { return false }
            if let since = filter.sinceMilliseconds, end <= since { return false }
            return true
        }
    }

    // MARK: - Queries

    /// Rows matching `filter`, newest `first_seen` first, at most `limit`.
    ///
    /// - Throws: ``BlockLogError`` `.segment`/`.sqlite` naming the file that could not be read.
    public func query(_ filter: BlockLogFilter, limit: Int? = nil) throws -> [BlockedRecord] {
        var records: [BlockedRecord] = []
        for file in segments(for: filter).reversed() {
            let remaining = limit.map { $0 - records.count }
            if let remaining, remaining <= 0 { break }
            try scan(file, filter: filter, newestFirst: true, limit: remaining) { records.append($0) }
        }
        return records
    }

    /// Every row matching `filter`, oldest `first_seen` first, handed to `body` one at a time (for exports).
    ///
    /// - Throws: ``BlockLogError`` `.segment`/`.sqlite` naming the file that could not be read, or what `body`
    ///   throws.
    public func forEach(_ filter: BlockLogFilter, _ body: (BlockedRecord) throws -> Void) throws {
        for file in segments(for: filter) {
            try scan(file, filter: filter, newestFirst: false, limit: nil, body)
        }
    }

    /// The `limit` sources, customers or destinations with the most SYNs among rows matching `filter`,
    /// merged across segments. Rows without a customer are left out of `.customer`.
    ///
    /// - Throws: ``BlockLogError`` `.segment`/`.sqlite` naming the file that could not be read.
    public func top(by grouping: BlockLogGrouping, filter: BlockLogFilter, limit: Int = 20) throws -> [BlockLogTopEntry]
    {
        struct Accumulator {
            var attempts: Int64 = 0
            var syns: Int64 = 0
            var destinations = Set<PackedAddress>()
            var sources = Set<PackedAddress>()
            var first = Int64.max
            var last = Int64.min
        }
        var byAddress: [PackedAddress: Accumulator] = [:]
        var byCustomer: [String: Accumulator] = [:]
        let countDestinations = grouping != .destination
        let countSources = grouping != .source
        func add(_ accumulator: inout Accumulator, _ row: SummaryRow) {
            accumulator.attempts += row.attempts
            accumulator.syns += row.syns
            if countDestinations { accumulator.destinations.insert(row.destination) }
            if countSources { accumulator.sources.insert(row.source) }
            accumulator.first = min(accumulator.first, row.firstSeen)
            accumulator.last = max(accumulator.last, row.lastSeen)
        }
        for file in segments(for: filter) {
            try scanSummary(
                file, filter: filter, requireCustomer: grouping == .customer, needsCustomer: grouping == .customer
            ) { row in
                switch grouping {
                case .source: add(&byAddress[row.source, default: Accumulator()], row)
                case .destination: add(&byAddress[row.destination, default: Accumulator()], row)
                case .customer: add(&byCustomer[row.customer ?? "", default: Accumulator()], row)
                }
            }
        }
        func entry(_ key: String, _ value: Accumulator) -> BlockLogTopEntry {
            BlockLogTopEntry(
                key: key, attempts: value.attempts, syns: value.syns,
                destinations: countDestinations ? value.destinations.count : 1,
                sources: countSources ? value.sources.count : 1, firstSeenMilliseconds: value.first,
                lastSeenMilliseconds: value.last)
        }
        let entries =
            grouping == .customer
            ? byCustomer.map { entry($0.key, $0.value) }
            : byAddress.map { entry($0.key.address.description, $0.value) }
        return Array(
            entries.sorted {
                ($0.syns, $0.attempts, $1.key) > ($1.syns, $1.attempts, $0.key)
            }.prefix(max(limit, 0)))
    }

    /// Rows matching `filter` (typically one customer across address changes, or one source) summed per
    /// bucket of `bucketSeconds` by `first_seen`, oldest first; empty buckets are left out.
    ///
    /// - Throws: ``BlockLogError`` `.invalidQuery` when `bucketSeconds` < 1.
    public func timeline(_ filter: BlockLogFilter, bucketSeconds: Int64) throws -> [BlockLogTimelineBucket] {
        guard bucketSeconds >= 1 else { throw BlockLogError(.invalidQuery, "bucket must be at least 1 s") }
        let bucketMilliseconds = bucketSeconds * 1000
        struct Accumulator {
            var attempts: Int64 = 0
            var syns: Int64 = 0
            var destinations = Set<PackedAddress>()
            var sources = Set<PackedAddress>()
            var customers = Set<String>()
        }
        var buckets: [Int64: Accumulator] = [:]
        for file in segments(for: filter) {
            try scanSummary(file, filter: filter, requireCustomer: false) { row in
                let start = floorDivide(row.firstSeen, bucketMilliseconds) * bucketMilliseconds
                func add(to bucket: inout Accumulator) {
                    bucket.attempts += row.attempts
                    bucket.syns += row.syns
                    bucket.destinations.insert(row.destination)
                    bucket.sources.insert(row.source)
                    if let customer = row.customer { bucket.customers.insert(customer) }
                }
                add(to: &buckets[start, default: Accumulator()])
            }
        }
        return buckets.sorted { $0.key < $1.key }.map { start, value in
            BlockLogTimelineBucket(
                startMilliseconds: start, attempts: value.attempts, syns: value.syns,
                destinations: value.destinations.count, sources: value.sources.map(\.address).sorted(),
                customers: value.customers.sorted())
        }
    }

    /// Rows matching `filter` summed per source address and, within it, per (destination, port): one
    /// ``BlockLogSourceSummary`` per source, most SYNs first.
    ///
    /// - Throws: ``BlockLogError`` `.segment`/`.sqlite` naming the file that could not be read.
    public func sourceSummaries(_ filter: BlockLogFilter) throws -> [BlockLogSourceSummary] {
        try BlockLogSourceSummary.summarize { body in
            for file in segments(for: filter) {
                try scan(file, filter: filter, newestFirst: false, limit: nil, body)
            }
        }
    }

    // MARK: - Segment access

    struct SummaryRow {
        var customer: String?
        var source: PackedAddress
        var destination: PackedAddress
        var attempts: Int64
        var syns: Int64
        var firstSeen: Int64
        var lastSeen: Int64
    }

    private static let recordColumns = """
        first_seen, last_seen, source, destination, destination_port, attempts, syns, customer, reason,
        exception_id, node_name
        """

    private func scan(
        _ file: SegmentDirectory.File, filter: BlockLogFilter, newestFirst: Bool, limit: Int?,
        _ body: (BlockedRecord) throws -> Void
    ) throws {
        var sql = "SELECT \(BlockLogReader.recordColumns) FROM blocked"
        let (conditions, binder) = whereClause(filter, requireCustomer: false, file: file)
        sql += conditions
        sql += newestFirst ? " ORDER BY first_seen DESC, id DESC" : " ORDER BY first_seen, id"
        // (with a source filter SQLite sorts the few rows of that source; otherwise the time index yields them)
        if let limit { sql += " LIMIT \(limit)" }
        try read(file) { db in
            let statement = try RawStatement(db, sql: sql)
            defer { statement.finalize() }
            binder(statement)
            while try statement.step() {
                guard let source = statement.address(2), let destination = statement.address(3) else { continue }
                try body(
                    BlockedRecord(
                        firstSeenMilliseconds: statement.int64(0), lastSeenMilliseconds: statement.int64(1),
                        source: source, destination: destination,
                        destinationPort: UInt16(truncatingIfNeeded: statement.int64(4)),
                        attempts: statement.int64(5), syns: statement.int64(6), customer: statement.text(7),
                        reason: BlockReason(rawValue: UInt8(truncatingIfNeeded: statement.int64(8))) ?? .noException,
                        exceptionID: statement.text(9), nodeName: statement.text(10) ?? ""))
            }
        }
    }

    private func scanSummary(
        _ file: SegmentDirectory.File, filter: BlockLogFilter, requireCustomer: Bool, needsCustomer: Bool = true,
        _ body: (SummaryRow) throws -> Void
    ) throws {
        let (conditions, binder) = whereClause(filter, requireCustomer: requireCustomer, file: file)
        let sql =
            "SELECT customer, source, destination, attempts, syns, first_seen, last_seen FROM blocked" + conditions
        try read(file) { db in
            let statement = try RawStatement(db, sql: sql)
            defer { statement.finalize() }
            binder(statement)
            while try statement.step() {
                guard let source = statement.packedAddress(1), let destination = statement.packedAddress(2) else {
                    continue
                }
                try body(
                    SummaryRow(
                        customer: needsCustomer ? statement.text(0) : nil, source: source, destination: destination,
                        attempts: statement.int64(3), syns: statement.int64(4), firstSeen: statement.int64(5),
                        lastSeen: statement.int64(6)))
            }
        }
    }

    /// ` WHERE …` for `filter`, and a closure binding its parameters.
    private func whereClause(
        _ filter: BlockLogFilter, requireCustomer: Bool, file: SegmentDirectory.File
    ) -> (String, (RawStatement) -> Void) {
        var conditions: [String] = []
        var bindings: [(RawStatement, Int32) -> Void] = []
        // With a source filter the clustered primary key (source, id) is the access path: `+first_seen` keeps
        // the planner from preferring the time index.
        let firstSeen = filter.source != nil ? "+first_seen" : "first_seen"
        if let source = filter.source {
            let (low, high) = AddressCoding.range(of: source)
            conditions.append("source BETWEEN ? AND ?")
            bindings.append { $0.bind($1, blob: low) }
            bindings.append { $0.bind($1, blob: high) }
        }
        if let destination = filter.destination {
            let (low, high) = AddressCoding.range(of: destination)
            conditions.append("destination BETWEEN ? AND ?")
            bindings.append { $0.bind($1, blob: low) }
            bindings.append { $0.bind($1, blob: high) }
        }
        if let customer = filter.customer {
            conditions.append("customer = ?")
            bindings.append { $0.bind($1, text: customer) }
        } else if requireCustomer {
            conditions.append("customer IS NOT NULL")
        }
        // Rows of a segment have first_seen inside its slice: a time bound the slice satisfies entirely is
        // dropped, so that a segment wholly inside the range is scanned in row order, not through the index.
        if let since = filter.sinceMilliseconds, file.slice.startSeconds * 1000 < since {
            // The bound on first_seen lets the time index narrow the scan; last_seen decides.
            conditions.append("\(firstSeen) >= ? AND last_seen >= ?")
            let window = aggregationWindowMilliseconds
            bindings.append { $0.bind($1, since - window) }
            bindings.append { $0.bind($1, since) }
        }
        if let until = filter.untilMilliseconds, file.slice.endSeconds * 1000 > until {
            conditions.append("\(firstSeen) < ?")
            bindings.append { $0.bind($1, until) }
        }
        let sql = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        return (
            sql,
            { statement in
                for (offset, bind) in bindings.enumerated() { bind(statement, Int32(offset + 1)) }
            }
        )
    }

    /// Opens `file` read-only, runs `body` in one read transaction, closes it.
    func read(_ file: SegmentDirectory.File, _ body: (Database) throws -> Void) throws {
        let path = directory + "/" + file.name
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        configuration.label = "blocklog-reader"

        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? queue.close() }
            try queue.read { db in
                switch try SegmentSchema.state(db) {
                case .current: try body(db)
                case .empty: return  // created, schema not yet committed: no rows
                case .newer(let version): throw SegmentSchema.newerError(path: path, version: version)
                }
            }
        } catch let error as BlockLogError {
            throw BlockLogError(
                error.code, error.message.hasPrefix(path) ? error.message : "\(path): \(error.message)",
                operation: error.operation)
        } catch {
            throw BlockLogError(.segment, "\(path): \(error)")
        }
    }
}

@inline(__always)
func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
    value >= 0 ? value / divisor : (value - divisor + 1) / divisor
}
