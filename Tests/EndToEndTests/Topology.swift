import Egress25TestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Whether the end-to-end suite can run: it needs root (network namespaces, NFQUEUE) and the tools.
enum EndToEnd {
    static let hasTools = ["/usr/sbin/ip", "/usr/sbin/iptables", "/usr/sbin/ipset", "/usr/bin/python3"]
        .allSatisfy {
            FileManager.default.isExecutableFile(atPath: $0)
                || FileManager.default.isExecutableFile(atPath: $0.replacingOccurrences(of: "/usr/sbin", with: "/sbin"))
        }
    static var enabled: Bool { TestEnvironment.isRoot && hasTools }
    static let skipReason: Comment =
        "end-to-end tests need root, iproute2, iptables, ipset and python3 (run as root, as CI does)"

    /// `$EGRESS25_TEST_RULES_BACKEND` (e.g. `nftables`): the `--backend` every ``Topology/withRouter`` applies the
    /// rules with, instead of the suite's own choice. scripts/test-nft-kernel.sh sets it inside its qemu guest (a
    /// stock Debian kernel, where the nftables `queue` expression exists); unset, nothing changes.
    static let rulesBackendOverride: String? = {
        let value = ProcessInfo.processInfo.environment["EGRESS25_TEST_RULES_BACKEND"] ?? ""
        return value.isEmpty ? nil : value
    }()

    /// Tests/EndToEndTests/Scripts in the source tree.
    static let scripts = testScripts

    /// The directory holding the built egress25d and egress25ctl: `$EGRESS25_BIN_DIR`, else next to the test bundle.
    static let binaries: String = {
        if let directory = ProcessInfo.processInfo.environment["EGRESS25_BIN_DIR"] { return directory }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("egress25d").path) {
                return url.path
            }
            url.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug").path
    }()
}

/// The outcome of one TCP connect from the subscriber namespace.
struct ProbeResult: CustomStringConvertible {
    enum Outcome: String { case connected, refused, timeout, error }
    var outcome: Outcome
    var milliseconds: Double
    var banner: String
    var description: String { "\(outcome.rawValue) after \(milliseconds) ms \(banner)" }
}

/// Subscriber, router and internet namespaces (``NamespaceTopology``, Scripts/topology.sh), SMTP listeners in
/// the internet namespace, a state directory, and an egress25d started in the router namespace.
/// Everything is torn down by ``tearDown()`` (call it in a `defer`, or use ``withRouter(_:)``).
final class Topology {
    let namespaces: NamespaceTopology
    var prefix: String { namespaces.prefix }
    var sub: String { namespaces.subscriber.name }
    var rtr: String { namespaces.router.name }
    var net: String { namespaces.internet.name }
    private let temporary: TemporaryDirectory
    var directory: String { temporary.path }
    private var listener: Process?
    private(set) var daemon: Process?
    private(set) var daemonLog: String

    /// The subscriber side's IPv4 /24 (`100.64.SUBNET.0/24`) and IPv6 /64; the subscriber holds `.10` and `::10`.
    var subscriberRanges: [String] {
        ["100.64.\(namespaces.subnet).0/24", "2001:db8:64\(String(format: "%02x", namespaces.subnet))::/64"]
    }
    /// The subscriber namespace's address in the IPv4 subscriber range, `100.64.SUBNET.10` (its default source).
    var subscriberAddress: String { "100.64.\(namespaces.subnet).10" }

    /// - Parameter subnet: 0-255, the subscriber side's 100.64.SUBNET.0/24 (see ``NamespaceTopology/init(subnet:)``).
    init(subnet: Int = 0) throws {
        temporary = TemporaryDirectory(prefix: "egress25-e2e")
        daemonLog = temporary.path + "/egress25d.log"
        do {
            try FileManager.default.createDirectory(
                atPath: temporary.path + "/state", withIntermediateDirectories: true)
            // As readable as a directory made with the default umask (the daemon's state directory lives here).
            chmod(temporary.path, 0o755)
            namespaces = try NamespaceTopology(subnet: subnet)
        } catch {
            temporary.cleanup()
            throw error
        }
        let listener = Process()
        listener.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        listener.arguments = [
            "ip", "netns", "exec", net, "python3", EndToEnd.scripts + "/smtpd.py",
            "192.0.2.25:25", "198.51.100.25:25", "198.51.100.26:25", "198.51.100.25:587",
            "[2001:db8:25::25]:25", "[2001:db8:99::25]:25", "[2001:db8:99::25]:587",
        ]
        listener.standardOutput = FileHandle.nullDevice
        try listener.run()
        self.listener = listener
        // Wait for the listener: a connect inside the internet namespace succeeds.
        for _ in 0..<100 {
            let probe = try run([
                "ip", "netns", "exec", net, "python3", EndToEnd.scripts + "/probe.py", "192.0.2.25", "25", "0.5",
            ])
            if probe.output.hasPrefix("connected") { return }
            usleep(50_000)
        }
        throw TopologyError("SMTP listener did not start")
    }

