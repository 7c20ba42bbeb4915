import GRDB

extension ExceptionStore {
    /// The schema version this build writes: the number of migrations it knows (``migrator``), 4 today.
    ///
    /// The migrator is the store's only schema version: a store's version is the number of migrations recorded in
    /// its `grdb_migrations` table. A store that records a migration this build does not know was written by a
    /// newer egress25; opening it throws ``ExceptionStoreError/Code/newerSchema`` rather than guessing. Every
    /// released build (schema 1 and 2) refuses such a store the same way, so a new migration needs no other marker.
    public static let schemaVersion = migrator.migrations.count

    /// The schema version of the store open on `db`: how many migrations its `grdb_migrations` table records,
    /// known or not (0 for an empty file).
    /// - Throws: `DatabaseError` when the table cannot be read.
    static func schemaVersion(of db: Database) throws -> Int {
        try migrator.appliedIdentifiers(db).count
    }

    /// The migrations, in order: `v<N>-<what>`, N being the schema version after it. Never edit a released
    /// migration: append a new one.
    ///
    /// v1 and v2 end by setting `PRAGMA user_version` to their number. They are released and stay as they are,
    /// but nothing reads `user_version` any more and later migrations must not set it.
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-initial") { db in
            try db.execute(
                sql: """
                    CREATE TABLE customer (
                        id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 64),
                        name TEXT,
                        note TEXT,
                        created_at INTEGER NOT NULL
                    ) STRICT;

                    -- kind: 'static' or 'session'. [valid_from, valid_until) in UTC seconds; valid_until NULL while in
                    -- force. prefix is canonical CIDR text; family 4 or 6; first/last are the first and last address
                    -- as fixed-width lowercase hex (8 or 32 digits), so text order is numeric order.
                    CREATE TABLE binding (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        customer_id TEXT NOT NULL REFERENCES customer(id),
                        prefix TEXT NOT NULL,
                        family INTEGER NOT NULL CHECK (family IN (4, 6)),
                        first TEXT NOT NULL,
                        last TEXT NOT NULL,
                        kind TEXT NOT NULL CHECK (kind IN ('static', 'session')),
                        valid_from INTEGER NOT NULL,
                        valid_until INTEGER
                    ) STRICT;
                    CREATE INDEX binding_by_customer ON binding(customer_id, valid_until);
                    -- Bindings in force, in address order; covering for the policy rebuild (no table lookups).
                    CREATE INDEX binding_open_by_first ON binding(family, first, last, customer_id, valid_from)
                        WHERE valid_until IS NULL;
                    CREATE INDEX binding_by_end ON binding(valid_until) WHERE valid_until IS NOT NULL;

                    -- destinations: NULL for any destination, else canonical CIDR prefixes joined by ','.
                    -- expires_at: NULL for permanent, else UTC seconds (exclusive).
                    CREATE TABLE exception (
                        id TEXT PRIMARY KEY NOT NULL,
                        customer_id TEXT NOT NULL REFERENCES customer(id),
                        destinations TEXT,
                        expires_at INTEGER,
                        reason TEXT NOT NULL,
                        ticket TEXT,
                        granted_by TEXT NOT NULL,
                        created_at INTEGER NOT NULL,
                        revoked_at INTEGER,
                        revoked_by TEXT,
                        revoke_reason TEXT
                    ) STRICT;
                    CREATE INDEX exception_by_customer ON exception(customer_id);
                    CREATE INDEX exception_by_expiry ON exception(expires_at);

                    CREATE TABLE audit (
                        sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                        at INTEGER NOT NULL,
                        actor TEXT NOT NULL,
                        action TEXT NOT NULL,
                        customer_id TEXT,
                        object_id TEXT,
                        before TEXT,
                        after TEXT
                    ) STRICT;
                    CREATE INDEX audit_by_customer ON audit(customer_id, sequence);
                    CREATE INDEX audit_by_object ON audit(object_id, sequence);
                    CREATE INDEX audit_by_time ON audit(at);
                    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
                        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                    -- Only the session feed's entries may go (pruneSessionHistory, with their ended bindings); support
                    -- staff's changes stay forever.
                    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
                        WHEN old.action NOT IN ('session.start', 'session.end')
                        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

                    -- One row. generation grows with every audited change, in the same transaction as the change:
                    -- the daemon polls it (changeToken) to notice writes by any process.
                    CREATE TABLE store_state (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        generation INTEGER NOT NULL
                    ) STRICT;
                    INSERT INTO store_state (id, generation) VALUES (1, 0);
                    CREATE TRIGGER audit_bumps_generation AFTER INSERT ON audit
                        BEGIN UPDATE store_state SET generation = generation + 1 WHERE id = 1; END;

                    PRAGMA user_version = 1;
                    """)
        }
        // v2: session leases, auto-created customers, the operating-system user in the audit log.
        migrator.registerMigration("v2-leases-os-user") { db in
            try db.execute(
                sql: """
                    -- 1 when the session feed created the customer for an id the store had never seen (no exceptions,
                    -- no name); 0 when support staff added it.
                    ALTER TABLE customer ADD COLUMN auto_created INTEGER NOT NULL DEFAULT 0;

                    -- Sessions only: the lease end, UTC seconds (exclusive). An exception no longer applies through a
                    -- session at or after it; a start or renewal of the same session moves it to now + sessions.lease.
                    -- NULL for static bindings. Sessions open at the upgrade get one default lease (26 h) from the
                    -- upgrade (or their start, if later), so the upgrade itself cuts nobody off.
                    ALTER TABLE binding ADD COLUMN lease_until INTEGER;
                    UPDATE binding SET lease_until = max(valid_from, CAST(strftime('%s', 'now') AS INTEGER)) + 93600
                        WHERE kind = 'session' AND valid_until IS NULL;
                    -- The policy rebuild's covering index now includes the lease end.
                    DROP INDEX binding_open_by_first;
                    CREATE INDEX binding_open_by_first
                        ON binding(family, first, last, customer_id, valid_from, lease_until)
                        WHERE valid_until IS NULL;

                    -- Who ran the command on the machine, beside the --by name: the effective user's login name
                    -- (getpwuid(geteuid())) and $SUDO_USER. NULL in entries written before v2.
                    ALTER TABLE audit ADD COLUMN os_user TEXT;
                    ALTER TABLE audit ADD COLUMN sudo_user TEXT;

                    PRAGMA user_version = 2;
                    """)
        }
        // v3: egress25-admin: API tokens, the webhook's suspect notices, and the API role in the audit log.
        migrator.registerMigration("v3-api-tokens-suspects") { db in
            try db.execute(sql: ExceptionStore.adminSchemaSQL(dialect: .sqlite).joined(separator: ";\n"))
        }
        // v4: the RADIUS accounting feed's session key on bindings.
        migrator.registerMigration("v4-accounting-sessions") { db in
            try db.execute(sql: ExceptionStore.accountingSchemaSQL(dialect: .sqlite).joined(separator: ";\n"))
        }
        return migrator
    }()
}

