import Egress25Core
import GRDB
import Synchronization

// A fleet router ships its committed block-log rows to the fleet store (`blocked_attempts`). The local segments are
// the spool: a row is shipped once it is final (its aggregation window ended and its last values were committed),
// in (first_seen, id) order per segment, and the fleet store records a high-water mark per node and segment in the
// same transaction as the rows, so a row is shipped exactly once across crashes, restarts and network cuts.

/// A position in a segment's shipping order: every row with `(first_seen, id)` at or before it was shipped.
public struct ShippingMark: Hashable, Sendable, Comparable {
    /// Unix ms UTC of the last shipped row's first SYN; `Int64.min` before any.
    public var firstSeenMilliseconds: Int64
    /// Its row id in the segment.
    public var id: Int64

    /// Before the first row.
    public static let start = ShippingMark(firstSeenMilliseconds: .min, id: .min)

    /// Creates a mark.
    public init(firstSeenMilliseconds: Int64, id: Int64) {
        self.firstSeenMilliseconds = firstSeenMilliseconds
        self.id = id
    }

    /// Shipping order: by `first_seen`, then id.
    public static func < (a: ShippingMark, b: ShippingMark) -> Bool {
        (a.firstSeenMilliseconds, a.id) < (b.firstSeenMilliseconds, b.id)
    }
}

/// One final row of a segment, as shipped.
public struct ShippableRow: Hashable, Sendable {
    /// The row's place in the shipping order.
    public var mark: ShippingMark
    /// The record (times Unix ms UTC).
    public var record: BlockedRecord

    /// Creates a row at `mark`.
    public init(mark: ShippingMark, record: BlockedRecord) {
        self.mark = mark
        self.record = record
    }
}

extension BlockLogReader {
    /// Up to `limit` final rows of segment `file` after `mark`, in shipping order: rows whose first SYN is older
    /// than `finalBeforeMilliseconds` (Unix ms; pass `now - ``finalityMilliseconds(_:)```), whose values no longer
    /// change. Reads the time index `(first_seen)` of the segment.
    /// - Throws: ``BlockLogError`` naming the file.
    public func shippableRows(
        _ file: SegmentDirectory.File, after mark: ShippingMark, finalBeforeMilliseconds: Int64, limit: Int
    ) throws -> [ShippableRow] {
        var rows: [ShippableRow] = []
        let sql = """
            SELECT first_seen, last_seen, source, destination, destination_port, attempts, syns, customer, reason,
                exception_id, node_name, id
            FROM blocked
            WHERE first_seen >= ? AND first_seen < ? AND (first_seen > ? OR id > ?)
            ORDER BY first_seen, id LIMIT ?
            """
        try read(file) { db in
            let statement = try RawStatement(db, sql: sql)
            defer { statement.finalize() }
            statement.bind(1, mark.firstSeenMilliseconds)
            statement.bind(2, finalBeforeMilliseconds)
            statement.bind(3, mark.firstSeenMilliseconds)
            statement.bind(4, mark.id)
            statement.bind(5, Int64(limit))
            while try statement.step() {
                let mark = ShippingMark(firstSeenMilliseconds: statement.int64(0), id: statement.int64(11))
                guard let source = statement.address(2), let destination = statement.address(3) else {
                    throw BlockLogError(.segment, "row \(mark.id) has an undecodable address")
                }
                rows.append(
                    ShippableRow(
                        mark: mark,
                        record: BlockedRecord(
                            firstSeenMilliseconds: mark.firstSeenMilliseconds,
                            lastSeenMilliseconds: statement.int64(1), source: source, destination: destination,
                            destinationPort: UInt16(truncatingIfNeeded: statement.int64(4)),
                            attempts: statement.int64(5), syns: statement.int64(6), customer: statement.text(7),
                            reason: BlockReason(rawValue: UInt8(truncatingIfNeeded: statement.int64(8)))
                                ?? .noException,
                            exceptionID: statement.text(9), nodeName: statement.text(10) ?? "")))
            }
        }
        return rows
    }

    /// How old a row must be (since its first SYN) before it is final, ms: the aggregation window (the row closes
    /// at its end), two flush intervals (the close is committed by the next flush) and 5 s of margin for a drain
    /// running late in a flood.
    public static func finalityMilliseconds(_ configuration: BlockLogConfiguration) -> Int64 {
        configuration.aggregationWindowSeconds * 1000 + 2 * configuration.flushIntervalMilliseconds + 5_000
    }
}

/// What the shipper has shipped, per segment file, for the writer's retention: a segment whose rows are not all
/// shipped is kept past `retention` (deleted only when `max_bytes` forces it, and then counted as lost).
/// Shared by the shipping thread (writes) and the block-log committer thread (reads).
public final class ShippingLedger: Sendable {
    private let shipped = Mutex<Set<String>>([])
    private let pending = Mutex<Set<String>>([])

    /// Segments deleted by `max_bytes` before they were shipped.
    public let segmentsLostUnshipped = Atomic<UInt64>(0)

    /// An empty ledger: no segment is known to be shipped yet.
    public init() {}

    /// Records that every row of segment `fileName` is shipped (its slice ended and no final row is left).
    public func markShipped(_ fileName: String) {
        shipped.withLock { _ = $0.insert(fileName) }
        pending.withLock { _ = $0.remove(fileName) }
    }

    /// Records that segment `fileName` still has rows to ship.
    public func markPending(_ fileName: String) {
        pending.withLock { _ = $0.insert(fileName) }
    }

    /// Whether retention may delete `fileName`: only when it is known to be shipped whole.
    public func isShipped(_ fileName: String) -> Bool {
        shipped.withLock { $0.contains(fileName) }
    }

    /// Counts a segment deleted by `max_bytes` before it was shipped.
    func recordLostSegment() {
        segmentsLostUnshipped.add(1, ordering: .relaxed)
    }

    /// Forgets a deleted segment.
    func forget(_ fileName: String) {
        shipped.withLock { _ = $0.remove(fileName) }
        pending.withLock { _ = $0.remove(fileName) }
    }
}