    func tearDown() {
        if let daemon, !daemon.isRunning, !daemonStoppedOnPurpose {
            Issue.record("egress25d died during the test (status \(daemon.terminationStatus)): \(daemonOutput)")
        }
        if let daemon, daemon.isRunning { kill(daemon.processIdentifier, SIGKILL); daemon.waitUntilExit() }
        if let listener, listener.isRunning { kill(listener.processIdentifier, SIGKILL); listener.waitUntilExit() }
        namespaces.tearDown()
        temporary.cleanup()
    }

    var configPath: String { directory + "/egress25.yaml" }

    /// Writes the daemon's configuration for this topology; `blockLog` is the `block_log:` mapping.
    func writeConfiguration(
        blockAction: String = "reject", failPolicy: String = "closed", maxLength: Int = 4096,
        queues: String = "[0]", relays: String = "[192.0.2.25, 2001:db8:25::25]",
        blockLog: String = "{ flush_interval: 250ms }", extra: String = "", to path: String? = nil
    ) throws {
        let yaml = """
            node_name: e2e-router
            state_directory: \(directory)/state
            queue: { numbers: \(queues), fail_policy: \(failPolicy), max_length: \(maxLength) }
            policy:
              subscriber_ranges: [\(subscriberRanges.joined(separator: ", "))]
              relay_hosts: \(relays)
              ports: [25]
              block_action: \(blockAction)
              reject_mark: 0x25
            block_log: \(blockLog)
            \(extra)
            """
        try yaml.write(toFile: path ?? configPath, atomically: true, encoding: .utf8)
    }

    /// The daemon's pid (the `ip netns exec` process execs egress25d).
    var daemonPID: pid_t? { daemon?.processIdentifier }

    /// GET http://127.0.0.1:9325/PATH inside the router namespace: (HTTP status, body).
    func http(_ path: String) throws -> (status: Int, body: String) {
        let script = """
            import sys, urllib.request, urllib.error
            try:
                r = urllib.request.urlopen("http://127.0.0.1:9325/\(path)", timeout=5)
                print(r.status); print(r.read().decode())
            except urllib.error.HTTPError as e:
                print(e.code); print(e.read().decode())
            """
        let result = try run(["ip", "netns", "exec", rtr, "python3", "-c", script])
        let lines = result.output.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = lines.first, let status = Int(first) else {
            throw TopologyError("GET /\(path) failed: \(result.output) \(result.error)")
        }
        return (status, lines.count > 1 ? String(lines[1]) : "")
    }

    /// The value of one Prometheus sample, e.g. `egress25_verdicts_total{family="ipv4",reason="relay"}`
    /// (labels in any order); nil when absent.
    func metric(_ name: String, _ labels: [String: String] = [:]) throws -> Double? {
        let body = try http("metrics").body
        for line in body.split(separator: "\n") where line.hasPrefix(name) && !line.hasPrefix("#") {
            let text = String(line)
            guard let space = text.lastIndex(of: " ") else { continue }
            let series = String(text[..<space])
            let seriesName = series.split(separator: "{").first.map(String.init) ?? series
            guard seriesName == name else { continue }
            let matches = labels.allSatisfy { series.contains("\($0.key)=\"\($0.value)\"") }
            if matches { return Double(text[text.index(after: space)...]) }
        }
        return nil
    }

