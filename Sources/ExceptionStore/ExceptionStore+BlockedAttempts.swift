import BlockLog
import Egress25Core
import Foundation

// The fleet's central block log: `blocked_attempts` in the fleet store, partitioned by day of `first_seen`, filled
// by every router's shipper (COPY, exactly once under a per-node, per-segment high-water mark) and queried by the
// abuse desk across the fleet.

extension ExceptionStore {
    /// The shipping marks of `node`: for each segment (its slice start, UTC seconds), the last row shipped.
    /// - Throws: ``ExceptionStoreError``; on the embedded SQLite store `invalidArgument`.
    public func shippingMarks(node: String) throws(ExceptionStoreError) -> [Int64: ShippingMark] {
        try requireFleet("shipping")
        return try read("read the shipping marks of \(node) from") { db in
            var marks: [Int64: ShippingMark] = [:]
            try db.forEachRow(
                "SELECT slice_start, first_seen_ms, id FROM blocked_shipping WHERE node = ?", [.text(node)]
            ) { row in
                marks[try row.int64(0)] = ShippingMark(firstSeenMilliseconds: try row.int64(1), id: try row.int64(2))
            }
            return marks
        }
    }

    /// Ships `rows` (final rows of one segment of `node`, in shipping order, all after `previous`) in ONE
    /// transaction: the rows by COPY into `blocked_attempts`, and the segment's high-water mark moved to the last
    /// row. Exactly once: the transaction first checks (and locks) the mark; when it is not `previous` (an earlier
    /// commit whose outcome was lost did go through, or another process ships for this node) nothing is written and
    /// `conflict` is thrown, so the caller re-reads the marks and goes on from there.
    ///
    /// - Parameters:
    ///   - sliceStart: The segment's slice start, UTC seconds.
    /// - Returns: The new mark.
    /// - Throws: ``ExceptionStoreError``: `conflict` (the mark moved), `permissionDenied`, `unreachable`,
    ///   `connectionLost` (the outcome is unknown: re-read the marks), `io`.
    @discardableResult
    public func shipBlockedRows(
        node: String, sliceStart: Int64, rows: [ShippableRow], after previous: ShippingMark
    ) throws(ExceptionStoreError) -> ShippingMark {
        try requireFleet("shipping")
        guard let last = rows.last?.mark else { return previous }
        let days = Set(rows.map { Self.floorDivide($0.record.firstSeenMilliseconds, 86_400_000) })
        let text = Self.copyText(rows, node: node, sliceStart: sliceStart)
        let syns = rows.reduce(Int64(0)) { $0 + $1.record.syns }
        return try write("ship blocked attempts of \(node) to", policyLock: false) { db in
            let current =
                try db.firstRow(
                    "SELECT first_seen_ms, id FROM blocked_shipping WHERE node = ? AND slice_start = ? FOR UPDATE",
                    [.text(node), .integer(sliceStart)]
                ).map { ShippingMark(firstSeenMilliseconds: try $0.int64(0), id: try $0.int64(1)) } ?? .start
            guard current == previous else {
                throw ExceptionStoreError(
                    .conflict,
                    "the shipping mark of \(node) segment \(sliceStart) is at \(current.firstSeenMilliseconds)/"
                        + "\(current.id), not \(previous.firstSeenMilliseconds)/\(previous.id); nothing was written")
            }
            for day in days.sorted() {
                try db.execute("SELECT blocked_attempts_partition(?)", [.integer(day)])
            }
            guard let postgres = db as? PostgresSQL else {
                throw ExceptionStoreError(.invalidArgument, "shipping needs the fleet store")
            }
            try postgres.copy(table: "blocked_attempts", columns: Self.copyColumns, text: text)
            try db.execute(
                """
                INSERT INTO blocked_shipping (node, slice_start, first_seen_ms, id, rows, syns, shipped_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (node, slice_start) DO UPDATE SET first_seen_ms = excluded.first_seen_ms,
                    id = excluded.id, rows = blocked_shipping.rows + excluded.rows,
                    syns = blocked_shipping.syns + excluded.syns, shipped_at = excluded.shipped_at
                """,
                [
                    .text(node), .integer(sliceStart), .integer(last.firstSeenMilliseconds), .integer(last.id),
                    .integer(Int64(rows.count)), .integer(syns), .integer(UTCTime.now()),
                ])
            return last
        }
    }

    static let copyColumns = [
        "node", "slice_start", "id", "first_seen", "last_seen", "source", "destination", "destination_port",
        "attempts", "syns", "customer", "reason", "exception_id",
    ]

    /// PostgreSQL's COPY text format: tab-separated, `\N` for NULL, backslash, tab, newline and CR escaped.
    static func copyText(_ rows: [ShippableRow], node: String, sliceStart: Int64) -> String {
        func field(_ text: String?) -> String {
            guard let text else { return "\\N" }
            if !text.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 < 0x20 }) { return text }
            var escaped = ""
            for character in text.unicodeScalars {
                switch character {
                case "\\": escaped += "\\\\"
                case "\t": escaped += "\\t"
                case "\n": escaped += "\\n"
                case "\r": escaped += "\\r"
                default:
                    if character.value < 0x20 { continue }
                    escaped.unicodeScalars.append(character)
                }
            }
            return escaped
        }
        var text = ""
        text.reserveCapacity(rows.count * 120)
        let nodeField = field(node)
        for row in rows {
            let record = row.record
            text += nodeField
            text += "\t\(sliceStart)\t\(row.mark.id)\t\(record.firstSeenMilliseconds)\t\(record.lastSeenMilliseconds)\t"
            text += "\(record.source)\t\(record.destination)\t\(record.destinationPort)\t\(record.attempts)\t"
            text +=
                "\(record.syns)\t\(field(record.customer))\t\(record.reason.rawValue)\t\(field(record.exceptionID))\n"
        }
        return text
    }

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        value >= 0 ? value / divisor : (value - divisor + 1) / divisor
    }

    func requireFleet(_ what: String) throws(ExceptionStoreError) {
        guard dialect == .postgresql else {
            throw ExceptionStoreError(.invalidArgument, "\(what) needs the fleet store (store.url)")
        }
    }
}
