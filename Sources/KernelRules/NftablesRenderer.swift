/// Renders a ``KernelRuleSet`` as an nftables script for `nft -f -` (the primary form; see rules/egress25.nft and
/// rules/README.md, which explains each rule and the RFC it follows).
///
/// One `table inet egress25` holds everything:
/// - sets `subscribers_v4`/`_v6`, `relays_v4`/`_v6` (interval sets of prefixes) and `policed_ports`;
/// - chain `subscriber_first_fragment`: a first fragment returns only when it holds the whole TCP header
///   (`tcp urgptr` loads) or a known non-TCP transport; anything else is dropped (RFC 7112, RFC 1858);
/// - chain `judge` at the forward hook, priority mangle, from subscribers only: an IPv4 TCP fragment at offset 1
///   → drop (RFC 3128); IPv4 TCP first fragments and IPv6 fragment headers with offset 0 → the first-fragment
///   check; optionally the conntrack guard (`policy.guard_non_syn`); a SYN to a policed port carrying the reject
///   mark under the mask (a block answered with `NF_REPEAT`) → `reject with tcp reset`; a SYN without ACK to a
///   policed port: to a relay → accept (kernel fast path, works while the daemon is down), else → `queue num
///   A-B` (flow hash; `bypass` with fail_policy open) with the rules' fingerprint as comment;
/// - chain `enforce` at the forward hook, priority filter (after `judge`): a subscriber's SYN to a policed port
///   with the reject mark under the mask → `reject with tcp reset` (a block answered with `NF_ACCEPT`); with
///   fail_policy closed, such a SYN not to a relay and without the accept mark → drop (never judged, or its mark
///   was rewritten after the verdict).
///
/// The forward hook is used because the router forwards subscriber traffic; source NAT happens later in
/// postrouting, so `saddr` is still the subscriber's address.
///
/// The script starts with `table inet egress25 {}` and `delete table inet egress25`: `nft -f` runs the whole
/// file as one transaction, so the old table is replaced atomically, applying twice leaves one copy, and
/// nothing outside the table is touched.
public enum NftablesRenderer {
    /// `egress25` (family `inet`).
    static let tableName = "egress25"

    /// The script that deletes the table, succeeding also when it does not exist.
    static let removalScript = "table inet egress25 {}\ndelete table inet egress25\n"