    /// The kernel's counters for `queue` in the router namespace.
    func kernelQueue(
        _ queue: Int
    ) throws -> (portID: UInt32, waiting: Int, dropped: Int, userDropped: Int, sequence: UInt32)? {
        let text = try run(["ip", "netns", "exec", rtr, "cat", "/proc/net/netfilter/nfnetlink_queue"]).output
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ").compactMap { Int($0) }
            if fields.count >= 8, fields[0] == queue {
                return (UInt32(fields[1]), fields[2], fields[5], fields[6], UInt32(fields[7]))
            }
        }
        return nil
    }

    /// `egress25ctl ARGS --config <this topology's config>` run inside the router namespace.
    @discardableResult
    func ctl(_ arguments: [String]) throws -> CommandResult {
        try run(
            ["ip", "netns", "exec", rtr, EndToEnd.binaries + "/egress25ctl"] + arguments + ["--config", configPath])
    }

    /// Starts egress25d in the router namespace and waits until queue 0 is bound.
    func startDaemon(extraArguments: [String] = [], environment: [String: String] = [:]) throws {
        let process = Process()
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            ["ip", "netns", "exec", rtr, EndToEnd.binaries + "/egress25d", "--config", configPath]
            + extraArguments
        _ = FileManager.default.createFile(atPath: daemonLog, contents: nil)
        let output = FileHandle(forWritingAtPath: daemonLog)!
        process.standardOutput = output
        process.standardError = output
        try process.run()
        daemon = process
        for _ in 0..<200 {
            if try queueBound(0), (try? http("healthz").status) == 200 { return }
            if !process.isRunning { throw TopologyError("egress25d exited: \(daemonOutput)") }
            usleep(50_000)
        }
        throw TopologyError("egress25d did not bind queue 0 within 10 s: \(daemonOutput)")
    }

    /// Whether `queue` appears in the router namespace's /proc/net/netfilter/nfnetlink_queue.
    func queueBound(_ queue: Int) throws -> Bool {
        let text = try run(["ip", "netns", "exec", rtr, "cat", "/proc/net/netfilter/nfnetlink_queue"]).output
        return text.split(separator: "\n").contains { $0.split(separator: " ").first == Substring("\(queue)") }
    }

    /// Set when a test stops the daemon itself; otherwise a daemon that exited is reported as a failure.
    var daemonStoppedOnPurpose = false

    func killDaemon(signal: Int32 = SIGKILL) {
        daemonStoppedOnPurpose = true
        guard let daemon else { return }
        kill(daemon.processIdentifier, signal)
        daemon.waitUntilExit()
    }

    var daemonOutput: String { log(of: daemonLog) }

    /// One TCP connect from the subscriber namespace.
    func probe(_ host: String, _ port: Int, timeout: Double = 2, source: String? = nil) throws -> ProbeResult {
        var arguments = [
            "ip", "netns", "exec", sub, "python3", EndToEnd.scripts + "/probe.py", host, "\(port)", "\(timeout)",
        ]
        if let source { arguments.append(source) }
        let line = try run(arguments).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let fields = line.split(separator: " ", maxSplits: 2).map(String.init)
        guard fields.count >= 2, let outcome = ProbeResult.Outcome(rawValue: fields[0]), let ms = Double(fields[1])
        else {
            throw TopologyError("probe printed \(line)")
        }
        return ProbeResult(outcome: outcome, milliseconds: ms, banner: fields.count > 2 ? fields[2] : "")
    }

    /// Packets counted by the internet namespace's E25COUNT rule for `destination` (SYNs to :25 that arrived).
    func synsArrived(at destination: String) throws -> Int {
        let text = try run(["ip", "netns", "exec", net, "iptables", "-w", "-L", "E25COUNT", "-v", "-n", "-x"]).output
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count > 8, fields[8] == Substring(destination) || fields.contains(Substring(destination)),
                let packets = Int(fields[0])
            {
                return packets
            }
        }
        throw TopologyError("no counter for \(destination) in: \(text)")
    }

    private func log(of path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }
}

extension Topology {
    /// The usual set-up of a suite: a topology with this configuration (see ``writeConfiguration``),
    /// `egress25ctl rules apply [--backend BACKEND]` (which must succeed; ``EndToEnd/rulesBackendOverride`` wins over
    /// `backend` when set), `prepare` (e.g. customers and sessions),
    /// egress25d started (unless `startDaemon` is false); then `body`; then everything is torn down.
    static func withRouter(
        blockAction: String = "reject", failPolicy: String = "closed", maxLength: Int = 4096, queues: String = "[0]",
        relays: String = "[192.0.2.25, 2001:db8:25::25]", extra: String = "", backend: String? = nil,
        daemonArguments: [String] = [], startDaemon: Bool = true,
        prepare: (Topology) throws -> Void = { _ in }, _ body: (Topology) throws -> Void
    ) throws {
        let topology = try Topology()
        defer { topology.tearDown() }
        try topology.writeConfiguration(
            blockAction: blockAction, failPolicy: failPolicy, maxLength: maxLength, queues: queues, relays: relays,
            extra: extra)
        let chosen = EndToEnd.rulesBackendOverride ?? backend
        let rules = try topology.ctl(["rules", "apply"] + (chosen.map { ["--backend", $0] } ?? []))
        try #require(rules.status == 0, "rules apply failed: \(rules.output) \(rules.error)")
        try prepare(topology)
        if startDaemon { try topology.startDaemon(extraArguments: daemonArguments) }
        try body(topology)
    }
}

struct TopologyError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Helpers for the live exception and block-log suites

