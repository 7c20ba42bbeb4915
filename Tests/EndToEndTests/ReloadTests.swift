import Egress25TestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Policy reloads on the real kernel path: SIGHUP storms under a SYN flood, invalid files, shadow mode.
@Suite(.serialized, .enabled(if: EndToEnd.enabled, EndToEnd.skipReason))
struct ReloadTests {
    /// Policy A allows 198.51.100.26:25 (a port-restricted relay, judged by the daemon); policy B does not.
    /// 198.51.100.25 is blocked by both.
    static let relaysA = "[192.0.2.25, 2001:db8:25::25, {host: 198.51.100.26, ports: [25]}]"
    static let relaysB = "[192.0.2.25, 2001:db8:25::25]"

    @Test func hundredReloadsPerSecondUnderAFloodKeepEveryVerdictConsistent() throws {
        let topology = try Topology()
        defer { topology.tearDown() }
        let fileA = topology.directory + "/policy-a.yaml"
        let fileB = topology.directory + "/policy-b.yaml"
        try topology.writeConfiguration(relays: Self.relaysA, to: fileA)
        try topology.writeConfiguration(relays: Self.relaysB, to: fileB)
        try topology.writeConfiguration(relays: Self.relaysA)
        try #require(try topology.ctl(["rules", "apply"]).status == 0)
        try topology.startDaemon()
        let pid = try #require(topology.daemonPID)
        let sequenceBefore = try #require(try topology.kernelQueue(0)).sequence

        // 10 s of SYNs at ~4,000/s alternating between the always-blocked and the sometimes-allowed host.
        let flood = Process()
        flood.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        flood.arguments = [
            "ip", "netns", "exec", topology.sub, "python3", EndToEnd.scripts + "/synflood.py",
            "100.64.0.10", "198.51.100.25,198.51.100.26", "25", "40000", "12", "4000",
        ]
        flood.standardOutput = FileHandle.nullDevice
        try flood.run()

        // 100 reloads per second for 10 s, alternating the two policies (atomic rename, then SIGHUP).
        let staging = topology.directory + "/staging.yaml"
        var healthChecks: [Int] = []
        let start = Date()
        for reload in 0..<1000 {
            unlink(staging)
            link(reload % 2 == 0 ? fileB : fileA, staging)
            rename(staging, topology.configPath)
            kill(pid, SIGHUP)
            if reload % 250 == 125 { healthChecks.append(try topology.http("healthz").status) }
            let due = start.addingTimeInterval(Double(reload + 1) / 100)
            let wait = due.timeIntervalSinceNow
            if wait > 0 { usleep(useconds_t(wait * 1_000_000)) }
        }
        flood.waitUntilExit()
        usleep(500_000)

        #expect(healthChecks.allSatisfy { $0 == 200 }, "responsive during the storm: \(healthChecks)")
        #expect(try topology.synsArrived(at: "198.51.100.25") == 0, "blocked by both policies, never let through")
        let queue = try #require(try topology.kernelQueue(0))
        let queued = Int(queue.sequence &- sequenceBefore)
        #expect(queued > 10_000, "the flood was queued: \(queued)")
        #expect(queue.dropped == 0 && queue.userDropped == 0 && queue.waiting == 0, "no SYN unjudged: \(queue)")
        let accepted = try #require(try topology.metric("egress25_verdicts_by_action_total", ["verdict": "accept"]))
        let blocked = try #require(try topology.metric("egress25_verdicts_by_action_total", ["verdict": "block"]))
        #expect(Int(accepted + blocked) == queued, "every queued SYN got exactly one verdict")
        // Accepted SYNs are exactly the relay decisions for 198.51.100.26 under policy A, and each reached it.
        let relayed = try #require(
            try topology.metric("egress25_verdicts_total", ["reason": "relay", "family": "ipv4"]))
        #expect(relayed == accepted)
        #expect(Double(try topology.synsArrived(at: "198.51.100.26")) == accepted)
        let reloads = try #require(try topology.metric("egress25_policy_reloads_total"))
        #expect(reloads >= 100, "reloads applied: \(reloads)")
        print(
            "measured: reload storm: \(Int(reloads)) snapshots published for 1000 SIGHUPs; \(queued) SYNs queued, "
                + "\(Int(accepted)) accepted, \(Int(blocked)) blocked, 0 dropped")
        #expect(try topology.metric("egress25_policy_reload_failures_total") == 0)
        #expect(try topology.probe("198.51.100.25", 25).outcome == .refused)
    }

    @Test func invalidConfigurationIsRejectedAndThePolicyStays() throws {
        let topology = try Topology()
        defer { topology.tearDown() }
        try topology.writeConfiguration(relays: Self.relaysA)
        try #require(try topology.ctl(["rules", "apply"]).status == 0)
        try topology.startDaemon()
        let pid = try #require(topology.daemonPID)
        #expect(try topology.probe("198.51.100.26", 25).outcome == .connected)

        // Line 6 of the written file: relay_hosts with host bits set.
        try topology.writeConfiguration(relays: "[192.0.2.25/24]")
        kill(pid, SIGHUP)
        usleep(500_000)
        #expect(topology.daemonOutput.contains("reload rejected, the policy in force stays"))
        #expect(topology.daemonOutput.contains("\(topology.configPath):6:"), "\(topology.daemonOutput)")
        #expect(try topology.metric("egress25_policy_reload_failures_total") == 1)
        #expect(try topology.metric("egress25_policy_last_reload_success") == 0)
        #expect(try topology.probe("198.51.100.26", 25).outcome == .connected, "old policy still in force")
        #expect(topology.daemon?.isRunning == true)

        try topology.writeConfiguration(relays: Self.relaysB)
        #expect(try topology.ctl(["reload"]).status == 0)
        usleep(500_000)
        #expect(try topology.metric("egress25_policy_generation") == 2)
        #expect(try topology.probe("198.51.100.26", 25).outcome == .refused, "new policy in force")
    }

    @Test func blockActionChangesOnReload() throws {
        let topology = try Topology()
        defer { topology.tearDown() }
        try topology.writeConfiguration(blockAction: "reject")
        try #require(try topology.ctl(["rules", "apply"]).status == 0)
        try topology.startDaemon()
        #expect(try topology.probe("198.51.100.25", 25).outcome == .refused)
        try topology.writeConfiguration(blockAction: "drop")
        #expect(try topology.ctl(["reload"]).status == 0)
        usleep(500_000)
        #expect(try topology.probe("198.51.100.25", 25, timeout: 1.5).outcome == .timeout, "drop after the reload")
        #expect(topology.daemonOutput.contains("block_action is now drop"))
        #expect(try topology.synsArrived(at: "198.51.100.25") == 0)
    }

    @Test func shadowModeAcceptsButCountsAndLogsWhatWouldBeBlocked() throws {
        let topology = try Topology()
        defer { topology.tearDown() }
        try topology.writeConfiguration(extra: "")
        var yaml = try String(contentsOfFile: topology.configPath, encoding: .utf8)
        yaml = yaml.replacingOccurrences(of: "policy:\n", with: "policy:\n  mode: shadow\n")
        try yaml.write(toFile: topology.configPath, atomically: true, encoding: .utf8)
        try #require(try topology.ctl(["rules", "apply"]).status == 0)
        try topology.startDaemon()
        #expect(try topology.probe("198.51.100.25", 25).outcome == .connected, "shadow mode lets it through")
        usleep(300_000)
        #expect(try topology.metric("egress25_shadow_would_block_total") == 1)
        #expect(
            try topology.metric("egress25_verdicts_total", ["reason": "blocked_no_exception", "family": "ipv4"]) == 1)
        let check = try topology.ctl(["check", "100.64.0.10", "198.51.100.25"])
        #expect(check.output.contains("shadow mode: would have been blocked"), "\(check.output)")
    }
}
