import BlockLog
import Egress25Core
import Foundation
import Testing

@Suite struct BlockLogRingTests {
    @Test func fifoAndOverflowCounted() {
        let ring = BlockLogRing(capacity: 4)
        for index in 0..<4 { #expect(ring.push(attempt(Int64(index)))) }
        #expect(!ring.push(attempt(99)))
        #expect(!ring.push(attempt(100)))
        #expect(ring.droppedCount == 2)
        #expect(ring.pop()?.timeMilliseconds == 0)
        #expect(ring.push(attempt(4)))
        var seen: [Int64] = []
        ring.drain { seen.append($0.timeMilliseconds) }
        #expect(seen == [1, 2, 3, 4])
        #expect(ring.pop() == nil)
        #expect(ring.droppedCount == 2)
    }

    /// One producer thread, one consumer thread: every pushed item is popped exactly once, in order, and
    /// every refused push is counted.
    @Test func spscUnderTwoThreads() async throws {
        let ring = BlockLogRing(capacity: 1024)
        let total = 2_000_000
        let producer = Thread {
            for index in 0..<total {
                let item = BlockedAttempt(
                    timeMilliseconds: Int64(index), source: .v4(IPv4Address(UInt32(index))),
                    destination: .v6(IPv6Address(high: UInt64(index), low: ~UInt64(index))),
                    sourcePort: UInt16(truncatingIfNeeded: index), destinationPort: 25, reason: .noException,
                    exceptionIndex: Int32(truncatingIfNeeded: index), customerIndex: -1,
                    policyGeneration: UInt64(index))
                _ = ring.push(item)
            }
        }
        producer.start()
        var popped = 0
        var last: Int64 = -1
        var corrupt = 0
        var outOfOrder = 0
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let drained = ring.drain { item in
                let index = item.timeMilliseconds
                if index <= last { outOfOrder += 1 }
                last = index
                if item.source != .v4(IPv4Address(UInt32(index)))
                    || item.destination != .v6(IPv6Address(high: UInt64(index), low: ~UInt64(index)))
                    || item.policyGeneration != UInt64(index) || item.sourcePort != UInt16(truncatingIfNeeded: index)
                {
                    corrupt += 1
                }
                popped += 1
            }
            if drained == 0 {
                if popped + Int(ring.droppedCount) == total { break }
                sched_yield()
            }
        }
        #expect(corrupt == 0)
        #expect(outOfOrder == 0)
        #expect(popped + Int(ring.droppedCount) == total)
        #expect(popped > 0)
        #expect(ring.pop() == nil)
    }
}
