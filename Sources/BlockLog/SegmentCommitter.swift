import Atomics
import Egress25Core
import Egress25System
import GRDB
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The values of one row to insert or update, copied out of the aggregator so that the committing thread
/// never touches aggregation state.
struct RowImage {
    var slot: Int32
    var serial: UInt64
    var sliceStart: Int64
    /// Per-run row number; the file's row id is the segment's offset plus this.
    var rowNumber: Int64
    var insert: Bool
    var firstSeenMoved: Bool
    var firstSeen: Int64
    var lastSeen: Int64
    var source: IPAddress
    var destination: IPAddress
    var destinationPort: UInt16
    var attempts: Int64
    var syns: Int64
    var customer: String?
    var reason: BlockReason
    var exceptionID: String?
}

/// What the aggregator hands to the committer at each flush.
struct CommitBatch {
    var rows: [RowImage]
    /// Slices that open or pending rows still refer to: their segments stay open and are never deleted.
    var liveSlices: Set<Int64>
    /// Unix ms when the batch was built.
    var builtAt: Int64
}

/// What the committer hands back.
struct CommitResult {
    var batch: CommitBatch
    /// Slices whose transaction failed: their rows must be committed again.
    var failedSlices: Set<Int64>
}

/// Owns the segment files: opens them, commits batches (one transaction per segment), closes idle ones,
/// enforces retention. Used by one thread at a time (the committer thread, or the caller before start).
final class SegmentCommitter {
    let directory: String
    let configuration: BlockLogConfiguration
    let nodeName: String
    let clock: any BlockLogClock
    let logger: Logger
    let counters: WriterCounters
    /// The page cache of each segment opened: ``BlockLogMemoryPlan/cacheBytes``.
    let cacheBytes: Int

    private var segments: [Int64: SegmentWriter] = [:]
    /// Row id offset per slice for this run: the file's largest id when first opened.
    private var offsets: [Int64: Int64] = [:]
    private var liveSlices: Set<Int64> = []
    private var lastRetention: Int64 = .min
    private var retentionDue = false
    private var directoryReady = false
    private var lastErrorLog: Int64 = .min
    private var suppressedErrors = 0
    private var sourceBytes: [UInt8] = []
    private var destinationBytes: [UInt8] = []

    /// How often retention scans the directory, in ms (also after every new segment).
    static let retentionIntervalMilliseconds: Int64 = 10_000
    /// At most one error log line per this many ms.
    static let errorLogIntervalMilliseconds: Int64 = 60_000

    /// Fleet mode: which segments are shipped; retention keeps the others (``ShippingLedger``).
    let shippingLedger: ShippingLedger?

    init(
        directory: String, configuration: BlockLogConfiguration, nodeName: String, clock: any BlockLogClock,
        logger: Logger, counters: WriterCounters, shippingLedger: ShippingLedger? = nil
    ) {
        self.shippingLedger = shippingLedger
        self.directory = directory
        self.configuration = configuration
        self.nodeName = nodeName
        self.clock = clock
        self.logger = logger
        self.counters = counters
        self.cacheBytes = BlockLogMemoryPlan(configuration).cacheBytes
    }

    /// Commits `batch`, one transaction per segment; a failed segment's rows are reported back for retry.
    func commit(_ batch: CommitBatch) -> CommitResult {
        liveSlices = batch.liveSlices
        var bySlice: [Int64: [Int]] = [:]
        for (position, row) in batch.rows.enumerated() {
            bySlice[row.sliceStart, default: []].append(position)
        }
        var failed: Set<Int64> = []
        let now = clock.nowMilliseconds()
        for (sliceStart, unordered) in bySlice.sorted(by: { $0.key < $1.key }) {
            // In primary-key order, (source, id), the b-tree work walks the table sequentially: each leaf page is
            // read and dirtied once per batch instead of once per row, which is what lets a flood of new sources
            // commit without re-reading (and spilling) pages a small page cache cannot hold.
            let positions = unordered.sorted { Self.primaryKeyOrder(batch.rows[$0], batch.rows[$1]) }
            do {
                let segment = try segment(for: sliceStart)
                // segment(for:) records the offset when it opens the file; the fallback is the same value.
                let offset = offsets[sliceStart] ?? segment.largestID
                try write(positions, of: batch.rows, to: segment, offset: offset)
            } catch {
                failed.insert(sliceStart)
                counters.writeErrors.wrappingIncrement(ordering: .relaxed)
                reportError(error, now: now, pendingRows: positions.count)
                if let segment = segments[sliceStart] {
                    // A failed commit may leave the connection unusable (disk full, file deleted): reopen later.
                    segment.close()
                    segments[sliceStart] = nil
                }
            }
        }
        maintain(now: clock.nowMilliseconds())
        return CommitResult(batch: batch, failedSlices: failed)
    }

