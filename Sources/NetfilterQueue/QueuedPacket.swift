/// One packet the kernel queued for a verdict, valid only inside the judging closure.
///
/// Fields come from the `NFQNL_MSG_PACKET` message attributes (`NFQA_PACKET_HDR`, `NFQA_MARK`,
/// `NFQA_PAYLOAD`); see `include/uapi/linux/netfilter/nfnetlink_queue.h`.
public struct QueuedPacket {
    /// The kernel's packet id (host order), echoed in the verdict.
    public var id: UInt32
    /// The link-layer protocol (EtherType, host order): 0x0800 IPv4, 0x86DD IPv6.
    public var hardwareProtocol: UInt16
    /// The netfilter hook the packet was queued from (`NF_INET_FORWARD` = 2, ...).
    public var hook: UInt8
    /// The packet's mark when it was queued (0 if the kernel sent none).
    public var mark: UInt32
    /// The copied bytes, starting at the IP header; at most the configured copy range.
    /// Points into the receive buffer: do not keep it beyond the judging closure.
    public var payload: UnsafeRawBufferPointer
    // Created by the socket only, with the synthesized (internal) memberwise initializer.
}

/// The verdict for one queued packet.
public struct PacketVerdict: Hashable, Sendable {
    /// `NF_DROP` (0) or `NF_ACCEPT` (1), from `include/uapi/linux/netfilter.h`.
    public var verdict: UInt32
    /// The mark to set on the packet, or `nil` to leave it unchanged (`NFQA_MARK`).
    public var mark: UInt32?

    /// Let the packet continue through the ruleset unchanged.
    public static let accept = PacketVerdict(verdict: 1, mark: nil)
    /// Discard the packet silently.
    public static let drop = PacketVerdict(verdict: 0, mark: nil)

    /// Accept the packet and set its mark (a later rule can reject it by mark).
    public static func accept(mark: UInt32) -> PacketVerdict {
        PacketVerdict(verdict: 1, mark: mark)
    }

    /// `NF_REPEAT` (4) with a mark: the kernel runs the packet through the same hook entry (the nftables base
    /// chain that queued it) again, now carrying `mark`, so a rule at the top of that chain can act on the mark
    /// before any other chain of the hook sees the packet.
    public static func `repeat`(mark: UInt32) -> PacketVerdict {
        PacketVerdict(verdict: 4, mark: mark)
    }
}
