import ArgumentParser
import BlockLog
import Egress25Configuration
import Egress25Core
import Egress25Operations
import ExceptionStore
import Foundation

/// `egress25ctl blocked …`: the abuse desk's read-only view of the blocked-attempt log.
struct BlockedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blocked",
        abstract: "Abuse desk: query, rank, follow and export blocked SYNs (read-only, safe while egress25d writes).",
        discussion: """
            Reads the block-log segments under <state_directory>/blocklog (or --directory); with store.url in the \
            configuration, the fleet's block log in the fleet store: every router's attempts, each row with its \
            node (--node narrows to one router). Only the segments (partitions) overlapping --since/--until are read. Times accept RFC 3339 (2026-11-29T07:00:00Z) or a \
            duration ago (90m, 24h, 7d); output times are RFC 3339 UTC. An address filter takes an address \
            or a CIDR prefix.
            """,
        subcommands: [
            BlockedQueryCommand.self, BlockedTopCommand.self, BlockedTimelineCommand.self,
            BlockedExportCommand.self, BlockedPruneCommand.self,
        ]
    )
}

/// Where the block log is, and how to read it.
struct BlockLogLocation: ParsableArguments {
    @OptionGroup var global: GlobalOptions

    @Option(help: "The block-log directory (default: <state_directory>/blocklog of --config).")
    var directory: String?

    @Option(help: "Only this router's attempts (fleet store: any router's node name; default: all routers).")
    var node: String?

    /// The fleet's block log when the configuration names the fleet store (and no `--directory` is given), else
    /// this router's segments.
    /// - Throws: ``CommandFailure`` for a missing block log or an unusable store; ``UsageError`` for a `--node`
    ///   that a router's own block log cannot hold.
    func open() throws -> BlockedAttemptSource {
        let configuration = directory == nil ? try global.loadStoreConfiguration() : nil
        do {
            return try BlockedAttemptSource.open(
                configuration: configuration, directory: directory, node: node, label: cliLabel)
        } catch {
            throw cliError(error)
        }
    }
}

/// `--source`, `--customer`, `--destination`, `--since`, `--until`.
struct BlockedFilterOptions: ParsableArguments {
    @Option(help: "Source address or CIDR prefix (subscriber), e.g. 100.64.12.34 or 100.64.0.0/16.")
    var source: String?

    @Option(help: "Customer id (follows the customer across address changes).")
    var customer: String?

    @Option(help: "Destination address or CIDR prefix (mail server).")
    var destination: String?

    @Option(help: "Only attempts at or after this time (RFC 3339 or a duration ago: 24h, 7d).")
    var since: String?

    @Option(help: "Only attempts before this time (RFC 3339 or a duration ago).")
    var until: String?

    /// - Throws: ``UsageError`` for a malformed prefix or time, or `--since` not before `--until`.
    func filter(now: Int64) throws -> BlockLogFilter {
        try Self.filter(
            source: source, customer: customer, destination: destination, since: since, until: until, now: now)
    }

    /// The filter of the given option values (nil: not given).
    static func filter(
        source: String? = nil, customer: String? = nil, destination: String? = nil, since: String?, until: String?,
        now: Int64
    ) throws -> BlockLogFilter {
        do {
            return try BlockedAttemptSource.filter(
                source: source, customer: customer, destination: destination, since: since, until: until, now: now,
                label: cliLabel)
        } catch {
            throw cliError(error)
        }
    }
}

/// How egress25ctl names a field in messages: its option, `--since`.
func cliLabel(_ field: String) -> String { "--" + field }

/// An ``OperationError`` as egress25ctl reports it: a usage error (exit 2) for bad input, else a failure (exit 1).
func cliError(_ error: OperationError) -> any Error {
    if case .invalidInput = error.kind { return UsageError(error.message) }
    return CommandFailure(error.message)
}

enum BlockedListFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv
}

// MARK: - query

