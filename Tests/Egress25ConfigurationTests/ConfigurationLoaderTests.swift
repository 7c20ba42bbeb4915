import Egress25Configuration
import Egress25Core
import Egress25TestSupport
import Testing

@Suite("ConfigurationLoader")
struct ConfigurationLoaderTests {
    static let complete = """
        node_name: edge-7
        state_directory: /srv/egress25
        queue: { numbers: "2-5", fail_policy: open, max_length: 1024, receive_buffer: 8MiB, batch_size: 32 }
        policy:
          mode: shadow
          subscriber_ranges: [100.64.0.0/10, 2001:db8:6400::/40]
          relay_hosts: [192.0.2.25, 2001:db8:25::25, {host: 192.0.2.0/28, ports: [25]}]
          ports: [25, 2525]
          block_action: drop
          reject_mark: 0x4000
          exceptions:
            - id: biz-17-line
              customer: biz-17
              sources: [100.64.7.0/29]
              destinations: any
              not_before: 2026-01-01T00:00:00Z
              expires_at: 2027-01-01T00:00:00Z
              reason: static business line
              ticket: T-1234
            - id: tele-1
              customer: cust-1
              sources: 100.64.9.9
              destinations: [198.51.100.10, 198.51.100.0/28]
              reason: telecommuter
        block_log: { enabled: false, segment: 1d, flush_interval: 250ms, aggregation_window: 5m, retention: 2w,
                     max_bytes: 512MiB, max_memory: 96MiB, checkpoint_interval: 30s }
        metrics: { listen: "[::1]:9100" }
        """

