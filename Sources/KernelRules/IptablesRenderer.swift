import Egress25Core

/// Renders a ``KernelRuleSet`` for iptables/ip6tables and ipset: the form for kernels without the nftables
/// `queue` expression. Equivalent to ``NftablesRenderer`` (see rules/egress25-iptables.sh and rules/README.md):
///
/// - ipsets `egress25-subscribers-v4`/`-v6` and `egress25-relays-v4`/`-v6` (`hash:net`, family inet/inet6),
///   staged under a temporary name (`…-new`) and swapped in only after the chains are committed;
/// - chain `EGRESS25-FIRSTFRAG` (mangle): a first fragment returns only when it holds the TCP header (IPv4: u32
///   proves the 4 bytes at IHL*4+16 exist; IPv6: the tcp match loads the header up to the flags) or a known
///   non-TCP transport; anything else → `DROP` (RFC 7112, RFC 1858);
/// - chain `EGRESS25-JUDGE` (mangle, reached from FORWARD), from subscribers only: an IPv4 TCP fragment at
///   offset 1 → `DROP` (RFC 3128); first fragments → `EGRESS25-FIRSTFRAG`; optionally the conntrack guard; a SYN
///   (`--tcp-flags SYN,ACK SYN`, so SYN+FIN is judged too) to a policed port already carrying the reject mark →
///   `RETURN` (never queued twice); to a relay → `RETURN`; else → `NFQUEUE` (`--queue-num N` /
///   `--queue-balance A:B`, `--queue-bypass` with fail_policy open) with the rules' fingerprint as comment;
/// - chain `EGRESS25-ENFORCE` (filter, its jump kept first in FORWARD): a subscriber's SYN to a policed port with
///   the reject mark under the mask → `REJECT --reject-with tcp-reset`; with fail_policy closed, relays →
///   `RETURN`, then such a SYN without the accept mark → `DROP`.
///
/// The chains are replaced atomically with `iptables-restore --noflush` (declaring a chain flushes it in the
/// same commit). The jumps are added once, checked with `-C` first: `-I FORWARD 1` in filter, so the reject
/// comes before the router's own accept rules; `-A FORWARD` in mangle, so rules already there (such as TCPMSS
/// clamping of SYNs) still see the SYNs that egress25d accepts (an NFQUEUE accept ends the table's chain).
public enum IptablesRenderer {
    /// An IP family handled by one of `iptables`/`ip6tables`.
    public enum Family: Sendable, Hashable, CaseIterable {
        case ipv4, ipv6

        /// `iptables` or `ip6tables`.
        public var iptables: String { self == .ipv4 ? "iptables" : "ip6tables" }
        /// `iptables-restore` or `ip6tables-restore`.
        public var iptablesRestore: String { iptables + "-restore" }
        /// `v4` or `v6`, the suffix of set names.
        var suffix: String { self == .ipv4 ? "v4" : "v6" }
        /// The ipset family: `inet` or `inet6`.
        var ipsetFamily: String { self == .ipv4 ? "inet" : "inet6" }
    }

    /// `EGRESS25-JUDGE`, in table mangle.
    static let judgeChain = "EGRESS25-JUDGE"
    /// `EGRESS25-ENFORCE`, in table filter.
    static let enforceChain = "EGRESS25-ENFORCE"
    /// `EGRESS25-FIRSTFRAG`, in table mangle: the header check of subscribers' first fragments (RFC 7112).
    static let firstFragmentChain = "EGRESS25-FIRSTFRAG"
    /// Every chain egress25 creates, with its table, in the order they are removed (referencing chains first).
    public static let chains: [(table: String, chain: String)] = [
        ("mangle", judgeChain), ("mangle", firstFragmentChain), ("filter", enforceChain),
    ]
    /// Suffix of the temporary set filled before `ipset swap`.
    static let temporarySuffix = "-new"
    /// ipset `maxelem` of every set (memory grows with the actual entries, not with this limit).
    static let maximumElements = 1 << 20

    /// `egress25-subscribers-v4` / `-v6`.
    static func subscriberSet(_ family: Family) -> String { "egress25-subscribers-\(family.suffix)" }
    /// `egress25-relays-v4` / `-v6`.
    static func relaySet(_ family: Family) -> String { "egress25-relays-\(family.suffix)" }

