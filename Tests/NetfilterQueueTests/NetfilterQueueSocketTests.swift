import Testing

@testable import NetfilterQueue

#if canImport(Glibc)
import Glibc
#endif

/// Binding needs CAP_NET_ADMIN; these run as root (as in CI) and are skipped otherwise.
/// They bind an unusual queue number only for the duration of the test and send no traffic.
@Suite(.serialized, .enabled(if: Capabilities.hasNetAdmin, "needs CAP_NET_ADMIN (run as root)"))
struct NetfilterQueueSocketTests {
    static let queue: UInt16 = 54_325

    @Test func bindsAndShowsUpInProc() throws {
        let socket = try NetfilterQueueSocket(configuration: .init(queueNumber: Self.queue, maxLength: 128))
        let counters = KernelQueueCounters.read().first { $0.queueNumber == Self.queue }
        #expect(counters?.portID == socket.portID)
        #expect(counters?.copyRange == NetfilterQueueConfiguration.defaultCopyRange)
        socket.close()
        #expect(KernelQueueCounters.read().first { $0.queueNumber == Self.queue } == nil)
    }

    @Test func secondBindOnTheSameQueueSaysAlreadyBound() throws {
        let first = try NetfilterQueueSocket(configuration: .init(queueNumber: Self.queue))
        defer { first.close() }
        let error = #expect(throws: NetfilterQueueError.self) {
            _ = try NetfilterQueueSocket(configuration: .init(queueNumber: Self.queue))
        }
        #expect(error?.code == .queueAlreadyBound)
        #expect(error?.description.contains("queue \(Self.queue) is already bound by another process") == true)
    }

    @Test func receiveTimesOutWithoutTraffic() throws {
        let socket = try NetfilterQueueSocket(
            configuration: .init(queueNumber: Self.queue, receiveTimeoutMilliseconds: 50))
        defer { socket.close() }
        let judged = try socket.receiveBatch { _ in .accept }
        #expect(judged == 0)
    }
}
