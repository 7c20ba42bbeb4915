import Atomics
import Egress25Core
import Logging

/// Counters shared between the writer's threads (which update them) and any thread reading statistics.
final class WriterCounters: Sendable {
    let rowsWritten = ManagedAtomic<UInt64>(0)
    let rowUpdates = ManagedAtomic<UInt64>(0)
    let synsRecorded = ManagedAtomic<UInt64>(0)
    let lostByWriter = ManagedAtomic<UInt64>(0)
    let lostReported = ManagedAtomic<UInt64>(0)
    let writeErrors = ManagedAtomic<UInt64>(0)
    let bytesOnDisk = ManagedAtomic<Int64>(0)
    let segmentsDeleted = ManagedAtomic<UInt64>(0)
    /// Rows closed before their aggregation window ended, to stay within the memory budget.
    let rowsClosedEarly = ManagedAtomic<UInt64>(0)
    /// SYNs counted in a coarse row (destination not kept) because the memory budget was exhausted.
    let synsInCoarseRows = ManagedAtomic<UInt64>(0)
    /// Rows in memory (open, or closed and waiting for their commit).
    let rowsInMemory = ManagedAtomic<Int>(0)
    /// Unix ms when the oldest row not yet inserted was opened; 0 when none is pending.
    let oldestPendingMilliseconds = ManagedAtomic<Int64>(0)
}

/// How the writer's memory budget (``BlockLogConfiguration/maxMemoryBytes``) is split, in bytes.
///
/// Rings (`BlockLogRing`, the daemon sizes them): 3/16. The SQLite page cache of the segment being written:
/// 1/8, at most ``BlockLogConfiguration/cacheBytes``. Rows in memory (the row pool, its index, the expiry
/// queue, the dirty list and the batch copies): the rest, at ``rowBytes`` each.
public struct BlockLogMemoryPlan: Sendable, Hashable {
    /// The budget the plan divides.
    public let budgetBytes: Int
    /// The most rows the writer holds in memory, open or waiting for their commit.
    public let rows: Int
    /// The SQLite page cache of the segment being written.
    public let cacheBytes: Int
    /// What the rings of all queue workers may hold together.
    public let ringBytes: Int

    /// Bytes one row costs: its slot in the pool, two index buckets, an expiry entry, a dirty-list entry and
    /// its copy in a commit batch. Port sets of rows with more than one source port come on top and count
    /// against the same budget as they grow.
    public static let rowBytes =
        MemoryLayout<WriterCore.Row>.stride + 2 * MemoryLayout<UInt64>.stride
        + MemoryLayout<WriterCore.Expiry>.stride + MemoryLayout<Int32>.stride + MemoryLayout<RowImage>.stride

    /// Splits `configuration.maxMemoryBytes`.
    public init(_ configuration: BlockLogConfiguration) {
        budgetBytes = configuration.maxMemoryBytes
        ringBytes = budgetBytes / 16 * 3
        cacheBytes = min(budgetBytes / 8, configuration.cacheBytes)
        // Slots are Int32 and the index is zeroed at start: at most 2^28 rows (about 100 GiB of budget).
        rows = min(max(64, (budgetBytes - ringBytes - cacheBytes) / Self.rowBytes), 1 << 28)
    }

    /// The slots of each of `queues` rings: a power of two, at most 2^17 (about 500 ms of a 250,000 SYN/s
    /// flood per queue while the writer is busy), at least 256, within ``ringBytes`` together.
    public func ringCapacity(queues: Int) -> Int {
        let perQueue = ringBytes / max(queues, 1) / MemoryLayout<BlockedAttempt>.stride
        var capacity = 256
        while capacity * 2 <= min(perQueue, 1 << 17) { capacity *= 2 }
        return capacity
    }
}

