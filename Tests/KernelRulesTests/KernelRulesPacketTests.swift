import Egress25Configuration
import Egress25Core
import Egress25TestSupport
import Foundation
import KernelRules
import Testing

/// Sends real SYNs through the router namespace of the shared topology (``NamespaceTopology``,
/// Tests/EndToEndTests/Scripts/topology.sh) carrying the egress25 rules, with no daemon on the queues:
///
///     subscriber (100.64.0.10, 2001:db8:6400::10) -- router (rules) -- internet (192.0.2.25, 198.51.100.25,
///                                                                     2001:db8:25::25, 2001:db8:99::25)
///
/// Nothing listens in the internet namespace, so a SYN that gets through is answered by a TCP reset ("refused");
/// a SYN that is dropped times out. Addresses without a host behind them (192.0.2.97/.98, 2001:db8:25::98) time
/// out too, unless the router rejects.
@Suite(
    "Kernel rules on real packets (no daemon)",
    .serialized,
    .enabled(if: TestEnvironment.isRoot, "needs root: creates network namespaces and veth pairs")
)
struct KernelRulesPacketTests {
    enum Outcome: Equatable { case refused, timedOut, other(String) }

    /// A relay for port 25 only, so judged by the daemon (queued), like any other host.
    static let restricted4 = "198.51.100.25"
    /// Not a relay: queued.
    static let other6 = "2001:db8:99::25"

    final class Topology {
        let namespaces: NamespaceTopology
        var client: NetworkNamespace { namespaces.subscriber }
        var router: NetworkNamespace { namespaces.router }

        init() throws {
            namespaces = try NamespaceTopology()
        }

        deinit {
            namespaces.tearDown()
        }

        /// Waits (up to about 10 s) until both families get through the router without rules: IPv6 needs its
        /// link-local addresses and neighbour discovery settled first.
        func waitUntilReachable() throws -> Bool {
            for _ in 0..<5 {
                if try connect(restricted4, 25) == .refused, try connect(other6, 25) == .refused {
                    return true
                }
            }
            return false
        }

        /// Opens a TCP connection from the client (bash /dev/tcp), giving up after 2 s.
        func connect(_ host: String, _ port: Int) throws -> Outcome {
            let result = try client.runner.run(["timeout", "2", "bash", "-c", "exec 3<>/dev/tcp/\(host)/\(port)"])
            if result.status == 124 { return .timedOut }
            if result.standardError.contains("Connection refused") { return .refused }
            return .other("status \(result.status): \(result.standardError)")
        }

        /// Sends one raw SYN from the client (100.64.0.10 or 2001:db8:6400::10) with
        /// Tests/EndToEndTests/Scripts/fragsyn.py, split into two fragments after `first` bytes of the TCP segment
        /// (0: not fragmented), `payload` data bytes after the TCP header. `reset`: the internet namespace's kernel
        /// reassembled it and answered (nothing listens); `silent`: it never arrived whole.
        func rawSYN(_ host: String, _ port: Int, first: Int, payload: Int = 0) throws -> String {
            let result = try client.runner.run(
                [
                    "python3", testScripts + "/fragsyn.py", host.contains(":") ? "2001:db8:6400::10" : "100.64.0.10",
                    host, "\(port)", "\(first)", "\(payload)", "1",
                ])
            return result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
                + (result.succeeded ? "" : " (status \(result.status): \(result.standardError))")
        }
    }

    static func rules(failOpen: Bool) throws -> KernelRuleSet {
        let configuration = try ConfigurationLoader.parse(
            yaml: """
                queue: { numbers: 0-1, fail_policy: \(failOpen ? "open" : "closed") }
                policy:
                  subscriber_ranges: [100.64.0.0/10, 2001:db8:6400::/40]
                  relay_hosts: [192.0.2.25, 2001:db8:25::25, {host: 198.51.100.25, ports: [25]}]
                  reject_mark: 0x25
                """,
            path: "packet-test.yaml")
        return KernelRuleSet(configuration: configuration)
    }

