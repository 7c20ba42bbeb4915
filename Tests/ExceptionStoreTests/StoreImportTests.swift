import Egress25Core
import Egress25TestSupport
import ExceptionStore
import Foundation
import Testing

/// `egress25ctl store import-sqlite`: a router's SQLite store moves into the fleet store whole, once.
@Suite(.enabled(if: TestPostgres.isAvailable, "needs EGRESS25_TEST_PG_URL (scripts/test-postgres.sh start)"))
struct StoreImportTests {
    static func routerStore(_ fixture: borrowing StoreFixture) throws -> ExceptionStore {
        let store = try fixture.open()
        try store.addCustomer(id: "alice", name: "Alice", actor: "support", now: t0)
        try store.addCustomer(id: "bob", actor: "support", now: t0)
        try store.bind(customer: "alice", prefix: prefix("100.64.0.8/29"), actor: "support", now: t0)
        try store.startSession(customer: "bob", prefix: prefix("100.64.1.1/32"), actor: "radius", now: t0)
        try store.startSession(customer: "bob", prefix: prefix("100.64.1.2/32"), actor: "radius", now: t0 + 5)
        _ = try store.grantException(
            ExceptionGrant(
                customer: "alice", destinations: .prefixes([prefix("192.0.2.25/32")]), expiresAt: t0 + 86_400,
                reason: "telecommuter", ticket: "T-9", grantedBy: "support"),
            now: t0)
        return store
    }

    @Test func importsEverythingOnceAndTheSecondRunChangesNothing() throws {
        let source = StoreFixture()
        let router = try Self.routerStore(source)
        let fleet = try StoreFixture(.postgresql)
        let store = try fleet.open()
        let result = try store.importSQLiteStore(at: source.path, actor: "migration", now: t0 + 100)
        #expect(!result.alreadyImported)
        #expect(result.customers == 2 && result.bindings == 3 && result.exceptions == 1)
        #expect(try store.customers() == router.customers())
        #expect(try store.exceptions(status: .all, now: t0) == router.exceptions(status: .all, now: t0))
        func shape(_ bindings: [AddressBinding]) -> [String] {
            bindings.map {
                "\($0.customer) \($0.prefix) \($0.kind) \($0.validFrom) \(String(describing: $0.validUntil))"
            }
        }
        #expect(shape(try store.bindings()) == shape(try router.bindings()))
        let imported = try store.auditEntries()
        #expect(imported.count == (try router.auditEntries().count) + 1)
        #expect(imported.last?.action == "store.import")
        // Audit entries about bindings name the bindings' new ids.
        let ids = Set(try store.bindings().map { "binding-\($0.id)" })
        #expect(
            imported.filter { $0.objectID?.hasPrefix("binding-") == true }.allSatisfy { ids.contains($0.objectID!) })
        #expect(try store.policyInputs(now: t0 + 10) == router.policyInputs(now: t0 + 10))

        let before = try StoreContents(store)
        let again = try store.importSQLiteStore(at: source.path, actor: "migration", now: t0 + 200)
        #expect(again.alreadyImported && again.importedAt == t0 + 100)
        #expect(try StoreContents(store) == before)
    }

    @Test func aConflictOrAForeignFileWritesNothing() throws {
        let source = StoreFixture()
        _ = try Self.routerStore(source)
        let fleet = try StoreFixture(.postgresql)
        let store = try fleet.open()
        try store.addCustomer(id: "carol", actor: "support", now: t0)
        try store.startSession(customer: "carol", prefix: prefix("100.64.0.9/32"), actor: "radius", now: t0)
        try expectNothingWritten(store, code: .conflict, messageContains: "overlaps 100.64.0.9/32") {
            _ = try store.importSQLiteStore(at: source.path, actor: "migration", now: t0 + 100)
        }
        let directory = TemporaryDirectory(prefix: "egress25-import")
        defer { directory.cleanup() }
        let csv = directory.path + "/leases.csv"
        try Data("customer,address\nc-1,192.0.2.1\n".utf8).write(to: URL(fileURLWithPath: csv))
        try expectNothingWritten(store, code: .io) {
            _ = try store.importSQLiteStore(at: csv, actor: "migration", now: t0 + 100)
        }
        try expectNothingWritten(store, code: .notFound) {
            _ = try store.importSQLiteStore(at: directory.path + "/missing.sqlite", actor: "migration", now: t0 + 100)
        }
    }
}
