import Atomics
import BlockLog
import Egress25Core
import Egress25TestSupport
import ExceptionStore
import Foundation
import Logging
import Synchronization
import Testing

@testable import Egress25Daemon

/// The block-log shipper against a real PostgreSQL (a database per test): rows from real segment files arrive in
/// `blocked_attempts` exactly once, in partial passes, across lost connections and a second shipper.
@Suite(.enabled(if: TestPostgres.isAvailable, "needs EGRESS25_TEST_PG_URL (scripts/test-postgres.sh start)"))
struct FleetShippingTests {
    /// 2026-11-29T08:00:00Z, ms.
    static let t0: Int64 = 1_795_939_200_000

    final class Clock: BlockLogClock {
        let value: Mutex<Int64>
        init(_ milliseconds: Int64) { value = Mutex(milliseconds) }
        func nowMilliseconds() -> Int64 { value.withLock { $0 } }
        func set(_ milliseconds: Int64) { value.withLock { $0 = milliseconds } }
    }

    struct Resolver: BlockLogResolver {
        func customerID(generation: UInt64, index: Int32) -> String? { index < 0 ? nil : "customer-\(index)" }
        func exceptionID(generation: UInt64, index: Int32) -> String? { nil }
    }

    /// Writes `count` blocked SYNs over two hours (two hourly segments): 40 subscribers, each to 3 destinations,
    /// repeats aggregated into rows. - Returns: the block-log directory.
    static func writeSegments(in directory: TemporaryDirectory, count: Int) throws -> String {
        let blockLog = directory.path + "/blocklog"
        let clock = Clock(t0)
        let writer = try BlockLogWriter(
            directory: blockLog, configuration: BlockLogConfiguration(), nodeName: "edge-1", resolver: Resolver(),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), clock: clock)
        let ring = BlockLogRing(capacity: 1 << 16)
        writer.attach(ring)
        for index in 0..<count {
            let time = t0 + Int64(index) * (2 * 3_600_000 / Int64(count))
            clock.set(time)
            let attempt = BlockedAttempt(
                timeMilliseconds: time, source: try IPAddress(parsing: "100.64.0.\(index % 40 + 1)"),
                destination: try IPAddress(parsing: "192.0.2.\(index % 3 + 10)"),
                sourcePort: UInt16(30_000 + index % 1000), destinationPort: 25, reason: .noException,
                exceptionIndex: -1, customerIndex: Int32(index % 7) - 1, policyGeneration: 1)
            #expect(ring.push(attempt))
            if index % 50 == 0 { writer.flush() }
        }
        clock.set(t0 + 3 * 3_600_000)
        writer.shutdown()
        return blockLog
    }

    /// The local segments' totals: rows and SYNs.
    static func localTotals(_ blockLog: String) throws -> (rows: Int64, syns: Int64) {
        var rows: Int64 = 0
        var syns: Int64 = 0
        try BlockLogReader(directory: blockLog).forEach(BlockLogFilter()) { record in
            rows += 1
            syns += record.syns
        }
        return (rows, syns)
    }

    static func fleetTotals(_ database: TestDatabase) throws -> (rows: Int64, syns: Int64) {
        let line = try database.psql(
            "SELECT count(*) || ' ' || coalesce(sum(syns), 0) FROM blocked_attempts WHERE node = 'edge-1'")
        let parts = line.split(separator: " ").compactMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        return (parts.first ?? -1, parts.last ?? -1)
    }

    static func shipper(
        _ blockLog: String, _ location: StoreLocation, ledger: ShippingLedger = ShippingLedger(),
        batchRows: Int = 10_000
    ) -> BlockLogShipper {
        BlockLogShipper(
            directory: blockLog, configuration: BlockLogConfiguration(), ledger: ledger, batchRows: batchRows,
            openStore: { try ExceptionStore(location: location, mode: .readWrite) }, nodeName: "edge-1",
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// Runs `body` on a thread of its own, as the daemon runs the shipper: the store's COPY waits for a Swift
    /// concurrency task, which must not wait for a thread of the concurrency pool the test itself holds.
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    /// Passes until caught up (at most `limit`).
    static func drain(_ shipper: BlockLogShipper, now: Int64, limit: Int = 50) -> BlockLogShipper.PassOutcome {
        var outcome = BlockLogShipper.PassOutcome.failed
        for _ in 0..<limit {
            outcome = shipper.pass(nowMilliseconds: now)
            if outcome == .caughtUp { break }
        }
        return outcome
    }

    /// A temporary directory for the segments and a migrated database of its own, both removed afterwards.
    struct ShippingFixture: ~Copyable {
        let directory = TemporaryDirectory(prefix: "egress25-shipping")
        let database: TestDatabase
        let location: StoreLocation

        init() throws {
            let database = try TestPostgres.makeDatabase(prefix: "ship")
            let location: StoreLocation
            do {
                location = .postgresql(try PostgresLocation.parse(url: database.url))
                _ = try ExceptionStore.migrateSchema(at: location)
            } catch {
                try? database.drop()
                throw error
            }
            self.database = database
            self.location = location
        }

        deinit {
            directory.cleanup()
            try? database.drop()
        }
    }

    @Test func everyFinalRowArrivesOnceAndTotalsMatch() async throws {
        let fixture = try ShippingFixture()
        let (directory, database, location) = (fixture.directory, fixture.database, fixture.location)
        let blockLog = try Self.writeSegments(in: directory, count: 3_000)
        let local = try Self.localTotals(blockLog)
        #expect(local.rows > 100 && local.syns == 3_000)

        // Halfway through the two hours only the first hour's rows (and a little more) are final.
        let ledger = ShippingLedger()
        let shipper = Self.shipper(blockLog, location, ledger: ledger)
        #expect(try await Self.onThread { Self.drain(shipper, now: Self.t0 + 3_600_000) } == .caughtUp)
        let partial = try Self.fleetTotals(database)
        #expect(partial.rows > 0 && partial.rows < local.rows)
        #expect(shipper.lagSeconds.load(ordering: .relaxed) == 0)
        let files = SegmentDirectory.list(blockLog)
        #expect(files.count == 2)
        #expect(!ledger.isShipped(files[0].name), "the first hour's late rows are not final yet")

        // Later: everything, exactly once; more passes add nothing.
        let later = Self.t0 + 4 * 3_600_000
        #expect(try await Self.onThread { Self.drain(shipper, now: later) } == .caughtUp)
        #expect(try await Self.onThread { shipper.pass(nowMilliseconds: later) } == .caughtUp)
        #expect(try Self.fleetTotals(database) == local)
        #expect(files.allSatisfy { ledger.isShipped($0.name) })

        // A second shipper of the same node (a restarted router: no memory of what went) adds nothing either.
        let restarted = Self.shipper(blockLog, location)
        #expect(try await Self.onThread { Self.drain(restarted, now: later) } == .caughtUp)
        #expect(try Self.fleetTotals(database) == local)
        #expect(
            try database.psql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'blocked_attempts'::regclass")
                .trimmingCharacters(in: .whitespacesAndNewlines) == "1",
            "one daily partition")
        // Fleet retention drops the day whole, and only once it is past the cutoff.
        let admin = try ExceptionStore(location: location, mode: .readWrite)
        let day = Self.t0 / 1000 / 86_400 * 86_400
        #expect(try await Self.onThread { try admin.dropBlockedPartitions(before: day, actor: "t", now: day) } == [])
        #expect(
            try await Self.onThread {
                try admin.dropBlockedPartitions(before: day + 86_400, actor: "t", now: day + 86_400)
            }
                == ["blocked_attempts_20261129"])
        #expect(try Self.fleetTotals(database) == (0, 0))
        #expect(try admin.auditEntries().last?.action == "blocked.prune")
    }

    /// The fleet's block log answers the abuse desk's questions exactly as the router's own segments do.
    @Test func fleetQueriesAnswerAsTheSegmentsDo() async throws {
        let fixture = try ShippingFixture()
        let (directory, database, location) = (fixture.directory, fixture.database, fixture.location)
        let blockLog = try Self.writeSegments(in: directory, count: 1_500)
        let shipper = Self.shipper(blockLog, location)
        #expect(try await Self.onThread { Self.drain(shipper, now: Self.t0 + 4 * 3_600_000) } == .caughtUp)
        let reader = BlockLogReader(directory: blockLog)
        let store = try ExceptionStore(location: location, mode: .readOnly)
        let filters = [
            BlockLogFilter(),
            BlockLogFilter(source: try IPPrefix(parsing: "100.64.0.0/29")),
            BlockLogFilter(customer: "customer-3"),
            BlockLogFilter(destination: try IPPrefix(parsing: "192.0.2.11")),
            BlockLogFilter(sinceMilliseconds: Self.t0 + 1_800_000, untilMilliseconds: Self.t0 + 5_400_000),
        ]
        @Sendable func key(_ record: BlockedRecord) -> String {
            "\(record.firstSeenMilliseconds) \(record.source) \(record.destination) \(record.syns)"
        }
        for filter in filters {
            try await Self.onThread {
                let local = try reader.query(filter)
                let fleet = try store.blockedAttempts(filter)
                #expect(Set(local.map(key)) == Set(fleet.map(key)), "\(filter)")
                #expect(fleet.count == local.count && fleet.allSatisfy { $0.nodeName == "edge-1" })
                #expect(try store.blockedAttempts(filter, node: "edge-2").isEmpty)
                #expect(try store.blockedAttempts(filter, limit: 3).count == min(3, local.count))
                for grouping in BlockLogGrouping.allCases {
                    let localTop = try reader.top(by: grouping, filter: filter, limit: 5)
                    let fleetTop = try store.topBlocked(by: grouping, filter: filter, limit: 5)
                    #expect(localTop == fleetTop, "top by \(grouping), \(filter)")
                }
                #expect(
                    try reader.timeline(filter, bucketSeconds: 600) == store.blockedTimeline(filter, bucketSeconds: 600)
                )
                let summaries = try BlockLogSourceSummary.summarize { body in
                    try store.forEachBlockedAttempt(filter, body)
                }
                #expect(try reader.sourceSummaries(filter) == summaries)
            }
        }
    }

    @Test func aLostConnectionBetweenBatchesLosesAndDuplicatesNothing() async throws {
        let fixture = try ShippingFixture()
        let (directory, database, location) = (fixture.directory, fixture.database, fixture.location)
        let blockLog = try Self.writeSegments(in: directory, count: 2_000)
        let local = try Self.localTotals(blockLog)
        // Batches of 25 rows, one per pass, the shipper's connection killed after each: every pass ships a batch
        // and its mark on a new connection, or nothing.
        let shipper = Self.shipper(blockLog, location, batchRows: 25)
        let later = Self.t0 + 4 * 3_600_000
        var outcomes: [BlockLogShipper.PassOutcome] = []
        for _ in 0..<400 {
            let outcome = try await Self.onThread { shipper.pass(nowMilliseconds: later, maxBatches: 1) }
            outcomes.append(outcome)
            _ = try database.psql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                    + "AND pid <> pg_backend_pid()")
            if outcome == .caughtUp { break }
        }
        #expect(outcomes.last == .caughtUp, "\(outcomes)")
        #expect(outcomes.count > 5, "several batches, each on a new connection")
        #expect(try Self.fleetTotals(database) == local)
    }

    /// While the fleet store does not answer, rows keep becoming final and none ships: the lag grows from the
    /// last marks known (it stayed at its last value, 0 after a caught-up pass, before).
    @Test func theLagGrowsWhileTheStoreDoesNotAnswer() async throws {
        let directory = TemporaryDirectory(prefix: "egress25-shipping")
        defer { directory.cleanup() }
        let database = try TestPostgres.makeDatabase(prefix: "ship")
        // ALTER DATABASE ... ALLOW_CONNECTIONS, from the postgres database (this one refuses connections then).
        let maintenance = database.url.replacingOccurrences(of: "/\(database.name)?", with: "/postgres?")
        func allowConnections(_ allow: Bool) throws {
            try TestPostgres.psql(
                url: maintenance,
                sql: "ALTER DATABASE \(TestPostgres.quoteIdentifier(database.name)) ALLOW_CONNECTIONS \(allow); "
                    + "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                    + "\(TestPostgres.quoteLiteral(database.name))")
        }
        defer {
            try? allowConnections(true)
            try? database.drop()
        }
        let location = StoreLocation.postgresql(try PostgresLocation.parse(url: database.url))
        _ = try ExceptionStore.migrateSchema(at: location)
        let blockLog = try Self.writeSegments(in: directory, count: 1_000)
        let shipper = Self.shipper(blockLog, location)
        let halfway = Self.t0 + 3_600_000
        #expect(try await Self.onThread { Self.drain(shipper, now: halfway) } == .caughtUp)
        #expect(shipper.lagSeconds.load(ordering: .relaxed) == 0)

        // The store goes away (its connections closed, no new one accepted); two hours later nothing has shipped.
        try allowConnections(false)
        let later = Self.t0 + 3 * 3_600_000
        #expect(try await Self.onThread { shipper.pass(nowMilliseconds: later) } == .failed)
        // The oldest row not shipped at `halfway` is at most one finality (67 s by default) older than it.
        let lag = shipper.lagSeconds.load(ordering: .relaxed)
        let finality = BlockLogReader.finalityMilliseconds(BlockLogConfiguration()) / 1000
        #expect(lag > 2 * 3600 - 1 && lag <= 2 * 3600 + finality, "lag \(lag) s")

        // Back: caught up, lag 0.
        try allowConnections(true)
        #expect(try await Self.onThread { Self.drain(shipper, now: later) } == .caughtUp)
        #expect(shipper.lagSeconds.load(ordering: .relaxed) == 0)
    }

    @Test func theMarkRefusesABatchThatWouldRepeatRows() async throws {
        let database = try TestPostgres.makeDatabase(prefix: "ship")
        defer { try? database.drop() }
        let location = StoreLocation.postgresql(try PostgresLocation.parse(url: database.url))
        _ = try ExceptionStore.migrateSchema(at: location)
        let store = try ExceptionStore(location: location, mode: .readWrite)
        let sliceStart = Self.t0 / 1000
        let record = BlockedRecord(
            firstSeenMilliseconds: Self.t0, lastSeenMilliseconds: Self.t0 + 5,
            source: try IPAddress(parsing: "100.64.0.1"),
            destination: try IPAddress(parsing: "2001:db8::25"), destinationPort: 25, attempts: 2, syns: 3,
            customer: "c\tw\\x", reason: .noException, exceptionID: nil, nodeName: "edge-1")
        let row = ShippableRow(mark: ShippingMark(firstSeenMilliseconds: Self.t0, id: 1), record: record)
        let mark = try await Self.onThread {
            try store.shipBlockedRows(node: "edge-1", sliceStart: sliceStart, rows: [row], after: .start)
        }
        #expect(mark == row.mark)
        // The same batch again (a retry after a lost answer) is refused, and writes nothing.
        let error = try await Self.onThread { () -> ExceptionStoreError? in
            do {
                try store.shipBlockedRows(node: "edge-1", sliceStart: sliceStart, rows: [row], after: .start)
                return nil
            } catch { return error as? ExceptionStoreError }
        }
        #expect(error?.code == .conflict)
        #expect(try store.shippingMarks(node: "edge-1") == [Self.t0 / 1000: row.mark])
        #expect(
            try database.psql(
                "SELECT count(*) || ' ' || customer || ' ' || host(destination) FROM blocked_attempts "
                    + "GROUP BY customer, destination"
            )
            .trimmingCharacters(in: .whitespacesAndNewlines) == "1 c\tw\\x 2001:db8::25")
    }
}