    /// `true` when `a` sorts before `b` in the table's primary key: the source as `AddressCoding` stores it
    /// (BLOBs compare as bytes: IPv4 before IPv6, then the address big-endian), then the row id.
    static func primaryKeyOrder(_ a: RowImage, _ b: RowImage) -> Bool {
        let (x, y) = (sortKey(a.source), sortKey(b.source))
        if x != y { return x < y }
        return a.rowNumber < b.rowNumber
    }

    private static func sortKey(_ address: IPAddress) -> (UInt8, UInt64, UInt64) {
        switch address {
        case .v4(let v4): return (AddressCoding.ipv4Tag, UInt64(v4.value) << 32, 0)
        case .v6(let v6): return (AddressCoding.ipv6Tag, v6.high, v6.low)
        }
    }

    /// Closes idle segments and runs retention when due. Called after each commit and when idle.
    func maintain(now: Int64) {
        closeIdleSegments(now: now)
        if retentionDue || lastRetention == .min
            || now - lastRetention >= SegmentCommitter.retentionIntervalMilliseconds
        {
            enforceRetention(now: now)
        }
    }

    /// Closes every segment file.
    func close() {
        for segment in segments.values { segment.close() }
        segments.removeAll()
    }

    private func write(_ positions: [Int], of rows: [RowImage], to segment: SegmentWriter, offset: Int64) throws {
        var inserted: UInt64 = 0
        var updated: UInt64 = 0
        var largestRowNumber: Int64 = 0
        try segment.transaction { statements in
            for position in positions {
                let row = rows[position]
                if row.insert {
                    let insert = statements.insert
                    insert.reset()
                    AddressCoding.encode(row.source, into: &sourceBytes)
                    AddressCoding.encode(row.destination, into: &destinationBytes)
                    insert.bind(1, offset + row.rowNumber)
                    insert.bind(2, row.firstSeen)
                    insert.bind(3, row.lastSeen)
                    insert.bind(4, blob: sourceBytes)
                    insert.bind(5, blob: destinationBytes)
                    insert.bind(6, Int64(row.destinationPort))
                    insert.bind(7, row.attempts)
                    insert.bind(8, row.syns)
                    insert.bind(9, text: row.customer)
                    insert.bind(10, Int64(row.reason.rawValue))
                    insert.bind(11, text: row.exceptionID)
                    insert.bind(12, text: nodeName)
                    _ = try insert.step()
                    inserted += 1
                    largestRowNumber = max(largestRowNumber, row.rowNumber)
                } else {
                    let update = row.firstSeenMoved ? statements.updateWithFirstSeen : statements.update
                    update.reset()
                    AddressCoding.encode(row.source, into: &sourceBytes)
                    update.bind(1, row.lastSeen)
                    update.bind(2, row.attempts)
                    update.bind(3, row.syns)
                    var next: Int32 = 4
                    if row.firstSeenMoved {
                        update.bind(4, row.firstSeen)
                        next = 5
                    }
                    update.bind(next, blob: sourceBytes)
                    update.bind(next + 1, offset + row.rowNumber)
                    _ = try update.step()
                    updated += 1
                }
            }
            if largestRowNumber > 0 {
                let record = statements.recordMaxID
                record.reset()
                record.bind(1, offset + largestRowNumber)
                _ = try record.step()
            }
        }
        // Committed SYNs are counted by the aggregator, which knows what each row had committed before.
        counters.rowsWritten.wrappingIncrement(by: inserted, ordering: .relaxed)
        counters.rowUpdates.wrappingIncrement(by: updated, ordering: .relaxed)
    }

    // MARK: - Segments

    private func segment(for sliceStart: Int64) throws -> SegmentWriter {
        if let segment = segments[sliceStart] { return segment }
        try ensureDirectory()
        let slice = SegmentSlice(containing: sliceStart * 1000, lengthSeconds: configuration.segmentSeconds)
        let segment = try SegmentWriter(
            directory: directory, slice: slice, nodeName: nodeName, cacheBytes: cacheBytes)
        segments[sliceStart] = segment
        if offsets[sliceStart] == nil { offsets[sliceStart] = segment.largestID }
        logger.info("block log: writing segment", metadata: ["file": "\(segment.path)"])
        retentionDue = true
        return segment
    }

