import Egress25System
import GRDB
import GRDBSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One segment file open for writing: its GRDB connection (WAL mode) and the prepared insert/update
/// statements. Used by the writer thread only.
final class SegmentWriter {
    let slice: SegmentSlice
    let path: String
    private let queue: DatabaseQueue
    private let insert: RawStatement
    private let update: RawStatement
    private let updateWithFirstSeen: RawStatement
    private let recordMaxID: RawStatement
    private var closed = false
    /// The largest row id in the file when it was opened.
    let largestID: Int64

    /// Opens (or creates, mode 0640) the segment file of `slice` in `directory` and prepares its schema.
    ///
    /// - Throws: ``BlockLogError`` `.segment` naming the file and the reason.
    init(directory: String, slice: SegmentSlice, nodeName: String, cacheBytes: Int) throws {
        self.slice = slice
        self.path = directory + "/" + slice.fileName
        let path = self.path
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else {
            throw BlockLogError(.segment, "cannot create \(path): \(SystemCallError.describe(errno))")
        }
        _ = Glibc.close(descriptor)
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.busyMode = .timeout(5)
        configuration.label = "blocklog-writer"
        let cacheKibibytes = max(cacheBytes / 1024, 256)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA journal_size_limit = 134217728")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 32768")
            try db.execute(sql: "PRAGMA cache_size = -\(cacheKibibytes)")
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            self.queue = queue
            try SegmentSchema.prepare(queue, slice: slice, nodeName: nodeName, path: path)
            // The hot statements are prepared once per file, after the migration: the schema no longer changes.
            (largestID, insert, update, updateWithFirstSeen, recordMaxID) = try queue.inDatabase { db in
                (
                    try SegmentSchema.largestID(db),
                    try RawStatement(db, sql: SegmentSchema.insertSQL),
                    try RawStatement(db, sql: SegmentSchema.updateSQL),
                    try RawStatement(db, sql: SegmentSchema.updateWithFirstSeenSQL),
                    try RawStatement(db, sql: SegmentSchema.maxIDSQL)
                )
            }
        } catch let error as BlockLogError {
            throw error
        } catch {
            throw BlockLogError(.segment, "cannot open \(path): \(error)")
        }
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction, committed when it returns, rolled back when it throws.
    func transaction(_ body: (SegmentStatements) throws -> Void) throws {
        try queue.inDatabase { db in
            try db.inTransaction(.immediate) {
                try body(
                    SegmentStatements(
                        db: db, insert: insert, update: update, updateWithFirstSeen: updateWithFirstSeen,
                        recordMaxID: recordMaxID))
                return .commit
            }
        }
    }

    /// Checkpoints the WAL into the file (so that closing removes the `-wal` file) and closes.
    func close() {
        guard !closed else { return }
        closed = true
        insert.finalize()
        update.finalize()
        updateWithFirstSeen.finalize()
        recordMaxID.finalize()
        // A finished segment becomes a plain rollback-journal file: readers with read-only access to the
        // directory can then open it without a `-shm` file. Fails harmlessly (stays WAL) while a reader has it open.
        _ = try? queue.inDatabase { db in
            // Never wait for a reader here: both steps are optional.
            try db.execute(sql: "PRAGMA busy_timeout = 0")
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            try db.execute(sql: "PRAGMA journal_mode = DELETE")
        }
        try? queue.close()
    }

    deinit { close() }
}

/// The statements of a segment inside a write transaction.
struct SegmentStatements {
    let db: Database
    let insert: RawStatement
    let update: RawStatement
    let updateWithFirstSeen: RawStatement
    let recordMaxID: RawStatement
}