/// The aggregating side of the writer: drains the rings and folds SYNs into rows. Never touches SQLite:
/// at each flush it copies the rows due into a ``CommitBatch`` for the ``SegmentCommitter`` and applies
/// the ``CommitResult`` when it comes back (one batch outstanding at a time; rows changed meanwhile go
/// into the next one). Not thread-safe: one thread at a time.
///
/// **What a flush writes.** A row is inserted at the first flush after it opens, and rewritten when it
/// closes (its aggregation window ended, or it was closed early). While it stays open and changes, it is
/// rewritten at every flush as long as few open rows changed (at most
/// ``BlockLogConfiguration/freshUpdateLimit``), and in a flood at most once per checkpoint interval. So a SYN
/// flood whose keys repeat costs one `INSERT` and a few `UPDATE`s per row per window, not one `UPDATE` per
/// row per flush. An explicit flush (shutdown, tools) writes every changed row.
///
/// **Memory.** Rows live in a pool of fixed capacity (``BlockLogMemoryPlan/rows``), indexed by an
/// open-addressing ``RowIndex``; nothing grows with the traffic. Past half of the pool, open rows are
/// closed early, oldest first (counts stay exact: the next SYN of the key opens a new row). When the pool
/// is full anyway (the disk does not take the rows), a SYN whose key has no row is counted in the coarse row
/// of its source (destination not kept), which may use the last 1/16 of the pool; past that it is lost, and
/// counted.
final class WriterCore {
    /// One row in memory: open (accepting SYNs), or closed and waiting for its final values to be committed.
    struct Row {
        var key: RowKey
        var hash: UInt64
        var sliceStart: Int64
        var rowNumber: Int64
        var firstSeen: Int64
        var lastSeen: Int64
        var syns: Int64
        var committedSyns: Int64
        /// Unix ms of the last commit of this row (its checkpoint), or of its opening.
        var checkpoint: Int64
        var ports: PortSet
        var portBytes: Int
        var customerGeneration: UInt64
        var customerIndex: Int32
        var customer: String?
        var exceptionID: String?
        var serial: UInt64
        var live: Bool
        var inserted: Bool
        var dirty: Bool
        var inFlight: Bool
        var closed: Bool
        var firstSeenMoved: Bool
    }

    /// An open row's place in the order rows close: oldest opened first.
    struct Expiry {
        var slot: Int32
        var serial: UInt64
    }

    let configuration: BlockLogConfiguration
    let resolver: any BlockLogResolver
    let counters: WriterCounters
    let windowMilliseconds: Int64
    let checkpointMilliseconds: Int64
    var rings: [BlockLogRing] = []

    /// The pool: `capacity` slots allocated once, slots `0..<initialized` initialized (a slot becomes
    /// resident when first used); a free slot has `live == false` and is on `freeSlots`.
    private let pool: UnsafeMutablePointer<Row>
    let capacity: Int
    private var initialized = 0
    private var freeSlots: [Int32] = []
    /// Rows in the pool (open or waiting for their commit).
    private(set) var liveCount = 0
    /// Open rows (in `index`).
    private var openCount: Int { index.count }
    /// Fine rows (per destination) may use this many slots; source rows the rest.
    private let fineLimit: Int
    /// Past this many open rows, the oldest are closed early.
    private let openHighWater: Int
    /// Bytes that port sets hold beyond their rows, against `portBudget`.
    private var portBytes = 0
    private let portBudget: Int

    private var index: RowIndex
    private var expiry: [Expiry] = []
    private var expiryHead = 0
    private var dirtySlots: [Int32] = []
    /// The other half of a double buffer with `dirtySlots`, so that a batch reuses its storage.
    private var spareDirtySlots: [Int32] = []
    private var nextSerial: UInt64 = 1
    private var nextRowNumber: Int64 = 1
    private var liveBySlice: [Int64: Int] = [:]
    /// Rows not yet inserted (a kill -9 would lose them).
    private var uninserted = 0
    /// A batch is out at the committer.
    private(set) var inFlight = false

