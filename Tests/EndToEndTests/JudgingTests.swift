import Egress25TestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// egress25d on the real kernel path: NFQUEUE in network namespaces, rules applied by `egress25ctl rules apply`
/// (the iptables + ipset backend on kernels without nftables' `queue` expression), real TCP connections.
@Suite(.serialized, .enabled(if: EndToEnd.enabled, EndToEnd.skipReason))
struct JudgingTests {
    /// Sets up the topology with the given settings, applies the rules, starts the daemon, runs `body`, tears down.
    private func withRouter(
        blockAction: String = "reject", failPolicy: String = "closed", maxLength: Int = 4096,
        startDaemon: Bool = true, _ body: (Topology) throws -> Void
    ) throws {
        try Topology.withRouter(
            blockAction: blockAction, failPolicy: failPolicy, maxLength: maxLength, backend: "auto",
            startDaemon: startDaemon, body)
    }

    @Test func relayIsReachableAndOtherHostsAreRejectedAtOnce() throws {
        try withRouter { topology in
            let relay4 = try topology.probe("192.0.2.25", 25)
            #expect(relay4.outcome == .connected && relay4.banner.hasPrefix("220 192.0.2.25"), "\(relay4)")
            let relay6 = try topology.probe("2001:db8:25::25", 25)
            #expect(relay6.outcome == .connected && relay6.banner.hasPrefix("220 2001:db8:25::25"), "\(relay6)")

            let direct4 = try topology.probe("198.51.100.25", 25)
            #expect(direct4.outcome == .refused, "\(direct4)")
            #expect(direct4.milliseconds < 100, "a reset should come at once: \(direct4)")
            let direct6 = try topology.probe("2001:db8:99::25", 25)
            #expect(direct6.outcome == .refused, "\(direct6)")
            #expect(direct6.milliseconds < 100, "\(direct6)")
        }
    }

    @Test func submissionPortAndNonSubscribersAreUntouched() throws {
        try withRouter { topology in
            let submission4 = try topology.probe("198.51.100.25", 587)
            #expect(submission4.outcome == .connected, "\(submission4)")
            let submission6 = try topology.probe("2001:db8:99::25", 587)
            #expect(submission6.outcome == .connected, "\(submission6)")
            // 203.0.113.10 is on the subscriber's link but outside subscriber_ranges.
            let foreign = try topology.probe("198.51.100.25", 25, source: "203.0.113.10")
            #expect(foreign.outcome == .connected, "\(foreign)")
        }
    }

    @Test func dropActionTimesOut() throws {
        try withRouter(blockAction: "drop") { topology in
            let direct = try topology.probe("198.51.100.25", 25, timeout: 1.5)
            #expect(direct.outcome == .timeout, "\(direct)")
            let relay = try topology.probe("192.0.2.25", 25)
            #expect(relay.outcome == .connected, "\(relay)")
        }
    }

    @Test func failClosedWhenTheDaemonIsKilled() throws {
        try withRouter(failPolicy: "closed") { topology in
            #expect(try topology.probe("198.51.100.25", 25).outcome == .refused)
            topology.killDaemon(signal: SIGKILL)
            let relay = try topology.probe("192.0.2.25", 25)
            #expect(relay.outcome == .connected, "relays stay reachable through the kernel fast path: \(relay)")
            let relay6 = try topology.probe("2001:db8:25::25", 25)
            #expect(relay6.outcome == .connected, "\(relay6)")
            let direct = try topology.probe("198.51.100.25", 25, timeout: 1.5)
            #expect(direct.outcome == .timeout, "no daemon, no bypass: the SYN is dropped: \(direct)")
            #expect(try topology.synsArrived(at: "198.51.100.25") == 0)
        }
    }

    @Test func failOpenWhenTheDaemonIsKilled() throws {
        try withRouter(failPolicy: "open") { topology in
            #expect(try topology.probe("198.51.100.25", 25).outcome == .refused)
            topology.killDaemon(signal: SIGKILL)
            let direct = try topology.probe("198.51.100.25", 25)
            #expect(direct.outcome == .connected, "fail open: the queue is bypassed: \(direct)")
            let direct6 = try topology.probe("2001:db8:99::25", 25)
            #expect(direct6.outcome == .connected, "\(direct6)")
        }
    }

    @Test func secondDaemonOnTheSameQueueExitsWithAlreadyBound() throws {
        try withRouter { topology in
            let second = try run(
                [
                    "ip", "netns", "exec", topology.rtr, EndToEnd.binaries + "/egress25d", "--config",
                    topology.configPath,
                ],
                timeout: 20)
            #expect(second.status != 0)
            #expect(second.error.contains("queue 0 is already bound by another process"), "\(second.error)")
            // The first daemon still judges.
            #expect(try topology.probe("198.51.100.25", 25).outcome == .refused)
            #expect(try topology.probe("192.0.2.25", 25).outcome == .connected)
        }
    }

    @Test func floodAgainstAShortQueueNeverLeaksWhenClosed() throws {
        try withRouter(failPolicy: "closed", maxLength: 64) { topology in
            let flood = try run(
                [
                    "ip", "netns", "exec", topology.sub, "python3", EndToEnd.scripts + "/synflood.py",
                    "100.64.0.10", "198.51.100.25", "25", "20000", "30",
                ], timeout: 60)
            let sent = Int(flood.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            #expect(sent == 20_000, "flood sent \(flood.output) \(flood.error)")
            #expect(try topology.synsArrived(at: "198.51.100.25") == 0, "a flooded SYN reached a non-relay host")
            // The daemon survived the flood and still judges.
            #expect(try topology.probe("192.0.2.25", 25).outcome == .connected)
            #expect(try topology.probe("198.51.100.26", 25).outcome == .refused)
            #expect(topology.daemon?.isRunning == true)
        }
    }
}
