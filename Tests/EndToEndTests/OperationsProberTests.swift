import Egress25TestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// "Operations never open port 25" (issue 10): a continuous prober (Scripts/prober.py: one connect attempt to a
/// non-relay MX every 10 ms, IPv4 and IPv6 in turn) runs while each documented operation is performed the way
/// systemd performs it: the `Exec*` lines are read from deploy/egress25-rules.service and deploy/egress25d.service,
/// so the tests follow the units. fail_policy is closed throughout. The number of successful connects must be 0.
@Suite(.serialized, .enabled(if: EndToEnd.enabled, EndToEnd.skipReason))
struct OperationsProberTests {
    enum Operation: String, CaseIterable, CustomTestStringConvertible {
        /// `systemctl reload egress25-rules`: ExecReload.
        case rulesReload
        /// `systemctl restart egress25-rules`: ExecStop, then ExecStart.
        case rulesRestart
        /// `systemctl stop egress25-rules`, a second later `systemctl start egress25-rules`.
        case rulesStopThenStart
        /// A failed apply (`systemctl reload egress25-rules` after a typo in the configuration): the apply must
        /// fail and the previous rules stay, unchanged.
        case failedApply
        /// `systemctl restart egress25-rules` after a typo in the configuration: the start fails, port 25 must
        /// stay closed (the previous rules stay).
        case rulesRestartWithABadConfiguration
        /// `systemctl restart egress25d`: SIGTERM (the unit's KillSignal), ExecStartPre, ExecStart.
        case daemonRestart
        /// `systemctl reload egress25d`: ExecReload (SIGHUP).
        case daemonReload
        /// `systemctl reload egress25d` after changing reject_mark 0x25 -> 0x40: the daemon must refuse the
        /// change (saying a restart is needed) and keep the old mark, which the kernel rules match.
        case daemonReloadChangingRejectMark
        /// reject_mark 0x25 -> 0x40 the way the deploy comments used to describe it: `systemctl reload egress25d`,
        /// then `systemctl restart egress25-rules`. The daemon keeps its mark until restarted, so the rules must
        /// keep matching it (`rules apply` refuses a mark that differs from the running daemon's, issue 10).
        case rejectMarkChangedThenRulesRestarted

        var testDescription: String { rawValue }

        /// The operations the test runs: all, or those named in `$EGRESS25_TEST_PROBER_OPERATIONS` (comma-separated
        /// raw values; scripts/test-nft-kernel.sh runs a few under qemu, where each one costs seconds).
        static var selected: [Operation] {
            let names = ProcessInfo.processInfo.environment["EGRESS25_TEST_PROBER_OPERATIONS"] ?? ""
            guard !names.isEmpty else { return allCases }
            return names.split(separator: ",").compactMap { Operation(rawValue: String($0)) }
        }
    }

    /// An invalid configuration: the block_action key misspelt (an unknown key is an error).
    private static func typo(_ text: String) -> String {
        text.replacingOccurrences(of: "block_action: reject", with: "block_acton: reject")
    }

    /// Topology, configuration (reject, fail_policy closed), the rules unit started and egress25d started the
    /// way systemd starts them; a blocked SYN is refused before the body runs.
    private func withUnits(_ body: (Topology) throws -> Void) throws {
        let topology = try Topology()
        defer { topology.tearDown() }
        try topology.writeConfiguration(blockAction: "reject", failPolicy: "closed")
        let rules = try topology.startRulesUnit()
        try #require(rules.succeeded, "egress25-rules start failed: \(rules.log)")
        try topology.startDaemonUnit()
        try #require(try topology.probe("198.51.100.25", 25).outcome == .refused, "blocked before the operation")
        try #require(try topology.probe("192.0.2.25", 25).outcome == .connected, "the relay connects")
        try body(topology)
    }

