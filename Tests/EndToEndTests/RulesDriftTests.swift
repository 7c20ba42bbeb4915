import Egress25TestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's check of the kernel rules it depends on (rules drift), and the guards against installing
/// rules, or reloading a policy, that the running daemon cannot serve. Real rules, real egress25d.
@Suite(.serialized, .enabled(if: EndToEnd.enabled, EndToEnd.skipReason))
struct RulesDriftTests {
    private func withRouter(reapply: Bool = false, _ body: (Topology) throws -> Void) throws {
        try Topology.withRouter(extra: "rules: { reapply: \(reapply), check_interval: 500ms }", body)
    }

    /// Polls `condition` every 100 ms for at most `seconds`.
    private func eventually(within seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if try condition() { return true }
            usleep(100_000)
        } while Date() < deadline
        return false
    }

    @Test func removedRulesTurnHealthRedWithAReasonAndComeBackAfterApply() throws {
        try withRouter { topology in
            #expect(try topology.metric("egress25_kernel_rules_ok") == 1)
            #expect(try topology.ctl(["rules", "status"]).status == 0)
            // Another tool (or an operator) removes egress25's rules: port 25 is open now, and the daemon says so.
            try #require(try topology.ctl(["rules", "remove"]).status == 0)
            #expect(try topology.probe("198.51.100.25", 25).outcome == .connected, "sanity: without rules it is open")
            let red = try eventually(within: 3) { try topology.http("healthz").status == 503 }
            #expect(red, "healthz still 200 after the rules were removed")
            let health = try topology.http("healthz")
            #expect(health.body.contains("kernel rules"), "\(health.body)")
            #expect(try topology.metric("egress25_kernel_rules_ok") == 0)
            #expect(topology.daemonOutput.contains("port 25 may be open"), "\(topology.daemonOutput)")
            let status = try topology.ctl(["rules", "status"])
            #expect(status.status == 1, "\(status.output) \(status.error)")

            try #require(try topology.ctl(["rules", "apply"]).status == 0)
            #expect(try eventually(within: 3) { try topology.http("healthz").status == 200 })
            #expect(try topology.metric("egress25_kernel_rules_ok") == 1)
            #expect(try topology.probe("198.51.100.25", 25).outcome == .refused)
        }
    }

    @Test func reapplyPutsRemovedRulesBackWithinSeconds() throws {
        try withRouter(reapply: true) { topology in
            try #require(try topology.ctl(["rules", "remove"]).status == 0)
            let back = try eventually(within: 5) { try topology.ctl(["rules", "status"]).status == 0 }
            #expect(back, "rules not re-applied: \(topology.daemonOutput)")
            #expect(try topology.probe("198.51.100.25", 25).outcome == .refused)
            #expect(try topology.metric("egress25_kernel_rules_reapplied_total") ?? 0 >= 1)
            #expect(try topology.http("healthz").status == 200)
        }
    }

    @Test func applyRefusesAMarkTheRunningDaemonDoesNotWrite() throws {
        try withRouter { topology in
            let changed = topology.directory + "/changed-mark.yaml"
            try topology.writeConfiguration(to: changed)
            let text = try String(contentsOfFile: changed, encoding: .utf8)
                .replacingOccurrences(of: "reject_mark: 0x25", with: "reject_mark: 0x40000000")
            try text.write(toFile: changed, atomically: true, encoding: .utf8)
            let refused = try run(
                ["ip", "netns", "exec", topology.rtr, EndToEnd.binaries + "/egress25ctl", "rules", "apply",
                 "--config", changed])
            #expect(refused.status == 1)
            #expect(refused.error.contains("reject_mark 0x25/0x25, accept_mark 0x20") && refused.error.contains("0x40000000"),
                    "\(refused.error)")
            // Nothing changed: blocked SYNs are still reset, and the rules still match the daemon.
            #expect(try topology.probe("198.51.100.25", 25).outcome == .refused)
            #expect(try topology.ctl(["rules", "status"]).status == 0)

            // A reload with the new mark is refused as a whole; the old mark and policy stay in force.
            try text.write(toFile: topology.configPath, atomically: true, encoding: .utf8)
            let failuresBefore = try topology.metric("egress25_policy_reload_failures_total") ?? 0
            kill(try #require(topology.daemonPID), SIGHUP)
            let refusedReload = try eventually(within: 3) {
                (try topology.metric("egress25_policy_reload_failures_total") ?? 0) > failuresBefore
            }
            #expect(refusedReload)
            #expect(topology.daemonOutput.contains("policy.reject_mark (0x25 -> 0x40000000) changed"),
                    "\(topology.daemonOutput)")
            #expect(topology.daemonOutput.contains("needs a restart"))
            #expect(try topology.probe("198.51.100.25", 25).outcome == .refused)
        }
    }

    @Test func aBootWithABrokenConfigurationKeepsPort25Closed() throws {
        let topology = try Topology()
        defer { topology.tearDown() }
        try topology.writeConfiguration()
        let broken = topology.directory + "/broken.yaml"
        try "policy:\n  subscriber_ranges: [100.64.0.0/33]\n".write(toFile: broken, atomically: true, encoding: .utf8)
        let saved = topology.directory + "/state/kernel-rules.last.json"

        // First boot, nothing saved yet: the fallback closes port 25 to everyone, relays included.
        var result = try run(
            ["ip", "netns", "exec", topology.rtr, EndToEnd.binaries + "/egress25ctl", "rules", "apply",
             "--fail-closed", "--last-applied", saved, "--config", broken])
        #expect(result.status == 1)
        #expect(result.error.contains("broken.yaml:2"), "\(result.error)")
        #expect(result.error.contains("closed to everyone"), "\(result.error)")
        #expect(try topology.probe("198.51.100.25", 25).outcome == .timeout)
        #expect(try topology.probe("198.51.100.25", 587).outcome == .connected)

        // A good apply saves the rules; "reboot" (rules removed) with the broken file restores exactly them.
        try #require(try topology.ctl(["rules", "apply"]).status == 0)
        #expect(FileManager.default.fileExists(atPath: saved))
        try #require(try topology.ctl(["rules", "remove"]).status == 0)
        result = try run(
            ["ip", "netns", "exec", topology.rtr, EndToEnd.binaries + "/egress25ctl", "rules", "apply",
             "--fail-closed", "--last-applied", saved, "--config", broken])
        #expect(result.status == 1)
        #expect(result.error.contains("last applied rules were installed again"), "\(result.error)")
        #expect(try topology.ctl(["rules", "status"]).status == 0, "the restored rules are the saved ones")
        #expect(try topology.probe("192.0.2.25", 25).outcome == .connected, "relay")
        #expect(try topology.probe("198.51.100.25", 25).outcome == .timeout, "no daemon, fail closed")

        // With rules in place, a broken file changes nothing (no --fail-closed needed to keep them).
        result = try run(
            ["ip", "netns", "exec", topology.rtr, EndToEnd.binaries + "/egress25ctl", "rules", "apply",
             "--config", broken])
        #expect(result.status == 1)
        #expect(try topology.ctl(["rules", "status"]).status == 0)
    }
}
