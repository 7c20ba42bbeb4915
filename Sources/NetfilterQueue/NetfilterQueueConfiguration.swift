/// How one NFQUEUE queue is bound and configured.
///
/// Sent to the kernel in a single `NFQNL_MSG_CONFIG` message (bind command, copy parameters,
/// maximum length and flags); see `include/uapi/linux/netfilter/nfnetlink_queue.h`.
public struct NetfilterQueueConfiguration: Hashable, Sendable {
    /// Copy range large enough for an IPv6 header (40 bytes), a chain of extension headers
    /// (hop-by-hop, routing, fragment, destination options: typically 8–24 bytes each)
    /// and the fixed TCP header (20 bytes). Nothing after the TCP header is needed.
    public static let defaultCopyRange: UInt32 = 160

    /// The queue number (0–65535), as in the `queue num N` / `--queue-num N` rule.
    public var queueNumber: UInt16
    /// The kernel's maximum number of packets waiting for a verdict on this queue.
    public var maxLength: UInt32
    /// Bytes of each packet copied to user space, from the start of the IP header.
    public var copyRange: UInt32
    /// Sets `NFQA_CFG_F_FAIL_OPEN`: when the queue is full the kernel accepts packets instead of dropping them.
    public var failOpen: Bool
    /// Socket receive buffer in bytes, set with `SO_RCVBUFFORCE` (falls back to `SO_RCVBUF`).
    public var receiveBufferBytes: Int
    /// Maximum packets read by one `recvmmsg(2)` call and answered by one verdict `sendto(2)` (1–1024).
    public var batchSize: Int
    /// How long one receive call blocks when no packet arrives, in ms; bounds how long shutdown
    /// and liveness checks wait.
    public var receiveTimeoutMilliseconds: Int

    /// Creates a configuration; the defaults are 4096 packets, ``defaultCopyRange`` bytes, fail closed, a 64 MiB
    /// receive buffer, batches of 64 and a 200 ms receive timeout.
    public init(
        queueNumber: UInt16,
        maxLength: UInt32 = 4096,
        copyRange: UInt32 = Self.defaultCopyRange,
        failOpen: Bool = false,
        receiveBufferBytes: Int = 64 << 20,
        batchSize: Int = 64,
        receiveTimeoutMilliseconds: Int = 200
    ) {
        self.queueNumber = queueNumber
        self.maxLength = maxLength
        self.copyRange = copyRange
        self.failOpen = failOpen
        self.receiveBufferBytes = receiveBufferBytes
        self.batchSize = batchSize
        self.receiveTimeoutMilliseconds = receiveTimeoutMilliseconds
    }
}
