import Egress25TestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Operations (multi-queue, watchdog, metrics, signals, least privilege) on the real kernel path.
@Suite(.serialized, .enabled(if: EndToEnd.enabled, EndToEnd.skipReason))
struct OperationsTests {
    private func withRouter(
        failPolicy: String = "closed", maxLength: Int = 4096, queues: String = "[0]",
        relays: String = "[192.0.2.25, 2001:db8:25::25]", daemonArguments: [String] = [],
        _ body: (Topology) throws -> Void
    ) throws {
        try Topology.withRouter(
            failPolicy: failPolicy, maxLength: maxLength, queues: queues, relays: relays,
            daemonArguments: daemonArguments, body)
    }

    @Test func twoQueuesShareAFlood() throws {
        try withRouter(queues: "[0, 1]") { topology in
            try #require(try topology.queueBound(1), "queue 1 bound")
            let before0 = try #require(try topology.kernelQueue(0)).sequence
            let before1 = try #require(try topology.kernelQueue(1)).sequence
            // The kernel spreads by flow hash over addresses: 16 destinations use both queues.
            let destinations = (30..<46).map { "198.51.100.\($0)" } + ["198.51.100.25"]
            let flood = try run(
                [
                    "ip", "netns", "exec", topology.sub, "python3", EndToEnd.scripts + "/synflood.py",
                    "100.64.0.10", destinations.joined(separator: ","), "25", "8000", "30",
                ], timeout: 60)
            #expect(Int(flood.output.trimmingCharacters(in: .whitespacesAndNewlines)) == 8000, "\(flood.error)")
            usleep(300_000)
            let queue0 = try #require(try topology.kernelQueue(0))
            let queue1 = try #require(try topology.kernelQueue(1))
            let used0 = queue0.sequence &- before0
            let used1 = queue1.sequence &- before1
            #expect(used0 > 0 && used1 > 0, "both queues used: \(used0) + \(used1)")
            #expect(used0 + used1 == 8000, "every SYN queued exactly once: \(used0) + \(used1)")
            #expect(queue0.dropped + queue0.userDropped + queue1.dropped + queue1.userDropped == 0)
            #expect(try topology.synsArrived(at: "198.51.100.25") == 0)
            let judged = try #require(try topology.metric("egress25_verdicts_by_action_total", ["verdict": "block"]))
            #expect(Int(judged) == 8000, "every SYN judged and blocked")
        }
    }

    @Test func killedQueueSocketIsReboundWithinOneSecond() throws {
        try withRouter(daemonArguments: ["--fault-injection"]) { topology in
            #expect(try topology.http("healthz").status == 200)
            #expect(try topology.metric("egress25_queue_rebinds_total", ["queue": "0"]) == 0)
            let pid = try #require(topology.daemonPID)
            let start = Date()
            kill(pid, SIGUSR2)
            // The kernel may hand the new socket the same port id (the pid), so watch the daemon's own count.
            var rebound = false
            while Date().timeIntervalSince(start) < 3 {
                if try topology.metric("egress25_queue_rebinds_total", ["queue": "0"]) == 1,
                    try topology.kernelQueue(0) != nil
                {
                    rebound = true
                    break
                }
                usleep(20_000)
            }
            let elapsed = Date().timeIntervalSince(start)
            #expect(rebound, "queue 0 bound again by a new socket: \(topology.daemonOutput)")
            #expect(elapsed < 1.0, "rebound after \(elapsed) s")
            print("measured: queue socket killed -> rebound after \(Int(elapsed * 1000)) ms")
            #expect(topology.daemonOutput.contains("queue socket failed; binding the queue again"))
            #expect(try topology.metric("egress25_queue_bound", ["queue": "0"]) == 1)
            #expect(try topology.http("healthz").status == 200)
            #expect(try topology.probe("198.51.100.25", 25).outcome == .refused)
            #expect(try topology.probe("192.0.2.25", 25).outcome == .connected)
        }
    }

