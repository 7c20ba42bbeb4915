import Egress25TestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

// Helpers for the crafted-packet, foreign-mark and operations-prober suites: the packet corpus
// (Scripts/craft.py), the continuous prober (Scripts/prober.py), and the systemd units' Exec* lines run the way
// systemd runs them, inside the router namespace.

// MARK: - Router namespace commands

extension Topology {
    /// ARGS run inside the router namespace.
    @discardableResult
    func inRouter(_ arguments: [String], timeout: Double = 60) throws -> CommandResult {
        try run(["ip", "netns", "exec", rtr] + arguments, timeout: timeout)
    }

    /// ARGS run inside the router namespace; must exit 0.
    @discardableResult
    func inRouterSucceeding(_ arguments: [String]) throws -> String {
        let result = try inRouter(arguments)
        guard result.status == 0 else {
            throw TopologyError(
                "\(arguments.joined(separator: " ")) exited \(result.status): \(result.error) \(result.output)")
        }
        return result.output
    }

    /// The router's kernel rules as text, without counters and comments: iptables-save, ip6tables-save, ipset
    /// save and the nftables tables that are not iptables-nft's own. Equal snapshots = the same rules.
    func kernelRulesSnapshot() throws -> String {
        var parts: [String] = []
        for command in [["iptables-save"], ["ip6tables-save"], ["ipset", "save"]] {
            let output = try inRouter(command).output
            let lines = output.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line -> String in
                // ":FORWARD ACCEPT [12:345]" -> ":FORWARD ACCEPT"
                if line.hasPrefix(":"), let bracket = line.lastIndex(of: "[") {
                    return String(line[..<bracket]).trimmingCharacters(in: .whitespaces)
                }
                return String(line)
            }
            parts.append("== \(command.joined(separator: " "))\n" + lines.joined(separator: "\n"))
        }
        let tables = try inRouter(["nft", "list", "tables"]).output.split(separator: "\n")
        for table in tables where table.contains("egress25") {
            let words = table.split(separator: " ").map(String.init)  // "table inet egress25"
            if words.count == 3 {
                parts.append(try inRouter(["nft", "list", "table", words[1], words[2]]).output)
            }
        }
        return parts.joined(separator: "\n")
    }

    /// Whether the router's netfilter rules mention egress25 at all (iptables chains, ipsets or an nft table).
    func egress25RulesPresent() throws -> Bool {
        let snapshot = try kernelRulesSnapshot()
        return snapshot.contains("EGRESS25") || snapshot.contains("egress25")
    }
}

// MARK: - The crafted packet corpus

/// One line of `craft.py`: the case and what came back from the MX (answered, reset, silent; or error ERRNO).
struct CraftedOutcome: CustomStringConvertible {
    var name: String
    var outcome: String
    var description: String { "\(name)=\(outcome)" }
    var isControl: Bool { name.hasPrefix("control_") }
}

enum CraftedCorpus {
    /// Every case in corpus order, with what an unfiltered Linux MX does with it (`answered` or `silent`).
    static func list() throws -> [(name: String, unfiltered: String)] {
        let result = try run(["python3", EndToEnd.scripts + "/craft.py", "--list"])
        guard result.status == 0 else { throw TopologyError("craft.py --list: \(result.error)") }
        return result.output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count == 4, fields[0] == "LIST", fields[3].hasPrefix("unfiltered=") else { return nil }
            return (fields[1], String(fields[3].dropFirst("unfiltered=".count)))
        }
    }
}

extension Topology {
    /// Runs the corpus (or the cases in `only`) from the subscriber namespace; one outcome per case, in order.
    func craft(wait: Double = 0.6, only: [String] = [], basePort: Int? = nil) throws -> [CraftedOutcome] {
        var arguments = [
            "ip", "netns", "exec", sub, "python3", EndToEnd.scripts + "/craft.py",
            "--wait", "\(wait)", "--max-seconds", "150", "--interface", prefix + "s0",
        ]
        if !only.isEmpty { arguments += ["--only", only.joined(separator: ",")] }
        if let basePort { arguments += ["--base-port", "\(basePort)"] }
        let result = try run(arguments, timeout: 200)
        guard result.status == 0 else {
            throw TopologyError("craft.py exited \(result.status): \(result.error) \(result.output)")
        }
        return result.output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", maxSplits: 2).map(String.init)
            guard fields.count >= 3, fields[0] == "CASE" else { return nil }
            return CraftedOutcome(name: fields[1], outcome: fields[2])
        }
    }
}