extension Topology {
    /// `egress25ctl ARGS`, which must exit 0; its standard output.
    @discardableResult
    func ctlSucceeding(_ arguments: [String]) throws -> String {
        let result = try ctl(arguments)
        guard result.status == 0 else {
            throw TopologyError(
                "egress25ctl \(arguments.joined(separator: " ")) exited \(result.status): "
                    + "\(result.error) \(result.output)")
        }
        return result.output
    }

    /// `egress25ctl ARGS` (which must exit 0 and print JSON) parsed with JSONSerialization.
    func ctlJSON(_ arguments: [String]) throws -> Any {
        let output = try ctlSucceeding(arguments)
        do {
            return try JSONSerialization.jsonObject(with: Data(output.utf8))
        } catch {
            throw TopologyError("egress25ctl \(arguments.joined(separator: " ")) printed no JSON: \(output)")
        }
    }
}

/// UTC seconds as RFC 3339 ("2026-11-29T08:06:21Z").
func rfc3339(_ seconds: Int64) -> String {
    var time = time_t(seconds)
    var parts = tm()
    gmtime_r(&time, &parts)
    return String(
        format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
        Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
}

/// Sleeps until the wall clock reads `seconds` (UTC seconds since the epoch, fractional); at most 30 s.
func sleep(untilWallClock seconds: Double) {
    let wait = min(seconds - Date().timeIntervalSince1970, 30)
    if wait > 0 { usleep(useconds_t(wait * 1_000_000)) }
}

/// A running `Scripts/probeloop.py` in the subscriber namespace: connects to one host and port again and again
/// (every 20 ms) until the outcome changes to the one expected, so that how fast a policy change takes effect is
/// measured without the cost of starting a probe process each time.
extension Topology {
    /// Runs `change` while a prober connects to `host`:25 every 20 ms, expecting `before` first; returns the first
    /// outcome `after` (or the last one after 1 s) and the seconds from the start of the change to that connect.
    func measureChange(
        _ host: String, from before: ProbeResult.Outcome, to after: ProbeResult.Outcome, _ change: () throws -> Void
    ) throws -> (outcome: ProbeResult.Outcome, seconds: Double) {
        let prober = try LiveProber(self, host, 25, until: after)
        try #require(prober.first == before, "before the change: \(prober.first)")
        let started = Date().timeIntervalSince1970
        try change()
        let result = try prober.finish(deadline: started + 1.0)
        return (result.outcome, result.end - started)
    }
}

final class LiveProber {
    private let process: Process
    private let input: Pipe
    private let outputPath: String
    /// The outcome of the connect made before ``finish(deadline:)`` (the state before the change).
    let first: ProbeResult.Outcome

    /// Starts the prober and waits (at most 10 s) for its first connect.
    init(_ topology: Topology, _ host: String, _ port: Int, until expected: ProbeResult.Outcome) throws {
        outputPath = topology.directory + "/probeloop-\(UUID().uuidString.prefix(8)).out"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "ip", "netns", "exec", topology.sub, "python3", EndToEnd.scripts + "/probeloop.py",
            host, "\(port)", expected.rawValue,
        ]
        input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle(forWritingAtPath: outputPath)
        try process.run()
        var first: ProbeResult.Outcome?
        for _ in 0..<1000 where first == nil && process.isRunning {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first, line.hasPrefix("first ") {
                first = ProbeResult.Outcome(rawValue: String(line.dropFirst(6)))
            } else {
                usleep(10_000)
            }
        }
        guard let first else {
            kill(process.processIdentifier, SIGKILL)
            throw TopologyError("probeloop.py did not make its first connect")
        }
        self.first = first
    }

    /// Lets the prober run until the expected outcome or `deadline` (Unix time, s); waits for it (at most
    /// deadline + 5 s). Returns the last connect's outcome and its start and end (Unix time, s).
    func finish(deadline: Double) throws -> (outcome: ProbeResult.Outcome, start: Double, end: Double) {
        start(deadline: deadline)
        return try result(deadline: deadline)
    }

    /// Lets the prober run until the expected outcome or `deadline` (Unix time, s); does not wait.
    func start(deadline: Double) {
        input.fileHandleForWriting.write(Data("\(deadline)\n".utf8))
    }

    /// Waits for the prober started with ``start(deadline:)`` (at most deadline + 5 s), as ``finish(deadline:)``.
    func result(deadline: Double) throws -> (outcome: ProbeResult.Outcome, start: Double, end: Double) {
        while process.isRunning && Date().timeIntervalSince1970 < deadline + 5 { usleep(5_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let fields = text.split(separator: "\n").last?.split(separator: " ").map(String.init) ?? []
        guard fields.count == 4, let outcome = ProbeResult.Outcome(rawValue: fields[0]),
            let start = Double(fields[1]), let end = Double(fields[2])
        else { throw TopologyError("probeloop.py printed \(text)") }
        return (outcome, start, end)
    }
}
