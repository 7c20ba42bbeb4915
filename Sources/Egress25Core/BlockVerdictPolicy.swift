/// How a blocked SYN is refused (`policy.block_action`).
public enum BlockAction: String, Sendable, CaseIterable {
    /// Verdict accept with the reject mark set; a later kernel rule answers with a TCP reset, so the client
    /// fails at once instead of retrying for minutes. The default.
    case reject
    /// Verdict drop: the client sees a timeout.
    case drop
}

/// The verdict the judge gives one queued packet, in the terms of `include/uapi/linux/netfilter.h`; the daemon
/// maps it one to one onto its NFQUEUE verdict (the core knows nothing of netlink).
public enum JudgeVerdict: Hashable, Sendable {
    /// `NF_ACCEPT` (1), with the packet's mark set to `mark` (`NFQA_MARK`).
    case accept(mark: UInt32)
    /// `NF_DROP` (0): discard the packet silently; the mark is left as it was.
    case drop
    /// `NF_REPEAT` (4), with the packet's mark set to `mark`: the kernel runs the packet through the nftables base
    /// chain that queued it again, so a rule at its top acts on the mark before any other chain of the hook.
    case `repeat`(mark: UInt32)
}

/// How a decision becomes a verdict: the block action and the marks (`policy.block_action`, `reject_mark`,
/// `accept_mark`, `reject_mask`), and the verdict style of the installed rules. The judge's input, read once
/// per batch by a queue worker.
public struct BlockVerdictPolicy: Sendable, Hashable {
    /// `reject`: the reject mark is written under the reject mask, so a kernel rule answers with a TCP reset;
    /// `drop`: drop silently.
    public var action: BlockAction
    /// The value written under ``rejectMask`` into a blocked SYN (`policy.reject_mark`).
    public var rejectMark: UInt32
    /// The value written under ``rejectMask`` into an accepted SYN (`policy.accept_mark`): with fail_policy
    /// closed the enforce rules drop a subscriber's SYN to a policed port that lacks it.
    public var acceptMark: UInt32
    /// The mark bits egress25 owns (`policy.reject_mask`); all other bits of the packet's mark are kept.
    public var rejectMask: UInt32
    /// `true` when the installed rules are nftables: the blocked SYN gets `NF_REPEAT` instead of `NF_ACCEPT`,
    /// and the rule at the top of chain `judge` rejects it before any other chain of the forward hook could
    /// rewrite the mark. `false` (iptables, or not known yet): `NF_ACCEPT`, and `EGRESS25-ENFORCE` rejects it.
    public var repeatInJudgeChain: Bool

    /// - Parameters:
    ///   - acceptMark: default ``defaultAcceptMark(rejectMark:)``.
    ///   - rejectMask: default `rejectMark | acceptMark`.
    public init(
        action: BlockAction, rejectMark: UInt32, acceptMark: UInt32? = nil, rejectMask: UInt32? = nil,
        repeatInJudgeChain: Bool = false
    ) {
        self.action = action
        self.rejectMark = rejectMark
        (self.acceptMark, self.rejectMask) = Self.marks(
            rejectMark: rejectMark, acceptMark: acceptMark, rejectMask: rejectMask)
        self.repeatInJudgeChain = repeatInJudgeChain
    }

    /// `acceptMark` and `rejectMask` with their defaults filled in, as the configuration, the kernel rules and
    /// the judge all resolve them: `acceptMark` defaults to ``defaultAcceptMark(rejectMark:)``, `rejectMask` to
    /// `rejectMark | acceptMark`.
    public static func marks(
        rejectMark: UInt32, acceptMark: UInt32?, rejectMask: UInt32?
    ) -> (acceptMark: UInt32, rejectMask: UInt32) {
        let acceptMark = acceptMark ?? defaultAcceptMark(rejectMark: rejectMark)
        return (acceptMark, rejectMask ?? (rejectMark | acceptMark))
    }

    /// The default `accept_mark`: the highest bit of `rejectMark` when it has more than one (no new mark bit is
    /// taken), else the bit above it (below it for bit 31).
    public static func defaultAcceptMark(rejectMark: UInt32) -> UInt32 {
        let highest = rejectMark == 0 ? 0 : UInt32(1) << (31 - UInt32(rejectMark.leadingZeroBitCount))
        if highest != rejectMark { return highest }
        return rejectMark & 0x8000_0000 == 0 ? rejectMark << 1 : rejectMark >> 1
    }

    /// The verdict for `decision` on a packet whose mark is `existingMark`: accept with ``acceptMark`` under
    /// ``rejectMask``, or the block verdict. A malformed or truncated packet (say, a first fragment whose header
    /// chain ends before TCP) is dropped whatever the block action: the reject rules match only a complete TCP
    /// SYN, so a mark would let it through.
    @inlinable @inline(__always)
    public func verdict(for decision: Decision, existingMark: UInt32) -> JudgeVerdict {
        if decision.verdict == .accept { return .accept(mark: existingMark & ~rejectMask | acceptMark) }
        if decision.reason == .malformed { return .drop }
        return verdict(existingMark: existingMark)
    }

    /// The verdict for a blocked packet whose mark is `existingMark`: ``rejectMark`` under ``rejectMask`` by
    /// `NF_ACCEPT` (or `NF_REPEAT` when ``repeatInJudgeChain``), or `NF_DROP` for the action `drop`.
    @inlinable @inline(__always)
    public func verdict(existingMark: UInt32) -> JudgeVerdict {
        switch action {
        case .reject:
            let mark = existingMark & ~rejectMask | rejectMark
            return repeatInJudgeChain ? .repeat(mark: mark) : .accept(mark: mark)
        case .drop: return .drop
        }
    }
}
