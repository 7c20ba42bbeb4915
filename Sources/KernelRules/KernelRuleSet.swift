import Egress25Configuration
import Egress25Core

/// What the kernel must know, derived from the configuration: the sets, the policed ports, the queues and
/// the reject mark. Both renderers (nftables and iptables/ipset) read only this value, so the kernel's sets
/// and the daemon's policy come from the same file and never drift.
///
/// Prefix lists are per address family, sorted, and without prefixes covered by another one of the list
/// (nftables interval sets refuse overlapping elements).
public struct KernelRuleSet: Sendable, Hashable {
    /// IPv4 subscriber ranges: only SYNs from these are policed.
    public var subscribersV4: [IPPrefix]
    /// IPv6 subscriber ranges.
    public var subscribersV6: [IPPrefix]
    /// IPv4 relay hosts without a port restriction: SYNs to them are accepted in the kernel, before the queue,
    /// so relay mail flows even while the daemon is down (fail_policy closed). Relay hosts restricted to some
    /// ports are judged by the daemon.
    public var relaysV4: [IPPrefix]
    /// IPv6 relay hosts without a port restriction.
    public var relaysV6: [IPPrefix]
    /// Policed TCP destination ports, ascending.
    public var ports: [UInt16]
    /// NFQUEUE queue numbers (contiguous, ascending); SYNs are spread over them by flow hash.
    public var queueNumbers: ClosedRange<UInt16>
    /// `fail_policy: open`: the kernel accepts SYNs while no daemon listens (NFQUEUE bypass flag).
    public var failOpen: Bool
    /// A subscriber's SYN to a policed port whose mark, under ``rejectMask``, equals this value is rejected
    /// with a TCP reset (nonzero).
    public var rejectMark: UInt32
    /// The value a SYN the daemon accepted carries under ``rejectMask``. With fail_policy closed, a subscriber's
    /// SYN to a policed port (not to a kernel relay) reaching the enforce rules without it is dropped.
    public var acceptMark: UInt32
    /// The mark bits the rules compare (covers ``rejectMark`` and ``acceptMark``).
    public var rejectMask: UInt32
    /// `policy.guard_non_syn`: the conntrack guard rule is rendered.
    public var guardNonSYN: Bool

    /// Creates a rule set. Prefix lists are normalized (sorted, covered prefixes removed) and ports sorted
    /// without duplicates; `acceptMark` and `rejectMask` default as
    /// ``BlockVerdictPolicy/marks(rejectMark:acceptMark:rejectMask:)`` resolves them.
    public init(
        subscribersV4: [IPPrefix], subscribersV6: [IPPrefix], relaysV4: [IPPrefix], relaysV6: [IPPrefix],
        ports: [UInt16], queueNumbers: ClosedRange<UInt16>, failOpen: Bool, rejectMark: UInt32,
        acceptMark: UInt32? = nil, rejectMask: UInt32? = nil, guardNonSYN: Bool = false
    ) {
        self.subscribersV4 = KernelRuleSet.normalized(subscribersV4)
        self.subscribersV6 = KernelRuleSet.normalized(subscribersV6)
        self.relaysV4 = KernelRuleSet.normalized(relaysV4)
        self.relaysV6 = KernelRuleSet.normalized(relaysV6)
        self.ports = Array(Set(ports)).sorted()
        self.queueNumbers = queueNumbers
        self.failOpen = failOpen
        self.rejectMark = rejectMark
        (self.acceptMark, self.rejectMask) = BlockVerdictPolicy.marks(
            rejectMark: rejectMark, acceptMark: acceptMark, rejectMask: rejectMask)
        self.guardNonSYN = guardNonSYN
    }

