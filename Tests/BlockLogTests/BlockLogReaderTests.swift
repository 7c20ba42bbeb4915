import BlockLog
import Egress25Core
import Egress25TestSupport
import Foundation
import Testing

/// Known data: written through the writer, then read back through every query and export.
@Suite struct BlockLogReaderTests {
    static let base = instant("2026-11-28T22:00:00Z")

    /// Writes the fixture: customer-7 at 100.64.0.1 (day 1) then 100.64.0.9 (day 2, after an address
    /// change), a bot at 100.64.5.5 (customer-8) fanning out to 20 MX hosts, and an IPv6 subscriber.
    static func fixture(_ directory: String) throws -> BlockLogWriter {
        let clock = ManualClock(base)
        let (writer, ring) = try makeWriter(directory, clock: clock)
        var batch: [BlockedAttempt] = []
        // customer-7, old address: 3 connections, one retransmitted, at 22:00Z on the 28th
        batch += [
            attempt(base, from: "100.64.0.1", to: "192.0.2.25", port: 1000, customer: 7),
            attempt(base + 3000, from: "100.64.0.1", to: "192.0.2.25", port: 1000, customer: 7),
            attempt(base + 5000, from: "100.64.0.1", to: "192.0.2.25", port: 1001, customer: 7),
            attempt(base + 9000, from: "100.64.0.1", to: "198.51.100.7", port: 1002, customer: 7),
        ]
        // the bot: 20 destinations x 3 connections at 23:30Z
        let bot = base + 90 * 60_000
        for index in 0..<20 {
            for connection in 0..<3 {
                batch.append(
                    attempt(
                        bot + Int64(index * 100 + connection), from: "100.64.5.5", to: "203.0.113.\(index + 1)",
                        port: UInt16(2000 + index * 3 + connection), customer: 8))
            }
        }
        push(ring, batch)
        clock.set(bot + 1000)
        writer.flush()
        // customer-7, new address, the next day 09:15Z; plus an IPv6 subscriber without customer
        let day2 = instant("2026-11-29T09:15:00Z")
        clock.set(day2)
        push(
            ring,
            [
                attempt(day2, from: "100.64.0.9", to: "192.0.2.25", port: 3000, customer: 7),
                attempt(day2 + 1, from: "100.64.0.9", to: "192.0.2.26", port: 3001, customer: 7),
                attempt(
                    day2 + 2, from: "2001:db8::5", to: "2001:db8:ff::25", port: 4000, reason: .outsideScope,
                    customer: -1,
                    exception: 3),
            ])
        clock.set(day2 + 120_000)
        writer.flush()
        writer.shutdown()
        return writer
    }

