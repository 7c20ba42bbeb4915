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

    /// Edits by other tools that leave egress25's chains in place but open port 25 (found by a fresh tester):
    /// an ACCEPT before the filter jump, a relay added to or subscribers flushed from the sets, a rule deleted
    /// inside egress25's own chains. Each must turn /healthz red; a re-apply puts things right.
    @Test(arguments: [
        ["iptables", "-w", "-I", "FORWARD", "1", "-s", "100.64.0.0/10", "-j", "ACCEPT"],
        ["ipset", "add", "egress25-relays-v4", "198.51.100.25"],
        ["ipset", "flush", "egress25-subscribers-v4"],
        ["iptables", "-w", "-I", "EGRESS25-ENFORCE", "1", "-j", "RETURN"],
        ["ip6tables", "-w", "-t", "mangle", "-D", "EGRESS25-FIRSTFRAG", "-j", "DROP"],
    ])
    func editsThatOpenPort25AreNoticed(edit: [String]) throws {
        try withRouter { topology in
            try #require(try topology.http("healthz").status == 200)
            let result = try run(["ip", "netns", "exec", topology.rtr] + edit)
            try #require(result.status == 0, "\(edit): \(result.error)")
            let red = try eventually(within: 3) { try topology.http("healthz").status == 503 }
            #expect(red, "\(edit) went unnoticed")
            #expect(try topology.metric("egress25_kernel_rules_ok") == 0)
            let status = try topology.ctl(["rules", "status"])
            #expect(status.status == 1, "\(edit): rules status \(status.output)")
            try #require(try topology.ctl(["rules", "apply"]).status == 0)
            #expect(try eventually(within: 3) { try topology.http("healthz").status == 200 }, "\(edit)")
            #expect(try topology.probe("198.51.100.25", 25).outcome == .refused, "\(edit)")
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
                [
                    "ip", "netns", "exec", topology.rtr, EndToEnd.binaries + "/egress25ctl", "rules", "apply",
                    "--config", changed,
                ])
            #expect(refused.status == 1)
            #expect(
                refused.error.contains("reject_mark 0x25/0x25, accept_mark 0x20")
                    && refused.error.contains("0x40000000"),
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
            #expect(
                topology.daemonOutput.contains("policy.reject_mark (0x25 -> 0x40000000) changed"),
                "\(topology.daemonOutput)")
            #expect(topology.daemonOutput.contains("needs a restart"))
            #expect(try topology.probe("198.51.100.25", 25).outcome == .refused)
        }
    }

    @Test func aBootWithABrokenFileFindsTheSavedRulesInItsStateDirectory() throws {
        let topology = try Topology()
        defer { topology.tearDown() }
        try topology.writeConfiguration()
        try #require(try topology.ctl(["rules", "apply"]).status == 0)
        try #require(try topology.ctl(["rules", "remove"]).status == 0)
        // The file is broken by an unknown key, but its state_directory (not the default) can still be read.
        let broken = topology.directory + "/typo.yaml"
        let text = try String(contentsOfFile: topology.configPath, encoding: .utf8) + "\nunknown_key: 1\n"
        try text.write(toFile: broken, atomically: true, encoding: .utf8)
        let result = try run(
            [
                "ip", "netns", "exec", topology.rtr, EndToEnd.binaries + "/egress25ctl", "rules", "apply",
                "--fail-closed", "--config", broken,
            ])
        #expect(result.status == 1)
        #expect(result.error.contains("last applied rules were installed again"), "\(result.error)")
        #expect(try topology.probe("192.0.2.25", 25).outcome == .connected, "relay open: the saved rules, not lockdown")
    }

    @Test func aTakenMetricsPortIsOneErrorLineAndJudgingGoesOn() throws {
        let topology = try Topology()
        defer { topology.tearDown() }
        try topology.writeConfiguration()
        try #require(try topology.ctl(["rules", "apply"]).status == 0)
        let squatter = Process()
        squatter.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        squatter.arguments = [
            "ip", "netns", "exec", topology.rtr, "python3", "-c",
            "import socket,time\ns=socket.socket(); s.bind(('127.0.0.1', 9325)); s.listen(); time.sleep(30)",
        ]
        try squatter.run()
        defer { squatter.terminate() }
        usleep(500_000)
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        daemon.arguments = [
            "ip", "netns", "exec", topology.rtr, EndToEnd.binaries + "/egress25d", "--config", topology.configPath,
        ]
        let log = topology.directory + "/squatted.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        daemon.standardError = FileHandle(forWritingAtPath: log)
        daemon.standardOutput = FileHandle(forWritingAtPath: log)
        try daemon.run()
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) }; daemon.waitUntilExit() }
        let logged = eventually(within: 5) {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains(
                "the metrics listener on 127.0.0.1:9325 failed")
        }
        #expect(logged, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        #expect(daemon.isRunning)
        #expect(try topology.probe("198.51.100.25", 25).outcome == .refused, "judging goes on")
    }

    @Test func aBootWithABrokenConfigurationKeepsPort25Closed() throws {
        let topology = try Topology()
        defer { topology.tearDown() }
        let (broken, saved, restore) = try Self.bootWithABrokenFile(topology)

        // First boot, nothing saved yet: the fallback closes port 25 to everyone, relays included.
        var result = try run(restore)
        #expect(result.status == 1)
        #expect(result.error.contains("broken.yaml:2"), "\(result.error)")
        #expect(result.error.contains("closed to everyone"), "\(result.error)")
        #expect(try topology.probe("198.51.100.25", 25).outcome == .timeout)
        #expect(try topology.probe("198.51.100.25", 587).outcome == .connected)

        // A good apply saves the rules; "reboot" (rules removed) with the broken file restores exactly them.
        try #require(try topology.ctl(["rules", "apply"]).status == 0)
        #expect(FileManager.default.fileExists(atPath: saved))
        try #require(try topology.ctl(["rules", "remove"]).status == 0)
        result = try run(restore)
        #expect(result.status == 1)
        #expect(result.error.contains("last applied rules were installed again"), "\(result.error)")
        #expect(try topology.ctl(["rules", "status"]).status == 0, "the restored rules are the saved ones")
        #expect(try topology.probe("192.0.2.25", 25).outcome == .connected, "relay")
        #expect(try topology.probe("198.51.100.25", 25).outcome == .timeout, "no daemon, fail closed")

        // With rules in place, a broken file changes nothing (no --fail-closed needed to keep them).
        result = try run(
            [
                "ip", "netns", "exec", topology.rtr, EndToEnd.binaries + "/egress25ctl", "rules", "apply",
                "--config", broken,
            ])
        #expect(result.status == 1)
        #expect(try topology.ctl(["rules", "status"]).status == 0)
    }

    @Test func savedRulesTheDaemonsUserCouldHaveWrittenAreNotRestored() throws {
        let topology = try Topology()
        defer { topology.tearDown() }
        let (_, saved, restore) = try Self.bootWithABrokenFile(topology)
        try #require(try topology.ctl(["rules", "apply"]).status == 0)
        try #require(try topology.ctl(["rules", "remove"]).status == 0)

        // The state directory belongs to egress25d's user, who can replace the file root saved (with relays
        // 0.0.0.0/0, say): a file owned by anyone else is refused, and port 25 is closed to everyone instead.
        let forged = topology.directory + "/state/forged.json"
        try FileManager.default.copyItem(atPath: saved, toPath: forged)
        try #require(chown(forged, 65534, 65534) == 0)
        try #require(rename(forged, saved) == 0)
        var result = try run(restore)
        #expect(result.status == 1)
        #expect(result.error.contains("owned by uid 65534"), "\(result.error)")
        #expect(result.error.contains("closed to everyone"), "\(result.error)")
        #expect(try topology.probe("192.0.2.25", 25).outcome == .timeout, "lockdown: relays closed too")
        #expect(try topology.probe("198.51.100.25", 587).outcome == .connected)

        // Writable by the group or others, or a symbolic link: refused as well.
        try #require(try topology.ctl(["rules", "remove"]).status == 0)
        try #require(chown(saved, 0, 0) == 0 && chmod(saved, 0o666) == 0)
        result = try run(restore)
        #expect(result.error.contains("writable by others"), "\(result.error)")
        try #require(try topology.ctl(["rules", "remove"]).status == 0)
        try #require(chmod(saved, 0o644) == 0)
        try FileManager.default.moveItem(atPath: saved, toPath: forged)
        try FileManager.default.createSymbolicLink(atPath: saved, withDestinationPath: forged)
        result = try run(restore)
        #expect(result.error.contains("not a regular file"), "\(result.error)")
    }

    /// Writes the topology's good configuration and a broken one (…/broken.yaml, rejected at line 2). Returns the
    /// broken file, where `rules apply` saves the rules it applied, and the command egress25-rules.service runs at
    /// boot with the broken file: `rules apply --fail-closed`.
    private static func bootWithABrokenFile(
        _ topology: Topology
    ) throws -> (
        broken: String, saved: String, restore: [String]
    ) {
        try topology.writeConfiguration()
        let broken = topology.directory + "/broken.yaml"
        try "policy:\n  subscriber_ranges: [100.64.0.0/33]\n".write(toFile: broken, atomically: true, encoding: .utf8)
        let saved = topology.directory + "/state/kernel-rules.last.json"
        let restore = [
            "ip", "netns", "exec", topology.rtr, EndToEnd.binaries + "/egress25ctl", "rules", "apply",
            "--fail-closed", "--last-applied", saved, "--config", broken,
        ]
        return (broken, saved, restore)
    }
}