    /// The complete script. `source` (the configuration file) is named in the header comment when given.
    public static func render(_ rules: KernelRuleSet, source: String? = nil) -> String {
        var out = ""
        out += "#!/usr/sbin/nft -f\n"
        out += "# egress25 kernel rules (nftables), rendered by `egress25ctl rules show`"
        out += source.map { " from \($0)" } ?? ""
        out += ".\n"
        out += """
            # Outbound TCP/25 blocking: SYNs from subscribers to the policed ports go to the egress25d judge
            # through NFQUEUE, except SYNs to relay hosts, which the kernel accepts itself.
            #
            # Apply with `nft -f FILE` (or `egress25ctl rules apply`). The whole file is one transaction:
            # the empty declaration lets the delete succeed on first use, so the previous table is replaced
            # atomically, applying twice leaves one copy, and nothing outside table inet egress25 is touched.
            table inet egress25 {}
            delete table inet egress25

            table inet egress25 {

            """
        out += "\t# Subscriber ranges: only SYNs from these addresses are policed.\n"
        out += set("subscribers_v4", type: "ipv4_addr", interval: true, elements: rules.subscribersV4.map(\.ruleText))
        out += set("subscribers_v6", type: "ipv6_addr", interval: true, elements: rules.subscribersV6.map(\.ruleText))
        out += "\t# Relay hosts allowed on every policed port: accepted in the kernel, before the queue, so relay\n"
        out += "\t# mail flows while egress25d is down. Relays restricted to some ports are judged by egress25d.\n"
        out += set("relays_v4", type: "ipv4_addr", interval: true, elements: rules.relaysV4.map(\.ruleText))
        out += set("relays_v6", type: "ipv6_addr", interval: true, elements: rules.relaysV6.map(\.ruleText))
        out += "\t# Policed TCP destination ports.\n"
        out += set("policed_ports", type: "inet_service", interval: false, elements: rules.ports.map(String.init))

        let syn = "tcp flags & (syn | ack) == syn tcp dport @policed_ports"
        let queue = queueStatement(rules) + " comment \"\(rules.fingerprintComment)\""
        let mark = "meta mark & \(hexMark(rules.rejectMask)) == \(hexMark(rules.rejectMark))"
        let v4 = "ip saddr @subscribers_v4"
        let v6 = "ip6 saddr @subscribers_v6"
        out += """
            \t# A TCP first fragment from a subscriber must hold the whole TCP header (ports, flags, up to the
            \t# urgent pointer), and an IPv6 fragment with offset 0 must hold the whole header chain up to the
            \t# transport header (RFC 7112): otherwise nothing below could see whether it is a SYN to a
            \t# policed port, while the destination reassembles one. Such a fragment is dropped, whether the
            \t# daemon runs or not. Known non-TCP transports return unchecked.
            \tchain subscriber_first_fragment {
            \t\ttcp urgptr >= 0 return
            \t\tmeta l4proto != tcp return
            \t\tdrop
            \t}

            \t# Priority mangle: runs before the filter-priority chains of the forward hook.
            \t# 1. Fragments: an IPv4 TCP fragment at offset 1 could only overwrite the TCP flags (RFC 3128):
            \t#    dropped; first fragments go through subscriber_first_fragment. Later fragments cannot
            \t#    become a SYN without their first fragment.
            \t# 2. A SYN egress25d blocked comes back here with NF_REPEAT and the reject mark: reset at once,
            \t#    before any other chain of the hook could rewrite the mark (only subscribers' SYNs to
            \t#    policed ports: a mark on other traffic is never acted on).
            \t# 3. SYN without ACK = the first packet of a connection attempt: to a relay, accepted here (relay
            \t#    mail flows while egress25d is down); everything else goes to the queue.

            """
        out += "\tchain judge {\n\t\ttype filter hook forward priority mangle; policy accept;\n"
        out += "\t\t\(v4) \(v4Fragment) \(v4Offset1) drop\n"
        out += "\t\t\(v4) \(v4Fragment) \(v4First) jump subscriber_first_fragment\n"
        out += "\t\t\(v6) \(v6FirstOrAtomic) jump subscriber_first_fragment\n"
        if rules.guardNonSYN {
            out += "\t\t\(v4) \(nonSYNWithoutConnection)\n"
            out += "\t\t\(v6) \(nonSYNWithoutConnection)\n"
        }
        out += "\t\t\(v4) \(syn) \(mark) reject with tcp reset\n"
        out += "\t\t\(v6) \(syn) \(mark) reject with tcp reset\n"
        out += "\t\t\(v4) \(syn) ip daddr @relays_v4 accept\n"
        out += "\t\t\(v4) \(syn) \(queue)\n"
        out += "\t\t\(v6) \(syn) ip6 daddr @relays_v6 accept\n"
        out += "\t\t\(v6) \(syn) \(queue)\n"
        out += "\t}\n\n"
        let accepted = "meta mark & \(hexMark(rules.rejectMask)) != \(hexMark(rules.acceptMark))"
        out += """
            \t# Priority filter: after judge. A block egress25d answered with NF_ACCEPT and the reject mark
            \t# (before it has seen which backend is installed) is reset here. Only subscribers' SYNs to
            \t# policed ports are looked at. With block_action drop the daemon drops instead.

            """
        if !rules.failOpen {
            out += """
                \t# fail_policy closed: every such SYN not to a kernel relay was judged, and egress25d marked the
                \t# ones it accepted with accept_mark. One without it was never judged, or another chain rewrote
                \t# its mark after the verdict (which could have hidden a reject mark): dropped.

                """
        }
        out += "\tchain enforce {\n\t\ttype filter hook forward priority filter; policy accept;\n"
        out += "\t\t\(v4) \(syn) \(mark) reject with tcp reset\n"
        out += "\t\t\(v6) \(syn) \(mark) reject with tcp reset\n"
        if !rules.failOpen {
            out += "\t\t\(v4) \(syn) ip daddr != @relays_v4 \(accepted) drop\n"
            out += "\t\t\(v6) \(syn) ip6 daddr != @relays_v6 \(accepted) drop\n"
        }
        out += "\t}\n}\n"
        return out
    }

    /// IPv4 TCP (fragments included: `ip protocol`, not a TCP header match).
    static let v4Fragment = "ip protocol tcp"
    /// Fragment offset 1 (8 bytes): RFC 1858 overlapping fragment, never legitimate.
    static let v4Offset1 = "ip frag-off & 0x1fff == 1"
    /// First fragment: MF set, offset 0 (the reserved and DF bits masked off).
    static let v4First = "ip frag-off & 0x3fff == 0x2000"
    /// IPv6 fragment header with offset 0: a first fragment, or an atomic fragment (RFC 6946), whatever the
    /// transport (the transport may not be known yet: RFC 7112).
    static let v6FirstOrAtomic = "frag frag-off 0"
    /// The conntrack guard (`policy.guard_non_syn`): a TCP segment to a policed port without SYN that
    /// conntrack does not know as part of a connection.
    static let nonSYNWithoutConnection = "tcp dport @policed_ports tcp flags & syn == 0 ct state invalid,new drop"

    /// `queue num 0`, `queue num 0-3` (flow hash over the range, not `fanout`, which spreads by CPU), plus
    /// `bypass` with fail_policy open.
    static func queueStatement(_ rules: KernelRuleSet) -> String {
        let numbers = rules.queueNumbers
        var text = "queue num \(numbers.lowerBound)"
        if numbers.upperBound != numbers.lowerBound { text += "-\(numbers.upperBound)" }
        if rules.failOpen { text += " bypass" }
        return text
    }

    static func hexMark(_ mark: UInt32) -> String {
        let digits = String(mark, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    static func set(_ name: String, type: String, interval: Bool, elements: [String]) -> String {
        var out = "\tset \(name) {\n\t\ttype \(type)\n"
        if interval { out += "\t\tflags interval\n" }
        if elements.count > 4 {
            out += "\t\telements = {\n"
            for (index, element) in elements.enumerated() {
                out += "\t\t\t\(element)\(index == elements.count - 1 ? "" : ",")\n"
            }
            out += "\t\t}\n"
        } else if !elements.isEmpty {
            out += "\t\telements = { \(elements.joined(separator: ", ")) }\n"
        }
        out += "\t}\n\n"
        return out
    }
}