    private var resolved: [ResolverKey: String?] = [:]
    private struct ResolverKey: Hashable {
        var generation: UInt64
        var index: Int32
        var exception: Bool
    }

    init(configuration: BlockLogConfiguration, resolver: any BlockLogResolver, counters: WriterCounters) {
        self.configuration = configuration
        self.resolver = resolver
        self.counters = counters
        self.windowMilliseconds = configuration.aggregationWindowSeconds * 1000
        self.checkpointMilliseconds = max(
            configuration.checkpointIntervalMilliseconds, configuration.flushIntervalMilliseconds)
        let plan = BlockLogMemoryPlan(configuration)
        capacity = plan.rows
        pool = .allocate(capacity: capacity)
        index = RowIndex(rows: capacity)
        fineLimit = capacity - capacity / 16
        openHighWater = capacity / 2
        portBudget = max(capacity * BlockLogMemoryPlan.rowBytes / 8, 1 << 16)
        // Reserved up front so that a flood never stalls draining on an array copy; untouched pages are not
        // resident until rows use them.
        expiry.reserveCapacity(capacity)
        dirtySlots.reserveCapacity(capacity)
        spareDirtySlots.reserveCapacity(capacity)
        freeSlots.reserveCapacity(capacity)
    }

    deinit {
        pool.deinitialize(count: initialized)
        pool.deallocate()
    }

    /// Rows changed since their last commit.
    var hasDirtyRows: Bool { !dirtySlots.isEmpty }

    /// More than 3/4 of the pool is in use and the last commit succeeded: commit now rather than at the next
    /// flush interval, so that the closed rows waiting for their commit leave the pool sooner. (After a failed
    /// commit, retries keep to the flush interval.)
    var wantsEarlyFlush: Bool { liveCount > capacity - capacity / 4 && !lastCommitFailed }
    /// The last commit failed for some segment.
    private var lastCommitFailed = false

    // MARK: - Draining

    /// Drains every ring into rows. - Returns: the number of SYNs drained.
    @discardableResult
    func drainRings(now: Int64) -> Int {
        var drained = 0
        for ring in rings {
            drained += ring.drain { attempt in record(attempt) }
        }
        if uninserted > 0 && counters.oldestPendingMilliseconds.load(ordering: .relaxed) == 0 {
            counters.oldestPendingMilliseconds.store(now, ordering: .relaxed)
        }
        return drained
    }

    /// Adds one blocked SYN to its row, opening a new row when none is open for its key, when the row's
    /// window (`first_seen + aggregation window`) has passed, or when the source now belongs to another
    /// customer. Without room for a new row, the SYN goes to its source's coarse row, or is counted lost.
    func record(_ attempt: BlockedAttempt) {
        let key = RowKey(
            source: attempt.source, destination: attempt.destination,
            destinationPort: attempt.destinationPort, reason: attempt.reason)
        let hash = key.hashValue64
        if add(attempt, to: key, hash: hash) { return }
        if liveCount < fineLimit, open(key, hash: hash, attempt) { return }
        // No room for a row of this destination: the source's row (the source stays exact, the destination is
        // not kept). There is no coarser stage: a row for a network would be read, and reported, as one host.
        let source = key.coarse
        let sourceHash = source.hashValue64
        if add(attempt, to: source, hash: sourceHash) || open(source, hash: sourceHash, attempt) {
            counters.synsInCoarseRows.wrappingIncrement(ordering: .relaxed)
            return
        }
        counters.lostByWriter.wrappingIncrement(ordering: .relaxed)
    }

