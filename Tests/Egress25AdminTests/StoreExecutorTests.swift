import Egress25Admin
import Testing

@Suite struct StoreExecutorTests {
    @Test func runsOffTheCallersThreadAndReturnsTheResult() async throws {
        let executor = StoreExecutor(threads: 2)
        let value = try await executor.run { 6 * 7 }
        #expect(value == 42)
        try await executor.shutdown()
    }
}
