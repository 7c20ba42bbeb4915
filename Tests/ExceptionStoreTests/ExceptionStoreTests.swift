import Egress25Core
import Egress25TestSupport
import ExceptionStore
import Foundation
import GRDB
import Testing

/// Opening, migrations, schema versions, files.
@Suite struct ExceptionStoreTests {
    @Test func migratesFromNothingAndCreatesTheDirectory() throws {
        let fixture = StoreFixture()
        #expect(!FileManager.default.fileExists(atPath: fixture.directory + "/state"))
        let store = try fixture.open()
        #expect(try store.customers().isEmpty)
        #expect(try store.changeToken() == 0)

        let attributes = try FileManager.default.attributesOfItem(atPath: fixture.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o640)
        let directoryAttributes = try FileManager.default.attributesOfItem(atPath: fixture.directory + "/state")
        #expect((directoryAttributes[.posixPermissions] as? Int) == 0o750)

        try store.addCustomer(id: "c-1001", actor: "test", now: t0)
        // SQLite gives the WAL and shared-memory files the database file's mode.
        for suffix in ["-wal", "-shm"] {
            let mode = try FileManager.default.attributesOfItem(atPath: fixture.path + suffix)[.posixPermissions]
            #expect((mode as? Int) == 0o640, "\(suffix)")
        }

        let raw = try DatabaseQueue(path: fixture.path)
        let (journalMode, userVersion, migrations) = try raw.read { db throws in
            (
                try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                try Int.fetchOne(db, sql: "PRAGMA user_version"),
                try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
            )
        }
        #expect(journalMode == "wal")
        #expect(userVersion == 2)  // set by v1 and v2 only; the migrator is the schema version
        #expect(
            migrations == ["v1-initial", "v2-leases-os-user", "v3-api-tokens-suspects", "v4-accounting-sessions"])
    }

    /// `sudo egress25ctl customer add` before egress25d (user egress25) ever ran must leave a store the daemon can
    /// open: the file, and the -wal/-shm files, belong to the state directory's owner.
    @Test(.enabled(if: TestEnvironment.isRoot, "needs root to create files for another user"))
    func rootCreatesTheStoreForTheStateDirectoryOwner() throws {
        let fixture = StoreFixture()
        let state = fixture.directory + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let owner = (uid: uid_t(65534), gid: gid_t(65534))  // nobody:nogroup
        #expect(chown(state, owner.uid, owner.gid) == 0)
        let store = try fixture.open()
        try store.addCustomer(id: "c-1001", actor: "root", now: t0)
        for suffix in ["", "-wal", "-shm"] {
            var info = stat()
            #expect(stat(fixture.path + suffix, &info) == 0, "\(suffix)")
            #expect(info.st_uid == owner.uid && info.st_gid == owner.gid, "\(suffix): \(info.st_uid):\(info.st_gid)")
            #expect(info.st_mode & 0o777 == 0o640, "\(suffix)")
        }
    }

    @Test func reopeningAMigratedStoreKeepsItsData() throws {
        let fixture = StoreFixture()
        do {
            let store = try fixture.open()
            try store.addCustomer(id: "c-1001", name: "Ada", actor: "test", now: t0)
        }
        let again = try fixture.open(.readWrite)
        #expect(try again.customers() == [Customer(id: "c-1001", name: "Ada", createdAt: t0)])
        let readOnly = try fixture.open(.readOnly)
        #expect(try readOnly.customer(id: "c-1001")?.name == "Ada")
        #expect(try readOnly.changeToken() == 1)
    }

    @Test func migratesAnEmptyFile() throws {
        let fixture = StoreFixture()
        try FileManager.default.createDirectory(atPath: fixture.directory + "/state", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: fixture.path, contents: Data()))
        // Read-only never migrates.
        let error = #expect(throws: ExceptionStoreError.self) { try fixture.open(.readOnly) }
        #expect(error?.code == .olderSchema)
        let store = try fixture.open(.readWrite)
        try store.addCustomer(id: "c-1", actor: "test", now: t0)
        #expect(try store.customers().count == 1)
    }

    @Test func missingStoreIsNotCreatedUnlessAsked() throws {
        let fixture = StoreFixture()
        for mode in [ExceptionStore.OpenMode.readOnly, .readWrite] {
            let error = #expect(throws: ExceptionStoreError.self) { try fixture.open(mode) }
            #expect(error?.code == .notFound)
            #expect(error?.message.contains(fixture.path) == true)
        }
        #expect(!FileManager.default.fileExists(atPath: fixture.path))
        #expect(!FileManager.default.fileExists(atPath: fixture.directory + "/state"))
    }

    @Test func aPathThatCannotBeExaminedIsAnErrorNotAnEmptyStore() throws {
        let fixture = StoreFixture()
        try FileManager.default.createDirectory(atPath: fixture.directory, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: fixture.directory + "/state", contents: Data("x".utf8)))
        // `state` is a file: stat fails with ENOTDIR, not ENOENT (as EACCES would for another user).
        let error = #expect(throws: ExceptionStoreError.self) { try ExceptionStore.storeExists(at: fixture.path) }
        #expect(error?.code == .io)
        #expect(error?.message.contains("cannot access store \(fixture.path): Not a directory") == true)
        #expect(try ExceptionStore.storeExists(at: fixture.directory + "/missing.sqlite") == false)
        #expect(try ExceptionStore.storeExists(at: fixture.directory + "/state") == true)
    }

    @Test func refusesAStoreWrittenByANewerSchema() throws {
        let fixture = StoreFixture()
        do {
            let store = try fixture.open()
            try store.addCustomer(id: "c-1001", actor: "test", now: t0)
        }
        // A newer egress25 added migration 5.
        let raw = try DatabaseQueue(path: fixture.path)
        try raw.write { db in
            try db.execute(sql: "CREATE TABLE customer_tag (customer_id TEXT, tag TEXT)")
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v5-customer-tags')")
            try db.execute(sql: "PRAGMA user_version = 3")
        }
        func rawState() throws -> [String] {
            try raw.read { db throws in
                try String.fetchAll(db, sql: "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
                    + String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier")
                    + ["user_version \(try Int.fetchOne(db, sql: "PRAGMA user_version") ?? -1)"]
                    + ["generation \(try Int.fetchOne(db, sql: "SELECT generation FROM store_state") ?? -1)"]
                    + String.fetchAll(db, sql: "SELECT id FROM customer")
            }
        }
        let before = try rawState()
        for mode in [ExceptionStore.OpenMode.create, .readWrite, .readOnly] {
            let error = #expect(throws: ExceptionStoreError.self) { try fixture.open(mode) }
            #expect(error?.code == .newerSchema)
            #expect(
                error?.message == "store \(fixture.path) was written by a newer egress25 (schema 5 > 4); "
                    + "upgrade egress25ctl")
        }
        #expect(try rawState() == before)
    }

    @Test func refusesAnUnknownMigrationEvenWithoutAVersionBump() throws {
        let fixture = StoreFixture()
        _ = try fixture.open()
        let raw = try DatabaseQueue(path: fixture.path)
        try raw.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v3-something')")
        }
        let error = #expect(throws: ExceptionStoreError.self) { try fixture.open() }
        #expect(error?.code == .newerSchema)
    }

    @Test func refusesAFileThatIsNotADatabase() throws {
        let fixture = StoreFixture()
        try FileManager.default.createDirectory(atPath: fixture.directory + "/state", withIntermediateDirectories: true)
        try Data("customer,address\nc-1,192.0.2.1\n".utf8).write(to: URL(fileURLWithPath: fixture.path))
        let error = #expect(throws: ExceptionStoreError.self) { try fixture.open() }
        #expect(error?.code == .io)
        #expect(error?.message.contains(fixture.path) == true)
    }

    @Test func readOnlyStoreRefusesWrites() throws {
        let fixture = StoreFixture()
        _ = try fixture.open()
        let readOnly = try fixture.open(.readOnly)
        let error = try expectNothingWritten(readOnly, code: .io, messageContains: "read-only") {
            try readOnly.addCustomer(id: "c-1", actor: "test", now: t0)
        }
        #expect(error?.operation == "addCustomer(id:name:note:actor:now:)", "the store method, not its helper")
    }

    @Test func auditLogIsAppendOnly() throws {
        let fixture = StoreFixture()
        let store = try fixture.open()
        try store.addCustomer(id: "c-1001", actor: "test", now: t0)
        let raw = try DatabaseQueue(path: fixture.path)
        #expect(throws: DatabaseError.self) {
            try raw.write { db in try db.execute(sql: "UPDATE audit SET actor = 'mallory'") }
        }
        #expect(throws: DatabaseError.self) {
            try raw.write { db in try db.execute(sql: "DELETE FROM audit") }
        }
        #expect(try store.auditEntries().map(\.actor) == ["test"])
    }

    @Test func inMemoryStoreIsEmptyAndMigrated() throws {
        let store = try ExceptionStore.inMemory()
        #expect(try store.customers().isEmpty)
        #expect(try store.exceptions(status: .all).isEmpty)
        #expect(try store.policyInputs(now: t0).exceptions.isEmpty)
    }
}
