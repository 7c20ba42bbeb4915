import Atomics
import Foundation
import Logging

/// Writes blocked attempts to rotating SQLite segment files from two dedicated threads.
///
/// Queue workers push ``BlockedAttempt``s into their own ``BlockLogRing`` (never blocking, never
/// allocating). The writer runs two threads, 10 nice levels below the workers: `blocklog-agg` drains the rings
/// every 5 ms and aggregates repeated SYNs into rows (see ``BlockLogConfiguration/aggregationWindowSeconds``)
/// in a fixed-size pool; every flush interval it hands copies of the rows due to `blocklog-sql`, which
/// commits them (one transaction per segment: group commit), rotates to a new file per UTC time slice and
/// deletes whole old files by age and total size. A slow disk therefore delays commits (bigger batches), not
/// draining. Rows due at a flush: new rows (inserted once), closed rows (their final counts), and open rows
/// whose counts changed and were last written a checkpoint interval ago
/// (``BlockLogConfiguration/checkpointIntervalMilliseconds``): repeats cost no SQL between checkpoints.
///
/// Durability: `kill -9` loses at most the new rows of the last flush interval, and the counts of the last
/// checkpoint interval — as long as the disk keeps up; when a commit takes longer than the flush interval,
/// the next batch waits for it and ``BlockLogStatistics/lagMilliseconds`` grows, with a warning logged once a
/// minute. ``shutdown()`` and ``flush()`` commit everything. After a restart the writer reopens the existing
/// file of the current slice and appends to it.
///
/// Memory: fixed at start by ``BlockLogConfiguration/maxMemoryBytes`` (``BlockLogMemoryPlan``). Under
/// pressure rows close early (exact counts, shorter rows), then SYNs whose key has no row are counted in
/// their source's coarse row (destination `0.0.0.0` or `::`: not kept), then counted as lost. When the
/// directory is read-only or the disk full, rows stay in memory within that budget and the commit is
/// retried every flush interval; an error is logged at most once a minute. Producers are never slowed down.
///
/// Lifecycle: `init`, ``attach(_:)`` each ring, ``start()``, and ``shutdown()`` at SIGTERM. Before
/// ``start()``, ``flush()`` runs one drain-and-commit cycle on the calling thread (tests, tools).
///
/// Lost events: a full ring counts its own refusals (``BlockLogRing/droppedCount``), and the writer adds
/// them to ``BlockLogStatistics/lostEvents``; workers must not report those again through ``recordLost(_:)``.
public final class BlockLogWriter: Sendable {
    /// How often the writer thread drains the rings, in ms (commits happen every flush interval).
    static let drainIntervalMilliseconds: Int64 = 5

    /// The block-log directory the segments are written to (`<state_directory>/blocklog`).
    public let directory: String
    /// The configuration the writer was created with (validated).
    public let configuration: BlockLogConfiguration
    /// How ``BlockLogConfiguration/maxMemoryBytes`` is split; size the rings with
    /// ``BlockLogMemoryPlan/ringCapacity(queues:)``.
    public let memoryPlan: BlockLogMemoryPlan
    private let counters = WriterCounters()
    private let clock: any BlockLogClock
    private let state: State

    /// Everything mutable, guarded as documented per field.
    private final class State: @unchecked Sendable {
        /// Guards `rings`, `phase`, `flushRequests`, `flushesDone`.
        let control = NSCondition()
        var rings: [BlockLogRing] = []
        var phase: Phase = .idle
        var flushRequests = 0
        var flushesDone = 0

        /// Guards the hand-off between the two threads.
        let mailbox = NSCondition()
        var batch: CommitBatch?
        var result: CommitResult?
        var committerStopping = false
        var committerStopped = false

        /// Used by the aggregating thread only (or the caller before start).
        let core: WriterCore
        /// Used by the committing thread only (or the caller before start / after it stopped).
        let committer: SegmentCommitter
        var lastFlush: Int64 = .min
        var lastLagWarning: Int64 = .min
        var lastOverflowWarning: Int64 = .min
        var reportedOverflow: UInt64 = 0
        let logger: Logger

        init(core: WriterCore, committer: SegmentCommitter, logger: Logger) {
            self.core = core
            self.committer = committer
            self.logger = logger
        }
    }

    private enum Phase {
        case idle, running, stopping, stopped
    }