    /// Every ipset name egress25 may create (the sets and their temporaries), for removal.
    static var allSetNames: [String] {
        Family.allCases.flatMap { family in
            [subscriberSet(family), relaySet(family)].flatMap { [$0, $0 + temporarySuffix] }
        }
    }

    /// A jump from a built-in chain into one of ours.
    public struct Jump: Sendable, Hashable {
        /// `mangle` or `filter`.
        public var table: String
        /// Our chain.
        public var chain: String
        /// `true`: inserted at position 1 (`-I FORWARD 1`); `false`: appended (`-A FORWARD`).
        public var insertFirst: Bool

        /// Arguments after `iptables -w`: `-t TABLE OP FORWARD -j CHAIN` with OP `-C`, `-D`, `-I … 1` or `-A`.
        func arguments(_ operation: String) -> [String] {
            var arguments = ["-t", table, operation, "FORWARD"]
            if operation == "-I" { arguments.append("1") }
            return arguments + ["-j", chain]
        }

        var addOperation: String { insertFirst ? "-I" : "-A" }
    }

    /// The two jumps: mangle FORWARD → `EGRESS25-JUDGE` (appended), filter FORWARD → `EGRESS25-ENFORCE`
    /// (inserted first).
    public static let jumps = [
        Jump(table: "mangle", chain: judgeChain, insertFirst: false),
        Jump(table: "filter", chain: enforceChain, insertFirst: true),
    ]

    /// Input for `ipset restore`: creates missing sets and replaces the content of all four atomically
    /// (temporary set, `swap`, `destroy`): ``ipsetStageInput(_:)`` followed by ``ipsetSwapInput``.
    public static func ipsetRestoreInput(_ rules: KernelRuleSet) -> String {
        ipsetStageInput(rules) + ipsetSwapInput
    }

    /// Input for `ipset restore` that changes nothing the kernel matches on: creates the sets if missing
    /// (empty), and fills the temporary sets (`…-new`) with the new content.
    static func ipsetStageInput(_ rules: KernelRuleSet) -> String {
        var out = ""
        for family in Family.allCases {
            let contents = [
                (subscriberSet(family), family == .ipv4 ? rules.subscribersV4 : rules.subscribersV6),
                (relaySet(family), family == .ipv4 ? rules.relaysV4 : rules.relaysV6),
            ]
            for (name, prefixes) in contents {
                let temporary = name + temporarySuffix
                let create = "hash:net family \(family.ipsetFamily) maxelem \(maximumElements) -exist"
                out += "create \(name) \(create)\n"
                out += "create \(temporary) \(create)\n"
                out += "flush \(temporary)\n"
                for prefix in prefixes.flatMap(ipsetPrefixes) {
                    out += "add \(temporary) \(prefix)\n"
                }
            }
        }
        return out
    }

    /// Input for `ipset restore` that swaps the staged sets in (each swap is atomic) and destroys the temporaries.
    static var ipsetSwapInput: String {
        var out = ""
        for family in Family.allCases {
            for name in [subscriberSet(family), relaySet(family)] {
                out += "swap \(name + temporarySuffix) \(name)\n"
                out += "destroy \(name + temporarySuffix)\n"
            }
        }
        return out
    }

    /// `hash:net` takes prefix lengths from 1: a `/0` becomes its two halves.
    static func ipsetPrefixes(_ prefix: IPPrefix) -> [String] {
        guard prefix.length == 0 else { return [prefix.ruleText] }
        return prefix.address.isIPv4 ? ["0.0.0.0/1", "128.0.0.0/1"] : ["::/1", "8000::/1"]
    }