    @Test func queryFilters() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        _ = try BlockLogReaderTests.fixture(directory.blockLog)
        let reader = BlockLogReader(directory: directory.blockLog)
        #expect(
            fileNames(directory.blockLog) == [
                "blocked-2026-11-28T22.sqlite", "blocked-2026-11-28T23.sqlite", "blocked-2026-11-29T09.sqlite",
            ])

        let all = try reader.query(BlockLogFilter())
        #expect(all.count == 2 + 20 + 3)
        #expect(all.reduce(0) { $0 + $1.syns } == 4 + 60 + 3)
        #expect(zip(all, all.dropFirst()).allSatisfy { $0.firstSeenMilliseconds >= $1.firstSeenMilliseconds })

        let old = try reader.query(BlockLogFilter(source: prefix("100.64.0.1")))
        #expect(old.count == 2)
        let mx = try #require(old.first { $0.destination == address("192.0.2.25") })
        #expect((mx.attempts, mx.syns) == (2, 3))
        #expect(mx.lastSeenMilliseconds == BlockLogReaderTests.base + 5000)

        #expect(try reader.query(BlockLogFilter(source: prefix("100.64.0.0/24"))).count == 4)
        #expect(try reader.query(BlockLogFilter(source: prefix("100.64.0.0/10"))).count == 24)
        #expect(try reader.query(BlockLogFilter(source: prefix("2001:db8::/32"))).map(\.reason) == [.outsideScope])
        #expect(try reader.query(BlockLogFilter(source: prefix("2001:db8::/32"))).first?.exceptionID == "exception-3")
        #expect(try reader.query(BlockLogFilter(customer: "customer-7")).count == 4)
        #expect(try reader.query(BlockLogFilter(destination: prefix("203.0.113.0/28"))).count == 15)
        #expect(try reader.query(BlockLogFilter(destination: prefix("192.0.2.25"))).count == 2)
        #expect(try reader.query(BlockLogFilter(), limit: 5).count == 5)
        #expect(try reader.query(BlockLogFilter(), limit: 5).first?.source == address("2001:db8::5"))

        let day2 = instant("2026-11-29T00:00:00Z")
        #expect(try reader.query(BlockLogFilter(sinceMilliseconds: day2)).count == 3)
        #expect(try reader.query(BlockLogFilter(untilMilliseconds: day2)).count == 22)
        #expect(
            try reader.query(
                BlockLogFilter(
                    customer: "customer-7", sinceMilliseconds: BlockLogReaderTests.base + 6000,
                    untilMilliseconds: day2)
            ).map(\.destination) == [address("198.51.100.7")])
        // Only overlapping segments are opened; a slice is extended by one aggregation window (rows
        // opened in its last minute may reach into the next slice).
        #expect(
            reader.segments(for: BlockLogFilter(sinceMilliseconds: day2)).map(\.name) == [
                "blocked-2026-11-28T23.sqlite", "blocked-2026-11-29T09.sqlite",
            ])
        #expect(
            reader.segments(for: BlockLogFilter(sinceMilliseconds: day2 + 60_000)).map(\.name) == [
                "blocked-2026-11-29T09.sqlite"
            ])
        #expect(
            reader.segments(for: BlockLogFilter(untilMilliseconds: instant("2026-11-28T23:00:00Z"))).map(\.name) == [
                "blocked-2026-11-28T22.sqlite"
            ])
    }

    @Test func topByEveryDimension() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        _ = try BlockLogReaderTests.fixture(directory.blockLog)
        let reader = BlockLogReader(directory: directory.blockLog)

        let sources = try reader.top(by: .source, filter: BlockLogFilter(), limit: 2)
        #expect(sources.map(\.key) == ["100.64.5.5", "100.64.0.1"])
        #expect((sources[0].attempts, sources[0].syns, sources[0].destinations) == (60, 60, 20))
        #expect((sources[1].attempts, sources[1].syns, sources[1].destinations) == (3, 4, 2))

        let customers = try reader.top(by: .customer, filter: BlockLogFilter())
        #expect(customers.map(\.key) == ["customer-8", "customer-7"])
        #expect((customers[1].syns, customers[1].sources, customers[1].destinations) == (6, 2, 3))
        #expect(customers[1].firstSeenMilliseconds == BlockLogReaderTests.base)
        #expect(customers[1].lastSeenMilliseconds == instant("2026-11-29T09:15:00Z") + 1)

        let destinations = try reader.top(by: .destination, filter: BlockLogFilter(), limit: 1)
        #expect(destinations.map(\.key) == ["192.0.2.25"])
        #expect((destinations[0].syns, destinations[0].sources) == (4, 2))

        let lastDay = try reader.top(
            by: .source, filter: BlockLogFilter(sinceMilliseconds: instant("2026-11-29T00:00:00Z")))
        #expect(Set(lastDay.map(\.key)) == ["100.64.0.9", "2001:db8::5"])
    }

    @Test func timelineFollowsACustomerAcrossAddressChanges() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        _ = try BlockLogReaderTests.fixture(directory.blockLog)
        let reader = BlockLogReader(directory: directory.blockLog)
        let buckets = try reader.timeline(BlockLogFilter(customer: "customer-7"), bucketSeconds: 3600)
        #expect(buckets.map(\.startMilliseconds) == [BlockLogReaderTests.base, instant("2026-11-29T09:00:00Z")])
        #expect(buckets.map(\.sources) == [[address("100.64.0.1")], [address("100.64.0.9")]])
        #expect(buckets.map(\.syns) == [4, 2])
        #expect(buckets.map(\.attempts) == [3, 2])
        #expect(buckets.map(\.destinations) == [2, 2])
        let daily = try reader.timeline(BlockLogFilter(customer: "customer-7"), bucketSeconds: 86400)
        #expect(daily.map(\.syns) == [4, 2])
        #expect(throws: BlockLogError.self) { try reader.timeline(BlockLogFilter(), bucketSeconds: 0) }
    }

    @Test func exportsCSVJSONAndXARF() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        _ = try BlockLogReaderTests.fixture(directory.blockLog)
        let reader = BlockLogReader(directory: directory.blockLog)

        var lines: [String] = []
        try reader.forEach(BlockLogFilter(source: prefix("100.64.0.1"))) { lines.append(BlockLogExport.csvLine($0)) }
        #expect(BlockLogExport.csvHeader.hasPrefix("first_seen,last_seen,source,destination,destination_port"))
        #expect(
            lines == [
                "2026-11-28T22:00:00.000Z,2026-11-28T22:00:05.000Z,100.64.0.1,192.0.2.25,25,2,3,customer-7,"
                    + "no_exception,,edge-1",
                "2026-11-28T22:00:09.000Z,2026-11-28T22:00:09.000Z,100.64.0.1,198.51.100.7,25,1,1,customer-7,"
                    + "no_exception,,edge-1",
            ])
        #expect(BlockLogExport.csvField("a,\"b\"") == "\"a,\"\"b\"\"\"")

        var objects: [[String: Any]] = []
        try reader.forEach(BlockLogFilter(source: prefix("2001:db8::/32"))) { record in
            let data = Data(BlockLogExport.jsonObject(record).utf8)
            objects.append(try JSONSerialization.jsonObject(with: data) as! [String: Any])
        }
        #expect(objects.count == 1)
        #expect(objects[0]["source"] as? String == "2001:db8::5")
        #expect(objects[0]["customer"] is NSNull)
        #expect(objects[0]["reason"] as? String == "outside_scope")
        #expect(objects[0]["exception_id"] as? String == "exception-3")
        #expect(objects[0]["syns"] as? Int == 1)

        let summaries = try reader.sourceSummaries(BlockLogFilter(customer: "customer-8"))
        #expect(summaries.count == 1)
        let reporter = BlockLogExport.Reporter(
            organization: "Example ISP", contact: "abuse@isp.example", domain: "isp.example")
        let report = BlockLogExport.xarfReport(summaries[0], reporter: reporter, nodeName: "edge-1")
        let json = try JSONSerialization.jsonObject(with: Data(report.utf8)) as! [String: Any]
        // xarf-core.json required fields
        for field in [
            "xarf_version", "report_id", "timestamp", "reporter", "sender", "source_identifier", "category", "type",
        ] {
            #expect(json[field] != nil, "\(field)")
        }
        #expect(json["xarf_version"] as? String == "4.0.0")
        #expect((json["report_id"] as? String).flatMap(UUID.init(uuidString:)) != nil)
        #expect(json["category"] as? String == "connection")
        #expect(json["type"] as? String == "infected_host")
        #expect(json["protocol"] as? String == "tcp")
        #expect(json["source_identifier"] as? String == "100.64.5.5")
        #expect(json["first_seen"] as? String == "2026-11-28T23:30:00.000Z")
        #expect(json["last_seen"] as? String == "2026-11-28T23:30:01.902Z")
        #expect(json["timestamp"] as? String == "2026-11-28T23:30:01.902Z")
        #expect(json["attempt_count"] as? Int == 60)
        #expect(json["destination_port"] as? Int == 25)
        #expect(json["destination_ip"] == nil)
        let reporterObject = json["reporter"] as! [String: String]
        #expect(reporterObject == ["org": "Example ISP", "contact": "abuse@isp.example", "domain": "isp.example"])
        let destinations = json["destinations"] as! [[String: Any]]
        #expect(destinations.count == 20)
        #expect(Set(destinations.map { $0["ip"] as! String }) == Set((1...20).map { "203.0.113.\($0)" }))
        #expect(destinations.allSatisfy { $0["attempt_count"] as? Int == 3 })
        for tag in json["tags"] as! [String] {
            #expect(tag.range(of: "^[a-z0-9][a-z0-9_+-]*:[a-z0-9][a-z0-9_+-.]*$", options: .regularExpression) != nil)
        }
    }

    /// A reader holding one read transaction for a long time while the writer thread commits: the reader
    /// sees a stable snapshot, the writer gets no SQLITE_BUSY (no write error, nothing lost), and once the
    /// reader is done every SYN is there.
    @Test func longReadTransactionWhileWriterWrites() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let writer = try BlockLogWriter(
            directory: directory.blockLog, settings: BlockLogConfiguration(flushIntervalMilliseconds: 10),
            nodeName: "edge-1", resolver: TestResolver(), logger: CapturedLogs().logger())
        let ring = BlockLogRing(capacity: 1 << 16)
        writer.attach(ring)
        writer.start()
        let clock = SystemBlockLogClock()
        var pushed = 0
        func pushBatch(_ count: Int) {
            let now = clock.nowMilliseconds()
            for index in 0..<count {
                let item = BlockedAttempt(
                    timeMilliseconds: now, source: .v4(IPv4Address(0x6440_0000 + UInt32(pushed % 500))),
                    destination: .v4(IPv4Address(0xC000_0200 + UInt32(index % 100))),
                    sourcePort: UInt16(pushed % 60_000),
                    destinationPort: 25, reason: .noException)
                if ring.push(item) { pushed += 1 }
            }
        }
        pushBatch(1000)
        writer.flush()
        let reader = BlockLogReader(directory: directory.blockLog)
        var rowsInSnapshot = 0
        var snapshotSyns: Int64 = 0
        var rounds = 0
        try reader.forEach(BlockLogFilter()) { record in
            rowsInSnapshot += 1
            snapshotSyns += record.syns
            if rowsInSnapshot == 1 {
                // Hold the read transaction for ~1 s while 50 commits happen.
                for _ in 0..<50 {
                    pushBatch(2000)
                    writer.flush()
                    usleep(20_000)
                    rounds += 1
                }
            }
        }
        #expect(rounds == 50)
        #expect(snapshotSyns == 1000)  // the snapshot taken before the commits
        writer.shutdown()
        let statistics = writer.statistics
        #expect(statistics.writeErrors == 0)
        #expect(statistics.lostEvents == 0)
        #expect(statistics.synsRecorded == UInt64(pushed))
        var total: Int64 = 0
        try reader.forEach(BlockLogFilter()) { total += $0.syns }
        #expect(total == Int64(pushed))
    }
}