    /// Creates a writer for `directory` (created with mode 0750 on first write if missing).
    ///
    /// - Parameters:
    ///   - directory: the block-log directory, e.g. `/var/lib/egress25/blocklog`.
    ///   - configuration: slicing, flush, aggregation and retention settings.
    ///   - nodeName: stored in every row's `node_name`.
    ///   - resolver: maps customer and exception indices to ids, once per new row.
    ///   - logger: segment opens and deletions (info/notice), write errors (error, once a minute).
    ///   - clock: the time source; tests inject a manual clock.
    ///   - shippingLedger: fleet mode: retention keeps the segments not yet shipped to the fleet store.
    /// - Throws: ``BlockLogError`` `.invalidConfiguration` when `configuration` is out of range. I/O problems
    ///   do not throw: they are retried and counted.
    public init(
        directory: String, configuration: BlockLogConfiguration, nodeName: String, resolver: any BlockLogResolver,
        logger: Logger, clock: any BlockLogClock = SystemBlockLogClock(), shippingLedger: ShippingLedger? = nil
    ) throws {
        try configuration.validate()
        self.directory = directory
        self.configuration = configuration
        self.memoryPlan = BlockLogMemoryPlan(configuration)
        self.clock = clock
        let counters = self.counters
        self.state = State(
            core: WriterCore(configuration: configuration, resolver: resolver, counters: counters),
            committer: SegmentCommitter(
                directory: directory, configuration: configuration, nodeName: nodeName, clock: clock, logger: logger,
                counters: counters, shippingLedger: shippingLedger),
            logger: logger)
    }

    /// Same as ``init(directory:configuration:nodeName:resolver:logger:clock:)``.
    ///
    /// - Throws: ``BlockLogError`` `.invalidConfiguration` when `settings` is out of range.
    public convenience init(
        directory: String, settings: BlockLogConfiguration, nodeName: String, resolver: any BlockLogResolver,
        logger: Logger, clock: any BlockLogClock = SystemBlockLogClock()
    ) throws {
        try self.init(
            directory: directory, configuration: settings, nodeName: nodeName, resolver: resolver, logger: logger,
            clock: clock)
    }

    /// Adds a producer's ring. Call before ``start()``.
    public func attach(_ ring: BlockLogRing) {
        state.control.lock()
        defer { state.control.unlock() }
        precondition(state.phase == .idle, "BlockLogWriter.attach must be called before start()")
        state.rings.append(ring)
        state.core.rings = state.rings
    }