    /// Adds `attempt` to the open row of `key` when it is in the same window and customer.
    /// - Returns: `false` when there is no such row (an open row of another window or customer is closed).
    @inline(__always)
    private func add(_ attempt: BlockedAttempt, to key: RowKey, hash: UInt64) -> Bool {
        let pool = self.pool
        guard let slot = index.find(key, hash: hash, keyAt: { pool[Int($0)].key }) else { return false }
        let row = pool + Int(slot)
        let sameWindow = attempt.timeMilliseconds - row.pointee.firstSeen < windowMilliseconds
        guard sameWindow && sameCustomer(attempt, row: row) else {
            closeOpen(slot)
            return false
        }
        row.pointee.syns += 1
        if row.pointee.ports.insert(attempt.sourcePort) && row.pointee.ports.count > 1 {
            let bytes = row.pointee.ports.heapBytes
            portBytes += bytes - row.pointee.portBytes
            row.pointee.portBytes = bytes
        }
        if attempt.timeMilliseconds > row.pointee.lastSeen {
            row.pointee.lastSeen = attempt.timeMilliseconds
        }
        if attempt.timeMilliseconds < row.pointee.firstSeen {
            row.pointee.firstSeen = attempt.timeMilliseconds
            row.pointee.firstSeenMoved = true
        }
        markDirty(slot)
        return true
    }

    private func sameCustomer(_ attempt: BlockedAttempt, row: UnsafeMutablePointer<Row>) -> Bool {
        if attempt.policyGeneration == row.pointee.customerGeneration
            && attempt.customerIndex == row.pointee.customerIndex
        {
            return true
        }
        let customer = resolve(generation: attempt.policyGeneration, index: attempt.customerIndex, exception: false)
        guard customer == row.pointee.customer else { return false }
        row.pointee.customerGeneration = attempt.policyGeneration
        row.pointee.customerIndex = attempt.customerIndex
        return true
    }

    /// Opens a row for `key` with its first SYN. - Returns: `false` when the pool is full.
    private func open(_ key: RowKey, hash: UInt64, _ attempt: BlockedAttempt) -> Bool {
        let slot: Int32
        if let free = freeSlots.popLast() {
            slot = free
        } else if initialized < capacity {
            slot = Int32(initialized)
        } else {
            return false
        }
        let slice = SegmentSlice(containing: attempt.timeMilliseconds, lengthSeconds: configuration.segmentSeconds)
        let serial = nextSerial
        nextSerial += 1
        let rowNumber = nextRowNumber
        nextRowNumber += 1
        let row = Row(
            key: key, hash: hash, sliceStart: slice.startSeconds, rowNumber: rowNumber,
            firstSeen: attempt.timeMilliseconds, lastSeen: attempt.timeMilliseconds,
            syns: 1, committedSyns: 0, checkpoint: attempt.timeMilliseconds, ports: .one(attempt.sourcePort),
            portBytes: 0, customerGeneration: attempt.policyGeneration, customerIndex: attempt.customerIndex,
            customer: resolve(generation: attempt.policyGeneration, index: attempt.customerIndex, exception: false),
            exceptionID: resolve(generation: attempt.policyGeneration, index: attempt.exceptionIndex, exception: true),
            serial: serial, live: true, inserted: false, dirty: false, inFlight: false, closed: false,
            firstSeenMoved: false)
        if Int(slot) == initialized {
            (pool + Int(slot)).initialize(to: row)
            initialized += 1
        } else {
            pool[Int(slot)] = row
        }
        liveCount += 1
        uninserted += 1
        counters.rowsInMemory.store(liveCount, ordering: .relaxed)
        liveBySlice[slice.startSeconds, default: 0] += 1
        index.insert(slot: slot, hash: hash)
        expiry.append(Expiry(slot: slot, serial: serial))
        markDirty(slot)
        return true
    }

    private func resolve(generation: UInt64, index: Int32, exception: Bool) -> String? {
        guard index >= 0 else { return nil }
        let key = ResolverKey(generation: generation, index: index, exception: exception)
        if let cached = resolved[key] { return cached }
        if resolved.count >= 65536 { resolved.removeAll(keepingCapacity: true) }
        let value =
            exception
            ? resolver.exceptionID(generation: generation, index: index)
            : resolver.customerID(generation: generation, index: index)
        resolved[key] = value
        return value
    }