    @Test func metricsCountAKnownMixExactly() throws {
        // 198.51.100.26 is a relay on port 25 only: judged by the daemon (not the kernel fast path).
        try withRouter(relays: "[192.0.2.25, 2001:db8:25::25, {host: 198.51.100.26, ports: [25]}]") { topology in
            for _ in 0..<3 { #expect(try topology.probe("198.51.100.26", 25).outcome == .connected) }
            for _ in 0..<5 { #expect(try topology.probe("198.51.100.25", 25).outcome == .refused) }
            for _ in 0..<2 { #expect(try topology.probe("2001:db8:99::25", 25).outcome == .refused) }
            for _ in 0..<4 { #expect(try topology.probe("192.0.2.25", 25).outcome == .connected) }  // kernel fast path
            usleep(200_000)
            #expect(try topology.metric("egress25_verdicts_total", ["reason": "relay", "family": "ipv4"]) == 3)
            #expect(
                try topology.metric("egress25_verdicts_total", ["reason": "blocked_no_exception", "family": "ipv4"])
                    == 5)
            #expect(
                try topology.metric("egress25_verdicts_total", ["reason": "blocked_no_exception", "family": "ipv6"])
                    == 2)
            #expect(try topology.metric("egress25_verdicts_by_action_total", ["verdict": "block"]) == 7)
            #expect(try topology.metric("egress25_verdicts_by_action_total", ["verdict": "accept"]) == 3)
            #expect(try topology.metric("egress25_malformed_packets_total") == 0)
            #expect(try topology.metric("egress25_kernel_queue_dropped_total", ["queue": "0"]) == 0)
            #expect(try topology.metric("egress25_verdict_latency_seconds_count") == 10)
            #expect(try topology.metric("egress25_policy_generation") == 1)
            let health = try topology.http("healthz")
            #expect(health.status == 200 && health.body.hasPrefix("ok"), "\(health)")
        }
    }

    @Test func backlogDrainsAfterSIGSTOPAndSIGCONT() throws {
        try withRouter(maxLength: 4096) { topology in
            let pid = try #require(topology.daemonPID)
            kill(pid, SIGSTOP)
            let flood = try run(
                [
                    "ip", "netns", "exec", topology.sub, "python3", EndToEnd.scripts + "/synflood.py",
                    "100.64.0.10", "198.51.100.25", "25", "2000", "20",
                ], timeout: 40)
            #expect(Int(flood.output.trimmingCharacters(in: .whitespacesAndNewlines)) == 2000)
            let waiting = try #require(try topology.kernelQueue(0)).waiting
            #expect(waiting == 2000, "the backlog waits in the kernel queue")
            sleep(30)
            let resumed = Date()
            kill(pid, SIGCONT)
            var drained = false
            while Date().timeIntervalSince(resumed) < 5 {
                if try topology.kernelQueue(0)?.waiting == 0 { drained = true; break }
                usleep(20_000)
            }
            let elapsed = Date().timeIntervalSince(resumed)
            #expect(drained && elapsed < 1.0, "backlog drained after \(elapsed) s")
            print("measured: 2000-SYN backlog drained \(Int(elapsed * 1000)) ms after SIGCONT")
            let probe = try topology.probe("198.51.100.26", 25)
            #expect(probe.outcome == .refused && probe.milliseconds < 1000, "\(probe)")
            #expect(try topology.synsArrived(at: "198.51.100.25") == 0)
            #expect(try topology.kernelQueue(0)?.portID != nil)
        }
    }

    @Test func sigtermStopsWithinTwoSecondsAndFlushesTheBlockLog() throws {
        try withRouter { topology in
            #expect(try topology.probe("198.51.100.25", 25).outcome == .refused)
            let pid = try #require(topology.daemonPID)
            let start = Date()
            topology.daemonStoppedOnPurpose = true
            kill(pid, SIGTERM)
            topology.daemon?.waitUntilExit()
            let elapsed = Date().timeIntervalSince(start)
            #expect(elapsed < 2.0, "stopped after \(elapsed) s")
            print("measured: SIGTERM -> exit after \(Int(elapsed * 1000)) ms")
            #expect(topology.daemon?.terminationStatus == 0, "\(topology.daemonOutput)")
            let query = try topology.ctl(["blocked", "query", "--source", "100.64.0.10", "--format", "csv"])
            #expect(query.status == 0, "\(query.error)")
            #expect(query.output.contains("198.51.100.25"), "flushed before exit: \(query.output)")
            #expect(try topology.kernelQueue(0) == nil, "queue unbound")
        }
    }

    @Test func withoutCapNetAdminItExitsWithOneClearLine() throws {
        let topology = try Topology()
        defer { topology.tearDown() }
        try topology.writeConfiguration()
        let result = try run(
            [
                "ip", "netns", "exec", topology.rtr, "capsh", "--drop=cap_net_admin", "--",
                "-c", "exec \(EndToEnd.binaries)/egress25d --config \(topology.configPath)",
            ], timeout: 20)
        #expect(result.status != 0)
        let lines = result.error.split(separator: "\n")
        #expect(lines.count == 1, "\(result.error)")
        #expect(result.error.contains("CAP_NET_ADMIN is required"), "\(result.error)")
        #expect(try topology.kernelQueue(0) == nil)
    }
}
