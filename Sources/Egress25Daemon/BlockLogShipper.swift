import Atomics
import BlockLog
import Egress25Core
import Egress25System
import ExceptionStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A fleet router's block-log shipper: moves the final rows of the local segments (the spool) into the fleet
/// store's `blocked_attempts`, oldest segment first, in batches of up to ``batchRows`` by COPY, each batch in one
/// transaction with the segment's high-water mark, so every row arrives exactly once across a kill -9 of the
/// router, a PostgreSQL restart or a network cut mid-batch. Runs on its own thread; never touches a queue worker.
final class BlockLogShipper: Sendable {
    let reader: BlockLogReader
    let ledger: ShippingLedger
    let openStore: @Sendable () throws -> ExceptionStore
    let nodeName: String
    /// How old a row must be to be final, ms (``BlockLogReader/finalityMilliseconds(_:)``).
    let finalityMilliseconds: Int64
    let logger: Logger

    /// Rows per COPY transaction (10,000 by default).
    let batchRows: Int

    private struct State {
        var store: ExceptionStore?
        /// The fleet store's marks of this node, by slice start; `nil`: read them again first.
        var marks: [Int64: ShippingMark]?
        /// The marks last read from or written to the fleet store, kept when it fails (`nil` before the first read):
        /// what the lag is measured against while the store does not answer.
        var lastKnownMarks: [Int64: ShippingMark]?
        var connected = false
    }

    private let state = Mutex(State())
    let shippedRows = ManagedAtomic<UInt64>(0)
    let shippedSyns = ManagedAtomic<UInt64>(0)
    let errors = ManagedAtomic<UInt64>(0)
    /// Age of the oldest final row not yet shipped, s (0: caught up); -1 before the first pass.
    let lagSeconds = ManagedAtomic<Int64>(-1)

    init(
        directory: String, configuration: BlockLogConfiguration, ledger: ShippingLedger, batchRows: Int = 10_000,
        openStore: @escaping @Sendable () throws -> ExceptionStore, nodeName: String, logger: Logger
    ) {
        self.batchRows = batchRows
        self.reader = BlockLogReader(
            directory: directory, aggregationWindowSeconds: configuration.aggregationWindowSeconds)
        self.ledger = ledger
        self.openStore = openStore
        self.nodeName = nodeName
        self.finalityMilliseconds = BlockLogReader.finalityMilliseconds(configuration)
        self.logger = logger
    }

    enum PassOutcome: Equatable {
        /// Everything final is shipped.
        case caughtUp
        /// A full batch went: call again at once.
        case more
        /// The store failed; try again after a backoff.
        case failed
    }

    /// One pass over the segments, shipping at most a few batches. `nowMilliseconds`: Unix ms UTC.
    func pass(nowMilliseconds: Int64 = UTCTime.nowMilliseconds(), maxBatches: Int = 4) -> PassOutcome {
        let finalBefore = nowMilliseconds - finalityMilliseconds
        var batches = 0
        var oldestPending: Int64?
        do {
            let store = try currentStore()
            var marks = try currentMarks(store)
            for file in SegmentDirectory.list(reader.directory) {
                let slice = file.slice.startSeconds
                while true {
                    let mark = marks[slice] ?? .start
                    let rows: [ShippableRow]
                    do {
                        rows = try reader.shippableRows(
                            file, after: mark, finalBeforeMilliseconds: finalBefore, limit: batchRows)
                    } catch {
                        // Deleted under us by retention (max_bytes), or unreadable: the next pass lists again.
                        logger.warning("block-log shipping: cannot read a segment", metadata: ["error": "\(error)"])
                        break
                    }
                    if rows.isEmpty {
                        if file.slice.endSeconds * 1000 + finalityMilliseconds <= nowMilliseconds {
                            ledger.markShipped(file.name)
                        } else {
                            ledger.markPending(file.name)
                        }
                        break
                    }
                    ledger.markPending(file.name)
                    if batches == maxBatches {
                        oldestPending = min(oldestPending ?? .max, rows[0].record.firstSeenMilliseconds)
                        lagSeconds.store(max(0, (nowMilliseconds - oldestPending!) / 1000), ordering: .relaxed)
                        return .more
                    }
                    do {
                        marks[slice] = try store.shipBlockedRows(
                            node: nodeName, sliceStart: slice, rows: rows, after: mark)
                    } catch {
                        // The mark moved (a commit whose answer was lost went through) or the outcome is unknown:
                        // read the marks again before the next batch, so no row goes twice.
                        state.withLock { $0.marks = nil }
                        throw error
                    }
                    state.withLock {
                        $0.marks = marks
                        $0.lastKnownMarks = marks
                    }
                    batches += 1
                    shippedRows.wrappingIncrement(by: UInt64(rows.count), ordering: .relaxed)
                    shippedSyns.wrappingIncrement(
                        by: UInt64(clamping: rows.reduce(Int64(0)) { $0 + $1.record.syns }), ordering: .relaxed)
                    if rows.count < batchRows { continue }  // read again: rows may have become final meanwhile
                }
            }
            lagSeconds.store(0, ordering: .relaxed)
            setConnected(true)
            return .caughtUp
        } catch {
            errors.wrappingIncrement(ordering: .relaxed)
            if let error = error as? ExceptionStoreError, error.code == .conflict {
                logger.notice("block-log shipping: the fleet store's mark moved; reading it again")
                return .more
            }
            if setConnected(false) {
                logger.error(
                    "block-log shipping: the fleet store failed; the segments keep the rows until it answers",
                    metadata: ["error": "\(error)"])
            }
            state.withLock { $0.marks = nil }
            // Rows keep becoming final while nothing ships: the lag grows from the last marks known, not frozen
            // at its value before the failure (0 when the store went away while caught up).
            if let lag = lagSinceLastKnownMarks(nowMilliseconds: nowMilliseconds, finalBefore: finalBefore) {
                lagSeconds.store(lag, ordering: .relaxed)
            }
            return .failed
        }
    }

