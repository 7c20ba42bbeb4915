import Egress25Core
import Egress25TestSupport
import Foundation
import Testing

@testable import BlockLog

/// The block log's bounded memory and its write schedule: the row index, checkpoints, rows closed early,
/// coarse rows past the budget, and exact counts under random interleavings.
@Suite struct BlockLogMemoryTests {
    let t0 = instant("2026-11-29T07:10:00Z")

    /// The open-addressing index agrees with a dictionary through random inserts and removals (seeded), with
    /// colliding hashes forced by a tiny table, and backward-shift removal keeps every remaining key findable.
    @Test(arguments: [UInt64(1), 2, 3])
    func rowIndexAgreesWithADictionary(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var index = RowIndex(rows: 64)
        var keys: [Int32: RowKey] = [:]
        var hashes: [Int32: UInt64] = [:]
        var slotOf: [RowKey: Int32] = [:]
        func key(_ n: UInt64) -> RowKey {
            RowKey(
                source: .v4(IPv4Address(0x6440_0000 | UInt32(n % 97))),
                destination: n % 3 == 0
                    ? .v6(IPv6Address(high: 0x2001_0db8_0000_0000, low: n % 89))
                    : .v4(IPv4Address(0xC000_0200 | UInt32(n % 89))),
                destinationPort: 25, reason: .noException)
        }
        for step in 0..<20_000 {
            let candidate = key(random.next() % 4000)
            // Half the time a weak hash (only 3 distinct values), so runs collide and wrap around the table.
            let hash = step % 2 == 0 ? candidate.hashValue64 : candidate.hashValue64 % 3
            if let slot = slotOf[candidate] {
                index.remove(slot: slot, hash: hashes[slot]!)
                slotOf[candidate] = nil
                keys[slot] = nil
                hashes[slot] = nil
            } else if index.count < 64 {
                let slot = (0..<64).map(Int32.init).first { keys[$0] == nil }!
                index.insert(slot: slot, hash: hash)
                keys[slot] = candidate
                hashes[slot] = hash
                slotOf[candidate] = slot
            }
            #expect(index.count == slotOf.count)
            if step % 97 == 0 {
                for (stored, slot) in slotOf {
                    let found = index.find(stored, hash: hashes[slot]!) { keys[$0]! }
                    #expect(found == slot)
                }
                #expect(index.find(key(999_999), hash: key(999_999).hashValue64) { keys[$0]! } == nil)
            }
        }
    }

