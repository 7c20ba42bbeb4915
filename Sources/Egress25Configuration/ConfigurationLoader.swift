import Egress25Core
import Egress25System
import ExceptionStore
import Yams

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads and validates `egress25.yaml`.
///
/// The file is composed into a YAML node tree (Yams, libyaml) so that every problem is reported with its
/// file, line and column and the key path, e.g.
/// `/etc/egress25/egress25.yaml:7:23: policy.subscriber_ranges[1]: 100.64.0.1/10 has host bits set
/// (did you mean 100.64.0.0/10?)`. Unknown keys, wrong types, out-of-range values, duplicates and YAML syntax
/// errors are all fatal; nothing is guessed. The first problem in reading order is reported.
///
/// Keys (all optional except `policy.subscriber_ranges`; for ``ConfigurationPurpose/storeClient`` only
/// `store.url` is required):
/// ```yaml
/// node_name: edge-1                    # default: the host name
/// state_directory: /var/lib/egress25
/// queue: { numbers: [0], fail_policy: closed, max_length: 4096, receive_buffer: 64MiB, batch_size: 64 }
/// policy:
///   mode: enforce                      # enforce | shadow
///   subscriber_ranges: [100.64.0.0/10, 2001:db8:6400::/40]
///   relay_hosts: [192.0.2.25, {host: 192.0.2.0/28, ports: [25]}]
///   ports: [25]
///   block_action: reject               # reject | drop
///   reject_mark: 0x25
///   accept_mark: 0x20                  # default: reject_mark's highest bit (or the next bit)
///   reject_mask: 0x25                  # default: reject_mark | accept_mark
///   guard_non_syn: false               # conntrack guard against unjudged flows
///   exceptions: [{id, customer, sources, destinations, not_before, expires_at, reason, ticket}]
/// block_log: { enabled: true, segment: 1h, flush_interval: 1s, aggregation_window: 60s, retention: 30d,
///              max_bytes: 10GiB, max_memory: 64MiB, checkpoint_interval: 10s }
/// metrics: { listen: 127.0.0.1:9325 }
/// rules: { reapply: false, check_interval: 5s }
/// store: { url: postgresql://USER@HOST/DB?sslmode=verify-full, password_file: /etc/egress25/db-password,
///          max_staleness: 1h, node: edge-fra-1 }   # absent: <state_directory>/exceptions.sqlite
/// ```
public enum ConfigurationLoader {
    /// Keys allowed at the top level.
    static let topLevelKeys = [
        "node_name", "state_directory", "queue", "policy", "block_log", "metrics", "rules", "sessions", "store",
        "admin", "abuse", "session_feed",
    ]
    static let queueKeys = ["numbers", "fail_policy", "max_length", "receive_buffer", "batch_size"]
    static let policyKeys = [
        "mode", "subscriber_ranges", "relay_hosts", "ports", "block_action", "reject_mark", "accept_mark",
        "reject_mask",
        "guard_non_syn", "exceptions",
    ]
    static let rulesKeys = ["reapply", "check_interval"]
    static let relayKeys = ["host", "ports"]
    static let exceptionKeys = [
        "id", "customer", "sources", "destinations", "not_before", "expires_at", "reason", "ticket",
    ]
    static let blockLogKeys = [
        "enabled", "segment", "flush_interval", "aggregation_window", "retention", "max_bytes", "max_memory",
        "checkpoint_interval",
    ]
    static let metricsKeys = ["listen"]

    /// The most queues one node may configure (one worker thread each).
    static let maximumQueueCount = 256

    /// Reads, parses and validates the file at `path`.
    /// - Parameter purpose: `.router` (the default: egress25d, and egress25ctl on a router) requires
    ///   `policy.subscriber_ranges`; `.storeClient` (egress25ctl on an admin machine) requires `store.url` and
    ///   leaves the router sections optional.
    /// - Throws: ``ConfigurationError`` when the file cannot be read (no position; message with the system's
    ///   reason), is not UTF-8, or anything ``parse(yaml:path:purpose:)`` rejects.
    public static func load(
        path: String, purpose: ConfigurationPurpose = .router
    ) throws(ConfigurationError) -> Egress25Configuration {
        let text = try readFile(path)
        return try parse(yaml: text, path: path, purpose: purpose)
    }