extension ExceptionStore {
    /// The objects egress25-admin needs (SQLite migration v3, PostgreSQL migration 2), in the dialect's types.
    ///
    /// - `audit.role`: the egress25-admin role of the API token behind a change (`support`, `abuse`, `ops`,
    ///   `admin`); NULL for changes made with egress25ctl.
    /// - `api_token`: bearer tokens for egress25-admin, stored as the SHA-256 of the token (never the token). A
    ///   name is unique among tokens not revoked, so a revoked name can be issued again; revoked rows stay as
    ///   history.
    /// - `suspect_notice`: one row per suspect source and detection window, with the webhook's delivery state,
    ///   so a restart neither announces a suspect twice nor loses one.
    static func adminSchemaSQL(dialect: StoreDialect) -> [String] {
        let (integer, text, identity, strict, collate) =
            dialect == .sqlite
            ? ("INTEGER", "TEXT", "INTEGER PRIMARY KEY AUTOINCREMENT", " STRICT", "")
            : ("bigint", "text", "bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "", " COLLATE \"C\"")
        return [
            "ALTER TABLE audit ADD COLUMN role \(text)",
            """
            CREATE TABLE api_token (
                id \(identity),
                name \(text)\(collate) NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
                role \(text) NOT NULL CHECK (role IN ('support', 'abuse', 'ops', 'admin')),
                token_hash \(text)\(collate) NOT NULL UNIQUE,
                created_at \(integer) NOT NULL,
                created_by \(text) NOT NULL,
                expires_at \(integer),
                revoked_at \(integer),
                revoked_by \(text)
            )\(strict)
            """,
            "CREATE UNIQUE INDEX api_token_name_in_force ON api_token(name) WHERE revoked_at IS NULL",
            """
            CREATE TABLE suspect_notice (
                source \(text)\(collate) NOT NULL,
                window_start \(integer) NOT NULL,
                detected_at \(integer) NOT NULL,
                evidence \(text) NOT NULL,
                delivered_at \(integer),
                attempts \(integer) NOT NULL DEFAULT 0,
                next_attempt_at \(integer) NOT NULL,
                last_error \(text),
                PRIMARY KEY (source, window_start)
            )\(strict)
            """,
            "CREATE INDEX suspect_notice_pending ON suspect_notice(next_attempt_at) WHERE delivered_at IS NULL",
            "CREATE INDEX suspect_notice_by_window ON suspect_notice(window_start)",
        ]
    }
}

