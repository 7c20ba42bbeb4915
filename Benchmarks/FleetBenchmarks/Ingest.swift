import BlockLog
import Egress25Core
import ExceptionStore
import Foundation
import Synchronization

/// What one shipper thread did.
struct ShipperResult: Sendable {
    var rows = 0
    var batches = 0
    /// Seconds inside shipBlockedRows, per batch.
    var batchSeconds: [Double] = []
    /// Seconds spent making the synthetic rows.
    var generateSeconds = 0.0
}

/// One router's synthetic block log: rows in shipping order (first_seen rising, ~2 ms apart), hourly segments
/// (slice start UTC seconds, ids from 1 in each), 200,000 subscribers in 100.64.0.0/10, 3,000 destinations.
struct SyntheticBlockLog {
    let node: String
    var random: FastRandom
    var firstSeen: Int64
    var sliceStart: Int64
    var nextID: Int64 = 1

    init(node: String, index: Int, startMilliseconds: Int64) {
        self.node = node
        random = FastRandom(seed: UInt64(index + 1) &* 0x9E37_79B9)
        firstSeen = startMilliseconds
        sliceStart = Self.slice(startMilliseconds)
    }

    static func slice(_ milliseconds: Int64) -> Int64 { milliseconds / 3_600_000 * 3_600 }

    /// Up to `count` rows of the current segment; moves to the next segment when the hour ends.
    mutating func batch(_ count: Int) -> (sliceStart: Int64, rows: [ShippableRow]) {
        var rows: [ShippableRow] = []
        rows.reserveCapacity(count)
        let slice = sliceStart
        while rows.count < count {
            let next = firstSeen + Int64(1 + random.below(3))
            if Self.slice(next) != slice {
                firstSeen = next
                sliceStart = Self.slice(next)
                nextID = 1
                if !rows.isEmpty { break }
                return batch(count)
            }
            firstSeen = next
            let subscriber = random.below(200_000)
            let destination = random.below(3_000)
            let attempts = Int64(1 + random.below(3))
            let record = BlockedRecord(
                firstSeenMilliseconds: firstSeen, lastSeenMilliseconds: firstSeen + Int64(random.below(60_000)),
                source: subscriberAddress(subscriber),
                destination: .v4(IPv4Address((UInt32(203) << 24) + UInt32(destination * 257))),
                destinationPort: 25, attempts: attempts, syns: attempts * Int64(1 + random.below(2)),
                customer: random.below(10) == 0 ? nil : "c-\(subscriber)", reason: .noException, exceptionID: nil,
                nodeName: node)
            rows.append(ShippableRow(mark: ShippingMark(firstSeenMilliseconds: firstSeen, id: nextID), record: record))
            nextID += 1
        }
        return (slice, rows)
    }
}

func runIngest(_ options: BenchOptions) {
    let template = options.string("url-template")
    let nodes = options.int("nodes", 4)
    let totalRows = options.int("rows", 2_000_000)
    let batch = options.int("batch", 10_000)
    let perNode = totalRows / nodes
    // Rows start 2 h ago (two or three daily partitions at most; the shipper creates them as it goes).
    let start = Int64(Date().timeIntervalSince1970 * 1000) - 7_200_000
    let results = Mutex<[ShipperResult]>([])
    let ready = DispatchGroup()
    let go = DispatchSemaphore(value: 0)
    let done = DispatchGroup()
    for index in 0..<nodes {
        ready.enter()
        done.enter()
        let thread = Thread {
            let node = "edge-\(index < 10 ? "0" : "")\(index)"
            let store = openStore(template.replacingOccurrences(of: "{n}", with: "\(index)"))
            var log = SyntheticBlockLog(node: node, index: index, startMilliseconds: start)
            var marks: [Int64: ShippingMark] = [:]
            do {
                marks = try store.shippingMarks(node: node)
            } catch {
                fatalError("\(node): \(error)")
            }
            var result = ShipperResult()
            ready.leave()
            go.wait()
            while result.rows < perNode {
                let generating = monotonicSeconds()
                let (slice, rows) = log.batch(min(batch, perNode - result.rows))
                let shipping = monotonicSeconds()
                result.generateSeconds += shipping - generating
                do {
                    marks[slice] = try store.shipBlockedRows(
                        node: node, sliceStart: slice, rows: rows, after: marks[slice] ?? .start)
                } catch {
                    fatalError("\(node): \(error)")
                }
                result.batchSeconds.append(monotonicSeconds() - shipping)
                result.rows += rows.count
                result.batches += 1
            }
            results.withLock { $0.append(result) }
            done.leave()
        }
        thread.start()
    }
    ready.wait()
    let began = monotonicSeconds()
    for _ in 0..<nodes { go.signal() }
    done.wait()
    let elapsed = monotonicSeconds() - began
    let all = results.withLock { $0 }
    let rows = all.reduce(0) { $0 + $1.rows }
    let batches = all.flatMap(\.batchSeconds)
    let generate = all.reduce(0) { $0 + $1.generateSeconds }
    print(
        "ingest: \(rows) rows from \(nodes) nodes in \(all.reduce(0) { $0 + $1.batches }) batches of up to \(batch), "
            + "\(format(elapsed, 2)) s wall: \(Int(Double(rows) / elapsed)) rows/s")
    print(
        "ingest: batch (COPY + mark, one transaction) ms p50 \(format(quantile(batches, 0.5) * 1000)) "
            + "p99 \(format(quantile(batches, 0.99) * 1000)) max \(format(quantile(batches, 1) * 1000)); "
            + "row generation \(format(generate, 2)) s summed over threads (inside the wall time)")
}
