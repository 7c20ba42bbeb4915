import Egress25TestSupport
import Foundation
import Testing

/// Tiny and overlapping fragments (RFC 1858, RFC 3128, RFC 7112) against the real egress25d: the router does not
/// reassemble (no conntrack), the internet namespace does. SYNs are crafted with Scripts/fragsyn.py from the
/// subscriber (100.64.0.10); `synsArrived(at:)` counts the reassembled SYNs to :25 the destination received.
@Suite(.serialized, .enabled(if: EndToEnd.enabled, EndToEnd.skipReason))
struct FragmentTests {
    /// Topology, rules (`egress25ctl rules apply --backend auto`) and a running daemon with block_action reject.
    private func withRouter(_ body: (Topology) throws -> Void) throws {
        try Topology.withRouter(blockAction: "reject", failPolicy: "closed", backend: "auto", body)
    }

    /// One raw SYN split after `first` bytes of the TCP segment (0: whole); `synack`, `reset` or `silent`.
    private func rawSYN(
        _ topology: Topology, _ host: String, _ port: Int, first: Int, payload: Int = 0
    ) throws
        -> String
    {
        let result = try run([
            "ip", "netns", "exec", topology.sub, "python3", EndToEnd.scripts + "/fragsyn.py",
            host.contains(":") ? "2001:db8:6400::10" : "100.64.0.10", host, "\(port)", "\(first)", "\(payload)", "1",
        ])
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines) + result.error
    }

    /// The first-fragment check's drop counter in the router (`EGRESS25-FIRSTFRAG`'s last rule) for `tool`; nil
    /// when egress25's rules are the nftables table (on a kernel with the nftables `queue` expression, e.g. under
    /// scripts/test-nft-kernel.sh), which keeps no counters: the outcome checks still apply.
    private func firstFragmentDrops(_ topology: Topology, _ tool: String) throws -> Int? {
        let table = try run(["ip", "netns", "exec", topology.rtr, "nft", "list", "table", "inet", "egress25"])
        if table.status == 0 { return nil }
        let listing = try run(
            [
                "ip", "netns", "exec", topology.rtr, tool, "-w", "-t", "mangle", "-L", "EGRESS25-FIRSTFRAG",
                "-v", "-x", "-n",
            ]).output
        let dropLine = listing.split(separator: "\n").last { $0.contains("DROP") }
        return dropLine.flatMap { Int($0.split(separator: " ").first ?? "") } ?? -1
    }

    /// RFC 1858 tiny fragments: a first fragment without the whole TCP header is dropped by the kernel before
    /// anything is queued, so the daemon never sees it and the MX never reassembles it.
    @Test func tinyFragmentSYNIsDroppedInTheKernelAndNeverArrives() throws {
        try withRouter { topology in
            let queuedBefore = try topology.metric("egress25_verdicts_by_action_total", ["verdict": "block"]) ?? 0
            // First fragment: 8 TCP bytes (ports, sequence; no flags). Second: the other 12, at offset 1.
            let tiny = try rawSYN(topology, "198.51.100.25", 25, first: 8)
            #expect(tiny == "silent", "\(tiny)")
            // 16 TCP bytes (flags, but not the whole header), then offset 2 (no offset-1 fragment).
            let short = try rawSYN(topology, "198.51.100.25", 25, first: 16)
            #expect(short == "silent", "\(short)")
            #expect(try topology.synsArrived(at: "198.51.100.25") == 0, "a fragmented SYN was reassembled at the MX")
            if let drops = try firstFragmentDrops(topology, "iptables") { #expect(drops >= 2) }
            let queued = try topology.metric("egress25_verdicts_by_action_total", ["verdict": "block"]) ?? 0
            #expect(queued == queuedBefore, "no tiny fragment reaches the queue")
            // The daemon still judges ordinary SYNs.
            #expect(try topology.probe("198.51.100.25", 25).outcome == .refused)
            #expect(try topology.probe("192.0.2.25", 25).outcome == .connected)
        }
    }

    @Test func firstFragmentWithACompleteSYNIsBlockedLikeAnyOther() throws {
        try withRouter { topology in
            let blockedBefore =
                try topology.metric(
                    "egress25_verdicts_total", ["reason": "blocked_no_exception", "family": "ipv4"]) ?? 0
            // A short first fragment (24 TCP bytes: the whole header + 4 data bytes) and a long one (104 TCP bytes).
            let short = try rawSYN(topology, "198.51.100.25", 25, first: 24, payload: 8)
            #expect(short != "synack", "\(short)")
            let long = try rawSYN(topology, "198.51.100.25", 25, first: 104, payload: 200)
            #expect(long != "synack", "\(long)")
            #expect(try topology.synsArrived(at: "198.51.100.25") == 0, "a fragmented SYN reached the MX")
            let blocked =
                try topology.metric(
                    "egress25_verdicts_total", ["reason": "blocked_no_exception", "family": "ipv4"]) ?? 0
            #expect(blocked == blockedBefore + 2, "blocked_no_exception \(blockedBefore) -> \(blocked)")

            // Allowed fragmented SYNs still get through: to the relay, and to the submission port.
            let relay = try rawSYN(topology, "192.0.2.25", 25, first: 24, payload: 8)
            #expect(relay == "synack", "relay, short first fragment, kernel fast path: \(relay)")
            let relayLong = try rawSYN(topology, "192.0.2.25", 25, first: 104, payload: 200)
            #expect(relayLong == "synack", "relay, kernel fast path: \(relayLong)")
            let submission = try rawSYN(topology, "198.51.100.25", 587, first: 24, payload: 8)
            #expect(submission == "synack", "587, short first fragment, never queued: \(submission)")
            let submissionLong = try rawSYN(topology, "198.51.100.25", 587, first: 104, payload: 200)
            #expect(submissionLong == "synack", "587, never queued: \(submissionLong)")
        }
    }

    /// IPv6: a first fragment without the whole TCP header is dropped in the kernel (RFC 7112); one with the
    /// whole header is judged like any SYN.
    @Test func ipv6FirstFragmentsAreJudged() throws {
        try withRouter { topology in
            let tiny = try rawSYN(topology, "2001:db8:99::25", 25, first: 8)
            #expect(tiny == "silent", "\(tiny)")
            if let drops = try firstFragmentDrops(topology, "ip6tables") { #expect(drops == 1) }
            #expect(
                try topology.metric("egress25_verdicts_total", ["reason": "malformed", "family": "ipv6"]) ?? 0 == 0)

            let blocked = try rawSYN(topology, "2001:db8:99::25", 25, first: 24, payload: 8)
            #expect(blocked != "synack", "\(blocked)")
            #expect(
                try topology.metric("egress25_verdicts_total", ["reason": "blocked_no_exception", "family": "ipv6"])
                    == 1)
            let relay = try rawSYN(topology, "2001:db8:25::25", 25, first: 24, payload: 8)
            #expect(relay == "synack", "relay: \(relay)")
            let submission = try rawSYN(topology, "2001:db8:99::25", 587, first: 104, payload: 200)
            #expect(submission == "synack", "587, judged and accepted: \(submission)")
        }
    }
}
