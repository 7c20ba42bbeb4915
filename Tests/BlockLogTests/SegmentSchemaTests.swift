import BlockLog
import Egress25Core
import Egress25TestSupport
import Foundation
import GRDB
import Testing

/// Segment files carry their schema in the GRDB migrator's `grdb_migrations` table; files written before segments
/// had a migrator (`PRAGMA user_version` 1 only) are read and adopted.
@Suite struct SegmentSchemaTests {
    static let base = instant("2026-11-28T22:00:00Z")

    /// The SQL of a segment written before the migrator, copied verbatim from that writer (never to be edited).
    static let releasedVersion1SQL = """
        CREATE TABLE IF NOT EXISTS blocked (
            source BLOB NOT NULL,
            id INTEGER NOT NULL,
            first_seen INTEGER NOT NULL,
            last_seen INTEGER NOT NULL,
            destination BLOB NOT NULL,
            destination_port INTEGER NOT NULL,
            attempts INTEGER NOT NULL,
            syns INTEGER NOT NULL,
            customer TEXT,
            reason INTEGER NOT NULL,
            exception_id TEXT,
            node_name TEXT NOT NULL,
            PRIMARY KEY (source, id)
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS blocked_customer ON blocked(customer, first_seen);
        CREATE INDEX IF NOT EXISTS blocked_destination ON blocked(destination, first_seen);
        CREATE INDEX IF NOT EXISTS blocked_time ON blocked(first_seen);
        CREATE TABLE IF NOT EXISTS segment_info (key TEXT PRIMARY KEY, value);
        INSERT OR IGNORE INTO segment_info (key, value)
            VALUES ('slice_start', 1795903200), ('slice_seconds', 3600), ('node_name', 'edge-0');
        PRAGMA user_version = 1;
        """

    /// Writes `blocked-2026-11-28T22.sqlite` as the writer did before the migrator: one row, 100.64.0.1 ->
    /// 192.0.2.25:25 (customer-7, 2 connections, 3 SYNs) at 22:00:00Z.
    static func writeReleasedSegment(in directory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/blocked-2026-11-28T22.sqlite"
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.inTransaction(.immediate) {
                try db.execute(sql: releasedVersion1SQL)
                try db.execute(
                    sql: """
                        INSERT INTO blocked (id, first_seen, last_seen, source, destination, destination_port,
                            attempts, syns, customer, reason, exception_id, node_name)
                        VALUES (1, ?, ?, x'0464400001', x'04c0000219', 25, 2, 3, 'customer-7', 0, NULL, 'edge-0');
                        INSERT OR REPLACE INTO segment_info (key, value) VALUES ('max_id', 1);
                        """,
                    arguments: [base, base + 4000])
                return .commit
            }
        }
        try queue.close()
        return path
    }

    static func migrations(_ path: String) throws -> [String] {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { db in
            guard try db.tableExists("grdb_migrations") else { return [] }
            return try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
        }
    }

    static func userVersion(_ path: String) throws -> Int {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") ?? -1 }
    }

    @Test func aSegmentWrittenBeforeTheMigratorIsReadThenAdoptedByTheWriter() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = try Self.writeReleasedSegment(in: directory.blockLog)
        let reader = BlockLogReader(directory: directory.blockLog)

        let before = try reader.query(BlockLogFilter())
        #expect(before.count == 1)
        #expect(before.first?.source == address("100.64.0.1"))
        #expect(before.first?.syns == 3)
        #expect(before.first?.nodeName == "edge-0")
        #expect(try Self.migrations(path) == [])  // the reader never writes

        // The writer reopens the slice: the migrator records v1 (the tables exist already) and rows continue.
        let clock = ManualClock(Self.base + 60_000)
        let (writer, ring) = try makeWriter(directory.blockLog, clock: clock)
        push(ring, [attempt(Self.base + 60_000, from: "100.64.0.2", port: 5000)])
        clock.advance(by: 1000)
        writer.flush()
        writer.shutdown()
        #expect(try Self.migrations(path) == ["v1-blocked"])
        #expect(try Self.userVersion(path) == 1)
        let after = try reader.query(BlockLogFilter())
        #expect(after.map(\.source) == [address("100.64.0.2"), address("100.64.0.1")])
        #expect(fileNames(directory.blockLog) == ["blocked-2026-11-28T22.sqlite"])
    }

    @Test func newSegmentsRecordTheirMigrationAndTheVersionOlderReadersCheck() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let clock = ManualClock(Self.base)
        let (writer, ring) = try makeWriter(directory.blockLog, clock: clock)
        push(ring, [attempt(Self.base)])
        clock.advance(by: 1000)
        writer.flush()
        writer.shutdown()
        let path = directory.blockLog + "/blocked-2026-11-28T22.sqlite"
        #expect(try Self.migrations(path) == ["v1-blocked"])
        // Readers released before the migrator skip a file whose user_version is 0.
        #expect(try Self.userVersion(path) == 1)
        #expect(try BlockLogReader(directory: directory.blockLog).query(BlockLogFilter()).count == 1)
    }

    @Test func aSegmentOfANewerSchemaIsRefused() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = try Self.writeReleasedSegment(in: directory.blockLog)
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v1-blocked'), ('v2-future')")
        }
        try queue.close()
        let error = #expect(throws: BlockLogError.self) {
            try BlockLogReader(directory: directory.blockLog).query(BlockLogFilter())
        }
        #expect(error?.code == .segment)
        #expect(error?.message == "\(path): segment schema version 2 is newer than this program's (1)")
    }
}
