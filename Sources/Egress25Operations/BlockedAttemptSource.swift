import BlockLog
import Egress25Configuration
import Egress25Core
import ExceptionStore
import Foundation

/// One router's block-log segments, or the fleet's block log in the fleet store: the same questions, the same
/// answers.
public enum BlockedAttemptSource: Sendable {
    /// `nodeName`: this router's (for X-ARF descriptions, when the configuration was read); `node`: `--node`.
    case local(BlockLogReader, nodeName: String?, node: String?)
    /// `node`: `--node`, `nil` for every router.
    case fleet(ExceptionStore, node: String?)

    /// The router named in X-ARF descriptions: this router, or `--node`.
    public var nodeName: String? {
        switch self {
        case .local(_, let nodeName, _): return nodeName
        case .fleet(_, let node): return node
        }
    }

    /// The attempts `filter` selects, oldest first, at most `limit` (`nil`: all).
    /// - Throws: ``OperationError`` (`unavailable`) or the block log's error.
    public func query(_ filter: BlockLogFilter, limit: Int?) throws -> [BlockedRecord] {
        switch self {
        case .local(let reader, _, let node):
            // A --directory of another router's copy: keep only --node's rows.
            guard let node else { return try reader.query(filter, limit: limit) }
            return try reader.query(filter, limit: nil).filter { $0.nodeName == node }.prefix(limit ?? .max).map { $0 }
        case .fleet(let store, let node):
            return try performStoreOperation { () throws(ExceptionStoreError) in
                try store.blockedAttempts(filter, node: node, limit: limit)
            }
        }
    }

    /// Calls `body` with each attempt `filter` selects, oldest first, without holding them all in memory.
    /// - Throws: ``OperationError`` (`unavailable`), the block log's error, or what `body` throws.
    public func forEach(_ filter: BlockLogFilter, _ body: (BlockedRecord) throws -> Void) throws {
        switch self {
        case .local(let reader, _, let node):
            try reader.forEach(filter) { record in if node == nil || record.nodeName == node { try body(record) } }
        case .fleet(let store, let node):
            do {
                try store.forEachBlockedAttempt(filter, node: node, body)
            } catch {
                throw OperationError(error)
            }
        }
    }

    /// The top `limit` keys by attempts (sources, customers or destinations) with their fan-out.
    /// - Throws: ``OperationError`` (`unavailable`) or the block log's error.
    public func top(by grouping: BlockLogGrouping, filter: BlockLogFilter, limit: Int) throws -> [BlockLogTopEntry] {
        switch self {
        case .local(let reader, _, _):
            return try reader.top(by: grouping, filter: filter, limit: limit)
        case .fleet(let store, let node):
            return try performStoreOperation { () throws(ExceptionStoreError) in
                try store.topBlocked(by: grouping, filter: filter, node: node, limit: limit)
            }
        }
    }

    /// Attempts per bucket of `bucketSeconds` (seconds), oldest first.
    /// - Throws: ``OperationError`` (`unavailable`) or the block log's error.
    public func timeline(_ filter: BlockLogFilter, bucketSeconds: Int64) throws -> [BlockLogTimelineBucket] {
        switch self {
        case .local(let reader, _, _):
            return try reader.timeline(filter, bucketSeconds: bucketSeconds)
        case .fleet(let store, let node):
            return try performStoreOperation { () throws(ExceptionStoreError) in
                try store.blockedTimeline(filter, node: node, bucketSeconds: bucketSeconds)
            }
        }
    }

    /// One summary per source (for X-ARF reports).
    /// - Throws: ``OperationError`` (`unavailable`) or the block log's error.
    public func sourceSummaries(_ filter: BlockLogFilter) throws -> [BlockLogSourceSummary] {
        switch self {
        case .local(let reader, _, nil):
            return try reader.sourceSummaries(filter)
        default:
            return try BlockLogSourceSummary.summarize { body in try forEach(filter, body) }
        }
    }
}

