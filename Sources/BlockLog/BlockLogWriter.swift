import Atomics
import Foundation
import Logging

/// Writes blocked attempts to rotating SQLite segment files from one dedicated thread.
///
/// Queue workers push ``BlockedAttempt``s into their own ``BlockLogRing`` (never blocking, never
/// allocating); the writer thread drains the rings every few milliseconds, aggregates repeated SYNs into
/// rows (see ``BlockLogConfiguration/aggregationWindowSeconds``), commits all new and changed rows at least
/// every flush interval (one transaction per segment: group commit), rotates to a new file per UTC time
/// slice, and deletes whole old files by age and total size.
///
/// Durability: rows are written while still open, so `kill -9` loses at most the SYNs of the last flush
/// interval; ``shutdown()`` commits everything. After a restart the writer reopens the existing file of the
/// current slice and appends to it. When the directory is read-only or the disk full, the writer keeps rows
/// in memory (up to ``BlockLogConfiguration/maxPendingRows``) and retries every flush interval; SYNs that
/// can never be committed are counted in ``BlockLogStatistics/lostEvents``; an error is logged at most once
/// a minute. Producers are never slowed down.
///
/// Lifecycle: `init`, ``attach(_:)`` each ring, ``start()``, and ``shutdown()`` at SIGTERM. Before
/// ``start()``, ``flush()`` runs one drain-and-commit cycle on the calling thread (tests, tools).
public final class BlockLogWriter: Sendable {
    /// How often the writer thread drains the rings, in ms (commits happen every flush interval).
    public static let drainIntervalMilliseconds: Int64 = 5

    public let directory: String
    public let configuration: BlockLogConfiguration
    private let counters = WriterCounters()
    private let clock: any BlockLogClock
    private let core: CoreBox
    private let control = NSCondition()
    private let state: ControlBox

    private final class CoreBox: @unchecked Sendable {
        let core: WriterCore
        init(_ core: WriterCore) { self.core = core }
    }

    /// Guarded by `control`.
    private final class ControlBox: @unchecked Sendable {
        var rings: [BlockLogRing] = []
        var phase: Phase = .idle
        var flushRequests = 0
        var flushesDone = 0
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
    /// - Throws: ``BlockLogError`` `.invalidConfiguration` when `settings` is out of range. I/O problems do
    ///   not throw: they are retried and counted.
    public init(
        directory: String, configuration: BlockLogConfiguration, nodeName: String, resolver: any BlockLogResolver,
        logger: Logger, clock: any BlockLogClock = SystemBlockLogClock()
    ) throws {
        let settings = configuration
        try settings.validate()
        self.directory = directory
        self.configuration = settings
        self.clock = clock
        self.core = CoreBox(
            WriterCore(
                directory: directory, configuration: settings, nodeName: nodeName, resolver: resolver,
                clock: clock, logger: logger, counters: counters))
        self.state = ControlBox()
    }

    /// Same as ``init(directory:configuration:nodeName:resolver:logger:clock:)``.
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
        control.lock()
        defer { control.unlock() }
        precondition(state.phase == .idle, "BlockLogWriter.attach must be called before start()")
        state.rings.append(ring)
        core.core.rings = state.rings
    }

    /// Starts the writer thread (named `egress25-blocklog`).
    public func start() {
        control.lock()
        guard state.phase == .idle else {
            control.unlock()
            return
        }
        state.phase = .running
        control.unlock()
        let thread = Thread { [self] in run() }
        thread.name = "egress25-blocklog"
        thread.start()
    }

    /// Drains all rings and commits everything now; returns when committed (or the commit failed and was
    /// counted). On the writer thread when started, on the calling thread before.
    public func flush() {
        control.lock()
        defer { control.unlock() }
        switch state.phase {
        case .idle:
            core.core.cycle(forceFlush: true)
        case .running:
            state.flushRequests += 1
            let ticket = state.flushRequests
            control.broadcast()
            while state.flushesDone < ticket && state.phase == .running {
                control.wait()
            }
        case .stopping, .stopped:
            break
        }
    }

    /// Stops the writer: drains every ring, closes and commits every row, closes every segment file.
    /// Returns when done. Idempotent. Call after the producers have stopped pushing.
    public func shutdown() {
        control.lock()
        switch state.phase {
        case .idle:
            state.phase = .stopped
            core.core.shutdown()
            control.unlock()
        case .running:
            state.phase = .stopping
            control.broadcast()
            while state.phase != .stopped { control.wait() }
            control.unlock()
        case .stopping:
            while state.phase != .stopped { control.wait() }
            control.unlock()
        case .stopped:
            control.unlock()
        }
    }

    /// Counts `count` blocked SYNs lost outside the rings (for example by a producer that has no ring).
    /// Ring overflow is already counted by the ring: do not report it here. Lock-free, any thread.
    public func recordLost(_ count: Int) {
        guard count > 0 else { return }
        counters.lostReported.wrappingIncrement(by: UInt64(count), ordering: .relaxed)
    }

    /// A snapshot of the writer's counters. Any thread, lock-free except for reading the ring list.
    public var statistics: BlockLogStatistics {
        control.lock()
        let rings = state.rings
        control.unlock()
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
            lagMilliseconds: oldest == 0 ? 0 : max(0, clock.nowMilliseconds() - oldest))
    }

    private func run() {
        let interval = Double(BlockLogWriter.drainIntervalMilliseconds) / 1000
        while true {
            control.lock()
            if state.phase != .running {
                control.unlock()
                break
            }
            let requested = state.flushRequests
            control.unlock()

            core.core.cycle(forceFlush: requested > 0 && requested != lastServed)
            lastServed = requested

            control.lock()
            if requested > state.flushesDone {
                state.flushesDone = requested
                control.broadcast()
            }
            if state.phase == .running && state.flushRequests == requested {
                _ = control.wait(until: Date(timeIntervalSinceNow: interval))
            }
            control.unlock()
        }
        core.core.shutdown()
        control.lock()
        state.phase = .stopped
        state.flushesDone = state.flushRequests
        control.broadcast()
        control.unlock()
    }

    private nonisolated(unsafe) var lastServed = 0
}