// MARK: - The continuous prober

/// `Scripts/prober.py` running in the subscriber namespace: a connect attempt to a non-relay MX every 10 ms
/// (IPv4 and IPv6 in turn) until ``stop()``.
final class ContinuousProber {
    struct Result: CustomStringConvertible {
        var attempts = 0
        var connected = 0
        var refused = 0
        var timeout = 0
        var error = 0
        /// "success <attempt start> <connected at> <target>" lines.
        var successes: [String] = []
        var description: String {
            "attempts=\(attempts) connected=\(connected) refused=\(refused) timeout=\(timeout) error=\(error)"
                + (successes.isEmpty ? "" : " first successes: \(successes.prefix(3).joined(separator: "; "))")
        }
    }

    private let process: Process
    private let outputPath: String
    private let stopPath: String
    private let started = Date()

    /// Starts the prober and waits (at most 10 s) until it has made its first attempt. `interval` and `timeout`
    /// (s): prober.py's `--interval` (one attempt every …) and `--timeout` (an attempt's limit); its defaults when nil.
    init(
        _ topology: Topology, targets: [String] = ["198.51.100.25:25", "[2001:db8:99::25]:25"],
        maxSeconds: Double = 120, interval: Double? = nil, timeout: Double? = nil
    ) throws {
        let tag = UUID().uuidString.prefix(8)
        outputPath = topology.directory + "/prober-\(tag).out"
        stopPath = topology.directory + "/prober-\(tag).stop"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            [
                "ip", "netns", "exec", topology.sub, "python3", EndToEnd.scripts + "/prober.py",
                "--stop", stopPath, "--max", "\(maxSeconds)",
            ] + (interval.map { ["--interval", "\($0)"] } ?? []) + (timeout.map { ["--timeout", "\($0)"] } ?? [])
            + targets
        process.standardOutput = FileHandle(forWritingAtPath: outputPath)
        process.standardError = FileHandle(forWritingAtPath: outputPath)
        try process.run()
        for _ in 0..<1000 {
            if output.hasPrefix("started") { return }
            if !process.isRunning { break }
            usleep(10_000)
        }
        kill()
        throw TopologyError("prober.py did not start: \(output)")
    }

    private var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// Stops the prober (stop file), waits for its pending attempts (at most 10 s) and parses its summary.
    func stop() throws -> Result {
        _ = FileManager.default.createFile(atPath: stopPath, contents: nil)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        kill()
        var result = Result()
        var summary = false
        for line in output.split(separator: "\n") {
            if line.hasPrefix("attempts=") {
                summary = true
                for field in line.split(separator: " ") {
                    let pair = field.split(separator: "=")
                    guard pair.count == 2, let value = Int(pair[1]) else { continue }
                    switch pair[0] {
                    case "attempts": result.attempts = value
                    case "connected": result.connected = value
                    case "refused": result.refused = value
                    case "timeout": result.timeout = value
                    case "error": result.error = value
                    default: break
                    }
                }
            } else if line.hasPrefix("success ") {
                result.successes.append(String(line))
            }
        }
        guard summary else { throw TopologyError("prober.py printed no summary: \(output)") }
        return result
    }