    @inline(__always)
    private func markDirty(_ slot: Int32) {
        let row = pool + Int(slot)
        if !row.pointee.dirty {
            row.pointee.dirty = true
            dirtySlots.append(slot)
        }
    }

    /// Closes the open row in `slot`: out of the index, its final values due at the next flush; freed once
    /// committed.
    private func closeOpen(_ slot: Int32) {
        let row = pool + Int(slot)
        guard row.pointee.live, !row.pointee.closed else { return }
        index.remove(slot: slot, hash: row.pointee.hash)
        row.pointee.closed = true
        // Its port set is no longer needed: the count is kept.
        portBytes -= row.pointee.portBytes
        row.pointee.portBytes = 0
        if row.pointee.ports.count > 1 { row.pointee.ports = .counted(row.pointee.ports.count) }
        freeIfDone(slot)
    }

    private func freeIfDone(_ slot: Int32) {
        let row = pool + Int(slot)
        guard row.pointee.live, row.pointee.closed, !row.pointee.dirty, !row.pointee.inFlight else { return }
        row.pointee.live = false
        row.pointee.customer = nil
        row.pointee.exceptionID = nil
        row.pointee.ports = .one(0)
        freeSlots.append(slot)
        liveCount -= 1
        counters.rowsInMemory.store(liveCount, ordering: .relaxed)
        let sliceStart = row.pointee.sliceStart
        let remaining = (liveBySlice[sliceStart] ?? 1) - 1
        liveBySlice[sliceStart] = remaining > 0 ? remaining : nil
    }

    /// Closes rows whose window has passed at `now` (Unix ms), and the oldest open rows while more are open
    /// than the memory budget's high-water mark or port sets hold more than their share.
    func expire(now: Int64) {
        while expiryHead < expiry.count {
            let entry = expiry[expiryHead]
            let row = pool + Int(entry.slot)
            if row.pointee.live, row.pointee.serial == entry.serial, !row.pointee.closed {
                let due = row.pointee.firstSeen + windowMilliseconds <= now
                guard due || openCount > openHighWater || portBytes > portBudget else { break }
                if !due { counters.rowsClosedEarly.wrappingIncrement(ordering: .relaxed) }
                closeOpen(entry.slot)
            }
            expiryHead += 1
        }
        if expiryHead > 4096 && expiryHead * 2 > expiry.count {
            expiry.removeFirst(expiryHead)
            expiryHead = 0
        }
    }

    /// Closes every open row (shutdown).
    func closeAll() {
        var open: [Int32] = []
        open.reserveCapacity(index.count)
        index.forEachSlot { open.append($0) }
        for slot in open { closeOpen(slot) }
        index.removeAll()
    }

    // MARK: - Batches

