/// How the block-log writer slices, commits, aggregates and expires blocked attempts.
///
/// Independent of the daemon's configuration file: the daemon maps its `block_log:` section onto this.
public struct BlockLogConfiguration: Sendable, Hashable {
    /// Length of one segment file's time slice in seconds: 3600 (`blocked-YYYY-MM-DDTHH.sqlite`) or
    /// 86400 (`blocked-YYYY-MM-DD.sqlite`).
    public var segmentSeconds: Int64
    /// The writer commits at least this often, in milliseconds; also the most a `kill -9` can lose.
    public var flushIntervalMilliseconds: Int64
    /// Repeated SYNs of one (source, destination, destination port) within this many seconds of the row's
    /// first SYN share one row.
    public var aggregationWindowSeconds: Int64
    /// Segments whose slice ended more than this many seconds ago are deleted.
    public var retentionSeconds: Int64
    /// When all segment files (with their `-wal` and `-shm` files) exceed this many bytes, the oldest are
    /// deleted until they fit; the segment being written is never deleted.
    public var maxBytes: Int64
    /// The most memory the block log holds, in bytes: the rings, the rows in memory (open, or waiting for
    /// their commit) and the SQLite page cache (see ``BlockLogMemoryPlan``). Fixed at start; nothing grows
    /// with the traffic. Past it, rows close early, then SYNs are counted per source without their
    /// destination (coarse rows), then counted as lost. At least 4 MiB.
    public var maxMemoryBytes: Int
    /// How often a changed open row's counts are rewritten, in ms (never more often than the flush interval). A new row is
    /// inserted at the next flush and a closed row's final counts are written at the next flush; in between,
    /// an open row is rewritten at most this often, so a `kill -9` loses at most this much of the counts of
    /// rows already written, and at most one flush interval of new rows. Applies only in a flood: see
    /// `freshUpdateLimit`.
    public var checkpointIntervalMilliseconds: Int64
    /// When at most this many open rows changed since the last flush, every one is rewritten at the flush (counts
    /// as fresh as new rows); when more changed (a flood), only those whose checkpoint is due. 1024 rewrites
    /// cost about 3 ms of the writer's CPU.
    package var freshUpdateLimit = 1024
    /// In a flood, at most this many open rows whose checkpoint is due are rewritten per flush (about 12 ms of the
    /// writer's CPU); the others wait for the next flush. New and closed rows are never held back.
    package var checkpointsPerFlush = 4096
    /// SQLite page cache of the segment being written, in bytes.
    public var cacheBytes: Int

    /// Creates a configuration; the defaults are the daemon's defaults (1 h segments, 1000 ms flush, 60 s
    /// aggregation, 30 d retention, 10 GiB, 64 MiB of memory, 10 s checkpoints, a page cache of at most 64 MiB).
    /// Call ``validate()`` before use.
    public init(
        segmentSeconds: Int64 = 3600,
        flushIntervalMilliseconds: Int64 = 1000,
        aggregationWindowSeconds: Int64 = 60,
        retentionSeconds: Int64 = 30 * 86400,
        maxBytes: Int64 = 10 * 1024 * 1024 * 1024,
        maxMemoryBytes: Int = 64 << 20,
        checkpointIntervalMilliseconds: Int64 = 10_000,
        cacheBytes: Int = 64 << 20
    ) {
        self.segmentSeconds = segmentSeconds
        self.flushIntervalMilliseconds = flushIntervalMilliseconds
        self.aggregationWindowSeconds = aggregationWindowSeconds
        self.retentionSeconds = retentionSeconds
        self.maxBytes = maxBytes
        self.maxMemoryBytes = maxMemoryBytes
        self.checkpointIntervalMilliseconds = checkpointIntervalMilliseconds
        self.cacheBytes = cacheBytes
    }

    /// Checks the values the writer depends on.
    ///
    /// - Throws: ``BlockLogError`` with code `.invalidConfiguration` naming the field.
    func validate() throws(BlockLogError) {
        func fail(_ message: String) -> BlockLogError { BlockLogError(.invalidConfiguration, message) }
        guard segmentSeconds == 3600 || segmentSeconds == 86400 else {
            throw fail("segment must be 1h or 1d, got \(segmentSeconds) s")
        }
        guard flushIntervalMilliseconds >= 1 && flushIntervalMilliseconds <= 60_000 else {
            throw fail("flush_interval must be between 1 ms and 60 s, got \(flushIntervalMilliseconds) ms")
        }
        guard aggregationWindowSeconds >= 0 && aggregationWindowSeconds <= 3600 else {
            throw fail("aggregation_window must be between 0 s and 1 h, got \(aggregationWindowSeconds) s")
        }
        guard retentionSeconds >= segmentSeconds else {
            throw fail("retention (\(retentionSeconds) s) must be at least one segment (\(segmentSeconds) s)")
        }
        guard maxBytes > 0 else { throw fail("max_bytes must be positive, got \(maxBytes)") }
        guard maxMemoryBytes >= 4 << 20 else {
            throw fail("max_memory must be at least 4 MiB, got \(maxMemoryBytes) bytes")
        }
        guard checkpointIntervalMilliseconds >= 1 && checkpointIntervalMilliseconds <= 3_600_000 else {
            throw fail("checkpoint_interval must be between 1 ms and 1 h, got \(checkpointIntervalMilliseconds) ms")
        }
    }
}

/// The writer's source of "now". Production uses ``SystemBlockLogClock``; tests inject a manual clock so
/// that rotation and retention can be driven without sleeping.
public protocol BlockLogClock: Sendable {
    /// Unix time in milliseconds, UTC.
    func nowMilliseconds() -> Int64
}

/// `clock_gettime(CLOCK_REALTIME)`.
public struct SystemBlockLogClock: BlockLogClock {
    /// Creates the real-time clock.
    public init() {}
    /// `CLOCK_REALTIME` now, in Unix ms UTC.
    public func nowMilliseconds() -> Int64 {
        SystemClock.realtimeMilliseconds()
    }
}

/// Maps the indices a ``BlockedAttempt`` carries to ids, in the policy snapshot of a generation.
///
/// Implemented by the daemon; called on the writer thread (never on the hot path), once per new row.
public protocol BlockLogResolver: Sendable {
    /// The customer id of customer `index` in snapshot `generation`; `nil` if unknown.
    func customerID(generation: UInt64, index: Int32) -> String?
    /// The exception id of exception `index` in snapshot `generation`; `nil` if unknown.
    func exceptionID(generation: UInt64, index: Int32) -> String?
}

/// A resolver that knows no ids (rows get `NULL` customer and exception).
public struct NoBlockLogResolver: BlockLogResolver {
    /// Creates the resolver.
    public init() {}
    /// Always `nil`.
    public func customerID(generation: UInt64, index: Int32) -> String? { nil }
    /// Always `nil`.
    public func exceptionID(generation: UInt64, index: Int32) -> String? { nil }
}

#if canImport(Glibc)
import Egress25System
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