    /// Installs the fail-closed rules in the router with `backend` ("iptables" or "nftables").
    static func installFailClosed(backend: String, in topology: Topology) throws {
        let rules = try Self.rules(failOpen: false)
        let installer = KernelRulesInstaller(runner: topology.router.runner)
        if backend == "iptables" {
            try installer.apply(rules, backend: .iptables)
        } else if installer.detectBackend().backend == .nftables {
            try installer.apply(rules, backend: .nftables)
        } else {
            // This kernel lacks the nft queue expression. With fail_policy closed and no daemon, `queue num 0-1`
            // drops every packet it gets, so `drop` in its place checks the rest of the rendering for real.
            let script = NftablesRenderer.render(rules).replacingOccurrences(of: "queue num 0-1", with: "drop")
            try topology.router.runner.check(["nft", "-f", "-"], input: script)
        }
    }

    @Test(
        "fail closed, daemon down: relays pass in the kernel, other SYNs to port 25 are dropped, port 587 is untouched")
    func failClosed() throws {
        let topology = try Topology()
        try #require(try topology.waitUntilReachable(), "sanity: without rules the SYNs get through")
        let installer = KernelRulesInstaller(runner: topology.router.runner)
        let backend = installer.detectBackend().backend
        try installer.apply(try Self.rules(failOpen: false), backend: backend)

        #expect(try topology.connect("192.0.2.25", 25) == .refused, "relay: kernel fast path")
        let v6relay = try topology.connect("2001:db8:25::25", 25)
        #expect(v6relay == .refused, "IPv6 relay: kernel fast path: \(v6relay)")
        // A port-restricted relay is judged by the daemon, so with the daemon down it is dropped like the rest.
        #expect(try topology.connect(Self.restricted4, 25) == .timedOut, "queued, no daemon, fail closed")
        #expect(try topology.connect(Self.other6, 25) == .timedOut, "IPv6: queued, no daemon, fail closed")
        #expect(try topology.connect(Self.restricted4, 587) == .refused, "not a policed port")
    }

    @Test("fail open: SYNs pass while no daemon listens; a reject-marked SYN gets a TCP reset from the router")
    func failOpenAndRejectMark() throws {
        let topology = try Topology()
        try #require(try topology.waitUntilReachable(), "sanity: without rules the SYNs get through")
        let installer = KernelRulesInstaller(runner: topology.router.runner)
        try installer.apply(try Self.rules(failOpen: true), backend: installer.detectBackend().backend)
        #expect(try topology.connect(Self.restricted4, 25) == .refused, "bypass: accepted without a daemon")

        // Stand-in for the daemon's verdict: OR mark bits into SYNs to two addresses with no host behind them.
        // 0x125 has every bit of 0x25 (plus another): rejected. 0x21 lacks bit 0x04: forwarded, then times out.
        try topology.router.check(
            "iptables", "-t", "mangle", "-I", "FORWARD", "1", "-d", "192.0.2.98", "-j", "MARK",
            "--or-mark", "0x125")
        try topology.router.check(
            "iptables", "-t", "mangle", "-I", "FORWARD", "1", "-d", "192.0.2.97", "-j", "MARK",
            "--or-mark", "0x21")
        #expect(try topology.connect("192.0.2.98", 25) == .refused, "mark & 0x25 == 0x25: TCP reset")
        #expect(try topology.connect("192.0.2.97", 25) == .timedOut, "partial mark: not rejected")
        #expect(try topology.connect("192.0.2.98", 587) == .timedOut, "marked, but not a policed port")
        try topology.router.check(
            "ip6tables", "-t", "mangle", "-I", "FORWARD", "1", "-d", "2001:db8:25::98", "-j", "MARK", "--or-mark",
            "0x25")
        #expect(try topology.connect("2001:db8:25::98", 25) == .refused, "IPv6: mark & 0x25 == 0x25: TCP reset")
    }

