import BlockLog
import Egress25Core

// The abuse desk's queries over the fleet's block log (`blocked_attempts`): the same answers `BlockLogReader` gives
// for one router's segments, for every router at once, and narrowed to one router with `node`.

extension ExceptionStore {
    /// The largest aggregation window a router may use, ms: a row's `last_seen` lies at most this far after its
    /// `first_seen`, so a `since` bound reads partitions from `since` minus this.
    static let maximumAggregationWindowMilliseconds: Int64 = 3_600_000

    /// ` WHERE ...` and its arguments for `filter` and `node`.
    private func blockedConditions(
        _ filter: BlockLogFilter, node: String?, requireCustomer: Bool = false
    ) -> (String, [SQLValue]) {
        var conditions: [String] = []
        var arguments: [SQLValue] = []
        if let node {
            conditions.append("node = ?")
            arguments.append(.text(node))
        }
        if let source = filter.source {
            conditions.append("source <<= CAST(? AS inet)")
            arguments.append(.text(source.description))
        }
        if let destination = filter.destination {
            conditions.append("destination <<= CAST(? AS inet)")
            arguments.append(.text(destination.description))
        }
        if let customer = filter.customer {
            conditions.append("customer = ?")
            arguments.append(.text(customer))
        } else if requireCustomer {
            conditions.append("customer IS NOT NULL")
        }
        if let since = filter.sinceMilliseconds {
            // first_seen bounds the partitions read; last_seen decides.
            conditions.append("first_seen >= ? AND last_seen >= ?")
            arguments += [.integer(since - Self.maximumAggregationWindowMilliseconds), .integer(since)]
        }
        if let until = filter.untilMilliseconds {
            conditions.append("first_seen < ?")
            arguments.append(.integer(until))
        }
        return (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "), arguments)
    }

    /// Fleet retention: drops the daily partitions of `blocked_attempts` whose day ended before `cutoff` (UTC
    /// seconds; a partition holds the rows whose first SYN fell on that day), whole. Audited (`blocked.prune`).
    /// - Returns: The partitions dropped, oldest first.
    /// - Throws: ``ExceptionStoreError``: `invalidArgument` (a cutoff in the future, the SQLite store),
    ///   `permissionDenied` (a router role), `unreachable`, `io`.
    @discardableResult
    public func dropBlockedPartitions(
        before cutoff: Int64, actor: String, now: Int64 = UTCTime.now()
    ) throws(ExceptionStoreError) -> [String] {
        try requireFleet("the fleet's block log")
        let actor = try Self.validateActor(actor)
        guard cutoff <= now else {
            throw ExceptionStoreError(.invalidArgument, "the cutoff \(UTCTime.format(cutoff)) is in the future")
        }
        let day = Self.floorDivide(cutoff, 86_400)
        return try write("drop block-log partitions of") { db in
            let dropped = try db.rows("SELECT blocked_attempts_drop_before(?)", [.integer(day)]).map { try $0.text(0) }
            if !dropped.isEmpty {
                try appendAudit(
                    db, at: now, actor: actor, action: "blocked.prune", customer: nil, objectID: nil,
                    before: String?.none,
                    after: ["cutoff": UTCTime.format(day * 86_400), "dropped": dropped.joined(separator: ",")])
            }
            return dropped
        }
    }

    private static let recordColumns = """
        node, first_seen, last_seen, host(source), host(destination), CAST(destination_port AS bigint), attempts, syns,
        customer, CAST(reason AS bigint), exception_id
        """

    private static func record(_ row: SQLRow) throws -> BlockedRecord {
        let sourceText = try row.text(3)
        let destinationText = try row.text(4)
        guard let source = try? IPAddress(parsing: sourceText),
            let destination = try? IPAddress(parsing: destinationText)
        else { throw ExceptionStoreError(.io, "blocked_attempts holds an address that is not one: \(sourceText)") }
        return BlockedRecord(
            firstSeenMilliseconds: try row.int64(1), lastSeenMilliseconds: try row.int64(2), source: source,
            destination: destination, destinationPort: UInt16(truncatingIfNeeded: try row.int64(5)),
            attempts: try row.int64(6), syns: try row.int64(7), customer: try row.optionalText(8),
            reason: BlockReason(rawValue: UInt8(truncatingIfNeeded: try row.int64(9))) ?? .noException,
            exceptionID: try row.optionalText(10), nodeName: try row.text(0))
    }

    /// Rows of the fleet's block log matching `filter` (and `node`, when given), newest `first_seen` first, at most
    /// `limit`. Each row carries the router that blocked it (``BlockedRecord/nodeName``).
    /// - Throws: ``ExceptionStoreError``; on the embedded SQLite store `invalidArgument`.
    public func blockedAttempts(
        _ filter: BlockLogFilter, node: String? = nil, limit: Int? = nil
    ) throws(ExceptionStoreError) -> [BlockedRecord] {
        try requireFleet("the fleet's block log")
        let (conditions, arguments) = blockedConditions(filter, node: node)
        var sql =
            "SELECT \(Self.recordColumns) FROM blocked_attempts\(conditions) ORDER BY first_seen DESC, node, id DESC"
        var all = arguments
        if let limit {
            sql += " LIMIT ?"
            all.append(.integer(Int64(max(limit, 0))))
        }
        return try read("read the block log of") { db in try db.rows(sql, all).map(Self.record) }
    }

    /// Every row matching `filter` (and `node`), oldest `first_seen` first, handed to `body` (for exports).
    /// - Throws: ``ExceptionStoreError``, or what `body` throws (wrapped as `io`).
    public func forEachBlockedAttempt(
        _ filter: BlockLogFilter, node: String? = nil, _ body: (BlockedRecord) throws -> Void
    ) throws(ExceptionStoreError) {
        try requireFleet("the fleet's block log")
        let (conditions, arguments) = blockedConditions(filter, node: node)
        try read("read the block log of") { db in
            try db.forEachRow(
                "SELECT \(Self.recordColumns) FROM blocked_attempts\(conditions) ORDER BY first_seen, node, id",
                arguments
            ) { row in try body(try Self.record(row)) }
        }
    }

    /// The `limit` sources, customers or destinations with the most SYNs across the fleet (or on `node`), as
    /// `BlockLogReader.top` ranks them on one router: by SYNs, then attempts, then key.
    ///
    /// Ranked in two passes: sums by key with no DISTINCT (a hash aggregate over the window), then the distinct
    /// destination and source counts for the `limit` winners only (through the source or customer index). One pass
    /// with `count(DISTINCT ...)` per key sorted every row of the window and ran one sort per key: 1.2 s for 24 h of
    /// a 10M-row fleet log (BENCHMARKS.md, "Fleet"). The distinct counts do not take part in the ranking, so the
    /// answer is the same.
    /// - Throws: ``ExceptionStoreError``; on the embedded SQLite store `invalidArgument`.
    public func topBlocked(
        by grouping: BlockLogGrouping, filter: BlockLogFilter, node: String? = nil, limit: Int = 20
    ) throws(ExceptionStoreError) -> [BlockLogTopEntry] {
        try requireFleet("the fleet's block log")
        let (conditions, arguments) = blockedConditions(filter, node: node, requireCustomer: grouping == .customer)
        // The grouped column, its key text in the table and in `ranked`, and the two counts.
        let column: String
        let key: String
        let rankedKey: String
        let destinations: String
        let sources: String
        switch grouping {
        case .source:
            (column, key, rankedKey, destinations, sources) = (
                "source", "host(source)", "host(r.k)", "c.destinations", "1"
            )
        case .destination:
            (column, key, rankedKey, destinations, sources) = (
                "destination", "host(destination)", "host(r.k)", "1", "c.sources"
            )
        case .customer:
            (column, key, rankedKey, destinations, sources) = (
                "customer", "customer", "r.k", "c.destinations", "c.sources"
            )
        }
        // The winners' rows: the same conditions, joined on the key (the CTE's columns are named apart from the
        // table's, so the conditions' bare column names stay the table's).
        let joinConditions = conditions.isEmpty ? "" : " AND " + conditions.dropFirst(" WHERE ".count)
        let sql = """
            WITH ranked AS (
                SELECT \(column) AS k, sum(attempts) AS a_sum, sum(syns) AS s_sum, min(first_seen) AS f_min,
                    max(last_seen) AS l_max
                FROM blocked_attempts\(conditions)
                GROUP BY \(column) ORDER BY s_sum DESC, a_sum DESC, \(key) LIMIT ?),
            distinct_counts AS (
                SELECT r.k AS k, count(DISTINCT destination) AS destinations, count(DISTINCT source) AS sources
                FROM ranked r JOIN blocked_attempts ON \(column) = r.k\(joinConditions)
                GROUP BY r.k)
            SELECT \(rankedKey) AS key, CAST(r.a_sum AS bigint),
                CAST(r.s_sum AS bigint), CAST(\(destinations) AS bigint), CAST(\(sources) AS bigint), r.f_min, r.l_max
            FROM ranked r JOIN distinct_counts c ON c.k = r.k
            ORDER BY r.s_sum DESC, r.a_sum DESC, key
            """
        return try read("rank the block log of") { db in
            // Room for the hash aggregate of a day's keys (about 140,000 sources in the benchmark's 24 h), which
            // PostgreSQL's default 4 MB work_mem turns into an external sort.
            try db.execute("SET LOCAL work_mem = '32MB'")
            return try db.rows(sql, arguments + [.integer(Int64(max(limit, 0)))] + arguments).map { row in
                BlockLogTopEntry(
                    key: try row.text(0), attempts: try row.int64(1), syns: try row.int64(2),
                    destinations: Int(try row.int64(3)), sources: Int(try row.int64(4)),
                    firstSeenMilliseconds: try row.int64(5), lastSeenMilliseconds: try row.int64(6))
            }
        }
    }

    /// Rows matching `filter` (and `node`) summed per bucket of `bucketSeconds` by `first_seen`, oldest first;
    /// empty buckets left out, as `BlockLogReader.timeline`.
    /// - Throws: ``ExceptionStoreError``: `invalidArgument` when `bucketSeconds` < 1 or on the SQLite store.
    public func blockedTimeline(
        _ filter: BlockLogFilter, node: String? = nil, bucketSeconds: Int64
    ) throws(ExceptionStoreError) -> [BlockLogTimelineBucket] {
        try requireFleet("the fleet's block log")
        guard bucketSeconds >= 1 else { throw ExceptionStoreError(.invalidArgument, "bucket must be at least 1 s") }
        let bucket = bucketSeconds * 1000
        let (conditions, arguments) = blockedConditions(filter, node: node)
        let sql = """
            SELECT CAST(floor(first_seen / CAST(? AS double precision)) AS bigint) * ? AS start,
                CAST(sum(attempts) AS bigint), CAST(sum(syns) AS bigint), count(DISTINCT destination),
                string_agg(DISTINCT host(source), ','), string_agg(DISTINCT customer, ',')
            FROM blocked_attempts\(conditions)
            GROUP BY 1 ORDER BY 1
            """
        return try read("read the block log of") { db in
            try db.rows(sql, [.integer(bucket), .integer(bucket)] + arguments).map { row in
                let sources = (try row.optionalText(4) ?? "").split(separator: ",").compactMap {
                    try? IPAddress(parsing: String($0))
                }
                return BlockLogTimelineBucket(
                    startMilliseconds: try row.int64(0), attempts: try row.int64(1), syns: try row.int64(2),
                    destinations: Int(try row.int64(3)), sources: sources.sorted(),
                    customers: (try row.optionalText(5) ?? "").split(separator: ",").map(String.init).sorted())
            }
        }
    }
}