    /// Input for `iptables-restore --noflush` / `ip6tables-restore --noflush`: our three chains, complete.
    public static func iptablesRestoreInput(_ rules: KernelRuleSet, family: Family) -> String {
        let subscribers = "-m set --match-set \(subscriberSet(family)) src"
        let relays = "-m set --match-set \(relaySet(family)) dst"
        let syn = "-p tcp -m tcp --tcp-flags SYN,ACK SYN"
        let mark = "-m mark --mark 0x\(String(rules.rejectMark, radix: 16))/0x\(String(rules.rejectMask, radix: 16))"
        let queue = queueTarget(rules)
        var out = "*mangle\n:\(judgeChain) - [0:0]\n:\(firstFragmentChain) - [0:0]\n"
        // A first fragment must carry the whole TCP header, or a known non-TCP transport. IPv4: u32 reads the
        // 4 bytes at IHL*4 + 16 (checksum, urgent pointer) and fails when they lie past the fragment's end.
        // IPv6 (no fixed offset): the tcp match loads the header up to the flags (a header cut before them
        // matches neither flag rule); one cut after the flags is queued and egress25d drops it as malformed.
        if family == .ipv4 {
            out += "-A \(firstFragmentChain) -p tcp \(wholeTCPHeaderMatch) -j RETURN\n"
        } else {
            out += "-A \(firstFragmentChain) -p tcp -m tcp --tcp-flags SYN SYN -j RETURN\n"
            out += "-A \(firstFragmentChain) -p tcp -m tcp --tcp-flags SYN NONE -j RETURN\n"
        }
        out += "-A \(firstFragmentChain) ! -p tcp -j RETURN\n"
        out += "-A \(firstFragmentChain) -j DROP\n"
        if family == .ipv4 {
            out += "-A \(judgeChain) -p tcp \(subscribers) \(offset1Match) -j DROP\n"
            out += "-A \(judgeChain) -p tcp \(subscribers) \(firstFragmentMatch) -j \(firstFragmentChain)\n"
        } else {
            out += "-A \(judgeChain) \(subscribers) \(ipv6FirstOrAtomicFragmentMatch) -j \(firstFragmentChain)\n"
        }
        let portMatches = portMatches(rules.ports)
        if rules.guardNonSYN {
            for ports in portMatches {
                out += "-A \(judgeChain) -p tcp -m tcp --tcp-flags SYN NONE \(ports) \(subscribers)"
                out += " -m conntrack --ctstate NEW,INVALID -j DROP\n"
            }
        }
        // A SYN that already carries the reject mark (a block answered with NF_REPEAT) is never queued again:
        // EGRESS25-ENFORCE rejects it.
        for ports in portMatches {
            out += "-A \(judgeChain) \(syn) \(ports) \(subscribers) \(mark) -j RETURN\n"
        }
        for ports in portMatches {
            out += "-A \(judgeChain) \(syn) \(ports) \(subscribers) \(relays) -j RETURN\n"
        }
        for ports in portMatches {
            out += "-A \(judgeChain) \(syn) \(ports) \(subscribers)"
            out += " -m comment --comment \"\(rules.fingerprintComment)\" -j \(queue)\n"
        }
        out += "COMMIT\n*filter\n:\(enforceChain) - [0:0]\n"
        for ports in portMatches {
            out += "-A \(enforceChain) \(syn) \(ports) \(subscribers) \(mark) -j REJECT --reject-with tcp-reset\n"
        }
        if !rules.failOpen {
            // fail_policy closed: a SYN egress25d accepted carries accept_mark; one without it was never judged,
            // or a chain between the verdict and here rewrote its mark (hiding a reject mark): dropped.
            let accepted =
                "-m mark ! --mark 0x\(String(rules.acceptMark, radix: 16))/0x\(String(rules.rejectMask, radix: 16))"
            for ports in portMatches {
                out += "-A \(enforceChain) \(syn) \(ports) \(subscribers) \(relays) -j RETURN\n"
            }
            for ports in portMatches {
                out += "-A \(enforceChain) \(syn) \(ports) \(subscribers) \(accepted) -j DROP\n"
            }
        }
        out += "COMMIT\n"
        return out
    }