    /// The `state_directory` a file names, read leniently: the file may be invalid elsewhere (an unknown key, a
    /// bad prefix). `nil` when it cannot be read as YAML or names no absolute `state_directory`. For
    /// `egress25ctl rules apply --fail-closed`, which must find the last applied rules of a broken file.
    public static func stateDirectoryHint(path: String) -> String? {
        guard let text = try? readFile(path),
            let root = (try? Yams.compose(yaml: text)) ?? nil,
            case .mapping(let mapping) = root,
            let value = mapping["state_directory"]?.string, value.hasPrefix("/")
        else { return nil }
        return value
    }

    /// Parses and validates configuration text; `path` is only used in messages and `sourcePath`.
    /// - Parameter purpose: which sections are required (see ``load(path:purpose:)``). With `.storeClient` and
    ///   no `policy:`, ``Egress25Configuration/policy`` holds no subscriber ranges, relays or exceptions.
    /// - Throws: ``ConfigurationError`` with file, line, column and key path of the first problem.
    public static func parse(
        yaml: String, path: String, purpose: ConfigurationPurpose = .router
    ) throws(ConfigurationError) -> Egress25Configuration {
        let rootNode: Node?
        do {
            rootNode = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw syntaxError(error, yaml: yaml, path: path)
        } catch {
            throw ConfigurationError(
                .syntax, file: path, line: nil, column: nil, message: "cannot parse YAML: \(error)")
        }
        guard let rootNode else {
            let required = purpose == .router ? "policy.subscriber_ranges" : "store.url"
            throw ConfigurationError(
                file: path, line: 1, column: 1,
                message: "the file holds no configuration; at least \(required) is required"
            )
        }
        let root = ConfigurationNode(node: rootNode, path: "", file: path)
        let top = try root.mapping(allowed: topLevelKeys)

        var nodeName = hostName()
        if let node = top["node_name"] {
            nodeName = try node.string()
            if let bad = nodeName.unicodeScalars.first(where: { !isIdentifierScalar($0) || $0 == ":" }) {
                throw node.error("\"\(nodeName)\" contains \"\(bad)\"; use letters, digits, '.', '_' and '-'")
            }
        }
        var stateDirectory = Egress25Configuration.defaultStateDirectory
        if let node = top["state_directory"] {
            stateDirectory = try node.string()
            guard stateDirectory.hasPrefix("/") else {
                throw node.error("must be an absolute path, found \"\(stateDirectory)\"")
            }
        }
        let queue =
            try top["queue"].map { (node) throws(ConfigurationError) in try parseQueue(node) }
            ?? QueueSettings()
        var warnings: [ConfigurationWarning] = []
        let policy: PolicySettings
        if top["policy"] == nil && purpose == .storeClient {
            policy = PolicySettings(policy: Policy(subscriberRanges: [], relayHosts: []))
        } else if top["policy"] == nil && top["store"] != nil {
            throw ConfigurationError(
                file: path, line: root.mark?.line, column: root.mark?.column,
                message: "policy: required key is missing: a router needs policy.subscriber_ranges (a file holding "
                    + "only store: is for egress25ctl on an admin machine, not for egress25d)")
        } else {
            policy = try parsePolicy(try top.required("policy"), warnings: &warnings)
        }
        let blockLog =
            try top["block_log"].map { (node) throws(ConfigurationError) in try parseBlockLog(node) }
            ?? BlockLogSettings()
        let metrics =
            try top["metrics"].map { (node) throws(ConfigurationError) in try parseMetrics(node) }
            ?? MetricsSettings()
        let rules =
            try top["rules"].map { (node) throws(ConfigurationError) in try parseRules(node) }
            ?? RulesSettings()
        var configuration = Egress25Configuration(
            sourcePath: path, nodeName: nodeName, stateDirectory: stateDirectory, queue: queue, policy: policy,
            blockLog: blockLog, metrics: metrics
        )
        configuration.rules = rules
        configuration.warnings = warnings
        if let node = top["sessions"] { configuration.sessions = try parseSessions(node) }
        configuration.store = try parseStore(
            top["store"], stateDirectory: stateDirectory, nodeName: nodeName, nodeNameNode: top["node_name"])
        if purpose == .storeClient, case .sqlite = configuration.store.location {
            let position = (top["store"] ?? root).mark
            throw ConfigurationError(
                file: path, line: position?.line, column: position?.column,
                message: "store.url: required key is missing: egress25ctl on an admin machine works on the fleet's "
                    + "PostgreSQL store, named by store.url")
        }
        if let node = top["admin"] { configuration.admin = try parseAdmin(node) }
        if let node = top["abuse"] { configuration.abuse = try parseAbuse(node) }
        if let node = top["session_feed"] { configuration.sessionFeed = try parseSessionFeed(node) }
        configuration.purpose = purpose
        return configuration
    }

