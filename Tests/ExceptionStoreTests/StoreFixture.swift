import Egress25Core
import Egress25TestSupport
import ExceptionStore
import Foundation
import Testing

/// A temporary state directory with a real SQLite store file, removed afterwards. `directory` does not exist
/// until a test or the store creates it.
struct StoreFixture: ~Copyable {
    private let temporary = TemporaryDirectory(prefix: "egress25-store-tests")
    let directory: String
    let path: String

    init() {
        directory = temporary.path + "/store"
        path = directory + "/state/exceptions.sqlite"
    }

    deinit {
        temporary.cleanup()
    }

    func open(_ mode: ExceptionStore.OpenMode = .create, busyTimeoutSeconds: Double = 5) throws -> ExceptionStore {
        try ExceptionStore(path: path, mode: mode, busyTimeoutSeconds: busyTimeoutSeconds)
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
