import Atomics
import Egress25Core

/// A bounded single-producer single-consumer queue of ``BlockedAttempt`` between one queue worker and the
/// block-log writer thread.
///
/// Lock-free and allocation-free after `init`: the producer (the queue worker's thread, and only that
/// thread) calls ``push(_:)``; the consumer (the ``BlockLogWriter`` thread, and only that thread) drains it.
/// Indices are monotonically increasing `Int`s published with release/acquire ordering; each side keeps a
/// cached copy of the other side's index so that a push touches the shared cache line only when the
/// cached view says the ring might be full.
///
/// Overflow accounting: when ``push(_:)`` returns `false` the ring has already counted the lost event in
/// ``droppedCount`` (a relaxed atomic store by the single producer, no read-modify-write). The writer adds
/// the dropped counts of all attached rings to ``BlockLogStatistics/lostEvents``, so callers must **not**
/// also report those to ``BlockLogWriter/recordLost(_:)``.
public final class BlockLogRing: @unchecked Sendable {
    /// The number of slots, a power of two.
    public let capacity: Int
    private let mask: Int
    private let storage: UnsafeMutablePointer<BlockedAttempt>

    // Producer side.
    private let tail = ManagedAtomic<Int>(0)
    private let dropped = ManagedAtomic<UInt64>(0)
    private var producerCachedHead = 0
    private var producerDropped: UInt64 = 0

    // Consumer side.
    private let head = ManagedAtomic<Int>(0)
    private var consumerCachedTail = 0

    /// Creates an empty ring of `capacity` slots.
    ///
    /// - Parameter capacity: a power of two, at least 2 (`precondition`).
    public init(capacity: Int) {
        precondition(capacity >= 2 && capacity & (capacity - 1) == 0, "BlockLogRing capacity must be a power of two")
        self.capacity = capacity
        self.mask = capacity - 1
        self.storage = .allocate(capacity: capacity)
        let blank = BlockedAttempt(
            timeMilliseconds: 0, source: .v4(.init(0)), destination: .v4(.init(0)),
            sourcePort: 0, destinationPort: 0, reason: .noException)
        storage.initialize(repeating: blank, count: capacity)
    }

    deinit {
        storage.deinitialize(count: capacity)
        storage.deallocate()
    }

    /// Enqueues one attempt. Producer thread only. Never blocks, never allocates.
    ///
    /// - Returns: `false` when the ring is full; the attempt is then counted in ``droppedCount``.
    @inline(__always)
    public func push(_ attempt: BlockedAttempt) -> Bool {
        let position = tail.load(ordering: .relaxed)
        if position - producerCachedHead >= capacity {
            producerCachedHead = head.load(ordering: .acquiring)
            if position - producerCachedHead >= capacity {
                producerDropped &+= 1
                dropped.store(producerDropped, ordering: .relaxed)
                return false
            }
        }
        storage[position & mask] = attempt
        tail.store(position &+ 1, ordering: .releasing)
        return true
    }

    /// Attempts refused because the ring was full, since creation. Any thread.
    public var droppedCount: UInt64 {
        dropped.load(ordering: .relaxed)
    }

    /// Attempts pushed but not yet drained (approximate when read off the consumer thread).
    public var count: Int {
        tail.load(ordering: .acquiring) - head.load(ordering: .acquiring)
    }

    /// Removes the oldest attempt. Consumer thread only.
    public func pop() -> BlockedAttempt? {
        let position = head.load(ordering: .relaxed)
        if position == consumerCachedTail {
            consumerCachedTail = tail.load(ordering: .acquiring)
            if position == consumerCachedTail { return nil }
        }
        let attempt = storage[position & mask]
        head.store(position &+ 1, ordering: .releasing)
        return attempt
    }

    /// Removes up to `maximum` attempts in FIFO order, handing each to `body`. Consumer thread only.
    ///
    /// - Returns: the number of attempts drained.
    /// - Throws: what `body` throws; the attempts before the one it threw on are removed, that one stays.
    @discardableResult
    public func drain(maximum: Int = .max, _ body: (BlockedAttempt) throws -> Void) rethrows -> Int {
        let start = head.load(ordering: .relaxed)
        consumerCachedTail = tail.load(ordering: .acquiring)
        let available = min(consumerCachedTail - start, maximum)
        var position = start
        defer { head.store(position, ordering: .releasing) }
        while position - start < available {
            try body(storage[position & mask])
            position &+= 1
        }
        return available
    }
}