    // MARK: - queue

    static func parseQueue(_ node: ConfigurationNode) throws(ConfigurationError) -> QueueSettings {
        let map = try node.mapping(allowed: queueKeys)
        var settings = QueueSettings()
        if let numbers = map["numbers"] { settings.numbers = try parseQueueNumbers(numbers) }
        if let value = map["fail_policy"] { settings.failPolicy = try value.choice(FailPolicy.self) }
        if let value = map["max_length"] {
            settings.maxLength = UInt32(try value.integer(in: 1...Int64(UInt32.max)))
        }
        if let value = map["receive_buffer"] {
            settings.receiveBufferBytes = Int(try size(value, in: 4096...Int64(Int32.max)))
        }
        if let value = map["batch_size"] { settings.batchSize = Int(try value.integer(in: 1...1024)) }
        return settings
    }

    /// `0`, `[0, 1, 2, 3]`, `"0-3"`, or a list mixing numbers and ranges; must end up contiguous.
    static func parseQueueNumbers(_ node: ConfigurationNode) throws(ConfigurationError) -> [UInt16] {
        var seen: [Int64: String] = [:]
        var numbers: [Int64] = []
        for item in try node.list(scalarAsList: true) {
            let text = try item.scalarText(expected: "a queue number (0...65535) or a range such as \"0-3\"")
            let range: ClosedRange<Int64>
            if let single = ValueParsers.integer(text) {
                range = single...single
            } else if let (low, high) = ValueParsers.queueRange(text) {
                guard low <= high else {
                    throw item.error("range \"\(text)\" is empty: its first number is greater than its last")
                }
                range = low...high
            } else {
                throw item.error("expected a queue number (0...65535) or a range such as \"0-3\", found \"\(text)\"")
            }
            guard range.lowerBound >= 0, range.upperBound <= 65535 else {
                throw item.error("queue number \(text) is out of range (0...65535)")
            }
            guard range.count + numbers.count <= maximumQueueCount else {
                throw item.error("at most \(maximumQueueCount) queues are supported (one worker thread each)")
            }
            for number in range {
                if let first = seen[number] {
                    throw item.error("queue number \(number) is listed twice (also in \(first))")
                }
                seen[number] = item.path
                numbers.append(number)
            }
        }
        guard !numbers.isEmpty else { throw node.error("at least one queue number is required") }
        numbers.sort()
        if numbers.last! - numbers.first! + 1 != Int64(numbers.count) {
            throw node.error(
                "queue numbers must form one contiguous range, because the kernel spreads SYNs over "
                    + "first...last (nftables `queue num A-B`, iptables `--queue-balance A:B`); found "
                    + numbers.map(String.init).joined(separator: ", ")
            )
        }
        return numbers.map { UInt16($0) }
    }

    // MARK: - policy

