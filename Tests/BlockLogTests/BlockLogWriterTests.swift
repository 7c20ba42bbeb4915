import BlockLog
import Egress25Core
import Egress25TestSupport
import Foundation
import Testing

@Suite struct BlockLogWriterTests {
    let t0 = instant("2026-11-29T07:10:00Z")

    /// Window edges: a SYN 59.999 s after a row's first SYN joins it, one at exactly 60 s opens a new row;
    /// a retransmission (same source port) adds a SYN but no attempt; a new source port adds both.
    @Test func aggregationWindowEdgesAndRetransmissions() throws {
        try withWriter(at: t0) { directory, clock, writer, ring throws in
            push(
                ring,
                [
                    attempt(t0, port: 1000),
                    attempt(t0 + 1000, port: 1000),  // retransmission
                    attempt(t0 + 3000, port: 1000),  // retransmission
                    attempt(t0 + 2000, port: 1001),  // new connection
                    attempt(t0 + 59_999, port: 1002),  // new connection, last ms of the window
                    attempt(t0 + 60_000, port: 1002),  // window edge: new row
                    attempt(t0 + 61_000, port: 1003),
                    attempt(t0 + 500, to: "192.0.2.26", port: 1000),  // other destination: own row
                    attempt(t0 + 500, port: 1000, destinationPort: 587),  // other destination port: own row
                ])
            clock.set(t0 + 62_000)
            writer.flush()
            writer.shutdown()

            let rows = try BlockLogReader(directory: directory.blockLog).query(BlockLogFilter())
                .sorted {
                    ($0.firstSeenMilliseconds, $0.destinationPort) < ($1.firstSeenMilliseconds, $1.destinationPort)
                }
            #expect(rows.count == 4)
            let first = try #require(rows.first { $0.firstSeenMilliseconds == t0 })
            #expect(first.lastSeenMilliseconds == t0 + 59_999)
            #expect(first.attempts == 3)
            #expect(first.syns == 5)
            #expect(first.customer == "customer-7")
            #expect(first.nodeName == "edge-1")
            #expect(first.reason == .noException)
            let second = try #require(rows.first { $0.firstSeenMilliseconds == t0 + 60_000 })
            #expect(second.lastSeenMilliseconds == t0 + 61_000)
            #expect((second.attempts, second.syns) == (2, 2))
            #expect(rows.filter { $0.firstSeenMilliseconds == t0 + 500 }.map(\.syns) == [1, 1])
            #expect(rows.reduce(0) { $0 + $1.syns } == 9)
            let statistics = writer.statistics
            #expect(statistics.synsRecorded == 9)
            #expect(statistics.rowsWritten == 4)
            #expect(statistics.lostEvents == 0)
        }
    }

    /// An open row is written at every flush and updated in place; the clock closing its window does not
    /// add a row; a later SYN opens a new one.
    @Test func openRowsAreCommittedEveryFlushAndUpdatedInPlace() throws {
        try withWriter(at: t0) { directory, clock, writer, ring throws in
            let reader = BlockLogReader(directory: directory.blockLog)
            push(ring, [attempt(t0, port: 1)])
            writer.flush()
            #expect(try reader.query(BlockLogFilter()).map(\.syns) == [1])
            clock.advance(by: 10_000)
            push(ring, [attempt(t0 + 10_000, port: 2)])
            writer.flush()
            #expect(try reader.query(BlockLogFilter()).map(\.syns) == [2])
            #expect(try reader.query(BlockLogFilter()).map(\.attempts) == [2])
            clock.advance(by: 60_000)
            writer.flush()  // window closed by the clock
            push(ring, [attempt(t0 + 70_000, port: 2)])
            writer.flush()
            #expect(try reader.query(BlockLogFilter()).map(\.syns) == [1, 2])
            writer.shutdown()
            #expect(writer.statistics.rowsWritten == 2)
            #expect(writer.statistics.rowUpdates == 1)
        }
    }

