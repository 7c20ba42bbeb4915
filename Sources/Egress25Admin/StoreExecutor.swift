import NIOPosix

/// Runs the exception store's blocking calls (SQLite through GRDB, PostgreSQL through a synchronous connection) on
/// threads of their own, so an async request handler never blocks Swift's cooperative pool.
public final class StoreExecutor: Sendable {
    let pool: NIOThreadPool

    /// Starts `threads` threads (at least 1).
    public init(threads: Int) {
        pool = NIOThreadPool(numberOfThreads: max(1, threads))
        pool.start()
    }

    /// Runs `body` on one of the threads and returns its result.
    /// - Throws: What `body` throws; `NIOThreadPoolError.ThreadPoolInactive` after ``shutdown()``.
    public func run<T: Sendable>(_ body: @Sendable @escaping () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }

    /// Stops the threads after the work queued so far.
    public func shutdown() async throws {
        try await pool.shutdownGracefully()
    }
}