    @Test("every key of a complete file is read into the configuration")
    func completeFile() throws {
        let configuration = try ConfigurationLoader.parse(yaml: Self.complete, path: "test.yaml")
        #expect(configuration.sourcePath == "test.yaml")
        #expect(configuration.nodeName == "edge-7")
        #expect(configuration.stateDirectory == "/srv/egress25")
        #expect(configuration.state.exceptionStore == "/srv/egress25/exceptions.sqlite")
        #expect(configuration.state.blockLog == "/srv/egress25/blocklog")
        #expect(
            configuration.queue
                == QueueSettings(
                    numbers: [2, 3, 4, 5], failPolicy: .open, maxLength: 1024, receiveBufferBytes: 8 << 20,
                    batchSize: 32))
        let policy = configuration.policy.policy
        #expect(policy.mode == .shadow)
        #expect(policy.subscriberRanges.map(\.description) == ["100.64.0.0/10", "2001:db8:6400::/40"])
        #expect(
            policy.relayHosts == [
                RelayHost(prefix: try IPPrefix(parsing: "192.0.2.25"), ports: nil),
                RelayHost(prefix: try IPPrefix(parsing: "2001:db8:25::25"), ports: nil),
                RelayHost(prefix: try IPPrefix(parsing: "192.0.2.0/28"), ports: [25]),
            ])
        #expect(policy.ports == [25, 2525])
        #expect(configuration.policy.blockAction == .drop)
        #expect(configuration.policy.rejectMark == 0x4000)
        #expect(
            policy.exceptions == [
                ExceptionRule(
                    id: "biz-17-line", customer: "biz-17", sources: [try IPPrefix(parsing: "100.64.7.0/29")],
                    destinations: .any, notBefore: 1_767_225_600, expiresAt: 1_798_761_600,
                    reason: "static business line", ticket: "T-1234"),
                ExceptionRule(
                    id: "tele-1", customer: "cust-1", sources: [try IPPrefix(parsing: "100.64.9.9/32")],
                    destinations: .prefixes([
                        try IPPrefix(parsing: "198.51.100.10"), try IPPrefix(parsing: "198.51.100.0/28"),
                    ]),
                    notBefore: nil, expiresAt: nil, reason: "telecommuter", ticket: nil),
            ])
        #expect(
            configuration.blockLog
                == BlockLogSettings(
                    enabled: false, segmentSeconds: 86400, flushIntervalMilliseconds: 250,
                    aggregationWindowSeconds: 300, retentionSeconds: 14 * 86400, maxBytes: 512 << 20,
                    maxMemoryBytes: 96 << 20, checkpointIntervalMilliseconds: 30_000))
        #expect(configuration.metrics.listen.description == "[::1]:9100")
    }

    @Test("a minimal file gets the documented defaults")
    func defaults() throws {
        let configuration = try ConfigurationLoader.parse(
            yaml: "policy:\n  subscriber_ranges: [10.0.0.0/8]\n", path: "minimal.yaml")
        #expect(!configuration.nodeName.isEmpty)
        #expect(configuration.stateDirectory == "/var/lib/egress25")
        #expect(
            configuration.queue
                == QueueSettings(
                    numbers: [0], failPolicy: .closed, maxLength: 4096,
                    receiveBufferBytes: 64 * 1024 * 1024, batchSize: 64))
        #expect(configuration.policy.policy.mode == .enforce)
        #expect(configuration.policy.policy.ports == [25])
        #expect(configuration.policy.policy.relayHosts.isEmpty)
        #expect(configuration.policy.policy.exceptions.isEmpty)
        #expect(configuration.policy.blockAction == .reject)
        #expect(configuration.policy.rejectMark == 0x25)
        #expect(
            configuration.blockLog
                == BlockLogSettings(
                    enabled: true, segmentSeconds: 3600,
                    flushIntervalMilliseconds: 1000, aggregationWindowSeconds: 60, retentionSeconds: 30 * 86400,
                    maxBytes: 10 * 1024 * 1024 * 1024))
        #expect(configuration.metrics.listen.description == "127.0.0.1:9325")
    }

    @Test("queue numbers: one number, a list, a range, a list mixing both")
    func queueNumberForms() throws {
        func numbers(_ value: String) throws -> [UInt16] {
            try ConfigurationLoader.parse(
                yaml: "queue: { numbers: \(value) }\npolicy: { subscriber_ranges: [10.0.0.0/8] }", path: "q.yaml"
            ).queue.numbers
        }
        #expect(try numbers("7") == [7])
        #expect(try numbers("[3, 1, 2]") == [1, 2, 3])
        #expect(try numbers("0-3") == [0, 1, 2, 3])
        #expect(try numbers("[\"4-5\", 6]") == [4, 5, 6])
        #expect(try numbers("65535") == [65535])
    }

    @Test("a timestamp-looking plain scalar and hex/decimal marks are read from their text")
    func scalarText() throws {
        let yaml = """
            policy:
              subscriber_ranges: [10.0.0.0/8]
              reject_mark: 4294967295
              exceptions:
                - {id: a, customer: c, sources: [10.1.0.0/16], destinations: any, reason: r,
                   expires_at: 2026-11-29T09:45:00+02:00}
            """
        let configuration = try ConfigurationLoader.parse(yaml: yaml, path: "t.yaml")
        #expect(configuration.policy.rejectMark == UInt32.max)
        #expect(configuration.policy.policy.exceptions[0].expiresAt == 1_795_938_300)
    }

    @Test("the example deploy/egress25.yaml parses")
    func exampleFile() throws {
        let configuration = try ConfigurationLoader.load(path: packageRoot + "/deploy/egress25.yaml")
        #expect(configuration.nodeName == "edge-1")
        #expect(configuration.queue.numbers == [0, 1, 2, 3])
        #expect(configuration.queue.failPolicy == .closed)
        #expect(configuration.policy.policy.subscriberRanges.count == 3)
        #expect(configuration.policy.policy.relayHosts.count == 3)
        #expect(configuration.policy.policy.exceptions.map(\.id) == ["biz-17-line", "telecommuter-42"])
    }

    @Test("an unreadable file names the file and the system's reason")
    func missingFile() {
        #expect(
            throws: ConfigurationError(
                .unreadable, file: "/nonexistent/egress25.yaml", line: nil, column: nil,
                message: "cannot open the configuration file: No such file or directory "
                    + "(copy deploy/egress25.yaml there, or name another file with --config)")
        ) {
            try ConfigurationLoader.load(path: "/nonexistent/egress25.yaml")
        }
    }

    // MARK: - errors with exact positions

    /// (YAML, expected `FILE:LINE:COL: MESSAGE`) for every kind of error.
    /// Lines 1-6 of the exception cases: one subscriber range and exception `a` of customer `c`, up to its
    /// `sources`; each case goes on at line 7, indented as the exception's keys.
    static let exceptionA = """
        policy:
          subscriber_ranges: [10.0.0.0/8]
          exceptions:
            - id: a
              customer: c
              sources: [10.1.0.0/16]

        """

    static let errorCases: [(String, String)] = [
        // The example from the brief: host bits, pointing at the offending list element.
        (
            """
            node_name: edge-1
            policy:
              mode: enforce
              ports: [25]
              block_action: reject
              reject_mark: 0x25
              subscriber_ranges: [100.64.0.0/10, 100.64.0.1/10]
            """,
            "F:7:38: policy.subscriber_ranges[1]: 100.64.0.1/10 has host bits set (did you mean 100.64.0.0/10?)"
        ),
        (
            "node_name: edge 1\npolicy: {subscriber_ranges: [10.0.0.0/8]}\n",
            "F:1:12: node_name: \"edge 1\" contains \" \"; use letters, digits, '.', '_' and '-'"
        ),
        // Unknown key with a near miss.
        (
            "polcy:\n  subscriber_ranges: [10.0.0.0/8]\n",
            "F:1:1: unknown key \"polcy\" (did you mean policy?)"
        ),
        (
            "policy:\n  subscriber_ranges: [10.0.0.0/8]\nqueue:\n  max-length: 10\n",
            "F:4:3: queue: unknown key \"max-length\" (did you mean max_length?)"
        ),
        // Unknown key without a near miss lists the allowed keys.
        (
            "policy:\n  subscriber_ranges: [10.0.0.0/8]\nmetrics: {listen: 127.0.0.1:1, color: blue}\n",
            "F:3:32: metrics: unknown key \"color\"; keys allowed in metrics: listen"
        ),
        // Wrong types.
        (
            "policy:\n  subscriber_ranges: 10.0.0.0/8\n",
            "F:2:22: policy.subscriber_ranges: expected a list, found \"10.0.0.0/8\""
        ),
        (
            "policy: [10.0.0.0/8]\n",
            "F:1:9: policy: expected a mapping (key: value), found a list"
        ),
        (
            "policy: {subscriber_ranges: [10.0.0.0/8]}\nqueue: {max_length: lots}\n",
            "F:2:21: queue.max_length: expected an integer, found \"lots\""
        ),
        (
            "policy: {subscriber_ranges: [10.0.0.0/8]}\nblock_log: {enabled: maybe}\n",
            "F:2:22: block_log.enabled: expected true or false, found \"maybe\""
        ),
        (
            "policy: {subscriber_ranges: [10.0.0.0/8], mode: enfroce}\n",
            "F:1:49: policy.mode: \"enfroce\" is not one of enforce, shadow (did you mean enforce?)"
        ),
        (
            "policy: {subscriber_ranges: [10.0.0.0/8], block_action: deny}\n",
            "F:1:57: policy.block_action: \"deny\" is not one of reject, drop"
        ),
        // Out-of-range values.
        (
            "policy: {subscriber_ranges: [10.0.0.0/8]}\nqueue: {numbers: [0, 65536]}\n",
            "F:2:22: queue.numbers[1]: queue number 65536 is out of range (0...65535)"
        ),
        (
            "policy: {subscriber_ranges: [10.0.0.0/8]}\nqueue: {max_length: 0}\n",
            "F:2:21: queue.max_length: 0 is out of range (1...4294967295)"
        ),
        (
            "policy: {subscriber_ranges: [10.0.0.0/8], ports: [25, 0]}\n",
            "F:1:55: policy.ports[1]: 0 is out of range (1...65535)"
        ),
        (
            "policy: {subscriber_ranges: [10.0.0.0/8], ports: [70000]}\n",
            "F:1:51: policy.ports[0]: 70000 is out of range (1...65535)"
        ),
        (
            "policy: {subscriber_ranges: [10.0.0.0/8], reject_mark: 0}\n",
            "F:1:56: policy.reject_mark: must not be 0: the kernel rejects packets whose mark has all reject_mark "
                + "bits set, which every packet satisfies for 0"
        ),
        (
            "policy: {subscriber_ranges: [10.0.0.0/8], reject_mark: 0x100000000}\n",
            "F:1:56: policy.reject_mark: 0x100000000 does not fit in 32 bits (1...0xffffffff)"
        ),
        (
            "policy: {subscriber_ranges: [10.0.0.0/8], reject_mark: 0x2g}\n",
            "F:1:56: policy.reject_mark: expected a 32-bit mark in hex (0x25) or decimal, found \"0x2g\""
        ),
        (
            "policy: {subscriber_ranges: [10.0.0.0/8]}\nqueue: {receive_buffer: 64MB}\n",
            "F:2:25: queue.receive_buffer: expected a size such as 64MiB (units B, KiB, MiB, GiB, TiB), found \"64MB\""
        ),
        (
            "policy: {subscriber_ranges: [10.0.0.0/8]}\nblock_log: {segment: 2h}\n",
            "F:2:22: block_log.segment: must be 1h or 1d (one segment file per hour or per day), found \"2h\""
        ),
        (
            "policy: {subscriber_ranges: [10.0.0.0/8]}\nblock_log: {flush_interval: 2m}\n",
            "F:2:29: block_log.flush_interval: 2m is out of range (1...60000 ms)"
        ),
        (
            "policy: {subscriber_ranges: [10.0.0.0/8]}\nblock_log: {max_memory: 1MiB}\n",
            "F:2:25: block_log.max_memory: 1MiB is out of range (4MiB...64GiB)"
        ),
        (
            "policy: {subscriber_ranges: [10.0.0.0/8]}\nblock_log: {checkpoint_interval: 2h}\n",
            "F:2:34: block_log.checkpoint_interval: 2h is out of range (1...3600000 ms)"
        ),
        (
            "policy: {subscriber_ranges: [10.0.0.0/8]}\nmetrics: {listen: localhost:9325}\n",
            "F:2:19: metrics.listen: \"localhost\" is not an IP address: unexpected character 'l' at position 1"
        ),
        // Duplicate queue numbers, also through a range.
        (
            "policy: {subscriber_ranges: [10.0.0.0/8]}\nqueue:\n  numbers: [0, 1, 1]\n",
            "F:3:19: queue.numbers[2]: queue number 1 is listed twice (also in queue.numbers[1])"
        ),
        (
            "policy: {subscriber_ranges: [10.0.0.0/8]}\nqueue:\n  numbers: [\"0-3\", 2]\n",
            "F:3:20: queue.numbers[1]: queue number 2 is listed twice (also in queue.numbers[0])"
        ),
        (
            "policy: {subscriber_ranges: [10.0.0.0/8]}\nqueue:\n  numbers: [0, 2]\n",
            "F:3:12: queue.numbers: queue numbers must form one contiguous range, because the kernel spreads SYNs "
                + "over first...last (nftables `queue num A-B`, iptables `--queue-balance A:B`); found 0, 2"
        ),
        // Empty or missing subscriber_ranges.
        (
            "policy:\n  subscriber_ranges: []\n",
            "F:2:22: policy.subscriber_ranges: at least one subscriber range is required (the SYNs to police "
                + "come from them)"
        ),
        (
            "policy:\n  mode: shadow\n",
            "F:2:3: policy.subscriber_ranges: required key is missing"
        ),
        (
            "node_name: x\n",
            "F:1:1: policy: required key is missing"
        ),
        (
            "# nothing but a comment\n",
            "F:1:1: the file holds no configuration; at least policy.subscriber_ranges is required"
        ),
        // Prefix problems.
        (
            "policy:\n  subscriber_ranges:\n    - 10.0.0.0/8\n    - 10.0.0.0/8\n",
            "F:4:7: policy.subscriber_ranges[1]: subscriber range 10.0.0.0/8 is listed twice (also "
                + "policy.subscriber_ranges[0])"
        ),
        (
            "policy:\n  subscriber_ranges: [10.0.0.0/33]\n",
            "F:2:23: policy.subscriber_ranges[0]: \"10.0.0.0/33\" is not an address or prefix: prefix length 33 is "
                + "greater than 32 for IPv4"
        ),
        (
            "policy:\n  subscriber_ranges: [\"::ffff:10.0.0.0/104\"]\n",
            "F:2:23: policy.subscriber_ranges[0]: ::ffff:10.0.0.0/104 is an IPv4-mapped IPv6 prefix; write it "
                + "as IPv4: 10.0.0.0/8"
        ),
        // Relay hosts.
        (
            "policy:\n  subscriber_ranges: [10.0.0.0/8]\n  relay_hosts: [{host: 192.0.2.1, ports: [587]}]\n",
            "F:3:43: policy.relay_hosts[0].ports[0]: port 587 is not a policed port (policy.ports: 25), so SYNs "
                + "to it are never queued"
        ),
        (
            "policy:\n  subscriber_ranges: [10.0.0.0/8]\n  relay_hosts: [{hots: 192.0.2.1}]\n",
            "F:3:18: policy.relay_hosts[0]: unknown key \"hots\" (did you mean host?)"
        ),
        // Exceptions.
        (
            exceptionA + """
                      destinations: any
                      reason: r
                    - id: a
                      customer: d
                      sources: [10.2.0.0/16]
                      destinations: any
                      reason: r
                """,
            "F:9:11: policy.exceptions[1].id: exception id \"a\" is already used by policy.exceptions[0]"
        ),
        (
            exceptionA + """
                      destinations: any
                      reason: r
                      expires_at: 2026-13-01T00:00:00Z
                """,
            "F:9:19: policy.exceptions[0].expires_at: \"2026-13-01T00:00:00Z\" is not an RFC 3339 time such as "
                + "2027-01-01T00:00:00Z: month 13 is out of range 1...12"
        ),
        (
            exceptionA + """
                      destinations: any
                      reason: r
                      not_before: 2027-01-01T00:00:00Z
                      expires_at: 2026-01-01T00:00:00Z
                """,
            "F:10:19: policy.exceptions[0].expires_at: 2026-01-01T00:00:00Z is not after not_before "
                + "(2027-01-01T00:00:00Z), so the exception would never apply"
        ),
        (
            exceptionA + """
                      destinations: anny
                      reason: r
                """,
            "F:7:21: policy.exceptions[0].destinations: \"anny\" is neither any nor a prefix (did you mean any?)"
        ),
        (
            exceptionA + """
                      destinations: any
                """,
            "F:4:7: policy.exceptions[0].reason: required key is missing"
        ),
        (
            "policy:\n  subscriber_ranges: [10.0.0.0/8]\n  exceptions:\n    - {id: \"a b\", customer: c}\n",
            "F:4:12: policy.exceptions[0].id: \"a b\" contains \" \"; use letters, digits, '.', '_', '-' and ':'"
        ),
        // YAML syntax errors, with libyaml's position.
        (
            "policy:\n  subscriber_ranges: [10.0.0.0/8\nqueue: {}\n",
            "F:3:6: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence at 2:22)"
        ),
        (
            "policy:\n  subscriber_ranges: [10.0.0.0/8]\n   mode: shadow\n",
            "F:3:4: YAML syntax error: did not find expected key (while parsing a block mapping at 2:3)"
        ),
        (
            "policy:\n  subscriber_ranges: [10.0.0.0/8]\npolicy:\n  mode: shadow\n",
            "F:1:1: duplicate key \"policy\": each key may appear once in a mapping (this is the first occurrence)"
        ),
    ]

    @Test("every kind of error names file, line, column and key path", arguments: errorCases.indices)
    func errorPositions(_ index: Int) {
        let (yaml, expected) = Self.errorCases[index]
        #expect(configurationError(yaml, path: "F") == expected)
    }

    @Test("the code tells invalid YAML and a wrong value apart (an unreadable file: missingFile)")
    func errorCodes() {
        func error(_ yaml: String) -> ConfigurationError? {
            do {
                _ = try ConfigurationLoader.parse(yaml: yaml, path: "F")
                return nil
            } catch {
                return error
            }
        }
        #expect(error("policy:\n  subscriber_ranges: [10.0.0.0/8\nqueue: {}\n")?.code == .syntax)
        #expect(error("policy:\n  subscriber_ranges: [10.0.0.0/33]\n")?.code == .invalidValue)
        #expect(error("policy:\n  subscriber_ranges: [10.0.0.0/8]\n")?.code == nil)
    }

    @Test("an exception whose sources are outside every subscriber range is a warning, with its position")
    func warnings() throws {
        let yaml = """
            policy:
              subscriber_ranges: [100.64.0.0/10, 10.0.0.0/16]
              exceptions:
                - {id: a, customer: c, sources: [100.64.1.0/24, 203.0.113.0/29, 10.0.0.0/8], destinations: any,
                   reason: r}
            """
        let configuration = try ConfigurationLoader.parse(yaml: yaml, path: "w.yaml")
        #expect(
            configuration.warnings.map(\.description) == [
                "w.yaml:4:53: warning: policy.exceptions[0].sources[1]: 203.0.113.0/29 is outside every subscriber "
                    + "range: SYNs from it are never queued, so this exception has no effect"
            ])
        let clean = try ConfigurationLoader.load(path: packageRoot + "/deploy/egress25.yaml")
        #expect(clean.warnings.isEmpty)
    }

    @Test("the error description is FILE:LINE:COL: MESSAGE, with the path as given")
    func errorDescription() {
        #expect(
            configurationError("policy:\n  subscriber_ranges: [100.64.0.1/10]\n")
                == "/etc/egress25/egress25.yaml:2:23: policy.subscriber_ranges[0]: 100.64.0.1/10 has host bits "
                + "set (did you mean 100.64.0.0/10?)")
        #expect(ConfigurationError(file: "f", line: nil, column: nil, message: "m").description == "f: m")
    }
}

