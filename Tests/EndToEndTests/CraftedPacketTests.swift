import Egress25TestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The crafted-packet corpus (Scripts/craft.py) against the real rules and the real egress25d: SYNs to port 25
/// of a non-relay MX (198.51.100.25, 2001:db8:99::25) in every odd form: IPv6 extension-header chains split
/// across fragments (RFC 7112) and their variants, Hop-by-Hop, Routing type 0, unknown next headers, atomic
/// fragments (RFC 6946), duplicate and overlapping fragments (RFC 5722), IPv4 tiny and overlapping fragments
/// (RFC 1858, RFC 3128), IPv4 options, ECN, TFO, SYN+FIN/PSH/URG. The MX is a real listener (smtpd.py), so a
/// SYN that arrives whole is answered with a SYN-ACK, which craft.py sees from the subscriber side.
///
/// The requirement: no case is ever `answered`, with the daemon up, and with it killed (fail_policy closed).
/// Controls prove the harness sees both outcomes: a plain SYN to the relay is answered, a plain SYN to the MX
/// is not. A run without any rules proves each crafted form is a real connection attempt the MX accepts.
@Suite(.serialized, .enabled(if: EndToEnd.enabled, EndToEnd.skipReason))
struct CraftedPacketTests {
    /// Checks one corpus run: every case reported, no non-control case answered, the controls as expected.
    private func check(_ outcomes: [CraftedOutcome], _ phase: String) throws {
        let corpus = try CraftedCorpus.list()
        let byName = Dictionary(outcomes.map { ($0.name, $0.outcome) }, uniquingKeysWith: { first, _ in first })
        let missing = corpus.map(\.name).filter { byName[$0] == nil }
        #expect(missing.isEmpty, "\(phase): cases without an outcome: \(missing)")
        for outcome in outcomes {
            #expect(["answered", "silent", "reset"].contains(outcome.outcome), "\(phase): \(outcome)")
            if outcome.name.hasPrefix("control_relay_") {
                #expect(outcome.outcome == "answered", "\(phase): the relay must answer: \(outcome)")
            } else {
                #expect(
                    outcome.outcome != "answered", "\(phase): a crafted SYN reached the MX and was answered: \(outcome)"
                )
            }
        }
        let answered = outcomes.filter { !$0.name.hasPrefix("control_relay_") && $0.outcome == "answered" }
        print(
            "measured: crafted corpus, \(phase): \(outcomes.count) cases; answered (must be none): "
                + "\(answered.map(\.name)); all: \(outcomes.map(\.description).joined(separator: " "))")
    }

    /// Topology with the configuration written (reject, fail_policy closed, reject_mark 0x25), no rules yet.
    private func withTopology(_ body: (Topology) throws -> Void) throws {
        let topology = try Topology()
        defer { topology.tearDown() }
        try topology.writeConfiguration(blockAction: "reject", failPolicy: "closed")
        try body(topology)
    }

    /// Without rules every case the corpus marks `unfiltered=answered` is answered: the crafted packets are
    /// well formed and really open a connection at a Linux MX, so `silent` later means the filter stopped them.
    @Test func withoutRulesTheCraftedSYNsReachTheMX() throws {
        try withTopology { topology in
            let corpus = try CraftedCorpus.list()
            #expect(corpus.count >= 40, "corpus size \(corpus.count)")
            let outcomes = try topology.craft()
            let byName = Dictionary(outcomes.map { ($0.name, $0.outcome) }, uniquingKeysWith: { first, _ in first })
            for (name, unfiltered) in corpus where unfiltered == "answered" {
                #expect(
                    byName[name] == "answered", "without rules, \(name) must be answered: \(byName[name] ?? "missing")")
            }
            print("measured: crafted corpus without rules: \(outcomes.map(\.description).joined(separator: " "))")
        }
    }

    @Test func noCraftedSYNIsAnsweredWhileTheDaemonJudges() throws {
        try withTopology { topology in
            let rules = try topology.ctl(["rules", "apply"])
            try #require(rules.status == 0, "rules apply failed: \(rules.output) \(rules.error)")
            try topology.startDaemon()
            try check(try topology.craft(), "daemon up")
            #expect(try topology.http("healthz").status == 200)
            #expect(try topology.probe("198.51.100.25", 25).outcome == .refused, "ordinary SYNs are still judged")
        }
    }

    @Test func noCraftedSYNIsAnsweredAfterTheDaemonIsKilled() throws {
        try withTopology { topology in
            let rules = try topology.ctl(["rules", "apply"])
            try #require(rules.status == 0, "rules apply failed: \(rules.output) \(rules.error)")
            try topology.startDaemon()
            topology.killDaemon(signal: SIGKILL)
            try #require(try !topology.queueBound(0), "queue 0 unbound after SIGKILL")
            try check(try topology.craft(), "daemon killed (fail_policy closed)")
            #expect(try topology.probe("192.0.2.25", 25).outcome == .connected, "relays pass in the kernel")
            #expect(try topology.probe("198.51.100.25", 25).outcome != .connected)
        }
    }

    /// The nftables rendering on the real kernel path, without the daemon. Where the kernel has the nftables
    /// `queue` expression the rules are applied as they are (fail_policy closed, no daemon: queued = dropped);
    /// elsewhere `queue num ...` is replaced by `drop`, which is what a queue without a listener does then.
    @Test func nftablesRulesWithoutTheDaemonAnswerNoCraftedSYN() throws {
        try withTopology { topology in
            let applied = try topology.ctl(["rules", "apply", "--backend", "nftables"])
            var how = "applied with egress25ctl rules apply --backend nftables"
            if applied.status != 0 {
                let rendered = try topology.ctl(["rules", "show", "--backend", "nftables"])
                try #require(rendered.status == 0, "rules show --backend nftables: \(rendered.error)")
                let script = rendered.output.replacingOccurrences(
                    of: "queue( flags [a-z,]+)? num [0-9]+(-[0-9]+)?( bypass)?", with: "drop",
                    options: .regularExpression)
                try #require(!script.contains("queue num"), "every queue statement replaced: \(script)")
                let path = topology.directory + "/egress25-dropqueue.nft"
                try script.write(toFile: path, atomically: true, encoding: .utf8)
                try topology.inRouterSucceeding(["nft", "-f", path])
                how = "this kernel lacks the nft queue expression: rendered rules with queue replaced by drop"
            }
            print("measured: nftables corpus run: \(how)")
            try check(try topology.craft(), "nftables, no daemon")
        }
    }
}