    /// The customer is resolved at block time: when a reload hands the address to another customer, the
    /// next SYN starts a new row for the new customer; a mere generation change does not.
    @Test func customerResolvedAtBlockTime() throws {
        try withWriter(at: t0) { directory, clock, writer, ring throws in
            push(
                ring,
                [
                    attempt(t0, port: 1, customer: 7, generation: 1),
                    attempt(t0 + 1000, port: 2, customer: 7, generation: 3),  // same customer, new generation
                    attempt(t0 + 2000, port: 3, customer: 7, generation: 2),  // generation 2 maps to customer-107
                    attempt(t0 + 3000, port: 4, customer: -1, generation: 3, exception: 4),
                ])
            writer.flush()
            writer.shutdown()
            let rows = try BlockLogReader(directory: directory.blockLog).query(BlockLogFilter())
            #expect(rows.map(\.customer) == [nil, "customer-107", "customer-7"])
            #expect(rows.map(\.syns) == [1, 1, 2])
            #expect(rows[0].exceptionID == "exception-4")
        }
    }

    /// Segment files are created 0640 and in WAL mode while written; after a restart in the same slice the
    /// writer appends to the existing file.
    @Test func restartResumesInTheSameSegment() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let clock = ManualClock(t0)
        do {
            let (writer, ring) = try makeWriter(directory.blockLog, clock: clock)
            push(ring, [attempt(t0, port: 1), attempt(t0 + 10, to: "192.0.2.30", port: 2)])
            writer.flush()
            let path = directory.blockLog + "/blocked-2026-11-29T07.sqlite"
            var info = stat()
            #expect(stat(path, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o640)
            #expect(stat(path + "-wal", &info) == 0)
            #expect(info.st_mode & 0o777 == 0o640)
            writer.shutdown()
        }
        clock.advance(by: 5 * 60_000)
        let (writer, ring) = try makeWriter(directory.blockLog, clock: clock)
        push(ring, [attempt(t0 + 5 * 60_000, port: 3)])
        writer.shutdown()
        #expect(fileNames(directory.blockLog) == ["blocked-2026-11-29T07.sqlite"])
        let rows = try BlockLogReader(directory: directory.blockLog).query(BlockLogFilter())
        #expect(rows.count == 3)
        #expect(rows.reduce(0) { $0 + $1.syns } == 3)
    }

    /// A row opened in one hour keeps collecting SYNs past the hour boundary and stays in its first
    /// segment; the next row goes to the new segment.
    @Test func rotationAtSliceBoundary() throws {
        let start = instant("2026-11-29T07:59:30Z")
        try withWriter(at: start) { directory, clock, writer, ring throws in
            push(ring, [attempt(start, port: 1)])
            writer.flush()
            clock.set(start + 40_000)
            push(ring, [attempt(start + 40_000, port: 2), attempt(start + 40_000, to: "192.0.2.99", port: 3)])
            writer.flush()
            clock.set(start + 120_000)
            writer.flush()
            writer.shutdown()
            #expect(fileNames(directory.blockLog) == ["blocked-2026-11-29T07.sqlite", "blocked-2026-11-29T08.sqlite"])
            let reader = BlockLogReader(directory: directory.blockLog)
            let old = try reader.query(BlockLogFilter(untilMilliseconds: instant("2026-11-29T08:00:00Z")))
            #expect(old.map(\.syns) == [2])
            #expect(old.first?.lastSeenMilliseconds == start + 40_000)
            let since = try reader.query(BlockLogFilter(sinceMilliseconds: instant("2026-11-29T08:00:00Z")))
            #expect(since.count == 2)  // the old row overlaps 08:00 through its last SYN
        }
    }

    /// A directory that cannot be created (its parent is a regular file): no crash, each flush error counted,
    /// the error logged once a minute, pending SYNs counted as lost at shutdown. A directory that becomes
    /// writable again gets everything that was kept.
    @Test func unwritableDirectoryCountsLostEventsAndRecovers() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let blocker = directory.path + "/not-a-directory"
        #expect(FileManager.default.createFile(atPath: blocker, contents: Data("x".utf8)))
        let logs = CapturedLogs()
        let clock = ManualClock(t0)
        let (writer, ring) = try makeWriter(blocker + "/blocklog", clock: clock, logs: logs)
        push(ring, (0..<10).map { attempt(t0 + Int64($0), port: UInt16($0)) })
        for _ in 0..<5 {
            writer.flush()
            clock.advance(by: 1000)
        }
        #expect(writer.statistics.writeErrors == 5)
        #expect(logs.count(containing: "cannot commit") == 1)
        writer.shutdown()
        #expect(writer.statistics.lostEvents == 10)
        #expect(writer.statistics.synsRecorded == 0)

        // Recovery: the same situation, but the obstacle disappears before shutdown.
        let other = directory.path + "/later"
        #expect(FileManager.default.createFile(atPath: other, contents: Data("x".utf8)))
        let (second, secondRing) = try makeWriter(other + "/blocklog", clock: clock, logs: logs)
        push(secondRing, (0..<10).map { attempt(clock.nowMilliseconds() + Int64($0), port: UInt16($0)) })
        second.flush()
        #expect(second.statistics.writeErrors == 1)
        try FileManager.default.removeItem(atPath: other)
        clock.advance(by: 1000)
        second.flush()
        second.shutdown()
        #expect(second.statistics.synsRecorded == 10)
        #expect(second.statistics.lostEvents == 0)
        #expect(try BlockLogReader(directory: other + "/blocklog").query(BlockLogFilter()).first?.syns == 10)
    }

    /// Ring overflow and `recordLost` are in `lostEvents`, and every SYN is either recorded or lost.
    @Test func lostEventsAccounting() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let clock = ManualClock(t0)
        let writer = try BlockLogWriter(
            directory: directory.blockLog, settings: BlockLogConfiguration(), nodeName: "edge-1",
            resolver: TestResolver(), logger: CapturedLogs().logger(), clock: clock)
        let ring = BlockLogRing(capacity: 8)
        writer.attach(ring)
        for index in 0..<10 {
            _ = ring.push(attempt(t0, to: "192.0.2.\(index + 1)", port: 1))
        }
        writer.recordLost(5)
        writer.flush()  // 8 drained, 2 refused by the ring
        writer.shutdown()
        let statistics = writer.statistics
        #expect(statistics.synsRecorded == 8)
        #expect(statistics.lostEvents == 2 + 5)
        #expect(statistics.synsRecorded + statistics.lostEvents == 10 + 5)
    }

    /// The writer thread: every SYN pushed by a producer thread (at full speed, through a small ring) is
    /// either in some row's `syns` or counted lost, and shutdown commits everything.
    @Test func writerThreadCountsEverySYN() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let logs = CapturedLogs()
        let writer = try BlockLogWriter(
            directory: directory.blockLog,
            settings: BlockLogConfiguration(flushIntervalMilliseconds: 50), nodeName: "edge-1",
            resolver: TestResolver(), logger: logs.logger())
        let ring = BlockLogRing(capacity: 4096)
        writer.attach(ring)
        writer.start()
        let now = SystemBlockLogClock().nowMilliseconds()
        let total = 200_000
        var refused = 0
        for index in 0..<total {
            let item = BlockedAttempt(
                timeMilliseconds: now + Int64(index / 1000),
                source: .v4(IPv4Address(0x6440_0000 + UInt32(index % 200))),
                destination: .v4(IPv4Address(0xC000_0200 + UInt32(index % 50))), sourcePort: UInt16(index % 7 + 1),
                destinationPort: 25, reason: .noException)
            if !ring.push(item) { refused += 1 }
        }
        writer.flush()
        writer.shutdown()
        let statistics = writer.statistics
        #expect(statistics.lostEvents == UInt64(refused))
        #expect(statistics.synsRecorded + statistics.lostEvents == UInt64(total))
        let stored = try BlockLogReader(directory: directory.blockLog).query(BlockLogFilter())
        #expect(stored.reduce(0) { $0 + $1.syns } == Int64(statistics.synsRecorded))
        #expect(stored.allSatisfy { $0.attempts <= 7 && $0.attempts >= 1 })
        // Overflow, when it happened, was logged (rate-limited: one line here).
        #expect(logs.count(containing: "rings were full") == (refused > 0 ? 1 : 0))
    }

    @Test func rejectsBadConfiguration() {
        #expect(throws: BlockLogError.self) {
            _ = try BlockLogWriter(
                directory: "/tmp/x", settings: BlockLogConfiguration(segmentSeconds: 1800), nodeName: "n",
                resolver: NoBlockLogResolver(), logger: CapturedLogs().logger())
        }
    }
}