    /// Kills the prober if it still runs (for `defer`).
    func kill() {
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

// MARK: - systemd units (deploy/*.service), run as systemd runs them

/// A unit file from deploy/, read for its `Exec*` lines so that the tests follow the units when they change.
/// `EGRESS25_UNIT_DIR` overrides the directory (e.g. to run the tests against another revision's units).
struct SystemdUnit {
    static let directory =
        ProcessInfo.processInfo.environment["EGRESS25_UNIT_DIR"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy").path

    let name: String
    /// Key and value of every assignment in the [Service] section, in order (continuation lines joined).
    let assignments: [(key: String, value: String)]

    init(_ name: String) throws {
        self.name = name
        let text = try String(contentsOfFile: Self.directory + "/" + name, encoding: .utf8)
        var section = ""
        var assignments: [(String, String)] = []
        var pending = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = pending + raw.trimmingCharacters(in: .whitespaces)
            pending = ""
            if line.hasSuffix("\\") {
                line.removeLast()
                pending = line + " "
                continue
            }
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") { section = line; continue }
            guard section == "[Service]", let equals = line.firstIndex(of: "=") else { continue }
            assignments.append(
                (
                    String(line[..<equals]).trimmingCharacters(in: .whitespaces),
                    String(line[line.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
                ))
        }
        self.assignments = assignments
    }

    /// The values of KEY (e.g. "ExecStop"), with systemd's rule that an empty assignment clears the list.
    func values(_ key: String) -> [String] {
        var values: [String] = []
        for (name, value) in assignments where name == key {
            if value.isEmpty { values.removeAll() } else { values.append(value) }
        }
        return values
    }

    /// The last value of KEY, if any.
    func value(_ key: String) -> String? { values(key).last }
}

/// One `Exec*=` command line, translated for a topology.
struct UnitCommand: CustomStringConvertible {
    var line: String
    var arguments: [String]
    /// The line had systemd's "-" prefix: its failure is ignored.
    var ignoreFailure: Bool
    var description: String { line }
}

extension Topology {
    /// The commands of `unit`'s KEY lines, translated for this topology: the installed binaries
    /// (/usr/local/bin/egress25ctl, egress25d) become the built ones, /etc/egress25/egress25.yaml this
    /// topology's configuration, $MAINPID the daemon's pid; an egress25ctl command without `--config` gets
    /// this topology's (on a router its default path is that same file).
    func unitCommands(_ unit: SystemdUnit, _ key: String, mainPID: pid_t? = nil) -> [UnitCommand] {
        unit.values(key).map { line in
            var text = Substring(line)
            var ignoreFailure = false
            while let first = text.first, "-@:+!".contains(first) {
                if first == "-" { ignoreFailure = true }
                text = text.dropFirst()
            }
            var arguments = text.split(separator: " ", omittingEmptySubsequences: true).map { word -> String in
                var word = String(word)
                if word.hasPrefix("\""), word.hasSuffix("\""), word.count >= 2 {
                    word = String(word.dropFirst().dropLast())
                }
                for binary in ["egress25ctl", "egress25d"] where word == binary || word.hasSuffix("/" + binary) {
                    return EndToEnd.binaries + "/" + binary
                }
                word = word.replacingOccurrences(of: "/etc/egress25/egress25.yaml", with: configPath)
                if let mainPID {
                    word = word.replacingOccurrences(of: "${MAINPID}", with: "\(mainPID)")
                        .replacingOccurrences(of: "$MAINPID", with: "\(mainPID)")
                }
                return word
            }
            if arguments.first == EndToEnd.binaries + "/egress25ctl",
                !arguments.contains(where: { $0 == "--config" || $0.hasPrefix("--config=") })
            {
                arguments += ["--config", configPath]
            }
            return UnitCommand(line: line, arguments: arguments, ignoreFailure: ignoreFailure)
        }
    }

    /// Runs `unit`'s KEY commands in the router namespace as systemd does: in order, stopping at the first one
    /// that fails (unless its line has the "-" prefix). Returns whether they all succeeded, and what ran.
    @discardableResult
    func runUnit(
        _ unit: SystemdUnit, _ key: String, mainPID: pid_t? = nil
    ) throws
        -> (succeeded: Bool, log: String)
    {
        var log = ""
        for command in unitCommands(unit, key, mainPID: mainPID) {
            let result = try inRouter(command.arguments, timeout: 90)
            log += "\(unit.name) \(key)=\(command.line) -> exit \(result.status)\n"
            if !result.output.isEmpty { log += "  stdout: \(result.output)" }
            if !result.error.isEmpty { log += "  stderr: \(result.error)" }
            if result.status != 0 && !command.ignoreFailure { return (false, log) }
        }
        return (true, log)
    }

    /// `systemctl start egress25-rules`: its ExecStartPre and ExecStart lines.
    func startRulesUnit() throws -> (succeeded: Bool, log: String) {
        let unit = try SystemdUnit("egress25-rules.service")
        let pre = try runUnit(unit, "ExecStartPre")
        guard pre.succeeded else { return pre }
        let start = try runUnit(unit, "ExecStart")
        if !start.succeeded { _ = try runUnit(unit, "ExecStopPost") }
        return (start.succeeded, pre.log + start.log)
    }

    /// `systemctl stop egress25-rules`: its ExecStop lines, then ExecStopPost.
    func stopRulesUnit() throws -> (succeeded: Bool, log: String) {
        let unit = try SystemdUnit("egress25-rules.service")
        let stop = try runUnit(unit, "ExecStop")
        let post = try runUnit(unit, "ExecStopPost")
        return (stop.succeeded && post.succeeded, stop.log + post.log)
    }

    /// `systemctl start egress25d`: ExecStartPre lines, then the daemon (ExecStart, started by ``startDaemon``).
    @discardableResult
    func startDaemonUnit() throws -> String {
        let unit = try SystemdUnit("egress25d.service")
        let pre = try runUnit(unit, "ExecStartPre")
        guard pre.succeeded else { throw TopologyError("egress25d ExecStartPre failed: \(pre.log)") }
        let start = unitCommands(unit, "ExecStart")
        guard start.count == 1, start[0].arguments.first == EndToEnd.binaries + "/egress25d" else {
            throw TopologyError("egress25d.service ExecStart is not one egress25d line: \(start)")
        }
        // Extra arguments of the unit's ExecStart beyond `--config FILE` are passed on.
        var extra = Array(start[0].arguments.dropFirst())
        if let index = extra.firstIndex(of: "--config"), index + 1 < extra.count {
            extra.removeSubrange(index...index + 1)
        }
        try startDaemon(extraArguments: extra)
        return pre.log
    }

    /// `systemctl stop egress25d`: ExecStop lines (with $MAINPID), then the unit's KillSignal (SIGTERM unless
    /// set), waiting at most TimeoutStopSec (30 s unless set) before SIGKILL, as systemd does.
    func stopDaemonUnit() throws -> String {
        let unit = try SystemdUnit("egress25d.service")
        guard let daemon, daemon.isRunning else { return "not running" }
        daemonStoppedOnPurpose = true
        var log = try runUnit(unit, "ExecStop", mainPID: daemon.processIdentifier).log
        let signals: [String: Int32] = [
            "SIGTERM": SIGTERM, "SIGINT": SIGINT, "SIGQUIT": SIGQUIT, "SIGHUP": SIGHUP,
            "SIGKILL": SIGKILL, "SIGUSR1": SIGUSR1, "SIGUSR2": SIGUSR2,
        ]
        let signal = unit.value("KillSignal").flatMap { signals[$0.hasPrefix("SIG") ? $0 : "SIG" + $0] } ?? SIGTERM
        let timeout = unit.value("TimeoutStopSec").flatMap { Double($0.replacingOccurrences(of: "s", with: "")) } ?? 30
        if daemon.isRunning { kill(daemon.processIdentifier, signal) }
        let deadline = Date().addingTimeInterval(timeout)
        while daemon.isRunning && Date() < deadline { usleep(5_000) }
        if daemon.isRunning {
            log += "still running after TimeoutStopSec: SIGKILL\n"
            kill(daemon.processIdentifier, SIGKILL)
        }
        daemon.waitUntilExit()
        let post = try runUnit(unit, "ExecStopPost", mainPID: daemon.processIdentifier).log
        return log + post + "egress25d exited with status \(daemon.terminationStatus)\n"
    }

    /// `systemctl reload egress25d`: its ExecReload lines with $MAINPID.
    func reloadDaemonUnit() throws -> (succeeded: Bool, log: String) {
        let unit = try SystemdUnit("egress25d.service")
        guard let pid = daemonPID else { throw TopologyError("egress25d is not running") }
        return try runUnit(unit, "ExecReload", mainPID: pid)
    }

    /// Rewrites this topology's configuration file (atomically) with `transform` applied to its text.
    func editConfiguration(_ transform: (String) -> String) throws {
        let text = try String(contentsOfFile: configPath, encoding: .utf8)
        let changed = transform(text)
        guard changed != text else { throw TopologyError("the configuration edit changed nothing") }
        try changed.write(toFile: configPath, atomically: true, encoding: .utf8)
    }
}