    /// Copies the rows due into a batch, or returns `nil` when a batch is already out: rows not yet
    /// inserted, closed rows, and changed open rows — all of them when at most
    /// ``BlockLogConfiguration/freshUpdateLimit`` open rows changed, else only those last written a checkpoint
    /// interval ago (a flood: their counts wait, their SQL is saved). With `everything`, every changed row.
    /// An empty batch still carries the live slices for segment housekeeping.
    func makeBatch(now: Int64, everything: Bool = false) -> CommitBatch? {
        guard !inFlight else { return nil }
        var rows: [RowImage] = []
        rows.reserveCapacity(dirtySlots.count)
        // The rows listed so far move to the spare buffer (read by index below, never copied); rows changed
        // while the batch is built are listed in `dirtySlots` again.
        swap(&dirtySlots, &spareDirtySlots)
        defer { spareDirtySlots.removeAll(keepingCapacity: true) }
        var changedOpen = 0
        if !everything {
            for slot in spareDirtySlots where pool[Int(slot)].inserted && !pool[Int(slot)].closed { changedOpen += 1 }
        }
        let fresh = everything || changedOpen <= configuration.freshUpdateLimit
        // Checkpoints of open rows in a flood: at most this many per batch, the rest at the next flush, so the
        // SQL work of one flush stays bounded (new and closed rows are never held back).
        var checkpoints = everything ? Int.max : configuration.checkpointsPerFlush
        for count in 0..<spareDirtySlots.count {
            let slot = spareDirtySlots[count]
            // A batch can hold many rows: keep the rings drained meanwhile (rows changed now go into
            // `dirtySlots` again, or are already marked dirty and copied below with their latest values).
            if count & 8191 == 8191 { drainRings(now: now) }
            let row = pool + Int(slot)
            guard row.pointee.live, row.pointee.dirty else { continue }
            var due = fresh || !row.pointee.inserted || row.pointee.closed
            if !due && now - row.pointee.checkpoint >= checkpointMilliseconds && checkpoints > 0 {
                checkpoints -= 1
                due = true
            }
            guard due else {
                dirtySlots.append(slot)  // still dirty, stays listed
                continue
            }
            rows.append(
                RowImage(
                    slot: slot, serial: row.pointee.serial, sliceStart: row.pointee.sliceStart,
                    rowNumber: row.pointee.rowNumber, insert: !row.pointee.inserted,
                    firstSeenMoved: row.pointee.firstSeenMoved && row.pointee.inserted,
                    firstSeen: row.pointee.firstSeen, lastSeen: row.pointee.lastSeen, source: row.pointee.key.source,
                    destination: row.pointee.key.destination, destinationPort: row.pointee.key.destinationPort,
                    attempts: Int64(row.pointee.ports.count), syns: row.pointee.syns, customer: row.pointee.customer,
                    reason: row.pointee.key.reason, exceptionID: row.pointee.exceptionID))
            row.pointee.dirty = false
            row.pointee.inFlight = true
            row.pointee.firstSeenMoved = false
        }
        inFlight = true
        return CommitBatch(rows: rows, liveSlices: Set(liveBySlice.keys), builtAt: now)
    }

    /// Applies the committer's answer: committed rows are counted (and freed when closed), rows of failed
    /// segments are marked for the next batch.
    func apply(_ result: CommitResult) {
        inFlight = false
        lastCommitFailed = !result.failedSlices.isEmpty
        var committed: Int64 = 0
        for (count, image) in result.batch.rows.enumerated() {
            if count & 8191 == 8191 { drainRings(now: result.batch.builtAt) }
            let row = pool + Int(image.slot)
            guard row.pointee.live, row.pointee.serial == image.serial else { continue }
            row.pointee.inFlight = false
            if result.failedSlices.contains(image.sliceStart) {
                if image.firstSeenMoved { row.pointee.firstSeenMoved = true }
                markDirty(image.slot)
            } else {
                if image.insert {
                    row.pointee.inserted = true
                    uninserted -= 1
                }
                row.pointee.checkpoint = result.batch.builtAt
                committed += image.syns - row.pointee.committedSyns
                row.pointee.committedSyns = image.syns
                freeIfDone(image.slot)
            }
        }
        counters.synsRecorded.wrappingIncrement(by: UInt64(max(committed, 0)), ordering: .relaxed)
        if result.failedSlices.isEmpty {
            counters.oldestPendingMilliseconds.store(uninserted == 0 ? 0 : result.batch.builtAt, ordering: .relaxed)
        }
    }

    /// Counts every SYN not committed as lost (shutdown after the last attempt). - Returns: the count.
    func countUncommittedAsLost() -> Int64 {
        var lost: Int64 = 0
        for position in 0..<initialized where pool[position].live {
            lost += pool[position].syns - pool[position].committedSyns
        }
        if lost > 0 { counters.lostByWriter.wrappingIncrement(by: UInt64(lost), ordering: .relaxed) }
        counters.oldestPendingMilliseconds.store(0, ordering: .relaxed)
        return lost
    }
}
