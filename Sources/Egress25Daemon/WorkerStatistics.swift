import Atomics
import Egress25Core

/// Counters one queue worker publishes for metrics and health, updated once per batch
/// (relaxed atomic adds of per-batch sums), read by any thread.
public final class WorkerStatistics: Sendable {
    /// Packets that received a verdict.
    public let judged = ManagedAtomic<UInt64>(0)
    /// Verdict accept (relay, exception, not policed, shadow).
    public let accepted = ManagedAtomic<UInt64>(0)
    /// Verdict block (reject mark or drop).
    public let blocked = ManagedAtomic<UInt64>(0)
    /// Would have been blocked, accepted because `policy.mode` is `shadow`.
    let shadowBlocked = ManagedAtomic<UInt64>(0)
    /// Packets whose headers could not be parsed (blocked).
    public let malformed = ManagedAtomic<UInt64>(0)
    /// Blocked attempts that did not fit in the block-log ring (counted, never waited for).
    let lostBlockLogEvents = ManagedAtomic<UInt64>(0)
    /// Times the queue socket failed and was bound again.
    let rebinds = ManagedAtomic<UInt64>(0)
    /// The netlink port id of the bound socket (0 when unbound), as in `/proc/net/netfilter/nfnetlink_queue`.
    public let portID = ManagedAtomic<UInt32>(0)
    /// Whether the queue is bound right now.
    public let bound = ManagedAtomic<Bool>(false)
    /// Monotonic time (ms) the worker last came back from a receive call: a stalled worker stops advancing it.
    public let lastAliveMilliseconds = ManagedAtomic<Int64>(0)
    /// Verdicts by decision reason and address family: index `ReasonCounter.index(reason:ipv6:)`.
    public let byReason: [ManagedAtomic<UInt64>] = (0..<ReasonCounter.slots).map { _ in ManagedAtomic(0) }

    /// Verdict latency: time from a batch's arrival in user space to its verdicts being sent, counted once per
    /// packet. Bucket `i` counts packets with latency <= `VerdictLatency.boundsMicroseconds[i]`
    /// (non-cumulative; the last bucket is +Inf).
    let latencyBuckets: [ManagedAtomic<UInt64>] = (0...VerdictLatency.boundsMicroseconds.count).map { _ in
        ManagedAtomic(0)
    }
    /// Sum of the latencies in `latencyBuckets`, in ns.
    let latencySumNanoseconds = ManagedAtomic<UInt64>(0)

    /// Creates counters, all 0.
    public init() {}

    /// A worker that has not come back from a receive call for this long is stuck (ms).
    static let stuckAfterMilliseconds: Int64 = 5_000

    /// Whether the worker came back from a receive call within ``stuckAfterMilliseconds`` of `now`
    /// (monotonic ms). Used by `/healthz` and by the systemd watchdog keep-alive alike.
    func isAlive(now: Int64) -> Bool {
        now - lastAliveMilliseconds.load(ordering: .relaxed) <= Self.stuckAfterMilliseconds
    }

    @inline(__always)
    func recordLatency(nanoseconds: UInt64, packets: Int) {
        let microseconds = nanoseconds / 1000
        var bucket = 0
        let bounds = VerdictLatency.boundsMicroseconds
        while bucket < bounds.count && microseconds > bounds[bucket] { bucket += 1 }
        latencyBuckets[bucket].wrappingIncrement(by: UInt64(packets), ordering: .relaxed)
        latencySumNanoseconds.wrappingIncrement(by: nanoseconds &* UInt64(packets), ordering: .relaxed)
    }
}

/// Bucket bounds of the verdict latency histogram.
enum VerdictLatency {
    /// Upper bounds in µs.
    static let boundsMicroseconds: [UInt64] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 50_000]
}