    static func parsePolicy(
        _ node: ConfigurationNode, warnings: inout [ConfigurationWarning]
    )
        throws(ConfigurationError) -> PolicySettings
    {
        let map = try node.mapping(allowed: policyKeys)
        var mode = PolicyMode.enforce
        if let value = map["mode"] {
            mode = try value.choice(PolicyMode.self)
        }

        let rangesNode = try map.required("subscriber_ranges")
        let subscriberRanges = try prefixList(rangesNode, what: "subscriber range")
        guard !subscriberRanges.isEmpty else {
            throw rangesNode.error("at least one subscriber range is required (the SYNs to police come from them)")
        }

        var ports: [UInt16] = [25]
        if let value = map["ports"] {
            ports = try portList(value)
            guard !ports.isEmpty else { throw value.error("at least one port is required") }
        }

        var relayHosts: [RelayHost] = []
        if let value = map["relay_hosts"] {
            for item in try value.list() {
                let relay = try parseRelay(item, policedPorts: ports)
                let bits = relay.prefix.address.isIPv4 ? 32 : 128
                if Int(relay.prefix.length) < bits / 4 {
                    warnings.append(
                        ConfigurationWarning(
                            item,
                            "relay \(relay.prefix) covers a huge part of the address space: SYNs to it are never "
                                + "blocked (is it a relay host, or a typo?)"))
                }
                relayHosts.append(relay)
            }
        }

        var blockAction = BlockAction.reject
        if let value = map["block_action"] { blockAction = try value.choice(BlockAction.self) }

        var rejectMark: UInt32 = 0x25
        if let value = map["reject_mark"] {
            let text = try value.scalarText(expected: "a mark such as 0x25")
            guard let number = ValueParsers.integer(text, allowHex: true) else {
                throw value.error("expected a 32-bit mark in hex (0x25) or decimal, found \"\(text)\"")
            }
            guard number != 0 else {
                throw value.error(
                    "must not be 0: the kernel rejects packets whose mark has all reject_mark bits set, "
                        + "which every packet satisfies for 0")
            }
            guard (1...Int64(UInt32.max)).contains(number) else {
                throw value.error("\(text) does not fit in 32 bits (1...0xffffffff)")
            }
            rejectMark = UInt32(number)
        }
        func markValue(_ value: ConfigurationNode, _ what: String) throws(ConfigurationError) -> UInt32 {
            let text = try value.scalarText(expected: "\(what) such as 0x40000000")
            guard let number = ValueParsers.integer(text, allowHex: true), (1...Int64(UInt32.max)).contains(number)
            else {
                throw value.error("expected a nonzero 32-bit \(what) in hex (0x40000000) or decimal, found \"\(text)\"")
            }
            return UInt32(number)
        }
        var acceptMark = PolicySettings.defaultAcceptMark(rejectMark: rejectMark)
        if let value = map["accept_mark"] { acceptMark = try markValue(value, "mark") }
        var rejectMask = rejectMark | acceptMark
        if let value = map["reject_mask"] {
            rejectMask = try markValue(value, "mask")
            guard (rejectMark | acceptMark) & ~rejectMask == 0 else {
                throw value.error(
                    "must cover every reject_mark and accept_mark bit: reject_mark \(hex(rejectMark)) | accept_mark "
                        + "\(hex(acceptMark)) has bits outside reject_mask \(hex(rejectMask))")
            }
        }
        if rejectMark & rejectMask == acceptMark & rejectMask, let value = map["accept_mark"] ?? map["reject_mark"] {
            throw value.error(
                "accept_mark \(hex(acceptMark)) and reject_mark \(hex(rejectMark)) must differ under reject_mask "
                    + "\(hex(rejectMask)): the kernel tells a judged accept from a block by them")
        }
        var guardNonSYN = false
        if let value = map["guard_non_syn"] { guardNonSYN = try value.bool() }

        var exceptions: [ExceptionRule] = []
        if let value = map["exceptions"] {
            var ids: [String: String] = [:]
            for item in try value.list() {
                let (rule, idNode, sourceNodes) = try parseException(item)
                for (source, sourceNode) in zip(rule.sources, sourceNodes)
                where !subscriberRanges.contains(where: { $0.contains(source) || source.contains($0) }) {
                    warnings.append(
                        ConfigurationWarning(
                            sourceNode,
                            "\(source) is outside every subscriber range: SYNs from it are never queued, so this "
                                + "exception has no effect"))
                }
                for (source, sourceNode) in zip(rule.sources, sourceNodes)
                where Int(source.length) < (source.address.isIPv4 ? 8 : 32) {
                    warnings.append(
                        ConfigurationWarning(
                            sourceNode,
                            "\(source) exempts a huge part of the address space from blocking (a static exception "
                                + "is meant for one customer's addresses)"))
                }
                if let expiresAt = rule.expiresAt, expiresAt <= UTCTime.now() {
                    warnings.append(
                        ConfigurationWarning(
                            idNode,
                            "exception \"\(rule.id)\" expired at \(UTCTime.format(expiresAt)): it no longer applies"))
                }
                if let first = ids[rule.id] {
                    throw idNode.error("exception id \"\(rule.id)\" is already used by \(first)")
                }
                ids[rule.id] = item.path
                exceptions.append(rule)
            }
        }

        let policy = Policy(
            subscriberRanges: subscriberRanges, relayHosts: relayHosts, ports: ports, mode: mode,
            exceptions: exceptions
        )
        return PolicySettings(
            policy: policy, blockAction: blockAction, rejectMark: rejectMark, acceptMark: acceptMark,
            rejectMask: rejectMask,
            guardNonSYN: guardNonSYN)
    }

