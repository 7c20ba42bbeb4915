import Atomics
import Egress25Core
import GRDB
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Counters shared between the writer thread (which updates them) and any thread reading statistics.
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

/// The writer thread's state: aggregation, segment files, retention. Not thread-safe: exactly one thread
/// at a time uses it (the writer thread once started; the caller of `flush()` before).
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
        var firstSeen: Int64
        var lastSeen: Int64
        var syns: Int64
        var committedSyns: Int64
        var ports: PortSet
        var customerGeneration: UInt64
        var customerIndex: Int32
        var customer: String?
        var exceptionID: String?
        var rowID: Int64
        var serial: UInt64
        var dirty: Bool
        var closed: Bool
        var firstSeenMoved: Bool
    }

    let directory: String
    let configuration: BlockLogConfiguration
    let nodeName: String
    let resolver: any BlockLogResolver
    let clock: any BlockLogClock
    var logger: Logger
    let counters: WriterCounters
    let windowMilliseconds: Int64

    var rings: [BlockLogRing] = []

    private var slots: [Aggregate?] = []
    private var freeSlots: [Int32] = []
    private var liveCount = 0
    private var index: [Key: Int32] = [:]
    private var expiry: [(slot: Int32, serial: UInt64)] = []
    private var expiryHead = 0
    private var dirtySlots: [Int32] = []
    private var nextSerial: UInt64 = 1
    private var liveBySlice: [Int64: Int] = [:]

    private var segments: [Int64: SegmentWriter] = [:]
    private var lastFlush: Int64 = .min
    private var lastRetention: Int64 = .min
    private var directoryReady = false
    /// Set when a segment was opened: retention runs at the end of the cycle.
    private var retentionDue = false

    private var resolved: [ResolverKey: String?] = [:]
    private struct ResolverKey: Hashable {
        var generation: UInt64
        var index: Int32
        var exception: Bool
    }

    private var lastErrorLog: Int64 = .min
    private var suppressedErrors = 0
    private var sourceBytes: [UInt8] = []
    private var destinationBytes: [UInt8] = []

    /// How often retention scans the directory, in ms (also after every new segment).
    static let retentionIntervalMilliseconds: Int64 = 10_000
    /// At most one error log line per this many ms.
    static let errorLogIntervalMilliseconds: Int64 = 60_000

    init(
        directory: String, configuration: BlockLogConfiguration, nodeName: String,
        resolver: any BlockLogResolver, clock: any BlockLogClock, logger: Logger, counters: WriterCounters
    ) {
        self.directory = directory
        self.configuration = configuration
        self.nodeName = nodeName
        self.resolver = resolver
        self.clock = clock
        self.logger = logger
        self.counters = counters
        self.windowMilliseconds = configuration.aggregationWindowSeconds * 1000
    }

    // MARK: - Cycle

    /// Drains every ring, closes rows whose window has passed, commits when the flush interval has passed
    /// (or `forceFlush`), and runs retention every ``retentionIntervalMilliseconds``.
    func cycle(forceFlush: Bool) {
        var now = clock.nowMilliseconds()
        drainRings(now: now)
        now = clock.nowMilliseconds()
        expire(now: now)
        if forceFlush || lastFlush == .min || now - lastFlush >= configuration.flushIntervalMilliseconds {
            lastFlush = now
            flush(now: now)
        }
        if retentionDue || lastRetention == .min || now - lastRetention >= WriterCore.retentionIntervalMilliseconds {
            enforceRetention(now: now)
        }
    }

    /// Drains, closes every row, commits (retrying `attempts` times) and closes every segment. Whatever
    /// could not be committed is counted as lost.
    func shutdown(attempts: Int = 3) {
        let now = clock.nowMilliseconds()
        drainRings(now: now)
        for slot in index.values { close(slot) }
        index.removeAll()
        var attempt = 0
        while !dirtySlots.isEmpty && attempt < attempts {
            if attempt > 0 { usleep(100_000) }
            flush(now: clock.nowMilliseconds())
            attempt += 1
        }
        var lost: Int64 = 0
        for slot in dirtySlots {
            if let aggregate = slots[Int(slot)] { lost += aggregate.syns - aggregate.committedSyns }
        }
        if lost > 0 {
            counters.lostByWriter.wrappingIncrement(by: UInt64(lost), ordering: .relaxed)
            logger.error(
                "block log: \(lost) blocked SYNs could not be committed at shutdown",
                metadata: ["directory": "\(directory)"])
        }
        dirtySlots.removeAll()
        for segment in segments.values { segment.close() }
        segments.removeAll()
        counters.oldestPendingMilliseconds.store(0, ordering: .relaxed)
    }

    private func drainRings(now: Int64) {
        var drained = 0
        for ring in rings {
            drained += ring.drain { attempt in record(attempt) }
        }
        if drained > 0 && counters.oldestPendingMilliseconds.load(ordering: .relaxed) == 0 {
            counters.oldestPendingMilliseconds.store(now, ordering: .relaxed)
        }
    }

    // MARK: - Aggregation

    /// Adds one blocked SYN to its row, opening a new row when none is open for its key, when the row's
    /// window (`first_seen + aggregation window`) has passed, or when the source now belongs to another
    /// customer.
    func record(_ attempt: BlockedAttempt) {
        let key = Key(
            source: attempt.source, destination: attempt.destination,
            destinationPort: attempt.destinationPort, reason: attempt.reason)
        if let slot = index[key] {
            let position = Int(slot)
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

    private func sameCustomer(_ attempt: BlockedAttempt, slot position: Int) -> Bool {
        let aggregate = slots[position]!
        if attempt.policyGeneration == aggregate.customerGeneration && attempt.customerIndex == aggregate.customerIndex {
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
        let aggregate = Aggregate(
            key: key, sliceStart: slice.startSeconds,
            firstSeen: attempt.timeMilliseconds, lastSeen: attempt.timeMilliseconds,
            syns: 1, committedSyns: 0, ports: .one(attempt.sourcePort),
            customerGeneration: attempt.policyGeneration, customerIndex: attempt.customerIndex,
            customer: resolve(generation: attempt.policyGeneration, index: attempt.customerIndex, exception: false),
            exceptionID: resolve(generation: attempt.policyGeneration, index: attempt.exceptionIndex, exception: true),
            rowID: 0, serial: serial, dirty: false, closed: false, firstSeenMoved: false)
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

    private func markDirty(_ slot: Int32) {
        if !slots[Int(slot)]!.dirty {
            slots[Int(slot)]!.dirty = true
            dirtySlots.append(slot)
        }
    }

    /// Marks a row closed; it is freed once its final values are committed. The caller removes it from `index`.
    private func close(_ slot: Int32) {
        let position = Int(slot)
        guard slots[position] != nil, !slots[position]!.closed else { return }
        slots[position]!.closed = true
        if !slots[position]!.dirty { free(slot) }
    }

    private func free(_ slot: Int32) {
        let position = Int(slot)
        guard let aggregate = slots[position] else { return }
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

    // MARK: - Commit

    /// Commits every dirty row, one transaction per segment. Failed segments keep their rows dirty for the
    /// next flush.
    func flush(now: Int64) {
        guard !dirtySlots.isEmpty else {
            counters.oldestPendingMilliseconds.store(0, ordering: .relaxed)
            closeIdleSegments(now: now)
            return
        }
        var bySlice: [Int64: [Int32]] = [:]
        for slot in dirtySlots {
            guard let aggregate = slots[Int(slot)] else { continue }
            bySlice[aggregate.sliceStart, default: []].append(slot)
        }
        var remaining: [Int32] = []
        for (sliceStart, group) in bySlice.sorted(by: { $0.key < $1.key }) {
            do {
                let segment = try segment(for: sliceStart, now: now)
                try commit(group, to: segment)
            } catch {
                counters.writeErrors.wrappingIncrement(ordering: .relaxed)
                reportError(error, now: now)
                remaining.append(contentsOf: group)
                if let segment = segments[sliceStart] {
                    // A failed commit may leave the connection unusable (disk full, file deleted): reopen later.
                    segment.close()
                    segments[sliceStart] = nil
                }
            }
        }
        dirtySlots = remaining
        if remaining.isEmpty {
            counters.oldestPendingMilliseconds.store(0, ordering: .relaxed)
        }
        closeIdleSegments(now: now)
    }

    private func commit(_ group: [Int32], to segment: SegmentWriter) throws {
        var inserted: [Int32] = []
        var updates: UInt64 = 0
        do {
            try segment.transaction { statements in
                for slot in group {
                    let position = Int(slot)
                    guard let aggregate = slots[position] else { continue }
                    if aggregate.rowID == 0 {
                        let insert = statements.insert
                        insert.reset()
                        AddressCoding.encode(aggregate.key.source, into: &sourceBytes)
                        AddressCoding.encode(aggregate.key.destination, into: &destinationBytes)
                        insert.bind(1, aggregate.firstSeen)
                        insert.bind(2, aggregate.lastSeen)
                        insert.bind(3, blob: sourceBytes)
                        insert.bind(4, blob: destinationBytes)
                        insert.bind(5, Int64(aggregate.key.destinationPort))
                        insert.bind(6, Int64(aggregate.ports.count))
                        insert.bind(7, aggregate.syns)
                        insert.bind(8, text: aggregate.customer)
                        insert.bind(9, Int64(aggregate.key.reason.rawValue))
                        insert.bind(10, text: aggregate.exceptionID)
                        insert.bind(11, text: nodeName)
                        _ = try insert.step()
                        slots[position]!.rowID = statements.db.lastInsertedRowID
                        inserted.append(slot)
                    } else {
                        let update = aggregate.firstSeenMoved ? statements.updateWithFirstSeen : statements.update
                        update.reset()
                        update.bind(1, aggregate.lastSeen)
                        update.bind(2, Int64(aggregate.ports.count))
                        update.bind(3, aggregate.syns)
                        if aggregate.firstSeenMoved {
                            update.bind(4, aggregate.firstSeen)
                            update.bind(5, aggregate.rowID)
                        } else {
                            update.bind(4, aggregate.rowID)
                        }
                        _ = try update.step()
                        updates += 1
                    }
                }
            }
        } catch {
            for slot in inserted { slots[Int(slot)]?.rowID = 0 }
            throw error
        }
        var syns: Int64 = 0
        for slot in group {
            let position = Int(slot)
            guard let aggregate = slots[position] else { continue }
            syns += aggregate.syns - aggregate.committedSyns
            slots[position]!.committedSyns = aggregate.syns
            slots[position]!.dirty = false
            slots[position]!.firstSeenMoved = false
            if aggregate.closed { free(slot) }
        }
        counters.rowsWritten.wrappingIncrement(by: UInt64(inserted.count), ordering: .relaxed)
        counters.rowUpdates.wrappingIncrement(by: updates, ordering: .relaxed)
        counters.synsRecorded.wrappingIncrement(by: UInt64(syns), ordering: .relaxed)
    }

    // MARK: - Segments

    private func segment(for sliceStart: Int64, now: Int64) throws -> SegmentWriter {
        if let segment = segments[sliceStart] { return segment }
        try ensureDirectory()
        let slice = SegmentSlice(containing: sliceStart * 1000, lengthSeconds: configuration.segmentSeconds)
        let segment = try SegmentWriter(
            directory: directory, slice: slice, nodeName: nodeName, cacheBytes: configuration.cacheBytes)
        segments[sliceStart] = segment
        logger.info("block log: writing segment", metadata: ["file": "\(segment.path)"])
        retentionDue = true
        return segment
    }

    /// Closes segments that no open or pending row refers to, except the one of the current time slice.
    private func closeIdleSegments(now: Int64) {
        let current = SegmentSlice(containing: now, lengthSeconds: configuration.segmentSeconds).startSeconds
        for (sliceStart, segment) in segments where sliceStart != current && liveBySlice[sliceStart] == nil {
            segment.close()
            segments[sliceStart] = nil
            logger.info("block log: closed segment", metadata: ["file": "\(segment.path)"])
        }
    }

    private func ensureDirectory() throws {
        if directoryReady { return }
        var components: [String] = []
        var path = ""
        for part in directory.split(separator: "/", omittingEmptySubsequences: true) {
            components.append(String(part))
            path = (directory.hasPrefix("/") ? "/" : "") + components.joined(separator: "/")
            if mkdir(path, 0o750) != 0 && errno != EEXIST {
                throw BlockLogError(.directory, "cannot create \(path): \(String(cString: strerror(errno)))")
            }
        }
        directoryReady = true
    }

    private func reportError(_ error: any Error, now: Int64) {
        if lastErrorLog != .min && now - lastErrorLog < WriterCore.errorLogIntervalMilliseconds {
            suppressedErrors += 1
            return
        }
        lastErrorLog = now
        logger.error(
            "block log: cannot commit blocked attempts, retrying every flush interval; verdicts are unaffected",
            metadata: [
                "directory": "\(directory)", "error": "\(error)",
                "similar_errors_suppressed": "\(suppressedErrors)",
                "pending_rows": "\(dirtySlots.count)",
                "lost_events": "\(counters.lostByWriter.load(ordering: .relaxed))",
            ])
        suppressedErrors = 0
    }

    // MARK: - Retention

    /// Deletes whole segment files, oldest first: those whose slice ended more than `retention` ago, then
    /// more until all segment files (with `-wal`/`-shm`) fit in `maxBytes`. Never deletes an open segment
    /// or the one of the current time slice. Each deletion is logged.
    func enforceRetention(now: Int64) {
        lastRetention = now
        retentionDue = false
        let files = SegmentDirectory.list(directory)
        let current = SegmentSlice(containing: now, lengthSeconds: configuration.segmentSeconds)
        let protected = Set(segments.values.map { $0.slice.fileName }).union([current.fileName])
        var total = files.reduce(Int64(0)) { $0 + $1.bytes }
        let cutoffSeconds = now / 1000 - configuration.retentionSeconds
        var deleted = Set<String>()
        for file in files where file.slice.endSeconds <= cutoffSeconds && !protected.contains(file.name) {
            if delete(file, reason: "retention", now: now) {
                total -= file.bytes
                deleted.insert(file.name)
            }
        }
        for file in files where total > configuration.maxBytes {
            guard !deleted.contains(file.name), !protected.contains(file.name) else { continue }
            if delete(file, reason: "max_bytes", now: now) {
                total -= file.bytes
                deleted.insert(file.name)
            }
        }
        if total > configuration.maxBytes {
            logger.warning(
                "block log: segments being written exceed max_bytes",
                metadata: ["bytes": "\(total)", "max_bytes": "\(configuration.maxBytes)"])
        }
        counters.bytesOnDisk.store(total, ordering: .relaxed)
    }

    private func delete(_ file: SegmentDirectory.File, reason: String, now: Int64) -> Bool {
        var ok = true
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let path = directory + "/" + file.name + suffix
            if unlink(path) != 0 && errno != ENOENT {
                ok = false
                if suffix.isEmpty {
                    reportError(
                        BlockLogError(.directory, "cannot delete \(path): \(String(cString: strerror(errno)))"),
                        now: now)
                }
            }
        }
        guard ok else { return false }
        counters.segmentsDeleted.wrappingIncrement(ordering: .relaxed)
        logger.notice(
            "block log: deleted segment",
            metadata: ["file": "\(file.name)", "bytes": "\(file.bytes)", "reason": "\(reason)"])
        return true
    }
}
