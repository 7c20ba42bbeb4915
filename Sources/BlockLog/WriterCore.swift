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
    /// Unix ms when the oldest SYN not yet committed was drained; 0 when none is pending.
    let oldestPendingMilliseconds = ManagedAtomic<Int64>(0)
}

/// The aggregating side of the writer: drains the rings and folds SYNs into rows. Never touches SQLite:
/// at each flush it copies the changed rows into a ``CommitBatch`` for the ``SegmentCommitter`` and applies
/// the ``CommitResult`` when it comes back (one batch outstanding at a time; rows changed meanwhile go
/// into the next one). Not thread-safe: one thread at a time.
final class WriterCore {
    struct Key: Hashable {
        var source: IPAddress
        var destination: IPAddress
        var destinationPort: UInt16
        var reason: BlockReason
    }

    /// One row in memory: open (accepting SYNs), or closed and waiting for its final values to be committed.
    struct Aggregate {
        var key: Key
        var sliceStart: Int64
        var rowNumber: Int64
        var firstSeen: Int64
        var lastSeen: Int64
        var syns: Int64
        var committedSyns: Int64
        var ports: PortSet
        var customerGeneration: UInt64
        var customerIndex: Int32
        var customer: String?
        var exceptionID: String?
        var serial: UInt64
        var inserted: Bool
        var dirty: Bool
        var inFlight: Bool
        var closed: Bool
        var firstSeenMoved: Bool
    }

    let configuration: BlockLogConfiguration
    let resolver: any BlockLogResolver
    let counters: WriterCounters
    let windowMilliseconds: Int64
    var rings: [BlockLogRing] = []