struct BlockedQueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "List blocked-attempt rows, newest first.",
        discussion: """
            Each row is one source, destination and destination port within one aggregation window: \
            ATTEMPTS counts new connections (distinct source ports), SYNS every SYN including retransmissions.
            """
    )

    @OptionGroup var location: BlockLogLocation
    @OptionGroup var filters: BlockedFilterOptions

    @Option(help: "At most this many rows (0: no limit).")
    var limit: Int = 100

    @Option(help: "Output format: table, json or csv.")
    var format: BlockedListFormat = .table

    func run() throws {
        guard limit >= 0 else { throw UsageError("--limit must be 0 or more, got \(limit)") }
        let filter = try filters.filter(now: UTCTime.now())
        let reader = try location.open()
        let records: [BlockedRecord]
        do {
            records = try reader.query(filter, limit: limit == 0 ? nil : limit)
        } catch {
            throw CommandFailure("\(error)")
        }
        switch format {
        case .csv:
            print(BlockLogExport.csvHeader)
            for record in records { print(BlockLogExport.csvLine(record)) }
        case .json:
            printJSONArray(records.map(BlockLogExport.jsonObject))
        case .table:
            printTable(
                header: [
                    "FIRST_SEEN", "LAST_SEEN", "SOURCE", "DESTINATION", "PORT", "ATTEMPTS", "SYNS", "CUSTOMER",
                    "REASON", "NODE",
                ],
                rows: records.map { record in
                    [
                        UTCTime.format(record.firstSeenMilliseconds / 1000),
                        UTCTime.format(record.lastSeenMilliseconds / 1000),
                        record.source.description, record.destination.description, String(record.destinationPort),
                        String(record.attempts), String(record.syns), record.customer ?? "-",
                        record.reason.description, record.nodeName,
                    ]
                },
                rightAligned: [4, 5, 6])
        }
    }
}

// MARK: - top

struct BlockedTopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract:
            "Rank sources, customers or destinations by blocked SYNs (infected subscribers, fan-out to many MX hosts)."
    )

    @OptionGroup var location: BlockLogLocation

    @Option(help: "Rank by source, customer or destination.")
    var by: BlockLogGrouping = .source

    @Option(help: "Only attempts at or after this time (RFC 3339 or a duration ago).")
    var since: String = "24h"

    @Option(help: "Only attempts before this time (RFC 3339 or a duration ago).")
    var until: String?

    @Option(help: "At most this many entries (0: no limit).")
    var limit: Int = 20

    @Option(help: "Output format: table, json or csv.")
    var format: BlockedListFormat = .table

    func run() throws {
        guard limit >= 0 else { throw UsageError("--limit must be 0 or more, got \(limit)") }
        let filter = try BlockedFilterOptions.filter(since: since, until: until, now: UTCTime.now())
        let reader = try location.open()
        let entries: [BlockLogTopEntry]
        do {
            entries = try reader.top(by: by, filter: filter, limit: limit == 0 ? .max : limit)
        } catch {
            throw CommandFailure("\(error)")
        }
        let keyName = by.rawValue
        switch format {
        case .csv:
            print("\(keyName),attempts,syns,destinations,sources,first_seen,last_seen")
            for entry in entries {
                print(
                    [
                        BlockLogExport.csvField(entry.key), String(entry.attempts), String(entry.syns),
                        String(entry.destinations), String(entry.sources),
                        UTCTime.formatMilliseconds(entry.firstSeenMilliseconds),
                        UTCTime.formatMilliseconds(entry.lastSeenMilliseconds),
                    ].joined(separator: ","))
            }
        case .json:
            printJSONArray(
                entries.map { entry in
                    "{\"\(keyName)\":\(BlockLogExport.jsonString(entry.key)),\"attempts\":\(entry.attempts)"
                        + ",\"syns\":\(entry.syns),\"destinations\":\(entry.destinations),\"sources\":\(entry.sources)"
                        + ",\"first_seen\":\"\(UTCTime.formatMilliseconds(entry.firstSeenMilliseconds))\""
                        + ",\"last_seen\":\"\(UTCTime.formatMilliseconds(entry.lastSeenMilliseconds))\"}"
                })
        case .table:
            printTable(
                header: [
                    keyName.uppercased(), "ATTEMPTS", "SYNS", "DESTINATIONS", "SOURCES", "FIRST_SEEN", "LAST_SEEN",
                ],
                rows: entries.map { entry in
                    [
                        entry.key, String(entry.attempts), String(entry.syns), String(entry.destinations),
                        String(entry.sources), UTCTime.format(entry.firstSeenMilliseconds / 1000),
                        UTCTime.format(entry.lastSeenMilliseconds / 1000),
                    ]
                },
                rightAligned: [1, 2, 3, 4])
        }
    }
}