    /// The tester's bypass: a SYN to port 25 whose first IPv4 fragment holds only 8 bytes of the TCP header (no
    /// flags), the rest at fragment offset 1. Nothing on the router reassembles (no conntrack), the server does.
    /// Fail closed, no daemon: what is queued is dropped, so "silent" = "queued or dropped by the rules".
    @Test(
        "fail closed, daemon down: tiny/overlapping IPv4 fragments (RFC 1858/3128) no longer carry a SYN to port 25",
        arguments: ["iptables", "nftables"])
    func tinyFragments(backend: String) throws {
        let topology = try Topology()
        try #require(try topology.waitUntilReachable(), "sanity: without rules the SYNs get through")
        #expect(try topology.rawSYN(Self.restricted4, 25, first: 8) == "reset", "sanity: the bypass without rules")
        try Self.installFailClosed(backend: backend, in: topology)

        // The bypass: offset-1 fragment dropped, the tiny first fragment queued (no daemon: dropped).
        #expect(try topology.rawSYN(Self.restricted4, 25, first: 8) == "silent", "tiny fragments, \(backend)")
        #expect(try topology.rawSYN(Self.restricted4, 587, first: 8) == "silent", "tiny fragments to 587 too")
        // 16 TCP bytes in the first fragment (flags but not the whole header), rest at offset 2.
        #expect(try topology.rawSYN(Self.restricted4, 25, first: 16) == "silent", "short first fragment")
        // A complete but short (44-byte) first fragment and a long one: both SYNs to port 25, queued, dropped here.
        #expect(try topology.rawSYN(Self.restricted4, 25, first: 24, payload: 8) == "silent")
        #expect(try topology.rawSYN(Self.restricted4, 25, first: 104, payload: 200) == "silent")
        // A tiny SYN to the relay is dropped too: its first fragment does not hold the whole TCP header.
        #expect(try topology.rawSYN("192.0.2.25", 25, first: 8) == "silent")

        // Unaffected: an ordinary SYN to 587, a normally fragmented SYN to 587 (first fragment of 124 bytes
        // carrying the whole TCP header: never queued), a fragmented SYN to the relay (kernel fast path), and
        // a plain SYN to the relay.
        #expect(try topology.rawSYN(Self.restricted4, 587, first: 0) == "reset", "plain SYN to 587, \(backend)")
        #expect(try topology.rawSYN(Self.restricted4, 587, first: 104, payload: 200) == "reset", "fragmented, 587")
        #expect(try topology.rawSYN("192.0.2.25", 25, first: 104, payload: 200) == "reset", "fragmented, relay")
        #expect(try topology.rawSYN("192.0.2.25", 25, first: 0) == "reset", "relay")
        #expect(try topology.connect(Self.restricted4, 587) == .refused, "TCP connect to 587")
    }

    /// IPv6: a subscriber's first fragment without the whole TCP header is dropped in the kernel (RFC 7112; Linux
    /// receivers drop it too, RFC 8200 section 4.5, but not every MX host runs Linux); one with the whole header
    /// meets the SYN rules like an unfragmented packet.
    @Test(
        "fail closed, daemon down: IPv6 TCP first fragments are judged or dropped", arguments: ["iptables", "nftables"])
    func ipv6FirstFragments(backend: String) throws {
        let topology = try Topology()
        try #require(try topology.waitUntilReachable(), "sanity: without rules the SYNs get through")
        #expect(try topology.rawSYN(Self.other6, 25, first: 24, payload: 8) == "reset", "sanity, no rules")
        try Self.installFailClosed(backend: backend, in: topology)
        #expect(try topology.rawSYN(Self.other6, 25, first: 8) == "silent", "tiny, \(backend)")
        #expect(try topology.rawSYN(Self.other6, 25, first: 24, payload: 8) == "silent", "\(backend)")
        // Unaffected: a fragmented SYN to 587 whose first fragment holds the whole TCP header, an unfragmented
        // SYN to 587; a fragmented SYN to the relay takes the kernel fast path.
        #expect(try topology.rawSYN(Self.other6, 587, first: 104, payload: 200) == "reset", "587, \(backend)")
        #expect(try topology.rawSYN(Self.other6, 587, first: 0) == "reset", "plain SYN to 587, \(backend)")
        #expect(try topology.rawSYN("2001:db8:25::25", 25, first: 104, payload: 200) == "reset", "relay, \(backend)")
    }
}