extension BlockedAttemptSource {
    /// The fleet's block log when the configuration names the fleet store (and no `directory` is given), else this
    /// router's segments under `<state_directory>/blocklog` (or `directory`, which needs no configuration).
    ///
    /// - Parameters:
    ///   - store: An open fleet store to read from, instead of opening one (egress25-admin keeps one open).
    ///   - node: Only this router's attempts.
    ///   - label: How messages name a field (`--node` for the CLI).
    /// - Throws: ``OperationError``: `notFound` (no block log), `invalidInput` (field `node`: a node a router's own
    ///   block log cannot hold), `unavailable` (the store).
    public static func open(
        configuration: Egress25Configuration?, directory: String? = nil, node: String? = nil,
        store: ExceptionStore? = nil, label: (String) -> String = { $0 }
    ) throws(OperationError) -> BlockedAttemptSource {
        let path: String
        let window: Int64
        var nodeName: String?
        if let directory {
            path = directory
            window = 3600  // the largest aggregation window the writer accepts
        } else if let configuration {
            if case .postgresql = configuration.store.location {
                if let store { return .fleet(store, node: node) }
                let opened = try performStoreOperation { () throws(ExceptionStoreError) in
                    try ExceptionStore(location: configuration.store.location, mode: .readOnly)
                }
                return .fleet(opened, node: node)
            }
            path = configuration.state.blockLog
            window = configuration.blockLog.aggregationWindowSeconds
            nodeName = configuration.nodeName
        } else {
            throw OperationError(.failed, "neither a configuration nor a block-log directory was given")
        }
        if let node, let nodeName, node != nodeName {
            throw .invalid(
                "node",
                "\(label("node")) \(node): this router's block log holds only \(nodeName)'s attempts; the fleet's are "
                    + "in the fleet store (store.url)")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw OperationError(
                .notFound, "no block log at \(path) (is block_log enabled, and has egress25d blocked anything?)")
        }
        return .local(BlockLogReader(directory: path, aggregationWindowSeconds: window), nodeName: nodeName, node: node)
    }

    /// The filter of the given values (`nil`: not given), as `egress25ctl blocked` options and API query
    /// parameters take them.
    ///
    /// - Parameters:
    ///   - source, destination: An address or CIDR prefix.
    ///   - since, until: RFC 3339, or a duration ago (`24h`, `7d`).
    ///   - now: UTC seconds.
    ///   - label: How messages name a field (`--since` for the CLI, `since` for the API).
    /// - Throws: ``OperationError`` (`invalidInput`) for a malformed prefix or time, `since` not before `until`,
    ///   or an empty customer.
    public static func filter(
        source: String? = nil, customer: String? = nil, destination: String? = nil, since: String?, until: String?,
        now: Int64, label: (String) -> String = { $0 }
    ) throws(OperationError) -> BlockLogFilter {
        var filter = BlockLogFilter(customer: customer)
        if let source { filter.source = try prefix(source, field: "source", label: label) }
        if let destination { filter.destination = try prefix(destination, field: "destination", label: label) }
        if let since {
            filter.sinceMilliseconds = try instant(since, field: "since", now: now, label: label) * 1000
        }
        if let until {
            filter.untilMilliseconds = try instant(until, field: "until", now: now, label: label) * 1000
        }
        if let since = filter.sinceMilliseconds, let until = filter.untilMilliseconds, since >= until {
            let (sinceText, untilText) = (UTCTime.formatMilliseconds(since), UTCTime.formatMilliseconds(until))
            throw .invalid("since", "\(label("since")) (\(sinceText)) must be before \(label("until")) (\(untilText))")
        }
        if let customer, customer.isEmpty { throw .invalid("customer", "\(label("customer")) must not be empty") }
        return filter
    }

    /// An address or CIDR prefix.
    /// - Throws: ``OperationError`` (`invalidInput`, `field`).
    public static func prefix(
        _ text: String, field: String, label: (String) -> String = { $0 }
    ) throws(OperationError) -> IPPrefix {
        do {
            return try IPPrefix(parsing: text)
        } catch {
            throw .invalid(field, "\(label(field)): \(error)")
        }
    }

    /// A time: RFC 3339 or a duration ago; UTC seconds.
    /// - Throws: ``OperationError`` (`invalidInput`, `field`).
    public static func instant(
        _ text: String, field: String, now: Int64, label: (String) -> String = { $0 }
    ) throws(OperationError) -> Int64 {
        do {
            return try UTCTime.parseInstant(text, now: now, durationIsPast: true)
        } catch {
            throw .invalid(field, "\(label(field)): \(error)")
        }
    }
}