    /// In a flood (more changed open rows than `freshUpdateLimit`, here 0), a periodic cycle inserts a new row
    /// once, leaves its repeats in memory until the checkpoint interval has passed, then writes the counts once;
    /// a row whose window closes after its last checkpoint is not written again.
    @Test func inAFloodRepeatsAreWrittenAtCheckpointsNotEveryFlush() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let clock = ManualClock(t0)
        let (writer, ring) = try makeWriter(
            directory.blockLog, clock: clock, configuration: floodSchedule(checkpointMilliseconds: 10_000))
        let reader = BlockLogReader(directory: directory.blockLog)
        push(ring, [attempt(t0, port: 1)])
        writer.runCycle()
        #expect(try reader.query(BlockLogFilter()).map(\.syns) == [1])
        for second in 1...9 {
            clock.set(t0 + Int64(second) * 1000)
            push(ring, [attempt(clock.nowMilliseconds(), port: UInt16(1 + second % 2))])
            writer.runCycle()
        }
        #expect(writer.statistics.rowUpdates == 0)
        #expect(try reader.query(BlockLogFilter()).map(\.syns) == [1])
        clock.set(t0 + 10_000)
        writer.runCycle()
        #expect(writer.statistics.rowUpdates == 1)
        #expect(try reader.query(BlockLogFilter()).map(\.syns) == [10])
        #expect(try reader.query(BlockLogFilter()).map(\.attempts) == [2])
        clock.set(t0 + 70_000)
        writer.runCycle()  // the window closed with nothing new since the checkpoint: no write
        #expect(writer.statistics.rowUpdates == 1)
        #expect(writer.statistics.rowsInMemory == 0)
        writer.shutdown()
        #expect(writer.statistics.synsRecorded == 10)
    }

    /// Outside a flood an open row's new counts are written at every cycle.
    @Test func outsideAFloodCountsAreWrittenEveryCycle() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let clock = ManualClock(t0)
        let (writer, ring) = try makeWriter(
            directory.blockLog, clock: clock,
            configuration: BlockLogConfiguration(checkpointIntervalMilliseconds: 3_600_000))
        let reader = BlockLogReader(directory: directory.blockLog)
        for second in 0..<5 {
            clock.set(t0 + Int64(second) * 1000)
            push(ring, [attempt(clock.nowMilliseconds(), port: 1)])
            writer.runCycle()
            #expect(try reader.query(BlockLogFilter()).map(\.syns) == [Int64(second + 1)])
        }
        #expect(writer.statistics.rowUpdates == 4)
        writer.shutdown()
    }

    /// In a flood, a row that closes between checkpoints gets its final counts at the next cycle.
    @Test func aClosedRowIsWrittenAtTheNextCycle() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let clock = ManualClock(t0)
        let (writer, ring) = try makeWriter(
            directory.blockLog, clock: clock, configuration: floodSchedule(checkpointMilliseconds: 3_600_000))
        push(ring, [attempt(t0, port: 1)])
        writer.runCycle()
        push(ring, [attempt(t0 + 5000, port: 2), attempt(t0 + 6000, port: 2)])
        clock.set(t0 + 6000)
        writer.runCycle()
        #expect(writer.statistics.rowUpdates == 0)
        clock.set(t0 + 60_000)
        writer.runCycle()
        #expect(writer.statistics.rowUpdates == 1)
        let rows = try BlockLogReader(directory: directory.blockLog).query(BlockLogFilter())
        #expect(rows.map(\.syns) == [3])
        #expect(rows.map(\.attempts) == [2])
        #expect(rows.map(\.lastSeenMilliseconds) == [t0 + 6000])
        writer.shutdown()
    }

    /// Past half the pool, the oldest open rows close early at the next cycle; their counts stay exact, and a
    /// later SYN of the same key opens a new row.
    @Test func rowsCloseEarlyPastHalfThePool() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let clock = ManualClock(t0)
        let configuration = BlockLogConfiguration(maxMemoryBytes: 4 << 20)
        let writer = try BlockLogWriter(
            directory: directory.blockLog, settings: configuration, nodeName: "edge-1", resolver: TestResolver(),
            logger: CapturedLogs().logger(), clock: clock)
        let ring = BlockLogRing(capacity: 1 << 15)
        writer.attach(ring)
        let capacity = writer.statistics.rowCapacity
        #expect(capacity > 1000)
        let keys = capacity / 2 + 100
        for key in 0..<keys { #expect(ring.push(keyed(key, at: t0))) }
        writer.runCycle()
        #expect(writer.statistics.rowsClosedEarly == 100)
        // The first 100 keys again: new rows (theirs were closed early); the others join their open rows.
        for key in 0..<keys { #expect(ring.push(keyed(key, at: t0 + 1000))) }
        clock.set(t0 + 1000)
        writer.flush()
        writer.shutdown()
        let rows = try BlockLogReader(directory: directory.blockLog).query(BlockLogFilter())
        #expect(rows.count == keys + 100)
        #expect(rows.reduce(0) { $0 + $1.syns } == Int64(2 * keys))
        #expect(writer.statistics.synsRecorded == UInt64(2 * keys))
        #expect(writer.statistics.lostEvents == 0)
    }

    /// When the pool is full (rows cannot be committed, here: everything arrives within one drain), a SYN
    /// whose key has no row is counted in its source's row (destination 0.0.0.0, the source and port exact),
    /// and past the whole pool counted as lost; never under another address. Every SYN is recorded or lost.
    @Test func pastTheBudgetSYNsGoToSourceRowsThenAreCountedLost() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let clock = ManualClock(t0)
        let writer = try BlockLogWriter(
            directory: directory.blockLog, settings: BlockLogConfiguration(maxMemoryBytes: 4 << 20),
            nodeName: "edge-1", resolver: TestResolver(), logger: CapturedLogs().logger(), clock: clock)
        let ring = BlockLogRing(capacity: 1 << 15)
        writer.attach(ring)
        let capacity = writer.statistics.rowCapacity
        let fine = capacity - capacity / 16
        var pushed = 0
        var sources: Set<IPAddress> = []
        func offer(_ item: BlockedAttempt) {
            #expect(ring.push(item))
            pushed += 1
            sources.insert(item.source)
        }
        // 1. One source fills every fine row with distinct destinations.
        for key in 0..<fine { offer(keyed(key, at: t0)) }
        // 2. 50 more destinations from the same source: its source row.
        for key in fine..<(fine + 50) { offer(keyed(key, at: t0 + 1)) }
        // 3. New sources (100.65.x.y): a source row each until the pool is full, then 10 lost.
        let newSources = capacity / 16 - 1 + 10
        for index in 0..<newSources {
            offer(
                BlockedAttempt(
                    timeMilliseconds: t0 + 2, source: .v4(IPv4Address(0x6441_0000 + UInt32(index))),
                    destination: .v4(IPv4Address(0xC633_6401)), sourcePort: 1000, destinationPort: 25,
                    reason: .noException))
        }
        writer.flush()
        writer.shutdown()
        let statistics = writer.statistics
        #expect(statistics.lostEvents == 10)
        #expect(statistics.synsInCoarseRows == UInt64(50 + capacity / 16 - 1))
        #expect(statistics.synsRecorded + statistics.lostEvents == UInt64(pushed))
        let rows = try BlockLogReader(directory: directory.blockLog).query(BlockLogFilter())
        #expect(rows.count == capacity)
        let coarse = rows.filter { $0.destination == .v4(IPv4Address(0)) }
        #expect(coarse.count == capacity / 16)
        #expect(coarse.allSatisfy { $0.destinationPort == 25 })
        #expect(coarse.first { $0.source == .v4(IPv4Address(0x6440_0001)) }?.syns == 50)
        // Every stored source sent SYNs itself: no row stands for a network.
        #expect(rows.allSatisfy { sources.contains($0.source) })
        #expect(rows.reduce(0) { $0 + $1.syns } == Int64(statistics.synsRecorded))
    }

    /// Seeded property test: SYNs of about 10,000 keys spread over three rings, drained by random periodic
    /// cycles and explicit flushes while the clock moves in random steps, with a small memory budget that
    /// forces early closes. At the end every SYN is in exactly one row of its key, every row spans less than
    /// the aggregation window, and its attempts are its distinct source ports.
    @Test(arguments: [UInt64(7), 8, 9, 10])
    func exactCountsUnderRandomInterleavings(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let clock = ManualClock(t0)
        var configuration = BlockLogConfiguration(
            flushIntervalMilliseconds: 1000, aggregationWindowSeconds: 20, maxMemoryBytes: 4 << 20,
            checkpointIntervalMilliseconds: 5000)
        configuration.freshUpdateLimit = seed % 2 == 0 ? 0 : 1024  // flood and normal schedules
        let writer = try BlockLogWriter(
            directory: directory.blockLog, settings: configuration, nodeName: "edge-1", resolver: TestResolver(),
            logger: CapturedLogs().logger(), clock: clock)
        let rings = (0..<3).map { _ in BlockLogRing(capacity: 1 << 12) }
        for ring in rings { writer.attach(ring) }
        var expected: [String: Int64] = [:]
        var now = t0
        for _ in 0..<400 {
            let burst = Int(random.next() % 200)
            for _ in 0..<burst {
                let source = UInt32(random.next() % 400)
                let destination = UInt32(random.next() % 12)
                let port = UInt16(1000 + random.next() % 6)
                let reason: BlockReason = random.next() % 5 == 0 ? .outsideScope : .noException
                // Workers stamp their own batch time: up to 3 ms apart and out of order across rings.
                let time = now - Int64(random.next() % 4)
                let item = BlockedAttempt(
                    timeMilliseconds: time, source: .v4(IPv4Address(0x6440_0000 + source)),
                    destination: .v4(IPv4Address(0xC000_0200 + destination)), sourcePort: port,
                    destinationPort: 25, reason: reason, customerIndex: Int32(source), policyGeneration: 1)
                if rings[Int(random.next() % 3)].push(item) {
                    expected["\(item.source) \(item.destination) \(reason)", default: 0] += 1
                }
            }
            now += Int64(random.next() % 700)
            clock.set(now)
            if random.next() % 10 == 0 { writer.flush() } else { writer.runCycle() }
        }
        writer.shutdown()
        let statistics = writer.statistics
        #expect(statistics.lostEvents == 0)
        let rows = try BlockLogReader(directory: directory.blockLog).query(BlockLogFilter())
        var stored: [String: Int64] = [:]
        for row in rows {
            stored["\(row.source) \(row.destination) \(row.reason)", default: 0] += row.syns
            #expect(row.lastSeenMilliseconds - row.firstSeenMilliseconds < 20_000)
            #expect(row.attempts >= 1 && row.attempts <= min(6, row.syns))
            if case .v4(let source) = row.source {
                #expect(row.customer == "customer-\(source.value - 0x6440_0000)")
            }
        }
        #expect(stored == expected)
        #expect(statistics.synsRecorded == UInt64(expected.values.reduce(0, +)))
    }

    /// The memory plan: the budget splits into rings, page cache and rows; rings are powers of two within
    /// their share.
    @Test func memoryPlanSplitsTheBudget() {
        let plan = BlockLogMemoryPlan(BlockLogConfiguration(maxMemoryBytes: 64 << 20))
        #expect(plan.ringBytes == 12 << 20)
        #expect(plan.cacheBytes == 8 << 20)
        #expect(plan.rows * BlockLogMemoryPlan.rowBytes <= 44 << 20)
        #expect(plan.rows > 44 << 20 / (BlockLogMemoryPlan.rowBytes + 1))
        #expect(plan.ringCapacity(queues: 1) == 1 << 17)
        let four = plan.ringCapacity(queues: 4)
        #expect(four & (four - 1) == 0)
        #expect(four * 4 * MemoryLayout<BlockedAttempt>.stride <= 12 << 20)
    }
}

/// A configuration whose writer always takes the flood schedule (`freshUpdateLimit` 0): open rows are rewritten
/// only when their checkpoint is due.
private func floodSchedule(checkpointMilliseconds: Int64) -> BlockLogConfiguration {
    var configuration = BlockLogConfiguration(checkpointIntervalMilliseconds: checkpointMilliseconds)
    configuration.freshUpdateLimit = 0
    return configuration
}

/// Key `n`: source 100.64.0.1 to destination 198.51.0.0 + n, port 25.
private func keyed(_ n: Int, at time: Int64) -> BlockedAttempt {
    BlockedAttempt(
        timeMilliseconds: time, source: .v4(IPv4Address(0x6440_0001)),
        destination: .v4(IPv4Address(0xC633_0000 + UInt32(n))), sourcePort: 1000, destinationPort: 25,
        reason: .noException)
}
