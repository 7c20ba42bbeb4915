import Egress25Configuration
import Egress25Core
import Egress25TestSupport
import Foundation
import KernelRules
import Testing

@Suite("KernelRuleSet and renderers")
struct KernelRuleSetTests {
    static func configuration(_ policyAndQueue: String) throws -> Egress25Configuration {
        try ConfigurationLoader.parse(yaml: policyAndQueue, path: "test.yaml")
    }

    static func rules(_ yaml: String) throws -> KernelRuleSet {
        KernelRuleSet(configuration: try configuration(yaml))
    }

    @Test("sets are split by family, sorted, and prefixes inside another one are dropped")
    func normalization() throws {
        let rules = try Self.rules(
            """
            policy:
              subscriber_ranges: [100.64.0.0/10, 10.0.0.0/8, 100.64.5.0/24, 2001:db8::/32, 2001:db8:1::/48, 10.0.0.0/16]
              relay_hosts: [192.0.2.25, {host: 192.0.2.26, ports: [25]}, 2001:db8:25::25, 198.51.100.0/24]
              ports: [587, 25]
            """)
        #expect(rules.subscribersV4.map(\.description) == ["10.0.0.0/8", "100.64.0.0/10"])
        #expect(rules.subscribersV6.map(\.description) == ["2001:db8::/32"])
        // The port-restricted relay 192.0.2.26 is judged by the daemon, not accepted by the kernel.
        #expect(rules.relaysV4.map(\.description) == ["192.0.2.25/32", "198.51.100.0/24"])
        #expect(rules.relaysV6.map(\.description) == ["2001:db8:25::25/128"])
        #expect(rules.ports == [25, 587])
        #expect(rules.queueNumbers == 0...0)
        #expect(rules.failOpen == false)
        #expect(rules.rejectMark == 0x25)
    }