    /// Rows by slot; `nil` for a free slot (in `freeSlots`). A slot is freed only by `freeIfDone`, once its row is
    /// closed (out of `index`), committed (out of `dirtySlots`) and not in a batch (no `inFlight`). So a slot
    /// taken from `index` or `dirtySlots`, or from a batch row whose serial still matches, holds a row: the
    /// `slots[position]!` below cannot fail (and stay force unwraps: this is the per-SYN path, mutated in place).
    private var slots: [Aggregate?] = []
    private var freeSlots: [Int32] = []
    private var liveCount = 0
    private var index: [Key: Int32] = [:]
    private var expiry: [(slot: Int32, serial: UInt64)] = []
    private var expiryHead = 0
    private var dirtySlots: [Int32] = []
    private var nextSerial: UInt64 = 1
    private var nextRowNumber: Int64 = 1
    private var liveBySlice: [Int64: Int] = [:]
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
        // Reserved up front so that a flood never stalls draining on a rehash or an array copy; the pages
        // of untouched capacity are not resident until rows use them.
        index.reserveCapacity(configuration.maxPendingRows)
        slots.reserveCapacity(configuration.maxPendingRows)
    }

    /// Rows changed since the last batch.
    var hasDirtyRows: Bool { !dirtySlots.isEmpty }

    // MARK: - Draining

    /// Drains every ring into rows. - Returns: the number of SYNs drained.
    @discardableResult
    func drainRings(now: Int64) -> Int {
        var drained = 0
        for ring in rings {
            drained += ring.drain { attempt in record(attempt) }
        }
        if drained > 0 && counters.oldestPendingMilliseconds.load(ordering: .relaxed) == 0 {
            counters.oldestPendingMilliseconds.store(now, ordering: .relaxed)
        }
        return drained
    }

    /// Adds one blocked SYN to its row, opening a new row when none is open for its key, when the row's
    /// window (`first_seen + aggregation window`) has passed, or when the source now belongs to another
    /// customer.
    func record(_ attempt: BlockedAttempt) {
        let key = Key(
            source: attempt.source, destination: attempt.destination,
            destinationPort: attempt.destinationPort, reason: attempt.reason)
        if let slot = index[key] {
            let position = Int(slot)  // from `index`: a live row (see `slots`)
            let sameWindow = attempt.timeMilliseconds - slots[position]!.firstSeen < windowMilliseconds
            if sameWindow && sameCustomer(attempt, slot: position) {
                slots[position]!.syns += 1
                _ = slots[position]!.ports.insert(attempt.sourcePort)
                if attempt.timeMilliseconds > slots[position]!.lastSeen {
                    slots[position]!.lastSeen = attempt.timeMilliseconds
                }
                if attempt.timeMilliseconds < slots[position]!.firstSeen {
                    slots[position]!.firstSeen = attempt.timeMilliseconds
                    slots[position]!.firstSeenMoved = true
                }
                markDirty(slot)
                return
            }
            index[key] = nil
            close(slot)
        }
        open(key, attempt)
    }

    /// - Parameter position: A slot from `index` (a live row, see `slots`).
    private func sameCustomer(_ attempt: BlockedAttempt, slot position: Int) -> Bool {
        let aggregate = slots[position]!
        if attempt.policyGeneration == aggregate.customerGeneration && attempt.customerIndex == aggregate.customerIndex
        {
            return true
        }
        let customer = resolve(generation: attempt.policyGeneration, index: attempt.customerIndex, exception: false)
        guard customer == aggregate.customer else { return false }
        slots[position]!.customerGeneration = attempt.policyGeneration
        slots[position]!.customerIndex = attempt.customerIndex
        return true
    }

    private func open(_ key: Key, _ attempt: BlockedAttempt) {
        guard liveCount < configuration.maxPendingRows else {
            counters.lostByWriter.wrappingIncrement(ordering: .relaxed)
            return
        }
        let slice = SegmentSlice(containing: attempt.timeMilliseconds, lengthSeconds: configuration.segmentSeconds)
        let serial = nextSerial
        nextSerial += 1
        let rowNumber = nextRowNumber
        nextRowNumber += 1
        let aggregate = Aggregate(
            key: key, sliceStart: slice.startSeconds, rowNumber: rowNumber,
            firstSeen: attempt.timeMilliseconds, lastSeen: attempt.timeMilliseconds,
            syns: 1, committedSyns: 0, ports: .one(attempt.sourcePort),
            customerGeneration: attempt.policyGeneration, customerIndex: attempt.customerIndex,
            customer: resolve(generation: attempt.policyGeneration, index: attempt.customerIndex, exception: false),
            exceptionID: resolve(generation: attempt.policyGeneration, index: attempt.exceptionIndex, exception: true),
            serial: serial, inserted: false, dirty: false, inFlight: false, closed: false, firstSeenMoved: false)
        let slot: Int32
        if let free = freeSlots.popLast() {
            slot = free
            slots[Int(slot)] = aggregate
        } else {
            slot = Int32(slots.count)
            slots.append(aggregate)
        }
        liveCount += 1
        liveBySlice[slice.startSeconds, default: 0] += 1
        index[key] = slot
        expiry.append((slot, serial))
        markDirty(slot)
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

    /// - Parameter slot: A live row's slot (from `index`, a just-opened row, or a batch row whose serial matched).
    private func markDirty(_ slot: Int32) {
        if !slots[Int(slot)]!.dirty {
            slots[Int(slot)]!.dirty = true
            dirtySlots.append(slot)
        }
    }

    /// Marks a row closed; it is freed once its final values are committed. The caller removes it from `index`.
    private func close(_ slot: Int32) {
        let position = Int(slot)
        guard slots[position]?.closed == false else { return }
        slots[position]?.closed = true
        freeIfDone(slot)
    }

    private func freeIfDone(_ slot: Int32) {
        let position = Int(slot)
        guard let aggregate = slots[position], aggregate.closed, !aggregate.dirty, !aggregate.inFlight else { return }
        slots[position] = nil
        freeSlots.append(slot)
        liveCount -= 1
        let remaining = (liveBySlice[aggregate.sliceStart] ?? 1) - 1
        liveBySlice[aggregate.sliceStart] = remaining > 0 ? remaining : nil
    }

    /// Closes rows whose window has passed at `now` (Unix ms).
    func expire(now: Int64) {
        while expiryHead < expiry.count {
            let (slot, serial) = expiry[expiryHead]
            let position = Int(slot)
            if let aggregate = slots[position], aggregate.serial == serial, !aggregate.closed {
                guard aggregate.firstSeen + windowMilliseconds <= now else { break }
                if index[aggregate.key] == slot { index[aggregate.key] = nil }
                close(slot)
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
        for slot in index.values { close(slot) }
        index.removeAll()
    }

    // MARK: - Batches

    /// Copies every changed row into a batch, or `nil` when a batch is already out.
    /// An empty batch (nothing changed) still carries the live slices for segment housekeeping.
    func makeBatch(now: Int64) -> CommitBatch? {
        guard !inFlight else { return nil }
        var rows: [RowImage] = []
        rows.reserveCapacity(dirtySlots.count)
        let pending = dirtySlots
        dirtySlots = []
        for (count, slot) in pending.enumerated() {
            // A batch can hold a million rows: keep the rings drained meanwhile (rows changed now go into
            // `dirtySlots` again, or are already marked dirty and copied below with their latest values).
            if count & 8191 == 8191 { drainRings(now: now) }
            let position = Int(slot)
            guard let aggregate = slots[position], aggregate.dirty else { continue }  // non-nil below
            rows.append(
                RowImage(
                    slot: slot, serial: aggregate.serial, sliceStart: aggregate.sliceStart,
                    rowNumber: aggregate.rowNumber, insert: !aggregate.inserted,
                    firstSeenMoved: aggregate.firstSeenMoved && aggregate.inserted,
                    firstSeen: aggregate.firstSeen, lastSeen: aggregate.lastSeen, source: aggregate.key.source,
                    destination: aggregate.key.destination, destinationPort: aggregate.key.destinationPort,
                    attempts: Int64(aggregate.ports.count), syns: aggregate.syns, customer: aggregate.customer,
                    reason: aggregate.key.reason, exceptionID: aggregate.exceptionID))
            slots[position]!.dirty = false
            slots[position]!.inFlight = true
            slots[position]!.firstSeenMoved = false
        }
        inFlight = true
        return CommitBatch(rows: rows, liveSlices: Set(liveBySlice.keys), builtAt: now)
    }

    /// Applies the committer's answer: committed rows are counted (and freed when closed), rows of failed
    /// segments are marked for the next batch.
    func apply(_ result: CommitResult) {
        inFlight = false
        var committed: Int64 = 0
        for (count, row) in result.batch.rows.enumerated() {
            if count & 8191 == 8191 { drainRings(now: result.batch.builtAt) }
            let position = Int(row.slot)
            guard slots[position]?.serial == row.serial else { continue }  // non-nil below
            slots[position]!.inFlight = false
            if result.failedSlices.contains(row.sliceStart) {
                if row.firstSeenMoved { slots[position]!.firstSeenMoved = true }
                markDirty(row.slot)
            } else {
                if row.insert { slots[position]!.inserted = true }
                committed += row.syns - slots[position]!.committedSyns
                slots[position]!.committedSyns = row.syns
                freeIfDone(row.slot)
            }
        }
        counters.synsRecorded.wrappingIncrement(by: UInt64(max(committed, 0)), ordering: .relaxed)
        if result.failedSlices.isEmpty {
            counters.oldestPendingMilliseconds.store(dirtySlots.isEmpty ? 0 : result.batch.builtAt, ordering: .relaxed)
        }
    }

    /// Counts every SYN not committed as lost (shutdown after the last attempt). - Returns: the count.
    func countUncommittedAsLost() -> Int64 {
        var lost: Int64 = 0
        for case let aggregate? in slots {
            lost += aggregate.syns - aggregate.committedSyns
        }
        if lost > 0 { counters.lostByWriter.wrappingIncrement(by: UInt64(lost), ordering: .relaxed) }
        counters.oldestPendingMilliseconds.store(0, ordering: .relaxed)
        return lost
    }
}
