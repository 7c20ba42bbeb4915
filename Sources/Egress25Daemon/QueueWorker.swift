import Atomics
import BlockLog
import Egress25Core
import Egress25System
import Foundation
import Logging
import NetfilterQueue

/// The block verdict in force, shared by the queue workers (read once per batch). The action changes on a
/// reload (`policy.block_action`), the verdict style when the rules check learns the installed backend; the
/// mark and mask stay as started, because the kernel rules match them.
/// One 64-bit atomic: bit 32 = drop, bit 33 = repeat, low 32 bits = reject mark; accept mark and mask are
/// immutable.
public final class BlockVerdictSetting: Sendable {
    private let state: ManagedAtomic<UInt64>
    private let acceptMark: UInt32
    private let rejectMask: UInt32

    /// Starts with `policy`; its accept mark and mask never change.
    public init(_ policy: BlockVerdictPolicy) {
        acceptMark = policy.acceptMark
        rejectMask = policy.rejectMask
        state = ManagedAtomic(Self.encode(policy))
    }

    /// The block verdict in force (one relaxed atomic load).
    @inline(__always)
    public var current: BlockVerdictPolicy {
        let value = state.load(ordering: .relaxed)
        return BlockVerdictPolicy(
            action: value >> 32 & 1 == 1 ? .drop : .reject, rejectMark: UInt32(truncatingIfNeeded: value),
            acceptMark: acceptMark, rejectMask: rejectMask, repeatInJudgeChain: value >> 33 & 1 == 1)
    }

    /// Sets the action (a reload of `block_action`).
    public func setAction(_ action: BlockAction) {
        var policy = current
        policy.action = action
        state.store(Self.encode(policy), ordering: .relaxed)
    }

    /// Sets the verdict style for the installed rules' backend.
    public func setRepeatInJudgeChain(_ repeatInJudgeChain: Bool) {
        var policy = current
        policy.repeatInJudgeChain = repeatInJudgeChain
        state.store(Self.encode(policy), ordering: .relaxed)
    }

    private static func encode(_ policy: BlockVerdictPolicy) -> UInt64 {
        (policy.action == .drop ? 1 << 32 : 0) | (policy.repeatInJudgeChain ? 1 << 33 : 0) | UInt64(policy.rejectMark)
    }
}

/// Judges every packet of one NFQUEUE queue on its own thread.
///
/// Per batch: one atomic load of the policy snapshot, one receive call, one verdict send, and relaxed
/// atomic adds of the batch's counters. Per packet: `PacketJudge.judge` (parse, decide, verdict, counter slot,
/// blocked attempt) and for a blocked SYN a push into this worker's block-log ring; no locks, no allocation,
/// no logging, no disk.
/// If the queue socket fails, the worker closes it and binds the queue again every 100 ms until it
/// succeeds; no verdict is ever sent on a new socket for a packet id of the old one.
public final class QueueWorker: @unchecked Sendable {
    /// The NFQUEUE queue number this worker serves.
    public let queueNumber: UInt16
    /// The worker's counters, read by metrics and health.
    public let statistics = WorkerStatistics()