    static func parseRelay(_ item: ConfigurationNode, policedPorts: [UInt16]) throws(ConfigurationError) -> RelayHost {
        if case .mapping = item.node {
            let map = try item.mapping(allowed: relayKeys)
            let prefix = try prefix(try map.required("host"))
            var ports: [UInt16]? = nil
            if let portsNode = map["ports"] {
                let list = try portList(portsNode)
                guard !list.isEmpty else {
                    throw portsNode.error("at least one port is required (leave ports out to allow every policed port)")
                }
                for (index, port) in list.enumerated() where !policedPorts.contains(port) {
                    let portNode = (try? portsNode.list(scalarAsList: true))?[index] ?? portsNode
                    throw portNode.error(
                        "port \(port) is not a policed port (policy.ports: "
                            + policedPorts.map(String.init).joined(separator: ", ")
                            + "), so SYNs to it are never queued")
                }
                ports = list
            }
            return RelayHost(prefix: prefix, ports: ports)
        }
        return RelayHost(prefix: try prefix(item), ports: nil)
    }

    /// - Returns: the rule, the node of its id, and the nodes of its sources (for positions).
    static func parseException(
        _ item: ConfigurationNode
    ) throws(ConfigurationError)
        -> (ExceptionRule, ConfigurationNode, [ConfigurationNode])
    {
        let map = try item.mapping(allowed: exceptionKeys)
        let idNode = try map.required("id")
        let id = try idNode.string()
        if let bad = id.unicodeScalars.first(where: { !isIdentifierScalar($0) }) {
            throw idNode.error("\"\(id)\" contains \"\(bad)\"; use letters, digits, '.', '_', '-' and ':'")
        }
        let customer = try map.required("customer").string()
        let sourcesNode = try map.required("sources")
        let sources = try prefixList(sourcesNode, what: "source", scalarAsList: true)
        guard !sources.isEmpty else { throw sourcesNode.error("at least one source prefix is required") }

        let destinationsNode = try map.required("destinations")
        let destinations: DestinationScope
        if case .scalar = destinationsNode.node,
            let text = try? destinationsNode.scalarText(expected: ""), text == "any"
        {
            destinations = .any
        } else {
            if case .scalar = destinationsNode.node,
                let text = try? destinationsNode.scalarText(expected: ""), IPPrefix(text) == nil,
                ValueParsers.suggestion(for: text, among: ["any"]) != nil
            {
                throw destinationsNode.error("\"\(text)\" is neither any nor a prefix (did you mean any?)")
            }
            let list = try prefixList(destinationsNode, what: "destination", scalarAsList: true)
            guard !list.isEmpty else {
                throw destinationsNode.error("expected any or at least one destination address or prefix")
            }
            destinations = .prefixes(list)
        }

        let notBeforeNode = map["not_before"]
        let notBefore = try notBeforeNode.map { (node) throws(ConfigurationError) in try time(node) }
        let expiresNode = map["expires_at"]
        let expiresAt = try expiresNode.map { (node) throws(ConfigurationError) in try time(node) }
        if let notBefore, let expiresAt, let expiresNode, expiresAt <= notBefore {
            throw expiresNode.error(
                "\(UTCTime.format(expiresAt)) is not after not_before (\(UTCTime.format(notBefore))), "
                    + "so the exception would never apply")
        }
        let reason = try map.required("reason").string()
        let ticket = try map["ticket"]?.string()
        let rule = ExceptionRule(
            id: id, customer: customer, sources: sources, destinations: destinations, notBefore: notBefore,
            expiresAt: expiresAt, reason: reason, ticket: ticket
        )
        return (rule, idNode, try sourcesNode.list(scalarAsList: true))
    }

