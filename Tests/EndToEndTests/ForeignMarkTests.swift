import Egress25TestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Reject-by-mark against other tools' marks (issue 10, "Marks"), with the real rules and the real egress25d:
/// - a chain of another tool that sets the packet mark after egress25's verdict, before the enforce rule, must
///   not turn a blocked SYN into an accepted one;
/// - a packet from outside the subscriber ranges that already carries the reject-mark bits must not be reset.
@Suite(.serialized, .enabled(if: EndToEnd.enabled, EndToEnd.skipReason))
struct ForeignMarkTests {
    /// Another tool's rules that set the mark on forwarded packets, installed after `egress25ctl rules apply`.
    enum ForeignChain: String, CaseIterable, CustomTestStringConvertible {
        /// iptables mangle FORWARD, appended after egress25's judge jump: clears the whole mark.
        case mangleForwardAppended
        /// iptables filter FORWARD, inserted first (before egress25's enforce jump): sets its own mark.
        case filterForwardInsertedFirst
        /// An nftables forward chain at priority -100, between mangle (-150) and filter (0): clears the mark.
        case nftablesForwardBetweenJudgeAndEnforce

        var testDescription: String {
            switch self {
            case .mangleForwardAppended: "iptables -t mangle -A FORWARD -j MARK --set-xmark 0x0/0xffffffff"
            case .filterForwardInsertedFirst: "iptables -t filter -I FORWARD 1 -j MARK --set-mark 0x100"
            case .nftablesForwardBetweenJudgeAndEnforce: "nft forward chain, priority -100: meta mark set 0"
            }
        }

        func install(_ topology: Topology) throws {
            switch self {
            case .mangleForwardAppended:
                for tool in ["iptables", "ip6tables"] {
                    try topology.inRouterSucceeding(
                        [tool, "-w", "-t", "mangle", "-A", "FORWARD", "-j", "MARK", "--set-xmark", "0x0/0xffffffff"])
                }
            case .filterForwardInsertedFirst:
                for tool in ["iptables", "ip6tables"] {
                    try topology.inRouterSucceeding(
                        [tool, "-w", "-t", "filter", "-I", "FORWARD", "1", "-j", "MARK", "--set-mark", "0x100"])
                }
            case .nftablesForwardBetweenJudgeAndEnforce:
                let path = topology.directory + "/foreign.nft"
                try """
                table inet e25foreign {
                    chain forward {
                        type filter hook forward priority -100; policy accept;
                        meta mark set 0x0
                    }
                }

                """.write(toFile: path, atomically: true, encoding: .utf8)
                try topology.inRouterSucceeding(["nft", "-f", path])
            }
        }
    }

    private func withRouter(_ body: (Topology) throws -> Void) throws {
        try Topology.withRouter(blockAction: "reject", failPolicy: "closed", body)
    }

    @Test(arguments: ForeignChain.allCases)
    func aForeignMarkAfterTheVerdictDoesNotLetABlockedSYNThrough(_ chain: ForeignChain) throws {
        try withRouter { topology in
            try #require(try topology.probe("198.51.100.25", 25).outcome == .refused, "blocked before")
            try #require(try topology.probe("2001:db8:99::25", 25).outcome == .refused, "blocked before (IPv6)")
            try chain.install(topology)
            let blockedBefore = try topology.metric("egress25_verdicts_by_action_total", ["verdict": "block"]) ?? 0
            let v4 = try topology.probe("198.51.100.25", 25)
            let v6 = try topology.probe("2001:db8:99::25", 25)
            let blockedAfter = try topology.metric("egress25_verdicts_by_action_total", ["verdict": "block"]) ?? 0
            print(
                "measured: foreign mark (\(chain.testDescription)): 198.51.100.25 \(v4), 2001:db8:99::25 \(v6), "
                    + "blocked verdicts \(Int(blockedBefore)) -> \(Int(blockedAfter))")
            #expect(v4.outcome != .connected, "\(chain.testDescription): a blocked SYN connected: \(v4)")
            #expect(v6.outcome != .connected, "\(chain.testDescription): a blocked IPv6 SYN connected: \(v6)")
            #expect(blockedAfter >= blockedBefore + 2, "the daemon judged both SYNs and blocked them")
            #expect(try topology.probe("192.0.2.25", 25).outcome == .connected, "the relay still connects")
        }
    }

    /// 203.0.113.10 (and 2001:db8:6500::10, added here) are in the subscriber namespace but outside the
    /// subscriber ranges [100.64.0.0/24, 2001:db8:6400::/64]: egress25 must not touch their SYNs, even when
    /// something before it (here a mangle PREROUTING rule) set the reject-mark bits.
    @Test func aNonSubscriberPacketCarryingTheMarkBitsIsNotReset() throws {
        try withRouter { topology in
            // A non-subscriber IPv6 source beside 203.0.113.10.
            try run([
                "ip", "-n", topology.sub, "addr", "add", "2001:db8:6500::10/64", "dev", topology.prefix + "s0", "nodad",
            ])
            try run([
                "ip", "-n", topology.rtr, "addr", "add", "2001:db8:6500::1/64", "dev", topology.prefix + "r0", "nodad",
            ])
            try run(["ip", "-n", topology.net, "-6", "route", "add", "2001:db8:6500::/64", "via", "2001:db8:ffff::1"])
            let v4Before = try topology.probe("198.51.100.25", 25, source: "203.0.113.10")
            try #require(v4Before.outcome == .connected, "a non-subscriber connects without a mark: \(v4Before)")
            var v6Before = try topology.probe("2001:db8:99::25", 25, source: "2001:db8:6500::10")
            for _ in 0..<10 where v6Before.outcome != .connected {  // neighbour discovery for the new address
                usleep(200_000)
                v6Before = try topology.probe("2001:db8:99::25", 25, source: "2001:db8:6500::10")
            }
            try #require(v6Before.outcome == .connected, "a non-subscriber connects without a mark (IPv6): \(v6Before)")

            try topology.inRouterSucceeding(
                [
                    "iptables", "-w", "-t", "mangle", "-I", "PREROUTING", "1", "-s", "203.0.113.10", "-j", "MARK",
                    "--set-xmark", "0x25/0x25",
                ])
            try topology.inRouterSucceeding(
                [
                    "ip6tables", "-w", "-t", "mangle", "-I", "PREROUTING", "1", "-s", "2001:db8:6500::10", "-j", "MARK",
                    "--set-xmark", "0x25/0x25",
                ])
            let v4 = try topology.probe("198.51.100.25", 25, source: "203.0.113.10")
            let v6 = try topology.probe("2001:db8:99::25", 25, source: "2001:db8:6500::10")
            print(
                "measured: non-subscriber SYN carrying the mark bits 0x25: 203.0.113.10 -> \(v4), "
                    + "2001:db8:6500::10 -> \(v6)")
            #expect(v4.outcome == .connected, "a non-subscriber IPv4 SYN with the mark bits was not let through: \(v4)")
            #expect(v6.outcome == .connected, "a non-subscriber IPv6 SYN with the mark bits was not let through: \(v6)")
            // The subscriber is still blocked.
            #expect(try topology.probe("198.51.100.25", 25).outcome == .refused)
        }
    }
}
