import Egress25Core
import ExceptionStore
import Foundation
import GRDB
import Testing

/// Stores written by released builds, created here from the SQL those builds ran (copied verbatim, never to be
/// edited: it is what files in the wild hold), then opened by this build.
@Suite struct ReleasedStoreTests {
    /// Schema 1 (`v1-initial`), as the migrator of schema-1 builds created it.
    static let schema1SQL = """
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
        """

    /// Schema 2 (`v2-leases-os-user`), applied on top of schema 1.
    static let schema2SQL = """
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
        """

    /// GRDB's bookkeeping table, as `DatabaseMigrator` creates it.
    static let migrationsTableSQL = "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)"

    /// Writes a store of `schema` (1 or 2) with the rows a released build would have written: a customer with a
    /// static binding and an open session, a permanent exception to any destination, a revoked one to a prefix,
    /// and their audit entries.
    static func writeReleasedStore(schema: Int, at path: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.inTransaction {
                try db.execute(sql: migrationsTableSQL)
                try db.execute(sql: schema1SQL)
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v1-initial')")
                if schema >= 2 {
                    try db.execute(sql: schema2SQL)
                    try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v2-leases-os-user')")
                }
                try db.execute(
                    sql: """
                        INSERT INTO customer (id, name, note, created_at) VALUES ('c-1001', 'Ada', 'relay', ?);
                        INSERT INTO binding (customer_id, prefix, family, first, last, kind, valid_from)
                            VALUES ('c-1001', '192.0.2.0/28', 4, 'c0000200', 'c000020f', 'static', ?);
                        INSERT INTO binding (customer_id, prefix, family, first, last, kind, valid_from)
                            VALUES ('c-1001', '100.64.1.7/32', 4, '64400107', '64400107', 'session', ?);
                        INSERT INTO exception (id, customer_id, destinations, expires_at, reason, ticket,
                            granted_by, created_at)
                            VALUES ('exc-2345abcd', 'c-1001', NULL, NULL, 'own MX', 'T-1', 'alice', ?);
                        INSERT INTO exception (id, customer_id, destinations, expires_at, reason, ticket,
                            granted_by, created_at, revoked_at, revoked_by, revoke_reason)
                            VALUES ('exc-6789efgh', 'c-1001', '198.51.100.0/24,203.0.113.25/32', ?, 'test', NULL,
                                'alice', ?, ?, 'bob', 'abuse');
                        INSERT INTO audit (at, actor, action, customer_id, object_id, before, after)
                            VALUES (?, 'alice', 'customer.add', 'c-1001', 'c-1001', NULL, '{"id":"c-1001"}');
                        INSERT INTO audit (at, actor, action, customer_id, object_id, before, after)
                            VALUES (?, 'alice', 'exception.grant', 'c-1001', 'exc-2345abcd', NULL, '{}');
                        """,
                    arguments: [t0, t0, t0, t0, t0 + 86_400, t0, t0 + 60, t0, t0])
                return .commit
            }
        }
        try queue.close()
    }

    static func migrations(at path: String) throws -> [String] {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
        }
    }

    /// What every released store holds, read through the public API of this build.
    static func expectReleasedContents(_ store: ExceptionStore) throws {
        #expect(try store.customers() == [Customer(id: "c-1001", name: "Ada", note: "relay", createdAt: t0)])
        let bindings = try store.bindings()
        #expect(bindings.map(\.prefix) == [prefix("192.0.2.0/28"), prefix("100.64.1.7/32")])
        #expect(bindings.map(\.kind) == [.static, .session])
        #expect(bindings.allSatisfy { $0.validFrom == t0 && $0.validUntil == nil })
        #expect(bindings.first?.leaseUntil == nil)

        let exceptions = try store.exceptions(status: .all, now: t0 + 120)
        #expect(exceptions.map(\.id) == ["exc-2345abcd", "exc-6789efgh"])
        #expect(exceptions.first?.destinations == .any)
        #expect(exceptions.first?.ticket == "T-1")
        #expect(exceptions.first?.status(at: t0 + 120) == .active)
        let revoked = try #require(exceptions.last)
        #expect(revoked.destinations == .prefixes([prefix("198.51.100.0/24"), prefix("203.0.113.25/32")]))
        #expect(revoked.expiresAt == t0 + 86_400)
        #expect(revoked.revocation == StoredException.Revocation(at: t0 + 60, by: "bob", reason: "abuse"))

        let audit = try store.auditEntries()
        #expect(audit.map(\.action) == ["customer.add", "exception.grant"])
        #expect(audit.map(\.sequence) == [1, 2])
        #expect(audit.allSatisfy { $0.osUser == nil && $0.sudoUser == nil })
        #expect(try store.changeToken() == 2)

        let inputs = try store.policyInputs(now: t0 + 120)
        #expect(inputs.bindings.map(\.prefix) == [prefix("100.64.1.7/32"), prefix("192.0.2.0/28")])
        #expect(inputs.exceptions.map(\.id) == ["exc-2345abcd"])
    }

    /// Writes through `store` and checks the audit log is still append-only.
    static func expectWritable(_ store: ExceptionStore, path: String) throws {
        try store.addCustomer(id: "c-2002", actor: "carol", now: t0 + 200)
        #expect(try store.auditEntries().last?.osUser == OperatingSystemIdentity.current().user)
        #expect(try store.changeToken() == 3)
        let raw = try DatabaseQueue(path: path)
        defer { try? raw.close() }
        #expect(throws: DatabaseError.self) {
            try raw.write { db in try db.execute(sql: "UPDATE audit SET actor = 'mallory'") }
        }
        #expect(throws: DatabaseError.self) {
            try raw.write { db in try db.execute(sql: "DELETE FROM audit WHERE action = 'customer.add'") }
        }
    }

    @Test func aSchema1StoreIsRefusedReadOnlyAndMigratedByAWriter() throws {
        let fixture = StoreFixture()
        try Self.writeReleasedStore(schema: 1, at: fixture.path)

        let error = #expect(throws: ExceptionStoreError.self) { try fixture.open(.readOnly) }
        #expect(error?.code == .olderSchema)
        #expect(error?.message.contains("has schema 1 < 4") == true)
        #expect(try Self.migrations(at: fixture.path) == ["v1-initial"])

        let store = try fixture.open(.readWrite)
        #expect(
            try Self.migrations(at: fixture.path) == [
                "v1-initial", "v2-leases-os-user", "v3-api-tokens-suspects", "v4-accounting-sessions",
            ])
        // The open session got one default lease from the upgrade; everything else reads as written.
        let now = UTCTime.now()
        let lease = try #require(try store.bindings().last?.leaseUntil)
        #expect(abs(lease - (now + ExceptionStore.defaultSessionLeaseSeconds)) <= 5)
        #expect(try store.customer(id: "c-1001")?.autoCreated == false)
        try Self.expectReleasedContents(store)
        try Self.expectWritable(store, path: fixture.path)
        #expect(try fixture.open(.readOnly).customers().count == 2)
    }

    @Test func aSchema2StoreIsRefusedReadOnlyAndMigratedByAWriter() throws {
        let fixture = StoreFixture()
        try Self.writeReleasedStore(schema: 2, at: fixture.path)
        let error = #expect(throws: ExceptionStoreError.self) { try fixture.open(.readOnly) }
        #expect(error?.code == .olderSchema)
        #expect(error?.message.contains("has schema 2 < 4") == true)

        let store = try fixture.open(.readWrite)
        #expect(
            try Self.migrations(at: fixture.path) == [
                "v1-initial", "v2-leases-os-user", "v3-api-tokens-suspects", "v4-accounting-sessions",
            ])
        try Self.expectReleasedContents(store)
        #expect(try store.bindings().last?.leaseUntil == nil)  // written by schema 2 without a lease
        // Entries written before v3 have no API role; tokens start empty and work.
        #expect(try store.auditEntries().allSatisfy { $0.role == nil })
        #expect(try store.apiTokens().isEmpty)
        let created = try store.createAPIToken(name: "alice", role: .support, expiresAt: nil, actor: "carol")
        #expect(try store.apiTokenCredentials().map(\.digest) == [APITokenDigest(of: created.token)])
        try store.revokeAPIToken(name: "alice", actor: "carol")
        try Self.expectWritableAfterTokens(store, path: fixture.path)
    }

    /// ``expectWritable(_:path:)`` for a store whose audit log holds two token entries more.
    static func expectWritableAfterTokens(_ store: ExceptionStore, path: String) throws {
        try store.addCustomer(id: "c-2002", actor: "carol", now: t0 + 200)
        #expect(try store.changeToken() == 5)
        #expect(try store.auditEntries().suffix(3).map(\.action) == ["token.create", "token.revoke", "customer.add"])
    }

    @Test func theSchemaVersionIsTheMigratorsCount() throws {
        #expect(ExceptionStore.schemaVersion == 4)
        let fixture = StoreFixture()
        try Self.writeReleasedStore(schema: 2, at: fixture.path)
        // `user_version` is no schema version any more: a stray value changes nothing.
        let raw = try DatabaseQueue(path: fixture.path)
        try raw.write { db in try db.execute(sql: "PRAGMA user_version = 7") }
        try raw.close()
        try Self.expectReleasedContents(try fixture.open(.readWrite))
        // A migration this build does not know is a newer schema, whatever `user_version` says.
        let again = try DatabaseQueue(path: fixture.path)
        try again.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v5-future')")
            try db.execute(sql: "PRAGMA user_version = 0")
        }
        try again.close()
        for mode in [ExceptionStore.OpenMode.create, .readWrite, .readOnly] {
            let error = #expect(throws: ExceptionStoreError.self) { try fixture.open(mode) }
            #expect(error?.code == .newerSchema)
            #expect(error?.message.contains("(schema 5 > 4); upgrade egress25ctl") == true)
        }
    }
}