    @Test(arguments: Operation.selected)
    func noConnectToANonRelayMXDuring(_ operation: Operation) throws {
        try withUnits { topology in
            let prober = try ContinuousProber(topology)
            defer { prober.kill() }
            usleep(300_000)
            let began = Date()
            var log = ""
            // Checks made after the prober has stopped.
            var checkRulesPresent = false, checkHealth = false, checkReloaded = false, checkMarkRefused = false
            /// `systemctl reload egress25d`, which must succeed; its log.
            func reloadDaemon() throws -> String {
                let reload = try topology.reloadDaemonUnit()
                #expect(reload.succeeded, "egress25d ExecReload failed: \(reload.log)")
                return reload.log
            }
            func changeRejectMark() throws {
                try topology.editConfiguration {
                    $0.replacingOccurrences(of: "reject_mark: 0x25", with: "reject_mark: 0x40")
                }
            }
            switch operation {
            case .rulesReload:
                let reload = try topology.runUnit(try SystemdUnit("egress25-rules.service"), "ExecReload")
                log = reload.log
                #expect(reload.succeeded, "egress25-rules ExecReload failed: \(reload.log)")

            case .rulesRestart:
                let stop = try topology.stopRulesUnit()
                let start = try topology.startRulesUnit()
                log = stop.log + start.log
                #expect(start.succeeded, "egress25-rules ExecStart failed: \(start.log)")

            case .rulesStopThenStart:
                let stop = try topology.stopRulesUnit()
                usleep(1_000_000)
                let stopped = try topology.egress25RulesPresent()
                let start = try topology.startRulesUnit()
                log = stop.log + "rules present while stopped: \(stopped)\n" + start.log
                #expect(start.succeeded, "egress25-rules ExecStart failed: \(start.log)")

            case .failedApply:
                let before = try topology.kernelRulesSnapshot()
                try topology.editConfiguration(Self.typo)
                let reload = try topology.runUnit(try SystemdUnit("egress25-rules.service"), "ExecReload")
                log = reload.log
                #expect(!reload.succeeded, "an apply of an invalid configuration must fail: \(reload.log)")
                let afterRules = try topology.kernelRulesSnapshot()
                #expect(
                    afterRules == before,
                    "a failed apply changed the kernel rules:\nbefore:\n\(before)\nafter:\n\(afterRules)")

            case .rulesRestartWithABadConfiguration:
                try topology.editConfiguration(Self.typo)
                let stop = try topology.stopRulesUnit()
                let start = try topology.startRulesUnit()
                log = stop.log + start.log
                #expect(!start.succeeded, "a start with an invalid configuration must fail: \(start.log)")
                checkRulesPresent = true

            case .daemonRestart:
                log = try topology.stopDaemonUnit()
                log += try topology.startDaemonUnit()
                checkHealth = true

            case .daemonReload:
                log = try reloadDaemon()
                usleep(1_000_000)
                checkHealth = true
                checkReloaded = true

            case .daemonReloadChangingRejectMark:
                try changeRejectMark()
                log = try reloadDaemon()
                usleep(1_500_000)
                checkHealth = true
                checkMarkRefused = true

            case .rejectMarkChangedThenRulesRestarted:
                try changeRejectMark()
                let reload = try topology.reloadDaemonUnit()
                usleep(500_000)
                let stop = try topology.stopRulesUnit()
                let start = try topology.startRulesUnit()
                log = reload.log + stop.log + start.log
                usleep(500_000)
                checkHealth = true
            }
            let operationSeconds = Date().timeIntervalSince(began)
            usleep(500_000)
            let result = try prober.stop()
            let commands = log.split(separator: "\n").filter { $0.contains(" -> exit ") }.joined(separator: "; ")
            print(
                "measured: prober during \(operation.rawValue) (operation took \(Int(operationSeconds * 1000)) ms): "
                    + "\(result); ran: \(commands)")
            #expect(result.attempts >= 30, "the prober ran: \(result)")
            #expect(
                result.connected == 0,
                "\(operation.rawValue): \(result.connected) connects to a non-relay MX: \(result)\n\(log)")
            // Afterwards port 25 is still blocked, and the relay still reachable.
            let blocked = try topology.probe("198.51.100.25", 25)
            #expect(
                blocked.outcome == .refused, "\(operation.rawValue): afterwards a SYN to the MX: \(blocked)\n\(log)")
            #expect(try topology.probe("192.0.2.25", 25).outcome == .connected, "the relay connects afterwards")
            if checkRulesPresent {
                #expect(try topology.egress25RulesPresent(), "the previous rules must stay after a failed start")
            }
            if checkHealth { #expect(try topology.http("healthz").status == 200) }
            if checkReloaded {
                #expect(try topology.metric("egress25_policy_reloads_total") ?? 0 >= 1, "the reload was applied")
            }
            if checkMarkRefused {
                let output = topology.daemonOutput
                let refusal = output.split(separator: "\n").filter {
                    $0.contains("reject_mark") && $0.lowercased().contains("restart")
                }
                #expect(!refusal.isEmpty, "the daemon says the reject_mark change needs a restart: \(output)")
            }
        }
    }

    /// Boot (`systemctl start egress25-rules egress25d` on a router without egress25 rules): once the rules unit
    /// has started, nothing connects, before the daemon has bound its queue (fail_policy closed) and after.
    @Test func startingTheUnitsNeverOpensPort25() throws {
        let topology = try Topology()
        defer { topology.tearDown() }
        try topology.writeConfiguration(blockAction: "reject", failPolicy: "closed")
        let rules = try topology.startRulesUnit()
        try #require(rules.succeeded, "egress25-rules start failed: \(rules.log)")
        let prober = try ContinuousProber(topology)
        defer { prober.kill() }
        usleep(500_000)
        try topology.startDaemonUnit()
        usleep(500_000)
        let result = try prober.stop()
        print("measured: prober while the units start: \(result)")
        #expect(result.attempts >= 30, "the prober ran: \(result)")
        #expect(result.connected == 0, "port 25 open while the units start: \(result)\n\(rules.log)")
        #expect(try topology.probe("198.51.100.25", 25).outcome == .refused)
    }

    /// A bad configuration at boot: the rules unit starts (ExecStartPre, ExecStart) on a router without any
    /// egress25 rules and an invalid configuration. The start fails, and port 25 to non-relay hosts must still
    /// be closed afterwards (the daemon cannot start either: its ExecStartPre checks the same file).
    @Test func aBadConfigurationAtBootLeavesPort25Closed() throws {
        let topology = try Topology()
        defer { topology.tearDown() }
        try topology.writeConfiguration(blockAction: "reject", failPolicy: "closed")
        try topology.editConfiguration(Self.typo)
        try #require(try topology.probe("198.51.100.25", 25).outcome == .connected, "before boot nothing filters")
        let start = try topology.startRulesUnit()
        #expect(!start.succeeded, "the rules unit must fail on an invalid configuration: \(start.log)")
        #expect(throws: (any Error).self, "egress25d's ExecStartPre must refuse the configuration") {
            try topology.startDaemonUnit()
        }
        let prober = try ContinuousProber(topology)
        defer { prober.kill() }
        usleep(1_000_000)
        let result = try prober.stop()
        print("measured: prober after a boot with a bad configuration: \(result)\n\(start.log)")
        #expect(result.attempts >= 30, "the prober ran: \(result)")
        #expect(result.connected == 0, "port 25 open after a boot with a bad configuration: \(result)\n\(start.log)")
    }

    /// The harness itself: the prober sees connects when they succeed (to the relay, which the kernel accepts).
    @Test func theProberCountsConnectsToTheRelay() throws {
        try withUnits { topology in
            let prober = try ContinuousProber(topology, targets: ["192.0.2.25:25", "[2001:db8:25::25]:25"])
            defer { prober.kill() }
            usleep(500_000)
            let result = try prober.stop()
            print("measured: prober against the relays: \(result)")
            #expect(result.attempts >= 20 && result.connected == result.attempts, "\(result)")
        }
    }
}