@Suite struct BlockLogRotationWhileReadingTests {
    /// A reader holding a read transaction on a segment the writer is closing (rotation): the writer does not
    /// wait for the reader (closing steps that need exclusive access are skipped), nothing is lost, and the
    /// segment stays readable afterwards.
    @Test func closingASegmentDoesNotWaitForReaders() throws {
        let start = instant("2026-11-29T07:58:00Z")
        try withWriter(at: start) { directory, clock, writer, ring throws in
            push(ring, (0..<100).map { attempt(start + Int64($0), to: "192.0.2.\($0 + 1)", port: 1) })
            writer.flush()
            let reader = BlockLogReader(directory: directory.blockLog)
            var seen = 0
            var flushMilliseconds: Int64 = 0
            try reader.forEach(BlockLogFilter()) { _ in
                seen += 1
                if seen == 1 {
                    clock.set(start + 5 * 60_000)  // 08:03: rows of 07:58 closed, segment 07 idle
                    push(ring, [attempt(start + 5 * 60_000, port: 2)])
                    let before = SystemBlockLogClock().nowMilliseconds()
                    writer.flush()
                    flushMilliseconds = SystemBlockLogClock().nowMilliseconds() - before
                }
            }
            #expect(seen == 100)
            #expect(flushMilliseconds < 1000)
            writer.shutdown()
            #expect(writer.statistics.writeErrors == 0)
            #expect(writer.statistics.synsRecorded == 101)
            #expect(try reader.query(BlockLogFilter(untilMilliseconds: instant("2026-11-29T08:00:00Z"))).count == 100)
            #expect(fileNames(directory.blockLog) == ["blocked-2026-11-29T07.sqlite", "blocked-2026-11-29T08.sqlite"])
        }
    }
}
