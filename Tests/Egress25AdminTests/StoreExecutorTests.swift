import Egress25Admin
import ExceptionStore
import Testing

@Suite struct StoreExecutorTests {
    @Test func runsStoreCallsOffTheCooperativePool() async throws {
        let executor = StoreExecutor(stores: [try ExceptionStore.inMemory()])
        let added = try await executor.run { store in
            try store.addCustomer(id: "c-1", actor: "test").id
        }
        #expect(added == "c-1")
        #expect(try await executor.run { try $0.customers().map(\.id) } == ["c-1"])
        try await executor.shutdown()
    }
}