extension BlockLogGrouping: ExpressibleByArgument {}

// MARK: - timeline

struct BlockedTimelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline",
        abstract: "One customer's (across address changes) or one source's blocked SYNs per time bucket."
    )

    @OptionGroup var location: BlockLogLocation

    @Option(help: "Customer id.")
    var customer: String?

    @Option(help: "Source address or CIDR prefix.")
    var source: String?

    @Option(help: "Only attempts at or after this time (RFC 3339 or a duration ago).")
    var since: String = "7d"

    @Option(help: "Only attempts before this time (RFC 3339 or a duration ago).")
    var until: String?

    @Option(help: "Bucket size: a duration such as 5m, 1h, 1d.")
    var bucket: String = "1h"

    @Option(help: "Output format: table, json or csv.")
    var format: BlockedListFormat = .table

    func run() throws {
        guard customer != nil || source != nil else {
            throw UsageError("timeline needs --customer ID or --source ADDR")
        }
        let bucketSeconds: Int64
        do {
            bucketSeconds = try UTCTime.parseDuration(bucket)
        } catch {
            throw UsageError("--bucket: \(error)")
        }
        guard bucketSeconds >= 1 else { throw UsageError("--bucket must be at least 1s") }
        let filter = try BlockedFilterOptions.filter(
            source: source, customer: customer, since: since, until: until, now: UTCTime.now())
        let reader = try location.open()
        let buckets: [BlockLogTimelineBucket]
        do {
            buckets = try reader.timeline(filter, bucketSeconds: bucketSeconds)
        } catch {
            throw CommandFailure("\(error)")
        }
        switch format {
        case .csv:
            print("bucket,attempts,syns,destinations,sources,customers")
            for bucket in buckets {
                print(
                    [
                        UTCTime.format(bucket.startMilliseconds / 1000), String(bucket.attempts), String(bucket.syns),
                        String(bucket.destinations),
                        BlockLogExport.csvField(bucket.sources.map(\.description).joined(separator: " ")),
                        BlockLogExport.csvField(bucket.customers.joined(separator: " ")),
                    ].joined(separator: ","))
            }
        case .json:
            printJSONArray(
                buckets.map { bucket in
                    let sources = bucket.sources.map { BlockLogExport.jsonString($0.description) }
                    return "{\"bucket\":\"\(UTCTime.format(bucket.startMilliseconds / 1000))\""
                        + ",\"attempts\":\(bucket.attempts)"
                        + ",\"syns\":\(bucket.syns),\"destinations\":\(bucket.destinations)"
                        + ",\"sources\":[\(sources.joined(separator: ","))]"
                        + ",\"customers\":[\(bucket.customers.map(BlockLogExport.jsonString).joined(separator: ","))]}"
                })
        case .table:
            printTable(
                header: ["BUCKET", "ATTEMPTS", "SYNS", "DESTINATIONS", "SOURCES", "CUSTOMERS"],
                rows: buckets.map { bucket in
                    [
                        UTCTime.format(bucket.startMilliseconds / 1000), String(bucket.attempts), String(bucket.syns),
                        String(bucket.destinations), bucket.sources.map(\.description).joined(separator: ","),
                        bucket.customers.isEmpty ? "-" : bucket.customers.joined(separator: ","),
                    ]
                },
                rightAligned: [1, 2, 3])
        }
    }
}

// MARK: - export

