/// The fleet store's schema in PostgreSQL: numbered migrations, recorded in `egress25_schema`.
///
/// Migration 1 mirrors the SQLite store's schema 2 (``ExceptionStore/migrator``) table for table and column for
/// column, so the store's SQL (``StoreSQL``) runs on both: every integer is a `bigint` (booleans 0/1, times UTC
/// seconds), so rows decode as ``SQLValue/integer(_:)``. It adds the fleet's objects: the `node` table (one row per
/// router) and two group roles (`NOLOGIN`; grant them to login roles):
/// - `egress25_router` reads the policy (`customer`, `binding`, `exception`, `store_state`) and inserts and updates
///   its own `node` row only (row-level security: `db_role = current_user`); it can change no policy.
/// - `egress25_admin` (support and abuse tooling) reads and writes `customer`, `binding`, `exception`, `store_state`
///   and `audit` (whose triggers keep it append-only) and reads `node`.
/// The role that runs `egress25ctl store migrate` owns the objects and keeps every right; it needs `CREATEROLE`
/// the first time (or a superuser creates the two roles beforehand). The roles belong to the whole cluster: every
/// egress25 database on it shares them.
///
/// Never edit a released migration: append a new one (and grant the roles what its new objects need).
public enum PostgresSchema {
    /// One migration: its number (the schema version after it), a name, and its statements (one each: the
    /// extended query protocol takes one statement at a time; no `?` in them, it would be taken for a placeholder).
    struct Migration {
        var version: Int
        var name: String
        var statements: [String]
    }

    /// The schema version this build writes: the number of the last migration it knows.
    public static var version: Int { migrations.last?.version ?? 0 }

    /// The key of the advisory lock that serialises concurrent migrations of one database ("egress25" in ASCII).
    static let migrationLockKey: Int64 = 0x6567_7265_7373_3235