    /// The rules for `configuration`: its subscriber ranges, its relay hosts without a port restriction,
    /// its policed ports, queue numbers (`first...last`), fail policy and reject mark.
    public init(configuration: Egress25Configuration) {
        let policy = configuration.policy.policy
        let relays = policy.relayHosts.filter { $0.ports == nil }.map(\.prefix)
        let numbers = configuration.queue.numbers.sorted()
        self.init(
            subscribersV4: policy.subscriberRanges.filter(\.address.isIPv4),
            subscribersV6: policy.subscriberRanges.filter { !$0.address.isIPv4 },
            relaysV4: relays.filter(\.address.isIPv4),
            relaysV6: relays.filter { !$0.address.isIPv4 },
            ports: policy.ports,
            queueNumbers: (numbers.first ?? 0)...(numbers.last ?? 0),
            failOpen: configuration.queue.failPolicy == .open,
            rejectMark: configuration.policy.rejectMark,
            acceptMark: configuration.policy.acceptMark,
            rejectMask: configuration.policy.rejectMask,
            guardNonSYN: configuration.policy.guardNonSYN
        )
    }

    /// A canonical one-line description of everything the rules encode, e.g.
    /// `queues=0-3 open=0 mark=0x25/0x25 guard=0 ports=25 sub4=100.64.0.0/10 ...`.
    var canonicalDescription: String {
        func list(_ prefixes: [IPPrefix]) -> String { prefixes.map(\.ruleText).joined(separator: ",") }
        return "queues=\(queueNumbers.lowerBound)-\(queueNumbers.upperBound) open=\(failOpen ? 1 : 0) "
            + "mark=0x\(String(rejectMark, radix: 16))/0x\(String(rejectMask, radix: 16)) "
            + "accept=0x\(String(acceptMark, radix: 16)) guard=\(guardNonSYN ? 1 : 0) "
            + "ports=\(ports.map(String.init).joined(separator: ",")) sub4=\(list(subscribersV4)) "
            + "sub6=\(list(subscribersV6)) relay4=\(list(relaysV4)) relay6=\(list(relaysV6))"
    }

    /// A stable 64-bit FNV-1a hash of ``canonicalDescription``, as 16 hex digits: the same rules give the same
    /// fingerprint in every process (unlike `Hasher`).
    public var fingerprint: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in canonicalDescription.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The comment on the queue rules, `egress25 rules FINGERPRINT q=0-3 mark=0x25/0x25`: egress25d finds its
    /// rules by it and compares the fingerprint with the one its configuration gives (rules drift).
    public var fingerprintComment: String {
        "egress25 rules \(fingerprint) q=\(queueNumbers.lowerBound)-\(queueNumbers.upperBound) "
            + "mark=0x\(String(rejectMark, radix: 16))/0x\(String(rejectMask, radix: 16))"
    }

    /// Sorted, duplicates and prefixes inside another prefix of the list removed.
    static func normalized(_ prefixes: [IPPrefix]) -> [IPPrefix] {
        var result: [IPPrefix] = []
        // Sorted by address then length, an enclosing prefix comes right before everything it covers.
        for prefix in Set(prefixes).sorted() {
            if let last = result.last, last.contains(prefix) { continue }
            result.append(prefix)
        }
        return result
    }
}

/// Which kernel interface installs the rules.
public enum RulesBackend: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// One `table inet egress25`, applied atomically with `nft -f -`. Needs the nft `queue` expression
    /// (`CONFIG_NFT_QUEUE`).
    case nftables
    /// ipsets plus `EGRESS25-JUDGE` (mangle) and `EGRESS25-ENFORCE` (filter) chains in iptables and ip6tables
    /// (legacy or nft variant); the NFQUEUE target is `xt_NFQUEUE`.
    case iptables

    /// `nftables` or `iptables + ipset`.
    public var description: String {
        switch self {
        case .nftables: "nftables"
        case .iptables: "iptables + ipset"
        }
    }
}

extension IPPrefix {
    /// `192.0.2.25` for a host prefix, `100.64.0.0/10` otherwise: the form nft prints and ipset accepts.
    var ruleText: String {
        length == address.bitWidth ? "\(address)" : "\(address)/\(length)"
    }
}