    @Test("nftables: one queue, fail closed")
    func nftablesSingleQueue() throws {
        let rules = try Self.rules("policy: {subscriber_ranges: [100.64.0.0/10]}")
        let text = NftablesRenderer.render(rules)
        let comment = " comment \"\(rules.fingerprintComment)\"\n"
        #expect(
            text.contains(
                "\t\tip saddr @subscribers_v4 tcp flags & (syn | ack) == syn tcp dport @policed_ports queue num 0"
                    + comment))
        #expect(
            text.contains(
                "\t\tip6 saddr @subscribers_v6 tcp flags & (syn | ack) == syn tcp dport @policed_ports queue num 0"
                    + comment))
        #expect(!text.contains("bypass"))
        #expect(!text.contains("fanout"))
        #expect(!text.contains("ct state"), "the conntrack guard is off by default")
        #expect(text.contains("type filter hook forward priority mangle; policy accept;"))
        #expect(text.contains("type filter hook forward priority filter; policy accept;"))
        // The reject rule looks only at subscribers' SYNs to policed ports: a mark elsewhere is never acted on.
        #expect(
            text.contains(
                "ip saddr @subscribers_v4 tcp flags & (syn | ack) == syn tcp dport @policed_ports "
                    + "meta mark & 0x00000025 == 0x00000025 reject with tcp reset"
            ))
        #expect(!text.contains("\t\tmeta mark"))
        // Empty sets are declared without elements (nft refuses `elements = { }`).
        #expect(text.contains("\tset relays_v4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t}\n"))
        #expect(text.contains("\tset subscribers_v6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t}\n"))
        // The transaction first declares, then deletes the previous table, then defines it.
        let declare = try #require(text.range(of: "table inet egress25 {}\ndelete table inet egress25\n"))
        let define = try #require(text.range(of: "table inet egress25 {\n"))
        #expect(declare.upperBound <= define.lowerBound)
    }

    @Test("nftables: a queue range spreads by flow hash, fail open adds bypass, the mark is masked")
    func nftablesQueueRange() throws {
        let text = NftablesRenderer.render(
            try Self.rules(
                "queue: {numbers: 4-7, fail_policy: open}\n"
                    + "policy: {subscriber_ranges: [100.64.0.0/10], reject_mark: 0x80000000}"
            ))
        #expect(text.contains("@policed_ports queue num 4-7 bypass comment \"egress25 rules "))
        #expect(!text.contains("fanout"))
        // A single-bit reject mark takes the next bit (below it, for bit 31) for the accept mark; the mask covers
        // both.
        #expect(text.contains("meta mark & 0xc0000000 == 0x80000000 "))
        let masked = NftablesRenderer.render(
            try Self.rules("policy: {subscriber_ranges: [100.64.0.0/10], reject_mark: 0x1, reject_mask: 0xf}"))
        #expect(masked.contains("meta mark & 0x0000000f == 0x00000001 reject with tcp reset"))
        // fail_policy closed (the default): a SYN without the accept mark was not judged, or its mark was rewritten.
        #expect(masked.contains("ip daddr != @relays_v4 meta mark & 0x0000000f != 0x00000002 drop"))
        #expect(!text.contains("!= 0x40000000 drop"), "fail open: a bypassed SYN carries no accept mark")
    }

    @Test("the fingerprint changes with everything the rules encode, and only with that")
    func fingerprint() throws {
        let base = try Self.rules("policy: {subscriber_ranges: [100.64.0.0/10], relay_hosts: [192.0.2.25]}")
        #expect(base.fingerprint.count == 16)
        #expect(
            try Self.rules("policy: {subscriber_ranges: [100.64.0.0/10], relay_hosts: [192.0.2.25], mode: shadow}")
                .fingerprint == base.fingerprint, "the mode is the daemon's business")
        for variant in [
            "policy: {subscriber_ranges: [100.64.0.0/11], relay_hosts: [192.0.2.25]}",
            "policy: {subscriber_ranges: [100.64.0.0/10], relay_hosts: [192.0.2.26]}",
            "policy: {subscriber_ranges: [100.64.0.0/10], relay_hosts: [192.0.2.25], ports: [25, 2525]}",
            "policy: {subscriber_ranges: [100.64.0.0/10], relay_hosts: [192.0.2.25], reject_mark: 0x40}",
            "policy: {subscriber_ranges: [100.64.0.0/10], relay_hosts: [192.0.2.25], reject_mask: 0xff}",
            "policy: {subscriber_ranges: [100.64.0.0/10], relay_hosts: [192.0.2.25], accept_mark: 0x4}",
            "policy: {subscriber_ranges: [100.64.0.0/10], relay_hosts: [192.0.2.25], guard_non_syn: true}",
            "queue: {numbers: 1}\npolicy: {subscriber_ranges: [100.64.0.0/10], relay_hosts: [192.0.2.25]}",
            "queue: {fail_policy: open}\npolicy: {subscriber_ranges: [100.64.0.0/10], relay_hosts: [192.0.2.25]}",
        ] {
            #expect(try Self.rules(variant).fingerprint != base.fingerprint, "\(variant)")
        }
        // Saved and read back (the last-applied rules file), the rules are the same.
        let decoded = try JSONDecoder().decode(KernelRuleSet.self, from: JSONEncoder().encode(base))
        #expect(decoded == base)
    }

    @Test("the conntrack guard drops non-SYN segments of unknown flows to policed ports, before the queue")
    func conntrackGuard() throws {
        let rules = try Self.rules("policy: {subscriber_ranges: [100.64.0.0/10], guard_non_syn: true}")
        let text = NftablesRenderer.render(rules)
        #expect(
            text.contains(
                "ip saddr @subscribers_v4 tcp dport @policed_ports tcp flags & syn == 0 ct state invalid,new drop"))
        let iptables = IptablesRenderer.iptablesRestoreInput(rules, family: .ipv6)
        #expect(
            iptables.contains(
                "-A EGRESS25-JUDGE -p tcp -m tcp --tcp-flags SYN NONE --dport 25 -m set --match-set "
                    + "egress25-subscribers-v6 src -m conntrack --ctstate NEW,INVALID -j DROP\n"))
    }

    @Test("iptables: queue-num / queue-balance / queue-bypass, SYN without ACK, masked mark")
    func iptablesTargets() throws {
        let rules = try Self.rules("policy: {subscriber_ranges: [100.64.0.0/10]}")
        let single = IptablesRenderer.iptablesRestoreInput(rules, family: .ipv4)
        #expect(
            single == """
                *mangle
                :EGRESS25-JUDGE - [0:0]
                :EGRESS25-FIRSTFRAG - [0:0]
                -A EGRESS25-FIRSTFRAG -p tcp -m u32 --u32 "0>>22&0x3C@16&0x0=0x0" -j RETURN
                -A EGRESS25-FIRSTFRAG ! -p tcp -j RETURN
                -A EGRESS25-FIRSTFRAG -j DROP
                -A EGRESS25-JUDGE -p tcp -m set --match-set egress25-subscribers-v4 src -m u32 --u32 "4&0x1FFF=1" \
                -j DROP
                -A EGRESS25-JUDGE -p tcp -m set --match-set egress25-subscribers-v4 src -m u32 \
                --u32 "4&0x3FFF=0x2000" -j EGRESS25-FIRSTFRAG
                -A EGRESS25-JUDGE -p tcp -m tcp --tcp-flags SYN,ACK SYN --dport 25 -m set \
                --match-set egress25-subscribers-v4 src -m mark --mark 0x25/0x25 -j RETURN
                -A EGRESS25-JUDGE -p tcp -m tcp --tcp-flags SYN,ACK SYN --dport 25 -m set \
                --match-set egress25-subscribers-v4 src -m set --match-set egress25-relays-v4 dst -j RETURN
                -A EGRESS25-JUDGE -p tcp -m tcp --tcp-flags SYN,ACK SYN --dport 25 -m set \
                --match-set egress25-subscribers-v4 src -m comment --comment "\(rules.fingerprintComment)" \
                -j NFQUEUE --queue-num 0
                COMMIT
                *filter
                :EGRESS25-ENFORCE - [0:0]
                -A EGRESS25-ENFORCE -p tcp -m tcp --tcp-flags SYN,ACK SYN --dport 25 -m set \
                --match-set egress25-subscribers-v4 src -m mark --mark 0x25/0x25 -j REJECT --reject-with tcp-reset
                -A EGRESS25-ENFORCE -p tcp -m tcp --tcp-flags SYN,ACK SYN --dport 25 -m set \
                --match-set egress25-subscribers-v4 src -m set --match-set egress25-relays-v4 dst -j RETURN
                -A EGRESS25-ENFORCE -p tcp -m tcp --tcp-flags SYN,ACK SYN --dport 25 -m set \
                --match-set egress25-subscribers-v4 src -m mark ! --mark 0x20/0x25 -j DROP
                COMMIT

                """)
        let balanced = IptablesRenderer.iptablesRestoreInput(
            try Self.rules(
                "queue: {numbers: [0, 1, 2, 3], fail_policy: open}\npolicy: {subscriber_ranges: [2001:db8::/32]}"),
            family: .ipv6)
        #expect(balanced.contains(" -j NFQUEUE --queue-balance 0:3 --queue-bypass\n"))
        #expect(balanced.contains("--match-set egress25-relays-v6 dst -j RETURN\n"))
        #expect(
            balanced.contains(
                "-A EGRESS25-JUDGE -m set --match-set egress25-subscribers-v6 src -m frag --fragfirst "
                    + "-j EGRESS25-FIRSTFRAG\n"))
        // IPv6 has no offset-1 rule (RFC 8200/5722: receivers drop overlapping fragments) and no u32.
        #expect(!balanced.contains("u32"))
        // fail_policy open: a SYN without the accept mark may have passed the queue by bypass, so it is not dropped.
        #expect(!balanced.contains("! --mark"))
    }

    @Test("nftables: offset-1 fragments dropped and first fragments checked first, then the reject, relays, queue")
    func nftablesFragments() throws {
        let rules = try Self.rules(
            "queue: {numbers: 2-3, fail_policy: open}\n"
                + "policy: {subscriber_ranges: [100.64.0.0/10, 2001:db8::/32], relay_hosts: [192.0.2.25]}")
        let text = NftablesRenderer.render(rules)
        let judge = try #require(text.range(of: "\tchain judge {\n"))
        let enforce = try #require(text.range(of: "\tchain enforce {\n"))
        let judgeRules = text[judge.upperBound..<enforce.lowerBound].split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("ip") }
        let syn = "tcp flags & (syn | ack) == syn tcp dport @policed_ports"
        let mark = "meta mark & 0x00000025 == 0x00000025"
        let queue = "queue num 2-3 bypass comment \"\(rules.fingerprintComment)\""
        #expect(
            judgeRules == [
                "ip saddr @subscribers_v4 ip protocol tcp ip frag-off & 0x1fff == 1 drop",
                "ip saddr @subscribers_v4 ip protocol tcp ip frag-off & 0x3fff == 0x2000 "
                    + "jump subscriber_first_fragment",
                "ip6 saddr @subscribers_v6 frag frag-off 0 jump subscriber_first_fragment",
                "ip saddr @subscribers_v4 \(syn) \(mark) reject with tcp reset",
                "ip6 saddr @subscribers_v6 \(syn) \(mark) reject with tcp reset",
                "ip saddr @subscribers_v4 \(syn) ip daddr @relays_v4 accept",
                "ip saddr @subscribers_v4 \(syn) \(queue)",
                "ip6 saddr @subscribers_v6 \(syn) ip6 daddr @relays_v6 accept",
                "ip6 saddr @subscribers_v6 \(syn) \(queue)",
            ])
        let firstFragment = try #require(text.range(of: "\tchain subscriber_first_fragment {\n"))
        #expect(
            text[firstFragment.upperBound...].hasPrefix(
                "\t\ttcp urgptr >= 0 return\n\t\tmeta l4proto != tcp return\n\t\tdrop\n\t}\n"))
        let enforceRules = text[enforce.upperBound...].split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("ip") }
        #expect(
            enforceRules == [
                "ip saddr @subscribers_v4 \(syn) \(mark) reject with tcp reset",
                "ip6 saddr @subscribers_v6 \(syn) \(mark) reject with tcp reset",
            ])
    }

    @Test("iptables: offset-1 fragments dropped and first fragments checked before the relay fast path")
    func iptablesFragmentOrder() throws {
        let text = IptablesRenderer.iptablesRestoreInput(
            try Self.rules("policy: {subscriber_ranges: [10.0.0.0/8], ports: [25, 587]}"), family: .ipv4)
        let judge = text.split(separator: "\n").filter { $0.hasPrefix("-A EGRESS25-JUDGE ") }
        #expect(judge.count == 5)
        #expect(judge[0].hasSuffix("-m u32 --u32 \"4&0x1FFF=1\" -j DROP"))
        #expect(judge[1].hasSuffix("-m u32 --u32 \"4&0x3FFF=0x2000\" -j EGRESS25-FIRSTFRAG"))
        // Neither fragment rule looks at ports or flags: a tiny fragment has neither.
        #expect(!judge[0].contains("dport") && !judge[1].contains("dport"))
    }

    @Test("iptables: more than 15 ports are split over multiport rules")
    func iptablesManyPorts() throws {
        let ports = (1...17).map { String(1000 + $0) }.joined(separator: ", ")
        let text = IptablesRenderer.iptablesRestoreInput(
            try Self.rules("policy: {subscriber_ranges: [10.0.0.0/8], ports: [\(ports)]}"), family: .ipv4)
        #expect(
            text.contains(
                "-m multiport --dports 1001,1002,1003,1004,1005,1006,1007,1008,1009,1010,1011,1012,1013,1014,1015 "))
        #expect(text.contains("-m multiport --dports 1016,1017 "))
        #expect(text.components(separatedBy: "-j NFQUEUE").count - 1 == 2)
        #expect(text.components(separatedBy: "-j REJECT").count - 1 == 2)
    }

    @Test("nftables: more than four elements are written one per line")
    func nftablesLongSet() throws {
        let text = NftablesRenderer.render(
            try Self.rules(
                "policy: {subscriber_ranges: [10.0.0.0/8, 100.64.0.0/10, 172.16.0.0/12, 192.168.0.0/16, 198.18.0.0/15]}"
            ))
        #expect(
            text.contains(
                "\t\telements = {\n\t\t\t10.0.0.0/8,\n\t\t\t100.64.0.0/10,\n\t\t\t172.16.0.0/12,\n"
                    + "\t\t\t192.168.0.0/16,\n"
                    + "\t\t\t198.18.0.0/15\n\t\t}\n"))
    }

    @Test("ipset: sets are refilled under a temporary name and swapped in; /0 becomes two halves")
    func ipsetInput() throws {
        let text = IptablesRenderer.ipsetRestoreInput(
            try Self.rules("policy: {subscriber_ranges: [0.0.0.0/0, 2001:db8::/32], relay_hosts: [192.0.2.25]}"))
        #expect(
            text.hasPrefix(
                """
                create egress25-subscribers-v4 hash:net family inet maxelem 1048576 -exist
                create egress25-subscribers-v4-new hash:net family inet maxelem 1048576 -exist
                flush egress25-subscribers-v4-new
                add egress25-subscribers-v4-new 0.0.0.0/1
                add egress25-subscribers-v4-new 128.0.0.0/1
                create egress25-relays-v4 hash:net family inet maxelem 1048576 -exist
                """))
        #expect(text.contains("add egress25-relays-v4-new 192.0.2.25\n"))
        #expect(text.contains("create egress25-subscribers-v6 hash:net family inet6 maxelem 1048576 -exist\n"))
        #expect(text.contains("add egress25-subscribers-v6-new 2001:db8::/32\n"))
        #expect(text.hasSuffix("swap egress25-relays-v6-new egress25-relays-v6\ndestroy egress25-relays-v6-new\n"))
    }

    @Test(
        "each reference copy in rules/ is exactly what deploy/egress25.yaml renders",
        arguments: [("rules/egress25.nft", "nftables"), ("rules/egress25-iptables.sh", "iptables")])
    func referenceFile(file: String, backend: String) throws {
        let configuration = try ConfigurationLoader.load(path: packageRoot + "/deploy/egress25.yaml")
        let rules = KernelRuleSet(configuration: configuration)
        let rendered =
            backend == "nftables"
            ? NftablesRenderer.render(rules, source: "deploy/egress25.yaml")
            : IptablesRenderer.renderScript(rules, source: "deploy/egress25.yaml")
        let reference = try readTextFile(packageRoot + "/" + file)
        #expect(
            rendered == reference,
            "regenerate with: egress25ctl rules show --config deploy/egress25.yaml --backend \(backend) > \(file)")
    }
}