@Suite("ConfigurationLoader sessions")
struct ConfigurationSessionsTests {
    static let base = "policy: { subscriber_ranges: [100.64.0.0/10] }\n"

    @Test func defaultsAndExplicitValues() throws {
        let defaults = try ConfigurationLoader.parse(yaml: Self.base, path: "t.yaml").sessions
        #expect(defaults == SessionSettings(leaseSeconds: 93_600, maxPrefixIPv4: 24, maxPrefixIPv6: 48))
        let set = try ConfigurationLoader.parse(
            yaml: Self.base + "sessions: { lease: 2s, max_prefix: { ipv4: 22, ipv6: 56 } }\n", path: "t.yaml"
        ).sessions
        #expect(set == SessionSettings(leaseSeconds: 2, maxPrefixIPv4: 22, maxPrefixIPv6: 56))
    }

    @Test func badValuesNameTheKey() throws {
        for (yaml, message) in [
            ("sessions: { lease: 0s }\n", "sessions.lease: 0s is out of range"),
            ("sessions: { max_prefix: { ipv4: 33 } }\n", "sessions.max_prefix.ipv4: 33 is out of range"),
            ("sessions: { leas: 2h }\n", "unknown key \"leas\""),
        ] {
            let error = #expect(throws: ConfigurationError.self) {
                try ConfigurationLoader.parse(yaml: Self.base + yaml, path: "t.yaml")
            }
            #expect(error.map { "\($0)".contains(message) } == true, "\(String(describing: error))")
        }
    }
}