    /// Migrates the database to ``version``: runs the migrations it has not recorded, all in one transaction under
    /// an advisory lock (`pg_advisory_xact_lock`), so two concurrent runs apply each migration once and a failure
    /// applies none. Idempotent. `egress25ctl store migrate`.
    ///
    /// - Returns: The schema version before and after (equal when there was nothing to do).
    /// - Throws: ``ExceptionStoreError``: `newerSchema` when the database records a version newer than this build
    ///   knows (nothing is changed); `permissionDenied` when the role may not create the objects (or the roles);
    ///   `unreachable`, `authentication`, `tls`, `notFound`, `connectionLost`, `locked`, `io` as any transaction.
    @discardableResult
    public static func migrate(_ backend: PostgresStoreBackend) throws(ExceptionStoreError) -> (from: Int, to: Int) {
        do {
            return try backend.transaction(.unlocked) { sql in
                try sql.execute("SELECT pg_advisory_xact_lock(\(migrationLockKey))")
                try sql.execute(
                    """
                    CREATE TABLE IF NOT EXISTS egress25_schema (
                        version integer PRIMARY KEY,
                        name text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )
                    """)
                let recorded = try recordedVersion(sql)
                if recorded > version {
                    throw newerSchemaError(backend, recorded: recorded)
                }
                for migration in migrations where migration.version > recorded {
                    for statement in migration.statements {
                        try sql.execute(statement)
                    }
                    try sql.execute(
                        "INSERT INTO egress25_schema (version, name) VALUES (?, ?)",
                        [.integer(Int64(migration.version)), .text(migration.name)])
                }
                return (recorded, max(recorded, version))
            }
        } catch {
            throw backend.storeError(error, operation: "migrate", function: #function)
        }
    }

    /// The database's schema version: the highest migration `egress25_schema` records, 0 when it has none (an
    /// empty database). Readable by the router and admin roles.
    /// - Throws: ``ExceptionStoreError`` as any read transaction.
    public static func schemaVersion(_ backend: PostgresStoreBackend) throws(ExceptionStoreError) -> Int {
        do {
            return try backend.read { sql in try recordedVersion(sql) }
        } catch {
            throw backend.storeError(error, operation: "read the schema version of", function: #function)
        }
    }

    /// The check made when a store is opened: the database's schema must be exactly ``version``.
    /// - Throws: ``ExceptionStoreError``: `olderSchema` for a missing or older schema (the message says to run
    ///   `egress25ctl store migrate`); `newerSchema` for a newer one (upgrade egress25); else as
    ///   ``schemaVersion(_:)``.
    public static func requireCurrent(_ backend: PostgresStoreBackend) throws(ExceptionStoreError) {
        let recorded = try schemaVersion(backend)
        if recorded > version {
            throw newerSchemaError(backend, recorded: recorded)
        }
        if recorded == 0 {
            throw ExceptionStoreError(
                .olderSchema, "store \(backend.description) has no egress25 schema; run `egress25ctl store migrate`")
        }
        if recorded < version {
            throw ExceptionStoreError(
                .olderSchema,
                "store \(backend.description) has schema \(recorded) < \(version); run `egress25ctl store migrate`")
        }
    }

    private static func newerSchemaError(_ backend: PostgresStoreBackend, recorded: Int) -> ExceptionStoreError {
        ExceptionStoreError(
            .newerSchema,
            "store \(backend.description) was written by a newer egress25 (schema \(recorded) > \(version)); "
                + "upgrade egress25ctl")
    }

    /// The highest version `egress25_schema` records; 0 when the table does not exist.
    private static func recordedVersion(_ sql: any StoreSQL) throws -> Int {
        let exists = try sql.firstRow("SELECT CAST(to_regclass('egress25_schema') IS NOT NULL AS integer)")
        guard try exists?.bool(0) == true else { return 0 }
        let row = try sql.firstRow("SELECT CAST(coalesce(max(version), 0) AS bigint) FROM egress25_schema")
        return Int(try row?.int64(0) ?? 0)
    }

    // MARK: - Migrations

    /// `CREATE ROLE name NOLOGIN` unless it exists; tolerates another migration creating it at the same moment.
    private static func createGroupRole(_ name: String) -> String {
        """
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '\(name)') THEN
                CREATE ROLE \(name) NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END
        $$
        """
    }

    /// The migrations, in order.
    static let migrations: [Migration] = [
        Migration(
            version: 1, name: "initial: the SQLite store's schema 2, node, roles egress25_router and egress25_admin",
            statements: [
                // Text compared or ordered by the store (ids, the fixed-width hex addresses) uses the "C" collation:
                // byte order, as SQLite's, whatever the database's locale.
                """
                CREATE TABLE customer (
                    id text COLLATE "C" PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
                    name text,
                    note text,
                    created_at bigint NOT NULL,
                    auto_created bigint NOT NULL DEFAULT 0 CHECK (auto_created IN (0, 1))
                )
                """,
                // kind: 'static' or 'session'. [valid_from, valid_until) in UTC seconds; valid_until NULL while in
                // force. prefix is canonical CIDR text; family 4 or 6; first/last are the first and last address as
                // fixed-width lowercase hex (8 or 32 digits), so text order is numeric order. lease_until: sessions'
                // lease end (exclusive), NULL for static bindings.
                """
                CREATE TABLE binding (
                    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                    customer_id text COLLATE "C" NOT NULL REFERENCES customer(id),
                    prefix text NOT NULL,
                    family bigint NOT NULL CHECK (family IN (4, 6)),
                    first text COLLATE "C" NOT NULL,
                    last text COLLATE "C" NOT NULL,
                    kind text NOT NULL CHECK (kind IN ('static', 'session')),
                    valid_from bigint NOT NULL,
                    valid_until bigint,
                    lease_until bigint
                )
                """,
                "CREATE INDEX binding_by_customer ON binding(customer_id, valid_until)",
                // Bindings in force, in address order; covering for the policy rebuild.
                """
                CREATE INDEX binding_open_by_first ON binding(family, first, last, customer_id, valid_from, lease_until)
                    WHERE valid_until IS NULL
                """,
                "CREATE INDEX binding_by_end ON binding(valid_until) WHERE valid_until IS NOT NULL",
                // destinations: NULL for any destination, else canonical CIDR prefixes joined by ','.
                // expires_at: NULL for permanent, else UTC seconds (exclusive).
                """
                CREATE TABLE exception (
                    id text COLLATE "C" PRIMARY KEY,
                    customer_id text COLLATE "C" NOT NULL REFERENCES customer(id),
                    destinations text,
                    expires_at bigint,
                    reason text NOT NULL,
                    ticket text,
                    granted_by text NOT NULL,
                    created_at bigint NOT NULL,
                    revoked_at bigint,
                    revoked_by text,
                    revoke_reason text
                )
                """,
                "CREATE INDEX exception_by_customer ON exception(customer_id)",
                "CREATE INDEX exception_by_expiry ON exception(expires_at)",
                // os_user, sudo_user: the operating-system user beside the --by name (NULL in imported entries
                // written before SQLite schema 2).
                """
                CREATE TABLE audit (
                    sequence bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                    at bigint NOT NULL,
                    actor text NOT NULL,
                    action text NOT NULL,
                    customer_id text COLLATE "C",
                    object_id text COLLATE "C",
                    before text,
                    after text,
                    os_user text,
                    sudo_user text
                )
                """,
                "CREATE INDEX audit_by_customer ON audit(customer_id, sequence)",
                "CREATE INDEX audit_by_object ON audit(object_id, sequence)",
                "CREATE INDEX audit_by_time ON audit(at)",
                // The audit log is append-only: no UPDATE, no TRUNCATE, and only the session feed's entries may be
                // deleted (pruneSessionHistory, with their ended bindings); support staff's changes stay forever.
                """
                CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'restrict_violation';
                END
                $$
                """,
                """
                CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
                    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()
                """,
                """
                CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
                    FOR EACH ROW WHEN (old.action NOT IN ('session.start', 'session.end'))
                    EXECUTE FUNCTION audit_refuse_change()
                """,
                """
                CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
                    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()
                """,
                // One row. generation grows with every audited change, in the same transaction as the change; a
                // writer locks the row first (SELECT ... FOR UPDATE), which serialises writers.
                """
                CREATE TABLE store_state (
                    id bigint PRIMARY KEY CHECK (id = 1),
                    generation bigint NOT NULL
                )
                """,
                "INSERT INTO store_state (id, generation) VALUES (1, 0)",
                """
                CREATE FUNCTION audit_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    UPDATE store_state SET generation = generation + 1 WHERE id = 1;
                    RETURN NULL;
                END
                $$
                """,
                """
                CREATE TRIGGER audit_bumps_generation AFTER INSERT ON audit
                    FOR EACH ROW EXECUTE FUNCTION audit_bump_generation()
                """,
                // One row per router (egress25d), written by the router itself: its heartbeat, the policy
                // generation in force and the age of its policy data (UTC seconds). db_role: the login role that
                // wrote it; a router may touch only rows of its own role.
                """
                CREATE TABLE node (
                    name text COLLATE "C" PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 255),
                    db_role text NOT NULL DEFAULT current_user,
                    last_heartbeat bigint,
                    policy_generation bigint,
                    policy_data_at bigint,
                    started_at bigint
                )
                """,
                createGroupRole("egress25_router"),
                createGroupRole("egress25_admin"),
                """
                DO $$
                BEGIN
                    EXECUTE format('GRANT USAGE ON SCHEMA %I TO egress25_router, egress25_admin', current_schema());
                END
                $$
                """,
                "GRANT SELECT ON egress25_schema TO egress25_router, egress25_admin",
                "GRANT SELECT ON customer, binding, exception, store_state TO egress25_router",
                "GRANT SELECT ON node TO egress25_router",
                """
                GRANT INSERT (name, last_heartbeat, policy_generation, policy_data_at, started_at),
                    UPDATE (last_heartbeat, policy_generation, policy_data_at, started_at) ON node TO egress25_router
                """,
                "GRANT SELECT, INSERT, UPDATE, DELETE ON customer, binding, exception TO egress25_admin",
                "GRANT SELECT, UPDATE ON store_state TO egress25_admin",
                "GRANT SELECT, INSERT, DELETE ON audit TO egress25_admin",
                "GRANT SELECT ON node TO egress25_admin",
                "GRANT USAGE ON SEQUENCE binding_id_seq, audit_sequence_seq TO egress25_admin",
                // Row-level security on node: a router sees, inserts and updates only rows of its own login role.
                // The owner (who migrates) is not subject to it; the admin role reads every row.
                "ALTER TABLE node ENABLE ROW LEVEL SECURITY",
                """
                CREATE POLICY node_router_own_row ON node TO egress25_router
                    USING (db_role = current_user) WITH CHECK (db_role = current_user)
                """,
                "CREATE POLICY node_admin_reads ON node FOR SELECT TO egress25_admin USING (true)",
                // The change log: one entry per binding or exception row inserted or updated, in commit order
                // (writers hold the store_state row lock until they commit, so entries commit in seq order). A
                // router reads the entries after the last one it applied and the current rows they name, in one
                // snapshot (PolicyReplica); a statement-level trigger rings the doorbell (NOTIFY egress25_policy)
                // when the transaction commits. at: UTC seconds, for pruning.
                """
                CREATE TABLE change_log (
                    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    at bigint NOT NULL DEFAULT extract(epoch FROM now())::bigint,
                    table_name text NOT NULL CHECK (table_name IN ('binding', 'exception')),
                    row_id text NOT NULL
                )
                """,
                "CREATE INDEX change_log_by_time ON change_log(at)",
                // Entries up to this seq were pruned: a router behind it reads the policy data whole.
                "ALTER TABLE store_state ADD COLUMN change_log_pruned_through bigint NOT NULL DEFAULT 0",
                """
                CREATE FUNCTION change_log_record() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    INSERT INTO change_log (table_name, row_id) VALUES (TG_TABLE_NAME, NEW.id::text);
                    RETURN NULL;
                END
                $$
                """,
                """
                CREATE TRIGGER binding_logs_change AFTER INSERT OR UPDATE ON binding
                    FOR EACH ROW EXECUTE FUNCTION change_log_record()
                """,
                """
                CREATE TRIGGER exception_logs_change AFTER INSERT OR UPDATE ON exception
                    FOR EACH ROW EXECUTE FUNCTION change_log_record()
                """,
                """
                CREATE FUNCTION change_log_ring() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM pg_notify('egress25_policy', '');
                    RETURN NULL;
                END
                $$
                """,
                """
                CREATE TRIGGER change_log_rings AFTER INSERT ON change_log
                    FOR EACH STATEMENT EXECUTE FUNCTION change_log_ring()
                """,
                "GRANT SELECT ON change_log TO egress25_router, egress25_admin",
                "GRANT INSERT, DELETE ON change_log TO egress25_admin",
                // One row per SQLite store moved in by `egress25ctl store import-sqlite` (its fingerprint): a second
                // import of the same store writes nothing.
                """
                CREATE TABLE store_import (
                    fingerprint text COLLATE "C" PRIMARY KEY,
                    source_path text NOT NULL,
                    imported_at bigint NOT NULL,
                    imported_by text NOT NULL
                )
                """,
                "GRANT SELECT, INSERT ON store_import TO egress25_admin",
                // The fleet's block log: every router's final block-log rows (BlockLog's segment rows), shipped
                // once each under the high-water mark of blocked_shipping. Times: first_seen/last_seen Unix ms UTC.
                // Partitioned by day of first_seen (blocked_attempts_partition creates a day's partition); fleet
                // retention drops whole partitions.
                """
                CREATE TABLE blocked_attempts (
                    node text COLLATE "C" NOT NULL,
                    slice_start bigint NOT NULL,
                    id bigint NOT NULL,
                    first_seen bigint NOT NULL,
                    last_seen bigint NOT NULL,
                    source inet NOT NULL,
                    destination inet NOT NULL,
                    destination_port integer NOT NULL,
                    attempts bigint NOT NULL,
                    syns bigint NOT NULL,
                    customer text COLLATE "C",
                    reason smallint NOT NULL,
                    exception_id text
                ) PARTITION BY RANGE (first_seen)
                """,
                "CREATE INDEX blocked_attempts_by_source ON blocked_attempts(source, first_seen)",
                "CREATE INDEX blocked_attempts_by_customer ON blocked_attempts(customer, first_seen)",
                "CREATE INDEX blocked_attempts_by_time ON blocked_attempts(first_seen)",
                // Creates the partition of `day` (days since 1970-01-01 UTC) unless it exists. SECURITY DEFINER:
                // routers may create a day's partition, nothing else.
                """
                CREATE FUNCTION blocked_attempts_partition(day bigint) RETURNS void
                LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
                DECLARE
                    name text := 'blocked_attempts_' || to_char(to_timestamp(day * 86400) AT TIME ZONE 'UTC', 'YYYYMMDD');
                    schema_name text := (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE c.relname = 'blocked_attempts' AND c.relkind = 'p' LIMIT 1);
                BEGIN
                    IF to_regclass(quote_ident(schema_name) || '.' || quote_ident(name)) IS NOT NULL THEN
                        RETURN;
                    END IF;
                    EXECUTE format('CREATE TABLE IF NOT EXISTS %I.%I PARTITION OF %I.blocked_attempts '
                        || 'FOR VALUES FROM (%s) TO (%s)', schema_name, name, schema_name, day * 86400000,
                        (day + 1) * 86400000);
                EXCEPTION WHEN duplicate_table OR unique_violation THEN NULL;
                END
                $$
                """,
                // Fleet retention: drops the daily partitions that end at or before `day` (days since 1970-01-01
                // UTC), whole; returns their names. SECURITY DEFINER: the admin role may drop partitions, nothing else.
                """
                CREATE FUNCTION blocked_attempts_drop_before(day bigint) RETURNS SETOF text
                LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
                DECLARE
                    part record;
                BEGIN
                    FOR part IN
                        SELECT n.nspname AS schema_name, c.relname AS name
                        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                            JOIN pg_namespace n ON n.oid = c.relnamespace
                            JOIN pg_class p ON p.oid = i.inhparent
                        WHERE p.relname = 'blocked_attempts' AND c.relname ~ '^blocked_attempts_[0-9]{8}$'
                            AND to_date(substr(c.relname, 18), 'YYYYMMDD') < to_date('1970-01-01', 'YYYY-MM-DD') + day::integer
                        ORDER BY c.relname
                    LOOP
                        EXECUTE format('DROP TABLE %I.%I', part.schema_name, part.name);
                        RETURN NEXT part.name;
                    END LOOP;
                END
                $$
                """,
                "REVOKE ALL ON FUNCTION blocked_attempts_drop_before(bigint) FROM PUBLIC",
                "GRANT EXECUTE ON FUNCTION blocked_attempts_drop_before(bigint) TO egress25_admin",
                "REVOKE ALL ON FUNCTION blocked_attempts_partition(bigint) FROM PUBLIC",
                "GRANT EXECUTE ON FUNCTION blocked_attempts_partition(bigint) TO egress25_router, egress25_admin",
                // The high-water mark of each router's segments: every row with (first_seen, id) at or before
                // (first_seen_ms, id) of that segment is in blocked_attempts. Written in the same transaction as
                // the rows. rows/syns: totals shipped, for checks.
                """
                CREATE TABLE blocked_shipping (
                    node text COLLATE "C" NOT NULL,
                    slice_start bigint NOT NULL,
                    first_seen_ms bigint NOT NULL,
                    id bigint NOT NULL,
                    rows bigint NOT NULL,
                    syns bigint NOT NULL,
                    shipped_at bigint NOT NULL,
                    db_role text NOT NULL DEFAULT current_user,
                    PRIMARY KEY (node, slice_start)
                )
                """,
                "GRANT SELECT, INSERT ON blocked_attempts TO egress25_router",
                "GRANT SELECT, DELETE ON blocked_attempts TO egress25_admin",
                """
                GRANT SELECT, INSERT (node, slice_start, first_seen_ms, id, rows, syns, shipped_at),
                    UPDATE (first_seen_ms, id, rows, syns, shipped_at) ON blocked_shipping TO egress25_router
                """,
                "GRANT SELECT ON blocked_shipping TO egress25_admin",
                "ALTER TABLE blocked_shipping ENABLE ROW LEVEL SECURITY",
                """
                CREATE POLICY blocked_shipping_router_own ON blocked_shipping TO egress25_router
                    USING (db_role = current_user) WITH CHECK (db_role = current_user)
                """,
                "CREATE POLICY blocked_shipping_admin_reads ON blocked_shipping FOR SELECT TO egress25_admin USING (true)",
                // The router's shipping lag (s): how old its oldest final block-log row not yet shipped is; 0 when
                // caught up. Written with the heartbeat.
                "ALTER TABLE node ADD COLUMN shipping_lag bigint",
                "GRANT INSERT (shipping_lag), UPDATE (shipping_lag) ON node TO egress25_router",
            ]),
        Migration(
            version: 2, name: "egress25-admin: api_token, suspect_notice, audit.role (SQLite schema 3)",
            statements: ExceptionStore.adminSchemaSQL(dialect: .postgresql) + [
                // Routers get nothing here: a router's credentials can neither read token hashes nor mint tokens.
                "GRANT SELECT, INSERT, UPDATE ON api_token TO egress25_admin",
                "GRANT USAGE ON SEQUENCE api_token_id_seq TO egress25_admin",
                "GRANT SELECT, INSERT, UPDATE, DELETE ON suspect_notice TO egress25_admin",
            ]),
        Migration(
            version: 3,
            name: "RADIUS accounting: binding.nas, binding.acct_session_id; change log per statement (SQLite schema 4)",
            statements: ExceptionStore.accountingSchemaSQL(dialect: .postgresql) + [
                // The new columns are covered by the table-level grants of migration 1 (the router reads binding,
                // the admin role writes it).
                //
                // The accounting feed writes hundreds of bindings and audit entries per statement: the change log,
                // its doorbell and the change token are kept per statement (transition tables) rather than per
                // row, so a batch costs one trigger call per statement. The entries are the same as before: one
                // per binding row inserted or updated. INSERT and UPDATE need a trigger each (a trigger with
                // transition tables takes one event); a statement that changed no row logs nothing, rings nothing
                // and leaves the change token as it is.
                """
                CREATE FUNCTION change_log_record_rows() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    INSERT INTO change_log (table_name, row_id)
                        SELECT TG_TABLE_NAME, changed.id::text FROM changed_rows AS changed;
                    RETURN NULL;
                END
                $$
                """,
                "DROP TRIGGER binding_logs_change ON binding",
                """
                CREATE TRIGGER binding_logs_insert AFTER INSERT ON binding REFERENCING NEW TABLE AS changed_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION change_log_record_rows()
                """,
                """
                CREATE TRIGGER binding_logs_update AFTER UPDATE ON binding REFERENCING NEW TABLE AS changed_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION change_log_record_rows()
                """,
                """
                CREATE FUNCTION change_log_ring_once() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF EXISTS (SELECT FROM new_entries) THEN
                        PERFORM pg_notify('egress25_policy', '');
                    END IF;
                    RETURN NULL;
                END
                $$
                """,
                "DROP TRIGGER change_log_rings ON change_log",
                """
                CREATE TRIGGER change_log_rings AFTER INSERT ON change_log REFERENCING NEW TABLE AS new_entries
                    FOR EACH STATEMENT EXECUTE FUNCTION change_log_ring_once()
                """,
                """
                CREATE FUNCTION audit_bump_generation_once() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF EXISTS (SELECT FROM new_entries) THEN
                        UPDATE store_state SET generation = generation + 1 WHERE id = 1;
                    END IF;
                    RETURN NULL;
                END
                $$
                """,
                "DROP TRIGGER audit_bumps_generation ON audit",
                """
                CREATE TRIGGER audit_bumps_generation AFTER INSERT ON audit REFERENCING NEW TABLE AS new_entries
                    FOR EACH STATEMENT EXECUTE FUNCTION audit_bump_generation_once()
                """,
            ]),
    ]
}
