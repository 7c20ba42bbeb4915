import Atomics
import ExceptionStore
import NIOPosix

/// Runs the exception store's blocking calls (SQLite through GRDB, PostgreSQL through a synchronous connection) on
/// threads of their own, so an async request handler never blocks Swift's cooperative pool.
///
/// With PostgreSQL each store holds one connection and runs one transaction at a time, so the executor keeps one
/// store per thread and hands them out in turn; SQLite's one store (a GRDB pool) serves every thread.
public final class StoreExecutor: Sendable {
    let pool: NIOThreadPool
    let stores: [ExceptionStore]
    private let next = ManagedAtomic<Int>(0)

    /// Starts one thread per store (`stores` must not be empty).
    public init(stores: [ExceptionStore]) {
        precondition(!stores.isEmpty, "StoreExecutor needs at least one store")
        self.stores = stores
        pool = NIOThreadPool(numberOfThreads: max(2, stores.count))
        pool.start()
    }

    /// The store to record changes with; ``run(_:)`` hands out the others too.
    public var primary: ExceptionStore { stores[0] }

    /// Runs `body` with a store on one of the threads and returns its result.
    /// - Throws: What `body` throws; `NIOThreadPoolError.ThreadPoolInactive` after ``shutdown()``.
    public func run<T: Sendable>(_ body: @Sendable @escaping (ExceptionStore) throws -> T) async throws -> T {
        let index = next.loadThenWrappingIncrement(ordering: .relaxed) % stores.count
        let store = stores[index]
        return try await pool.runIfActive { try body(store) }
    }

    /// Stops the threads after the work queued so far.
    public func shutdown() async throws {
        try await pool.shutdownGracefully()
    }
}
