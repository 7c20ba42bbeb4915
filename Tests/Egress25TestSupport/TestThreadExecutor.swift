import Foundation

/// A task executor with a thread of its own, for tests whose timing must not depend on Swift concurrency's
/// shared pool: on 2 cores that pool has 2 threads, and other suites running in parallel can hold both for tens
/// of seconds (blocking process waits, synchronous store calls), which would make a 1 s HTTP timeout fire late or
/// a receiver answer late. Run a test body with `withTaskExecutorPreference(TestThreadExecutor.shared) { ... }`:
/// it and its child tasks (a Hummingbird server's connection tasks among them) run here.
package final class TestThreadExecutor: TaskExecutor, @unchecked Sendable {
    /// One executor (one thread) for every test that asks.
    package static let shared = TestThreadExecutor()

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    private init() {
        let thread = Thread { [self] in self.run() }
        thread.name = "test-executor"
        thread.start()
    }

    package func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }
}