struct BlockedExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export blocked attempts as evidence: csv or json rows, or X-ARF v4 reports (one per source).",
        discussion: """
            xarf writes a JSON array of X-ARF v4 reports (category connection, type infected_host), one per \
            source address, with first_seen, last_seen, attempt_count and the list of destinations; \
            --reporter-contact is required for it (the reporter's and sender's e-mail address).
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case csv, json, xarf }

    @OptionGroup var location: BlockLogLocation
    @OptionGroup var filters: BlockedFilterOptions

    @Option(help: "csv, json (rows, oldest first) or xarf (X-ARF v4 reports, one per source).")
    var format: Format

    @Option(help: "X-ARF reporter organisation (default: the contact's domain).")
    var reporterOrg: String?

    @Option(help: "X-ARF reporter contact e-mail, e.g. abuse@isp.example.")
    var reporterContact: String?

    @Option(help: "X-ARF reporter domain (default: the contact's domain).")
    var reporterDomain: String?

    func run() throws {
        let filter = try filters.filter(now: UTCTime.now())
        var reporter: BlockLogExport.Reporter?
        if format == .xarf {
            guard let contact = reporterContact, let at = contact.lastIndex(of: "@"),
                contact.index(after: at) < contact.endIndex, at > contact.startIndex
            else {
                throw UsageError(
                    "--format xarf needs --reporter-contact with an e-mail address, e.g. abuse@isp.example")
            }
            let domain = reporterDomain ?? String(contact[contact.index(after: at)...])
            reporter = BlockLogExport.Reporter(organization: reporterOrg ?? domain, contact: contact, domain: domain)
        }
        let reader = try location.open()
        let nodeName = reader.nodeName
        do {
            switch format {
            case .csv:
                print(BlockLogExport.csvHeader)
                try reader.forEach(filter) { print(BlockLogExport.csvLine($0)) }
            case .json:
                print("[")
                var first = true
                try reader.forEach(filter) { record in
                    print((first ? "" : ",") + BlockLogExport.jsonObject(record))
                    first = false
                }
                print("]")
            case .xarf:
                // `reporter` is set above whenever the format is xarf (else a usage error was thrown).
                let reports = try reader.sourceSummaries(filter).map {
                    BlockLogExport.xarfReport($0, reporter: reporter!, nodeName: nodeName)
                }
                printJSONArray(reports)
            }
        } catch let error as BlockLogError {
            throw CommandFailure("\(error)")
        }
    }
}

// MARK: - Output helpers

/// Prints a JSON array with one element per line.
private func printJSONArray(_ elements: [String]) {
    if elements.isEmpty {
        print("[]")
        return
    }
    print("[")
    for (index, element) in elements.enumerated() {
        print(element + (index + 1 < elements.count ? "," : ""))
    }
    print("]")
}

/// Prints an aligned text table; `rightAligned` are column indices of numbers.
private func printTable(header: [String], rows: [[String]], rightAligned: Set<Int>) {
    var widths = header.map(\.count)
    for row in rows {
        for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
    }
    func line(_ cells: [String]) -> String {
        var text = ""
        for (index, cell) in cells.enumerated() {
            let padding = String(repeating: " ", count: widths[index] - cell.count)
            let isLast = index == cells.count - 1
            if rightAligned.contains(index) {
                text += padding + cell
            } else {
                text += cell + (isLast ? "" : padding)
            }
            if !isLast { text += "  " }
        }
        return text
    }
    print(line(header))
    for row in rows { print(line(row)) }
    if rows.isEmpty { print("(no blocked attempts match)") }
}

// MARK: - prune

/// `blocked prune --older-than DURATION`: fleet retention, whole daily partitions.
struct BlockedPruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Fleet store: drop the block log's daily partitions older than --older-than (whole days).",
        discussion: """
            Needs store.url and an admin role. A router's own segments follow block_log.retention instead. \
            Audited as blocked.prune. Run it daily, e.g. --older-than 90d.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "Drop the days that ended more than this long ago (e.g. 90d; at least 1d).")
    var olderThan: String

    @OptionGroup var changedBy: ActorOptions

    func run() throws {
        let seconds: Int64
        do {
            seconds = try UTCTime.parseDuration(olderThan)
        } catch {
            throw UsageError("--older-than: \(error)")
        }
        guard seconds >= 86_400 else { throw UsageError("--older-than must be at least 1d") }
        let store = try StoreCommandSupport.open(global, .write)
        guard store.dialect == .postgresql else {
            throw UsageError(
                "blocked prune is for the fleet store (store.url); a router's segments follow block_log.retention")
        }
        let now = UTCTime.now()
        let dropped = try StoreCommandSupport.perform {
            try store.dropBlockedPartitions(before: now - seconds, actor: changedBy.actor, now: now)
        }
        print(dropped.isEmpty ? "no partition to drop" : "dropped \(dropped.count): \(dropped.joined(separator: ", "))")
    }
}
