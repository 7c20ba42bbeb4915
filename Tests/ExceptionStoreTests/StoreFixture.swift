import Egress25Core
import Egress25TestSupport
import ExceptionStore
import Foundation
import Testing

/// The backends the store tests run on: the embedded SQLite file always, the fleet's PostgreSQL when
/// `EGRESS25_TEST_PG_URL` names a server (`.ci/run` starts one; `scripts/test-postgres.sh start` on a developer
/// machine). One test body runs on both.
enum TestBackend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgresql

    /// SQLite, and PostgreSQL when a test server is configured.
    static var available: [TestBackend] { TestPostgres.isAvailable ? [.sqlite, .postgresql] : [.sqlite] }

    var testDescription: String { rawValue }
}

/// A store for one test, removed afterwards: a real SQLite file in a temporary state directory, or a fresh
/// database on the test PostgreSQL server, migrated. For SQLite, `directory` does not exist until a test or the
/// store creates it.
struct StoreFixture: ~Copyable {
    private let temporary = TemporaryDirectory(prefix: "egress25-store-tests")
    let backend: TestBackend
    let directory: String
    /// The SQLite file (also for PostgreSQL fixtures, unused there).
    let path: String
    /// The PostgreSQL database, for PostgreSQL fixtures.
    let database: TestDatabase?

    init() {
        directory = temporary.path + "/store"
        path = directory + "/state/exceptions.sqlite"
        backend = .sqlite
        database = nil
    }

    init(_ backend: TestBackend) throws {
        var database: TestDatabase?
        if backend == .postgresql {
            let created = try TestPostgres.makeDatabase(prefix: "store")
            do {
                _ = try ExceptionStore.migrateSchema(at: .postgresql(try PostgresLocation.parse(url: created.url)))
            } catch {
                try? created.drop()
                throw error
            }
            database = created
        }
        self.database = database
        self.backend = backend
        directory = temporary.path + "/store"
        path = directory + "/state/exceptions.sqlite"
    }

    deinit {
        temporary.cleanup()
        try? database?.drop()
    }

    /// Where the store is.
    var location: StoreLocation {
        get throws {
            if let database { return .postgresql(try PostgresLocation.parse(url: database.url)) }
            return .sqlite(path: path)
        }
    }

    func open(
        _ mode: ExceptionStore.OpenMode = .create, busyTimeoutSeconds: Double = 5,
        identity: OperatingSystemIdentity = .current()
    ) throws -> ExceptionStore {
        if database != nil { return try ExceptionStore(location: location, mode: mode, identity: identity) }
        return try ExceptionStore(path: path, mode: mode, busyTimeoutSeconds: busyTimeoutSeconds, identity: identity)
    }
}

/// Everything the store holds, through its public API: equal before and after a call means nothing was written.
struct StoreContents: Equatable {
    var customers: [Customer]
    var bindings: [AddressBinding]
    var exceptions: [StoredException]
    var audit: [AuditEntry]
    var token: Int64

    init(_ store: ExceptionStore) throws {
        customers = try store.customers()
        bindings = try store.bindings()
        exceptions = try store.exceptions(status: .all)
        audit = try store.auditEntries()
        token = try store.changeToken()
    }
}

func prefix(_ text: String) -> IPPrefix {
    try! IPPrefix(parsing: text)
}

func address(_ text: String) -> IPAddress {
    try! IPAddress(parsing: text)
}

/// 2026-11-29T08:00:00Z.
let t0: Int64 = 1_795_939_200

/// Runs `body`, expects an `ExceptionStoreError` with `code` (and `messageContains` in its message), and checks
/// that the store is unchanged.
@discardableResult
func expectNothingWritten(
    _ store: ExceptionStore,
    code: ExceptionStoreError.Code,
    messageContains: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) throws -> ExceptionStoreError? {
    let before = try StoreContents(store)
    var caught: ExceptionStoreError?
    do {
        try body()
        Issue.record("expected an ExceptionStoreError \(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as ExceptionStoreError {
        caught = error
    }
    let after = try StoreContents(store)
    #expect(before == after, "the store changed", sourceLocation: sourceLocation)
    #expect(caught?.code == code, "\(String(describing: caught))", sourceLocation: sourceLocation)
    if let messageContains {
        #expect(
            caught?.message.contains(messageContains) == true, "\(String(describing: caught))",
            sourceLocation: sourceLocation)
    }
    return caught
}