extension ExceptionStore {
    /// The objects the RADIUS accounting feed needs (SQLite migration v4, PostgreSQL migration 3), in the dialect's
    /// types. Only nullable columns and indexes are added: a binary of the previous schema reads (and writes) the
    /// tables as before, naming its columns.
    ///
    /// - `binding.nas`, `binding.acct_session_id`: the accounting feed's session key (the NAS and its
    ///   Acct-Session-Id) on the session bindings it started; NULL for static bindings and for sessions started by
    ///   `egress25ctl session start` or a lease import.
    /// - `binding_by_session`: every binding of a session, ended ones too (a late Accounting-Start of a stopped
    ///   session is recognised and never reopens it).
    /// - `binding_open_by_session`: the open bindings of each NAS by session, with their lease end: an
    ///   Accounting-Stop or Accounting-On finds its bindings, and the count of active sessions is read from it
    ///   alone.
    /// - `binding_open_by_length`: the prefix lengths of the open bindings (``prefixLengthKeySQL(dialect:)``), so
    ///   the overlap search probes only the lengths in use for bindings enclosing a prefix (one or two, rather than
    ///   up to 32 or 128 per prefix).
    static func accountingSchemaSQL(dialect: StoreDialect) -> [String] {
        let text = dialect == .sqlite ? "TEXT" : "text COLLATE \"C\""
        return [
            "CREATE INDEX binding_open_by_length ON binding((\(prefixLengthKeySQL(dialect: dialect)))) "
                + "WHERE valid_until IS NULL",
            "ALTER TABLE binding ADD COLUMN nas \(text)",
            "ALTER TABLE binding ADD COLUMN acct_session_id \(text)",
            "CREATE INDEX binding_by_session ON binding(nas, acct_session_id) WHERE nas IS NOT NULL",
            """
            CREATE INDEX binding_open_by_session ON binding(nas, acct_session_id, lease_until)
                WHERE valid_until IS NULL AND nas IS NOT NULL
            """,
        ]
    }
}

extension ExceptionStore {
    /// The prefix length of a binding (`prefix` is `ADDRESS/LENGTH`), as indexed by `binding_open_by_length`: a
    /// query must spell it exactly so to use the index.
    static func prefixLengthSQL(dialect: StoreDialect) -> String {
        switch dialect {
        case .sqlite: return "CAST(substr(prefix, instr(prefix, '/') + 1) AS INTEGER)"
        case .postgresql: return "CAST(split_part(prefix, '/', 2) AS bigint)"
        }
    }

    /// The key of `binding_open_by_length`: `family * 256 + length`, one expression, so the index orders each
    /// family's lengths as one key range and cannot serve a plain `family = ?` condition. (An index on
    /// `(family, length)` could, and a planner without statistics, on a new store or one growing fast in a login
    /// storm, took it for the overlap probes and walked every open binding of the family once per probe: 1.4-1.7 s
    /// per batch of 1,000 Starts at 20,000 bindings.)
    static func prefixLengthKeySQL(dialect: StoreDialect) -> String {
        "(family * 256 + \(prefixLengthSQL(dialect: dialect)))"
    }
}