    /// IPv4 fragment offset 1 (RFC 1858/3128): u32 loads 32 bits at byte 4 (identification, flags + offset).
    static let offset1Match = "-m u32 --u32 \"4&0x1FFF=1\""
    /// IPv4: the TCP header's last 4 bytes (at IHL*4 + 16) are inside the packet.
    static let wholeTCPHeaderMatch = "-m u32 --u32 \"0>>22&0x3C@16&0x0=0x0\""
    /// IPv4 first fragment (MF set, offset 0).
    static let firstFragmentMatch = "-m u32 --u32 \"4&0x3FFF=0x2000\""
    /// IPv6 fragment header with offset 0: a first fragment or an atomic fragment (RFC 6946).
    static let ipv6FirstOrAtomicFragmentMatch = "-m frag --fragfirst"

    /// `--dport 25`, or `-m multiport --dports 25,465,587` (at most 15 ports per rule, so several rules).
    static func portMatches(_ ports: [UInt16]) -> [String] {
        if ports.count == 1 { return ["--dport \(ports[0])"] }
        return stride(from: 0, to: ports.count, by: 15).map { start in
            let chunk = ports[start..<min(start + 15, ports.count)]
            return "-m multiport --dports " + chunk.map(String.init).joined(separator: ",")
        }
    }

    /// `NFQUEUE --queue-num N` or `NFQUEUE --queue-balance A:B` (flow hash), plus `--queue-bypass`.
    static func queueTarget(_ rules: KernelRuleSet) -> String {
        let numbers = rules.queueNumbers
        var text = "NFQUEUE"
        if numbers.lowerBound == numbers.upperBound {
            text += " --queue-num \(numbers.lowerBound)"
        } else {
            text += " --queue-balance \(numbers.lowerBound):\(numbers.upperBound)"
        }
        if rules.failOpen { text += " --queue-bypass" }
        return text
    }

    /// A POSIX shell script doing what ``KernelRulesInstaller`` does for this backend (see
    /// rules/egress25-iptables.sh). `source` (the configuration file) is named in the header comment.
    public static func renderScript(_ rules: KernelRuleSet, source: String? = nil) -> String {
        var out = "#!/bin/sh\n"
        out += "# egress25 kernel rules (iptables + ipset), rendered by `egress25ctl rules show --backend iptables`"
        out += source.map { " from \($0)" } ?? ""
        out += ".\n"
        out += """
            # The equivalent of egress25.nft for kernels without the nftables queue expression (CONFIG_NFT_QUEUE).
            # Idempotent: sets are refilled under a temporary name and swapped in, our chains are replaced in one
            # iptables-restore commit, and each FORWARD jump is added only when `-C` does not find it.
            # Touches only the egress25-* sets, the EGRESS25-* chains and the two jumps to them.
            #
            # mangle FORWARD -> EGRESS25-JUDGE (appended, so rules already there, such as TCPMSS clamping, still
            #   see the SYNs egress25d accepts): SYN without ACK from a subscriber to a policed port:
            #   to a relay -> RETURN (never queued), else -> NFQUEUE. Tiny/overlapping TCP fragments (RFC 1858,
            #   RFC 3128): IPv4 fragment at offset 1 -> DROP (first); IPv4 first fragment under 80 bytes and
            #   IPv6 first fragment -> NFQUEUE whatever the port and flags (egress25d judges a truncated one
            #   malformed). Nothing reassembles here; later fragments cannot become a SYN alone.
            # filter FORWARD -> EGRESS25-ENFORCE (inserted first, before the router's accept rules): SYN to a
            #   policed port whose mark has all reject-mark bits set -> REJECT with a TCP reset; a marked TCP
            #   first fragment -> DROP.
            set -eu

            ipset restore <<'RULES'

            """
        out += ipsetStageInput(rules)
        out += "RULES\n"
        for family in Family.allCases {
            out += "\n\(family.iptablesRestore) -w --noflush <<'RULES'\n"
            out += iptablesRestoreInput(rules, family: family)
            out += "RULES\n"
        }
        out += "\nipset restore <<'RULES'\n" + ipsetSwapInput + "RULES\n\n"
        for family in Family.allCases {
            for jump in jumps {
                let check = ([family.iptables, "-w"] + jump.arguments("-C")).joined(separator: " ")
                let add = ([family.iptables, "-w"] + jump.arguments(jump.addOperation)).joined(separator: " ")
                out += "\(check) 2>/dev/null || \(add)\n"
            }
        }
        return out
    }
}