    /// Lowers the calling thread's scheduling priority by 10 nice levels (a tenth of a busy core's time, by the
    /// kernel's nice weights), so on a busy core the queue workers'
    /// verdicts win over logging. On Linux the nice value is per thread, and `setpriority(PRIO_PROCESS, 0)`
    /// applies to the calling thread (setpriority(2), BUGS). Needs no privilege; failures are ignored.
    private static func yieldToQueueWorkers() {
        #if os(Linux)
        let thread: id_t = 0
        errno = 0
        let current = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), thread)
        if errno == 0 {
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), thread, min(current + 10, 19))
        }
        #endif
    }

    /// Starts the writer's threads (`blocklog-agg`, `blocklog-sql`).
    public func start() {
        state.control.lock()
        guard state.phase == .idle else {
            state.control.unlock()
            return
        }
        state.phase = .running
        state.control.unlock()
        // Named from inside: on Linux only the running thread's own name reaches the kernel (15 bytes at most).
        let committer = Thread { [self] in
            Thread.current.name = "blocklog-sql"
            Self.yieldToQueueWorkers()
            runCommitter()
        }
        committer.start()
        let aggregator = Thread { [self] in
            Thread.current.name = "blocklog-agg"
            Self.yieldToQueueWorkers()
            runAggregator()
        }
        aggregator.start()
    }

    /// Drains all rings and commits everything now; returns when committed (or the commit failed and was
    /// counted). On the writer's threads when started, on the calling thread before.
    public func flush() {
        state.control.lock()
        defer { state.control.unlock() }
        switch state.phase {
        case .idle:
            let core = state.core
            core.drainRings(now: clock.nowMilliseconds())
            core.expire(now: clock.nowMilliseconds())
            if let batch = core.makeBatch(now: clock.nowMilliseconds(), everything: true) {
                core.apply(state.committer.commit(batch))
            }
        case .running:
            state.flushRequests += 1
            let ticket = state.flushRequests
            state.control.broadcast()
            while state.flushesDone < ticket && state.phase == .running {
                state.control.wait()
            }
        case .stopping, .stopped:
            break
        }
    }

    /// One periodic cycle of the writer on the calling thread, as its threads run it every flush interval:
    /// drain, close the rows due, commit new and closed rows and the open rows whose checkpoint is due.
    /// Before ``start()`` only (benchmarks, tests); does nothing once started.
    package func runCycle() {
        state.control.lock()
        defer { state.control.unlock() }
        guard state.phase == .idle else { return }
        let core = state.core
        let now = clock.nowMilliseconds()
        core.drainRings(now: now)
        core.expire(now: now)
        if let batch = core.makeBatch(now: now) { core.apply(state.committer.commit(batch)) }
    }

    /// Stops the writer: drains every ring, closes and commits every row (3 attempts), closes every segment
    /// file. Returns when done. Idempotent. Call after the producers have stopped pushing.
    public func shutdown() {
        state.control.lock()
        switch state.phase {
        case .idle:
            state.phase = .stopped
            finish(commit: { state.committer.commit($0) })
            state.committer.close()
            state.control.unlock()
        case .running:
            state.phase = .stopping
            state.control.broadcast()
            while state.phase != .stopped { state.control.wait() }
            state.control.unlock()
        case .stopping:
            while state.phase != .stopped { state.control.wait() }
            state.control.unlock()
        case .stopped:
            state.control.unlock()
        }
    }

    /// Counts `count` blocked SYNs lost outside the rings (for example by a producer that has no ring).
    /// Ring overflow is already counted by the ring: do not report it here. Lock-free, any thread.
    public func recordLost(_ count: Int) {
        guard count > 0 else { return }
        counters.lostReported.wrappingIncrement(by: UInt64(count), ordering: .relaxed)
    }

    /// A snapshot of the writer's counters. Any thread; atomics only, plus a short lock to list the rings.
    public var statistics: BlockLogStatistics {
        state.control.lock()
        let rings = state.rings
        state.control.unlock()
        let ringLost = rings.reduce(UInt64(0)) { $0 &+ $1.droppedCount }
        let oldest = counters.oldestPendingMilliseconds.load(ordering: .relaxed)
        return BlockLogStatistics(
            rowsWritten: counters.rowsWritten.load(ordering: .relaxed),
            rowUpdates: counters.rowUpdates.load(ordering: .relaxed),
            synsRecorded: counters.synsRecorded.load(ordering: .relaxed),
            lostEvents: ringLost &+ counters.lostReported.load(ordering: .relaxed)
                &+ counters.lostByWriter.load(ordering: .relaxed),
            writeErrors: counters.writeErrors.load(ordering: .relaxed),
            bytesOnDisk: counters.bytesOnDisk.load(ordering: .relaxed),
            segmentsDeleted: counters.segmentsDeleted.load(ordering: .relaxed),
            lagMilliseconds: oldest == 0 ? 0 : max(0, clock.nowMilliseconds() - oldest),
            rowsClosedEarly: counters.rowsClosedEarly.load(ordering: .relaxed),
            synsInCoarseRows: counters.synsInCoarseRows.load(ordering: .relaxed),
            rowsInMemory: counters.rowsInMemory.load(ordering: .relaxed), rowCapacity: memoryPlan.rows)
    }

    // MARK: - Threads

    /// Shutdown on the aggregating side: drain, close every row, commit up to 3 times, count the rest lost.
    private func finish(commit: (CommitBatch) -> CommitResult) {
        let core = state.core
        core.drainRings(now: clock.nowMilliseconds())
        core.closeAll()
        var attempt = 0
        while core.hasDirtyRows && attempt < 3 {
            if attempt > 0 { usleep(100_000) }
            if let batch = core.makeBatch(now: clock.nowMilliseconds(), everything: true) {
                core.apply(commit(batch))
            }
            attempt += 1
        }
        _ = core.countUncommittedAsLost()
    }

    /// Posts a batch to the committer thread and waits for its result.
    private func commitAndWait(_ batch: CommitBatch) -> CommitResult {
        post(batch)
        return waitForResult()
    }

    private func post(_ batch: CommitBatch) {
        state.mailbox.lock()
        state.batch = batch
        state.mailbox.broadcast()
        state.mailbox.unlock()
    }

    private func waitForResult() -> CommitResult {
        state.mailbox.lock()
        defer { state.mailbox.unlock() }
        while true {
            if let result = state.result {
                state.result = nil
                return result
            }
            state.mailbox.wait()
        }
    }

    private func takeResult() -> CommitResult? {
        state.mailbox.lock()
        defer { state.mailbox.unlock() }
        let result = state.result
        state.result = nil
        return result
    }

    private func runAggregator() {
        let core = state.core
        let interval = Double(BlockLogWriter.drainIntervalMilliseconds) / 1000
        var served = 0
        while true {
            state.control.lock()
            let running = state.phase == .running
            let requested = state.flushRequests
            state.control.unlock()
            guard running else { break }

            let now = clock.nowMilliseconds()
            core.drainRings(now: now)
            core.expire(now: now)
            if let result = takeResult() { core.apply(result) }
            warnIfRingsOverflowed(now: now)
            if requested != served {
                // An explicit flush: wait for the batch out, then commit everything drained so far.
                if core.inFlight { core.apply(waitForResult()) }
                core.drainRings(now: clock.nowMilliseconds())
                if let batch = core.makeBatch(now: clock.nowMilliseconds(), everything: true) {
                    core.apply(commitAndWait(batch))
                }
                state.lastFlush = clock.nowMilliseconds()
                served = requested
                state.control.lock()
                state.flushesDone = max(state.flushesDone, requested)
                state.control.broadcast()
                state.control.unlock()
            } else if state.lastFlush == .min || now - state.lastFlush >= configuration.flushIntervalMilliseconds
                || core.wantsEarlyFlush
            {
                if let batch = core.makeBatch(now: now) {
                    post(batch)
                    state.lastFlush = now
                } else {
                    warnIfBehind(now: now)
                }
            }

            state.control.lock()
            if state.phase == .running && state.flushRequests == served {
                _ = state.control.wait(until: Date(timeIntervalSinceNow: interval))
            }
            state.control.unlock()
        }
        if core.inFlight { core.apply(waitForResult()) }
        finish(commit: commitAndWait)
        state.mailbox.lock()
        state.committerStopping = true
        state.mailbox.broadcast()
        while !state.committerStopped { state.mailbox.wait() }
        state.mailbox.unlock()
        state.control.lock()
        state.phase = .stopped
        state.flushesDone = state.flushRequests
        state.control.broadcast()
        state.control.unlock()
    }

    /// Logs (at most once a minute) when the disk cannot keep up: the batch out has taken more than 10 flush
    /// intervals (at least 5 s). Rows keep aggregating meanwhile; a crash would lose the lag, not just one
    /// flush interval.
    private func warnIfBehind(now: Int64) {
        let behind = now - state.lastFlush
        guard behind >= max(5000, 10 * configuration.flushIntervalMilliseconds) else { return }
        guard state.lastLagWarning == .min || now - state.lastLagWarning >= 60_000 else { return }
        state.lastLagWarning = now
        state.logger.warning(
            "block log: commits are falling behind (disk too slow for the blocked-SYN rate)",
            metadata: ["commit_in_progress_ms": "\(behind)", "directory": "\(directory)"])
    }

    /// Logs (at most once a minute) how many blocked SYNs full rings refused since the last such line.
    private func warnIfRingsOverflowed(now: Int64) {
        guard state.lastOverflowWarning == .min || now - state.lastOverflowWarning >= 60_000 else { return }
        let dropped = state.core.rings.reduce(UInt64(0)) { $0 &+ $1.droppedCount }
        guard dropped > state.reportedOverflow else { return }
        state.logger.warning(
            "block log: rings were full, blocked SYNs not logged (verdicts unaffected)",
            metadata: ["lost_since_last_report": "\(dropped - state.reportedOverflow)", "lost_total": "\(dropped)"])
        state.reportedOverflow = dropped
        state.lastOverflowWarning = now
    }

    private func runCommitter() {
        let committer = state.committer
        while true {
            state.mailbox.lock()
            while state.batch == nil && !state.committerStopping {
                if !state.mailbox.wait(until: Date(timeIntervalSinceNow: 1)) { break }
            }
            let batch = state.batch
            state.batch = nil
            let stopping = state.committerStopping
            state.mailbox.unlock()
            if let batch {
                let result = committer.commit(batch)
                state.mailbox.lock()
                state.result = result
                state.mailbox.broadcast()
                state.mailbox.unlock()
            } else if stopping {
                break
            } else {
                committer.maintain(now: clock.nowMilliseconds())
            }
        }
        committer.close()
        state.mailbox.lock()
        state.committerStopped = true
        state.mailbox.broadcast()
        state.mailbox.unlock()
    }
}
