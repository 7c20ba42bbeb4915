import GRDB

/// The schema of one segment file (SQLite, WAL mode), created and versioned by ``migrator``: version 1.
///
/// ```sql
/// CREATE TABLE blocked (
///     source           BLOB NOT NULL,     -- subscriber address, see AddressCoding: 04+4 bytes or 06+16 bytes
///     id               INTEGER NOT NULL,  -- chosen by the writer, increasing with the row's creation
///     first_seen       INTEGER NOT NULL,  -- Unix ms UTC of the row's first SYN
///     last_seen        INTEGER NOT NULL,  -- Unix ms UTC of its last SYN (< first_seen + aggregation window)
///     destination      BLOB NOT NULL,     -- same encoding as source
///     destination_port INTEGER NOT NULL,
///     attempts         INTEGER NOT NULL,  -- distinct TCP source ports: new connections
///     syns             INTEGER NOT NULL,  -- every SYN, retransmissions included
///     customer         TEXT,              -- customer id holding the source at block time, NULL if none
///     reason           INTEGER NOT NULL,  -- BlockReason raw value
///     exception_id     TEXT,              -- the exception that did not apply (expired / out of scope)
///     node_name        TEXT NOT NULL,     -- the router that blocked
///     PRIMARY KEY (source, id)
/// ) WITHOUT ROWID;
/// ```
/// The table is clustered by source (the primary key is the source index): one subscriber's rows of a
/// segment are adjacent, in creation order, so a subscriber's history reads a few pages per segment instead
/// of one page per row. Indexes: `(customer, first_seen)`, `(destination, first_seen)`, `(first_seen)`.
/// Only immutable columns are indexed, so that updating an open row's counts rewrites no index.
/// Table `segment_info(key TEXT PRIMARY KEY, value)` holds `slice_start` (Unix s), `slice_seconds`,
/// `node_name`, and `max_id` (the largest row id, kept up to date by every commit).
enum SegmentSchema {
    /// The schema version this build writes and reads: the number of migrations it knows.
    static let version = migrator.migrations.count

    /// The migrations of a segment file, the file's only schema version (its `grdb_migrations` table). Never edit
    /// a released migration: append one.
    ///
    /// `v1-blocked` creates the tables with `IF NOT EXISTS`, so a segment written before segments had a migrator
    /// (the same tables, `PRAGMA user_version` 1, no `grdb_migrations`) is adopted when the writer opens it again.
    /// It also sets `PRAGMA user_version = 1`, which this build never reads: readers released before the migrator
    /// read only that, and skip a file where it is 0 as "not yet created". A later migration that changes what
    /// those readers query must set it to 2, so that they refuse the file instead of misreading it.
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-blocked") { db in
            for sql in createStatements { try db.execute(sql: sql) }
            try db.execute(sql: "PRAGMA user_version = 1")
        }
        return migrator
    }()

    /// What a segment file holds, by its migrations.
    enum State: Equatable {
        /// Every migration of this build applied (or a segment written before the migrator): readable.
        case current
        /// Created, its schema not yet committed: no rows.
        case empty
        /// Migrated by a newer build: this many migrations, some unknown here.
        case newer(version: Int)
    }

    /// The state of the segment open on `db` (a read; works on a read-only connection).
    /// - Throws: `DatabaseError` when the file cannot be read.
    /// One query on `grdb_migrations` (a reader checks every segment it opens).
    static func state(_ db: Database) throws -> State {
        let applied = try migrator.appliedIdentifiers(db)
        let known = migrator.migrations
        if !applied.isSubset(of: known) { return .newer(version: applied.count) }
        if known.allSatisfy(applied.contains) { return .current }
        // Written before segments had a migrator: no `grdb_migrations`, the v1 tables.
        if applied.isEmpty, try db.tableExists("blocked") { return .current }
        return .empty
    }

    /// The error for a segment of a newer schema.
    static func newerError(path: String, version: Int) -> BlockLogError {
        BlockLogError(
            .segment, "\(path): segment schema version \(version) is newer than this program's (\(Self.version))")
    }

    static let createStatements = [
        """
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
        ) WITHOUT ROWID
        """,
        "CREATE INDEX IF NOT EXISTS blocked_customer ON blocked(customer, first_seen)",
        "CREATE INDEX IF NOT EXISTS blocked_destination ON blocked(destination, first_seen)",
        "CREATE INDEX IF NOT EXISTS blocked_time ON blocked(first_seen)",
        "CREATE TABLE IF NOT EXISTS segment_info (key TEXT PRIMARY KEY, value)",
    ]

    /// Records the largest row id (same transaction as the rows).
    static let maxIDSQL = "INSERT OR REPLACE INTO segment_info (key, value) VALUES ('max_id', ?)"

    /// The largest row id: `max_id` of `segment_info`, or a scan when absent.
    static func largestID(_ db: Database) throws -> Int64 {
        if let recorded = try Int64.fetchOne(db, sql: "SELECT value FROM segment_info WHERE key = 'max_id'") {
            return recorded
        }
        return try Int64.fetchOne(db, sql: "SELECT max(id) FROM blocked") ?? 0
    }

    static let insertSQL = """
        INSERT INTO blocked (id, first_seen, last_seen, source, destination, destination_port, attempts, syns,
            customer, reason, exception_id, node_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Updates an open row's counts; touches no indexed column.
    static let updateSQL = "UPDATE blocked SET last_seen = ?, attempts = ?, syns = ? WHERE source = ? AND id = ?"

    /// Same, for the rare row whose `first_seen` moved earlier (a SYN drained out of order from another ring).
    static let updateWithFirstSeenSQL =
        "UPDATE blocked SET last_seen = ?, attempts = ?, syns = ?, first_seen = ? WHERE source = ? AND id = ?"

    /// Refuses a segment of a newer schema, migrates the file (creates the schema in a new one), and records the
    /// slice and node in `segment_info` (kept when already there).
    ///
    /// - Throws: ``BlockLogError`` `.segment` when the file has a newer schema version; `DatabaseError` when SQLite
    ///   fails.
    static func prepare(_ queue: DatabaseQueue, slice: SegmentSlice, nodeName: String, path: String) throws {
        if case .newer(let version) = try queue.read(state) {
            throw newerError(path: path, version: version)
        }
        try migrator.migrate(queue)
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO segment_info (key, value)
                    VALUES ('slice_start', ?), ('slice_seconds', ?), ('node_name', ?)
                    """,
                arguments: [slice.startSeconds, slice.lengthSeconds, nodeName])
        }
    }
}