    private let socketConfiguration: NetfilterQueueConfiguration
    private let publisher: PolicyPublisher
    private let blockVerdict: BlockVerdictSetting
    private let ring: BlockLogRing?
    private let logger: Logger
    private let stopRequested = ManagedAtomic<Bool>(false)
    /// Set by the watchdog: the socket is considered dead; the worker closes it and binds the queue again.
    private let rebindRequested = ManagedAtomic<Bool>(false)
    /// The socket's descriptor while bound, for fault injection (-1 when unbound).
    private let boundDescriptor = ManagedAtomic<Int32>(-1)
    private let finished = DispatchSemaphore(value: 0)
    /// Owned by the worker thread once started.
    private var socket: NetfilterQueueSocket?
    private var started = false
    /// Per-batch verdict counts by reason slot, flushed into `statistics.byReason` after each batch.
    private let reasonScratch = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: ReasonCounter.slots)

    /// Prepares the worker; nothing is bound until its thread starts.
    public init(
        socketConfiguration: NetfilterQueueConfiguration,
        publisher: PolicyPublisher,
        blockVerdict: BlockVerdictSetting,
        ring: BlockLogRing?,
        logger: Logger
    ) {
        self.queueNumber = socketConfiguration.queueNumber
        self.socketConfiguration = socketConfiguration
        self.publisher = publisher
        self.blockVerdict = blockVerdict
        self.ring = ring
        var logger = logger
        logger[metadataKey: "queue"] = "\(socketConfiguration.queueNumber)"
        self.logger = logger
        reasonScratch.initialize(repeating: 0)
    }

    deinit {
        reasonScratch.deallocate()
    }

    /// Binds the queue. Called before ``start()`` so start-up errors (missing CAP_NET_ADMIN, a queue
    /// already bound) stop the daemon before it reports ready.
    ///
    /// - Throws: ``NetfilterQueueError``.
    public func bind() throws(NetfilterQueueError) {
        let socket = try NetfilterQueueSocket(configuration: socketConfiguration)
        self.socket = socket
        boundDescriptor.store(socket.descriptor, ordering: .relaxed)
        statistics.portID.store(socket.portID, ordering: .relaxed)
        statistics.bound.store(true, ordering: .relaxed)
        statistics.lastAliveMilliseconds.store(SystemClock.monotonicMilliseconds(), ordering: .relaxed)
    }

    /// Starts the worker thread.
    public func start() {
        precondition(!started)
        started = true
        let name = "egress25-q\(queueNumber)"
        let thread = Thread { [self] in
            // Named from inside: on Linux only the running thread's own name reaches the kernel (top -H, ps -L).
            Thread.current.name = name
            run()
            finished.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Stops receiving: the thread finishes its current batch (at most the receive timeout), closes the
    /// socket and exits. Returns when it has.
    public func stop() {
        stopRequested.store(true, ordering: .relaxed)
        if started {
            finished.wait()
            started = false
        } else {
            socket?.close()
            socket = nil
        }
        statistics.bound.store(false, ordering: .relaxed)
    }

    /// Asks the worker to drop its socket and bind the queue again (the watchdog found it dead).
    /// The old socket is closed before the new one is bound, so no verdict for an old packet id is ever
    /// sent on the new socket; packets the old socket held are released by the kernel when it closes.
    func requestRebind() {
        rebindRequested.store(true, ordering: .relaxed)
    }

    /// Fault injection for tests (`egress25d --fault-injection`, SIGUSR2): replaces the socket's descriptor
    /// with /dev/null, as if the socket had died under the worker. The kernel unbinds the queue; the worker's
    /// next receive fails and it binds the queue again.
    func injectSocketFailure() {
        let descriptor = boundDescriptor.load(ordering: .relaxed)
        guard descriptor >= 0 else { return }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        guard null >= 0 else { return }
        _ = dup2(null, descriptor)
        _ = Glibc.close(null)
    }

    private func run() {
        while !stopRequested.load(ordering: .relaxed) {
            guard let socket else {
                rebind()
                continue
            }
            do {
                if rebindRequested.exchange(false, ordering: .relaxed) {
                    throw WatchdogRebind()
                }
                try judgeOneBatch(socket)
            } catch {
                logger.error("queue socket failed; binding the queue again", metadata: ["error": "\(error)"])
                dropSocket()
            }
        }
        dropSocket()
    }

    private func dropSocket() {
        boundDescriptor.store(-1, ordering: .relaxed)
        statistics.bound.store(false, ordering: .relaxed)
        statistics.portID.store(0, ordering: .relaxed)
        socket?.close()
        socket = nil
    }

    private func rebind() {
        do {
            try bind()
            statistics.rebinds.wrappingIncrement(ordering: .relaxed)
            logger.notice("queue bound again")
        } catch {
            logger.error("binding the queue failed; retrying in 100 ms", metadata: ["error": "\(error)"])
            usleep(100_000)
        }
    }

    @inline(__always)
    private func judgeOneBatch(_ socket: NetfilterQueueSocket) throws(NetfilterQueueError) {
        let snapshot = publisher.current
        let blockVerdict = self.blockVerdict.current
        let ring = self.ring
        let logsAttempts = ring != nil
        var counts = BatchCounts(byReason: reasonScratch)
        var nowMilliseconds: Int64 = -1
        var arrivalNanoseconds: UInt64 = 0

        let judged = try socket.receiveBatch { packet in
            // Read the clock once per batch, after the packets arrived: expiry is exact to the second.
            if nowMilliseconds < 0 {
                nowMilliseconds = SystemClock.realtimeMilliseconds()
                arrivalNanoseconds = SystemClock.monotonicNanoseconds()
            }
            let judgement = PacketJudge.judge(
                payload: packet.payload, mark: packet.mark, hardwareProtocol: packet.hardwareProtocol,
                snapshot: snapshot, blockVerdict: blockVerdict, nowMilliseconds: nowMilliseconds,
                logsAttempts: logsAttempts)
            counts.record(judgement)
            if let attempt = judgement.blockedAttempt, let ring, !ring.push(attempt) {
                counts.lost &+= 1
            }
            return PacketVerdict(judgement.verdict)
        }
        statistics.lastAliveMilliseconds.store(SystemClock.monotonicMilliseconds(), ordering: .relaxed)
        if judged > 0 {
            counts.publish(to: statistics)
            statistics.recordLatency(
                nanoseconds: SystemClock.monotonicNanoseconds() &- arrivalNanoseconds, packets: judged)
        }
    }
}

/// The watchdog found the queue socket dead (unbound in the kernel, or not delivering a waiting backlog).
private struct WatchdogRebind: Error, CustomStringConvertible {
    var description: String { "the watchdog found the queue socket dead" }
}

/// Per-batch counter sums, kept on the stack and added to the shared atomics once per batch.
private struct BatchCounts {
    let byReason: UnsafeMutableBufferPointer<UInt64>
    var judged: UInt64 = 0
    var accepted: UInt64 = 0
    var blocked: UInt64 = 0
    var shadow: UInt64 = 0
    var malformed: UInt64 = 0
    var lost: UInt64 = 0

    @inline(__always)
    mutating func record(_ judgement: Judgement) {
        let decision = judgement.decision
        judged &+= 1
        if decision.verdict == .accept { accepted &+= 1 } else { blocked &+= 1 }
        if decision.shadow { shadow &+= 1 }
        if decision.reason == .malformed { malformed &+= 1 }
        byReason[judgement.reasonSlot] &+= 1
    }

    func publish(to statistics: WorkerStatistics) {
        statistics.judged.wrappingIncrement(by: judged, ordering: .relaxed)
        statistics.accepted.wrappingIncrement(by: accepted, ordering: .relaxed)
        statistics.blocked.wrappingIncrement(by: blocked, ordering: .relaxed)
        if shadow > 0 { statistics.shadowBlocked.wrappingIncrement(by: shadow, ordering: .relaxed) }
        if malformed > 0 { statistics.malformed.wrappingIncrement(by: malformed, ordering: .relaxed) }
        if lost > 0 { statistics.lostBlockLogEvents.wrappingIncrement(by: lost, ordering: .relaxed) }
        for slot in 0..<byReason.count where byReason[slot] != 0 {
            statistics.byReason[slot].wrappingIncrement(by: byReason[slot], ordering: .relaxed)
            byReason[slot] = 0
        }
    }
}