    /// The age of the oldest final row after the last marks known from the fleet store, s (0: none), read from the
    /// segments; `nil` when no mark was ever read.
    private func lagSinceLastKnownMarks(nowMilliseconds: Int64, finalBefore: Int64) -> Int64? {
        guard let marks = state.withLock({ $0.lastKnownMarks }) else { return nil }
        for file in SegmentDirectory.list(reader.directory) {
            let mark = marks[file.slice.startSeconds] ?? .start
            guard
                let oldest = try? reader.shippableRows(
                    file, after: mark, finalBeforeMilliseconds: finalBefore, limit: 1
                ).first
            else { continue }
            return max(0, (nowMilliseconds - oldest.record.firstSeenMilliseconds) / 1000)
        }
        return 0
    }

    /// - Returns: Whether the state changed.
    @discardableResult
    private func setConnected(_ connected: Bool) -> Bool {
        state.withLock { state in
            defer { state.connected = connected }
            return state.connected != connected
        }
    }

    private func currentStore() throws -> ExceptionStore {
        if let store = state.withLock({ $0.store }) { return store }
        let store = try openStore()
        state.withLock { $0.store = store }
        return store
    }

    private func currentMarks(_ store: ExceptionStore) throws -> [Int64: ShippingMark] {
        if let marks = state.withLock({ $0.marks }) { return marks }
        let marks = try store.shippingMarks(node: nodeName)
        state.withLock {
            $0.marks = marks
            $0.lastKnownMarks = marks
        }
        return marks
    }
}

/// Runs the ``BlockLogShipper`` on its own thread: a pass every second, at once again after a full batch, and
/// after a failure 1 s, 2 s, ... up to 30 s later. What is not shipped at shutdown stays in the segments, the spool,
/// for the next start.
struct BlockLogShippingService: Service {
    let shipper: BlockLogShipper

    func run() async throws {
        let stop = ManagedAtomic<Bool>(false)
        let finished = DispatchSemaphore(value: 0)
        let thread = Thread { [shipper] in
            Thread.current.name = "blocklog-ship"
            var wait: Int64 = 1_000
            while !stop.load(ordering: .relaxed) {
                switch shipper.pass() {
                case .more: wait = 0
                case .caughtUp: wait = 1_000
                case .failed: wait = min(max(wait * 2, 1_000), 30_000)
                }
                var slept: Int64 = 0
                while slept < wait && !stop.load(ordering: .relaxed) {
                    usleep(50_000)
                    slept += 50
                }
            }
            finished.signal()
        }
        thread.start()
        try? await gracefulShutdown()
        stop.store(true, ordering: .relaxed)
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                finished.wait()
                continuation.resume()
            }
        }
    }
}
