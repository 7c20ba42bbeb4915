import GRDB

/// The schema of one segment file (SQLite, WAL mode). Version 1, in `PRAGMA user_version`.
///
/// ```sql
/// CREATE TABLE blocked (
///     id               INTEGER PRIMARY KEY,
///     first_seen       INTEGER NOT NULL,  -- Unix ms UTC of the row's first SYN
///     last_seen        INTEGER NOT NULL,  -- Unix ms UTC of its last SYN (< first_seen + aggregation window)
///     source           BLOB NOT NULL,     -- subscriber address, see AddressCoding: 04+4 bytes or 06+16 bytes
///     destination      BLOB NOT NULL,     -- same encoding
///     destination_port INTEGER NOT NULL,
///     attempts         INTEGER NOT NULL,  -- distinct TCP source ports: new connections
///     syns             INTEGER NOT NULL,  -- every SYN, retransmissions included
///     customer         TEXT,              -- customer id holding the source at block time, NULL if none
///     reason           INTEGER NOT NULL,  -- BlockReason raw value
///     exception_id     TEXT,              -- the exception that did not apply (expired / out of scope)
///     node_name        TEXT NOT NULL      -- the router that blocked
/// );
/// ```
/// Indexes: `(source, first_seen)`, `(customer, first_seen)`, `(destination, first_seen)`, `(first_seen)`.
/// Only immutable columns are indexed, so that updating an open row's counts rewrites no index.
/// Table `segment_info(key TEXT PRIMARY KEY, value)` holds `slice_start` (Unix s), `slice_seconds`,
/// `node_name`.
enum SegmentSchema {
    static let version: Int = 1

    static let createStatements = [
        """
        CREATE TABLE IF NOT EXISTS blocked (
            id INTEGER PRIMARY KEY,
            first_seen INTEGER NOT NULL,
            last_seen INTEGER NOT NULL,
            source BLOB NOT NULL,
            destination BLOB NOT NULL,
            destination_port INTEGER NOT NULL,
            attempts INTEGER NOT NULL,
            syns INTEGER NOT NULL,
            customer TEXT,
            reason INTEGER NOT NULL,
            exception_id TEXT,
            node_name TEXT NOT NULL
        )
        """,
        "CREATE INDEX IF NOT EXISTS blocked_source ON blocked(source, first_seen)",
        "CREATE INDEX IF NOT EXISTS blocked_customer ON blocked(customer, first_seen)",
        "CREATE INDEX IF NOT EXISTS blocked_destination ON blocked(destination, first_seen)",
        "CREATE INDEX IF NOT EXISTS blocked_time ON blocked(first_seen)",
        "CREATE TABLE IF NOT EXISTS segment_info (key TEXT PRIMARY KEY, value)",
    ]

    /// Row ids are chosen by the writer (the segment's largest id when first opened in this run, plus a
    /// per-run row number), so that the aggregating thread can address a row before its insert commits.
    static let insertSQL = """
        INSERT INTO blocked (id, first_seen, last_seen, source, destination, destination_port, attempts, syns,
            customer, reason, exception_id, node_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Updates an open row's counts; touches no indexed column.
    static let updateSQL = "UPDATE blocked SET last_seen = ?, attempts = ?, syns = ? WHERE id = ?"

    /// Same, for the rare row whose `first_seen` moved earlier (a SYN drained out of order from another ring).
    static let updateWithFirstSeenSQL = "UPDATE blocked SET last_seen = ?, attempts = ?, syns = ?, first_seen = ? WHERE id = ?"

    /// Creates the schema in a new file, or checks the version of an existing one.
    ///
    /// - Throws: ``BlockLogError`` `.segment` when the file has a newer schema version.
    static func prepare(_ db: Database, slice: SegmentSlice, nodeName: String, path: String) throws {
        let existing = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        guard existing <= version else {
            throw BlockLogError(
                .segment, "\(path): segment schema version \(existing) is newer than this program's (\(version))")
        }
        try db.inTransaction(.immediate) {
            for sql in createStatements { try db.execute(sql: sql) }
            try db.execute(
                sql: "INSERT OR IGNORE INTO segment_info (key, value) VALUES ('slice_start', ?), ('slice_seconds', ?), ('node_name', ?)",
                arguments: [slice.startSeconds, slice.lengthSeconds, nodeName])
            try db.execute(sql: "PRAGMA user_version = \(version)")
            return .commit
        }
    }
}