    static func isIdentifierScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-", ":": return true
        default: return false
        }
    }

    // MARK: - block_log, metrics

    static func parseBlockLog(_ node: ConfigurationNode) throws(ConfigurationError) -> BlockLogSettings {
        let map = try node.mapping(allowed: blockLogKeys)
        var settings = BlockLogSettings()
        if let value = map["enabled"] { settings.enabled = try value.bool() }
        if let value = map["segment"] {
            let text = try value.scalarText(expected: "1h or 1d")
            switch ValueParsers.seconds(text) {
            case .success(3600): settings.segmentSeconds = 3600
            case .success(86400): settings.segmentSeconds = 86400
            default: throw value.error("must be 1h or 1d (one segment file per hour or per day), found \"\(text)\"")
            }
        }
        if let value = map["flush_interval"] {
            settings.flushIntervalMilliseconds = try duration(value, in: 1...60_000, milliseconds: true)
        }
        if let value = map["aggregation_window"] {
            settings.aggregationWindowSeconds = try duration(value, in: 0...3600, milliseconds: false)
        }
        if let value = map["retention"] {
            settings.retentionSeconds = try duration(value, in: 1...(100 * 366 * 86400), milliseconds: false)
            guard settings.retentionSeconds >= settings.segmentSeconds else {
                throw value.error(
                    "retention (\(settings.retentionSeconds) s) is shorter than one segment "
                        + "(\(settings.segmentSeconds) s); retention deletes whole segments")
            }
        }
        if let value = map["max_bytes"] { settings.maxBytes = try size(value, in: (1 << 20)...Int64.max) }
        if let value = map["max_memory"] { settings.maxMemoryBytes = try size(value, in: (4 << 20)...(64 << 30)) }
        if let value = map["checkpoint_interval"] {
            settings.checkpointIntervalMilliseconds = try duration(value, in: 1...3_600_000, milliseconds: true)
        }
        return settings
    }

    static func parseMetrics(_ node: ConfigurationNode) throws(ConfigurationError) -> MetricsSettings {
        let map = try node.mapping(allowed: metricsKeys)
        var settings = MetricsSettings()
        if let value = map["listen"] {
            let text = try value.string()
            switch ValueParsers.listenAddress(text) {
            case .success(let address): settings.listen = address
            case .failure(let problem): throw value.error(problem.reason)
            }
        }
        return settings
    }

    static func parseRules(_ node: ConfigurationNode) throws(ConfigurationError) -> RulesSettings {
        let map = try node.mapping(allowed: rulesKeys)
        var settings = RulesSettings()
        if let value = map["reapply"] { settings.reapply = try value.bool() }
        if let value = map["check_interval"] {
            settings.checkIntervalMilliseconds = try duration(value, in: 500...600_000, milliseconds: true)
        }
        return settings
    }

    static func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16) }

    // MARK: - value helpers

    /// One CIDR prefix or bare address. IPv4-mapped IPv6 (`::ffff:0:0/96`) is refused: the kernel sees such
    /// traffic as IPv4, so it must be written as IPv4.
    static func prefix(_ node: ConfigurationNode) throws(ConfigurationError) -> IPPrefix {
        let text = try node.scalarText(expected: "an address or CIDR prefix such as 100.64.0.0/10")
        let parsed: IPPrefix
        do {
            parsed = try IPPrefix(parsing: text)
        } catch {
            throw node.error(
                error.reason.hasPrefix(text) ? error.reason : "\"\(text)\" is not an address or prefix: \(error.reason)"
            )
        }
        if parsed.unmapped != parsed {
            throw node.error("\(text) is an IPv4-mapped IPv6 prefix; write it as IPv4: \(parsed.unmapped)")
        }
        return parsed
    }

    /// A list of prefixes without exact duplicates.
    static func prefixList(
        _ node: ConfigurationNode, what: String, scalarAsList: Bool = false
    )
        throws(ConfigurationError) -> [IPPrefix]
    {
        var seen: [IPPrefix: String] = [:]
        var result: [IPPrefix] = []
        for item in try node.list(scalarAsList: scalarAsList) {
            let value = try prefix(item)
            if let first = seen[value] {
                throw item.error("\(what) \(value) is listed twice (also \(first))")
            }
            seen[value] = item.path
            result.append(value)
        }
        return result
    }

    /// A list of TCP ports 1...65535 (or one port), without duplicates.
    static func portList(_ node: ConfigurationNode) throws(ConfigurationError) -> [UInt16] {
        var result: [UInt16] = []
        for item in try node.list(scalarAsList: true) {
            let port = UInt16(try item.integer(in: 1...65535, what: "a TCP port (1...65535)"))
            if result.contains(port) { throw item.error("port \(port) is listed twice") }
            result.append(port)
        }
        return result
    }

    static func size(_ node: ConfigurationNode, in range: ClosedRange<Int64>) throws(ConfigurationError) -> Int64 {
        let text = try node.scalarText(expected: "a size such as 64MiB")
        switch ValueParsers.byteSize(text) {
        case .failure(let problem):
            throw node.error(problem.reason)
        case .success(let bytes):
            guard range.contains(bytes) else {
                throw node.error(
                    "\(text) is out of range (\(formatBytes(range.lowerBound))...\(formatBytes(range.upperBound)))")
            }
            return bytes
        }
    }

    static func duration(
        _ node: ConfigurationNode, in range: ClosedRange<Int64>, milliseconds: Bool
    )
        throws(ConfigurationError) -> Int64
    {
        let text = try node.scalarText(expected: "a duration such as 60s")
        let parsed = milliseconds ? ValueParsers.milliseconds(text) : ValueParsers.seconds(text)
        switch parsed {
        case .failure(let problem):
            throw node.error(problem.reason)
        case .success(let value):
            guard range.contains(value) else {
                let unit = milliseconds ? "ms" : "s"
                throw node.error("\(text) is out of range (\(range.lowerBound)...\(range.upperBound) \(unit))")
            }
            return value
        }
    }

    static func time(_ node: ConfigurationNode) throws(ConfigurationError) -> Int64 {
        let text = try node.scalarText(expected: "an RFC 3339 time such as 2027-01-01T00:00:00Z")
        do {
            return try UTCTime.parseRFC3339(text)
        } catch {
            throw node.error("\"\(text)\" is not an RFC 3339 time such as 2027-01-01T00:00:00Z: \(error.reason)")
        }
    }

    static func formatBytes(_ bytes: Int64) -> String {
        for (unit, factor) in [("TiB", Int64(1) << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        where bytes >= factor && bytes % factor == 0 {
            return "\(bytes / factor)\(unit)"
        }
        return "\(bytes)B"
    }

    // MARK: - files and YAML errors

    static func readFile(_ path: String) throws(ConfigurationError) -> String {
        func failure(_ what: String) -> ConfigurationError {
            let reason = SystemCallError.describe(errno)
            return ConfigurationError(
                .unreadable, file: path, line: nil, column: nil, message: "cannot \(what): \(reason)")
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let missing = errno == ENOENT
            var error = failure("open the configuration file")
            if missing {
                error.message += " (copy deploy/egress25.yaml there, or name another file with --config)"
            }
            throw error
        }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = retryingOnInterrupt {
                chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            }
            if count < 0 { throw failure("read the configuration file") }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > 16 << 20 {
                throw ConfigurationError(
                    .unreadable, file: path, line: nil, column: nil,
                    message: "the configuration file is larger than 16 MiB")
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            // Locate the first byte sequence that is not UTF-8 for the message.
            var line = 1
            var column = 1
            var iterator = bytes.makeIterator()
            var decoder = UTF8()
            decoding: while true {
                switch decoder.decode(&iterator) {
                case .scalarValue(let scalar):
                    if scalar == "\n" { line += 1; column = 1 } else { column += 1 }
                case .emptyInput, .error:
                    break decoding
                }
            }
            throw ConfigurationError(
                .unreadable, file: path, line: line, column: column, message: "the file is not UTF-8 text")
        }
        return text
    }

    static func syntaxError(_ error: YamlError, yaml: String, path: String) -> ConfigurationError {
        func at(_ mark: Mark?, _ message: String) -> ConfigurationError {
            ConfigurationError(.syntax, file: path, line: mark?.line, column: mark?.column, message: message)
        }
        func contextText(_ context: YamlError.Context?) -> String {
            guard let context else { return "" }
            return " (\(context.text) at \(context.mark.line):\(context.mark.column))"
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            return at(mark, "YAML syntax error: \(problem)\(contextText(context))")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "\"\($0)\"" }.joined(separator: ", ")
            return at(
                context.mark,
                "duplicate key \(keys): each key may appear once in a mapping (this is the first occurrence)")
        case .reader(let problem, let offset, _, _):
            var line = 1
            var column = 1
            if let offset {
                for character in yaml.prefix(offset) {
                    if character == "\n" { line += 1; column = 1 } else { column += 1 }
                }
            }
            return ConfigurationError(
                .syntax, file: path, line: offset == nil ? nil : line, column: offset == nil ? nil : column,
                message: "cannot read YAML: \(problem)")
        default:
            return at(nil, "cannot parse YAML: \(error)")
        }
    }

    /// The host name (`gethostname(2)`), the default `node_name`; `"localhost"` if it cannot be read.
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }
}
