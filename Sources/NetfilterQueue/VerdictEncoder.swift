internal import CNetfilterQueue

/// Encodes `NFQNL_MSG_VERDICT` messages back to back into a caller-owned buffer, so one
/// `sendto(2)` carries the verdicts of a whole batch.
///
/// Wire format (`include/uapi/linux/netfilter/nfnetlink_queue.h`): `nlmsghdr` (16 bytes,
/// host order) + `nfgenmsg` (4 bytes, `res_id` = queue number big-endian) + `NFQA_VERDICT_HDR`
/// (`verdict`, `id`, both big-endian) + optional `NFQA_MARK` (big-endian). 32 bytes without a
/// mark, 40 with one.
public struct VerdictEncoder {
    /// Bytes one verdict message takes at most (with a mark), netlink-aligned.
    public static let maximumMessageSize = 40

    private let buffer: UnsafeMutableRawBufferPointer
    private let queueNumber: UInt16
    /// Bytes encoded so far.
    public private(set) var count: Int = 0

    /// - Parameter buffer: Storage for the batch, at least `maximumMessageSize` bytes per verdict.
    public init(buffer: UnsafeMutableRawBufferPointer, queueNumber: UInt16) {
        self.buffer = buffer
        self.queueNumber = queueNumber
    }

    /// Space for another verdict remains.
    public var hasCapacity: Bool { buffer.count - count >= Self.maximumMessageSize }

    /// Appends the verdict for packet `id`.
    ///
    /// - Precondition: `hasCapacity`.
    public mutating func append(id: UInt32, verdict: PacketVerdict) {
        precondition(hasCapacity, "verdict buffer full")
        // Force unwraps: `hasCapacity` means the buffer holds at least one message, so it has a base address;
        // `nfq_nlmsg_put` returns its buffer argument (libnetfilter_queue `nlmsg.c`), never NULL.
        let start = buffer.baseAddress!.advanced(by: count).assumingMemoryBound(to: CChar.self)
        let header = nfq_nlmsg_put(start, Int32(NFQNL_MSG_VERDICT.rawValue), UInt32(queueNumber))!
        nfq_nlmsg_verdict_put(header, Int32(bitPattern: id), Int32(bitPattern: verdict.verdict))
        if let mark = verdict.mark {
            nfq_nlmsg_verdict_put_mark(header, mark)
        }
        count += Int(header.pointee.nlmsg_len + 3) & ~3
    }

    /// Forgets the encoded verdicts (after they were sent).
    public mutating func reset() {
        count = 0
    }

    /// The encoded bytes.
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<count])
    }
}