    /// Closes segments that no open or pending row refers to, except the one of the current time slice.
    private func closeIdleSegments(now: Int64) {
        let current = SegmentSlice(containing: now, lengthSeconds: configuration.segmentSeconds).startSeconds
        for (sliceStart, segment) in segments where sliceStart != current && !liveSlices.contains(sliceStart) {
            segment.close()
            segments[sliceStart] = nil
            offsets[sliceStart] = nil
            logger.info("block log: closed segment", metadata: ["file": "\(segment.path)"])
        }
    }

    private func ensureDirectory() throws {
        if directoryReady { return }
        var components: [String] = []
        for part in directory.split(separator: "/", omittingEmptySubsequences: true) {
            components.append(String(part))
            let path = (directory.hasPrefix("/") ? "/" : "") + components.joined(separator: "/")
            if mkdir(path, 0o750) != 0 && errno != EEXIST {
                throw BlockLogError(.directory, "cannot create \(path): \(SystemCallError.describe(errno))")
            }
        }
        directoryReady = true
    }

    private func reportError(_ error: any Error, now: Int64, pendingRows: Int) {
        if lastErrorLog != .min && now - lastErrorLog < SegmentCommitter.errorLogIntervalMilliseconds {
            suppressedErrors += 1
            return
        }
        lastErrorLog = now
        logger.error(
            "block log: cannot commit blocked attempts, retrying every flush interval; verdicts are unaffected",
            metadata: [
                "directory": "\(directory)", "error": "\(error)",
                "similar_errors_suppressed": "\(suppressedErrors)", "pending_rows": "\(pendingRows)",
                "lost_events": "\(counters.lostByWriter.load(ordering: .relaxed))",
            ])
        suppressedErrors = 0
    }

    // MARK: - Retention

    /// Deletes whole segment files, oldest first: those whose slice ended more than `retention` ago, then
    /// more until all segment files (with `-wal`/`-shm`) fit in `maxBytes`. Never deletes an open segment,
    /// one that pending rows refer to, or the one of the current time slice. Each deletion is logged.
    func enforceRetention(now: Int64) {
        lastRetention = now
        retentionDue = false
        let files = SegmentDirectory.list(directory)
        let current = SegmentSlice(containing: now, lengthSeconds: configuration.segmentSeconds)
        var protected = Set(segments.values.map { $0.slice.fileName }).union([current.fileName])
        for sliceStart in liveSlices {
            protected.insert(
                SegmentSlice(containing: sliceStart * 1000, lengthSeconds: configuration.segmentSeconds).fileName)
        }
        var total = files.reduce(Int64(0)) { $0 + $1.bytes }
        let cutoffSeconds = now / 1000 - configuration.retentionSeconds
        var deleted = Set<String>()
        for file in files where file.slice.endSeconds <= cutoffSeconds && !protected.contains(file.name) {
            // The segments are the fleet store's spool: retention never deletes one still being shipped.
            if let shippingLedger, !shippingLedger.isShipped(file.name) { continue }
            if delete(file, reason: "retention", now: now) {
                total -= file.bytes
                deleted.insert(file.name)
            }
        }
        for file in files where total > configuration.maxBytes {
            guard !deleted.contains(file.name), !protected.contains(file.name) else { continue }
            let unshipped = shippingLedger.map { !$0.isShipped(file.name) } ?? false
            if delete(file, reason: "max_bytes", now: now) {
                if unshipped, let shippingLedger {
                    shippingLedger.recordLostSegment()
                    logger.error(
                        "block log: max_bytes deleted a segment not yet shipped; its unshipped rows are lost",
                        metadata: ["file": "\(file.name)", "max_bytes": "\(configuration.maxBytes)"])
                }
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
                        BlockLogError(.directory, "cannot delete \(path): \(SystemCallError.describe(errno))"),
                        now: now, pendingRows: 0)
                }
            }
        }
        guard ok else { return false }
        shippingLedger?.forget(file.name)
        counters.segmentsDeleted.wrappingIncrement(ordering: .relaxed)
        logger.notice(
            "block log: deleted segment",
            metadata: ["file": "\(file.name)", "bytes": "\(file.bytes)", "reason": "\(reason)"])
        return true
    }
}
