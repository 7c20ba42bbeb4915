import Atomics
import BlockLog
import Egress25Configuration
import Egress25Core
import Egress25TestSupport
import Foundation
import Logging
import NetfilterQueue
import ServiceLifecycle
import ServiceLifecycleTestKit
import Testing

@testable import Egress25Daemon

/// The long-running services start what they own in `run()` and stop it on graceful shutdown
/// (ServiceLifecycleTestKit's `testGracefulShutdown` plays the service group's part).
@Suite struct BlockLogServiceTests {
    struct NoNames: BlockLogResolver {
        func customerID(generation: UInt64, index: Int32) -> String? { nil }
        func exceptionID(generation: UInt64, index: Int32) -> String? { nil }
    }

    static func attempts(_ count: Int, at milliseconds: Int64) -> [BlockedAttempt] {
        (0..<count).map { index in
            BlockedAttempt(
                timeMilliseconds: milliseconds, source: try! IPAddress(parsing: "100.64.0.10"),
                destination: try! IPAddress(parsing: "198.51.100.25"), sourcePort: UInt16(40_000 + index),
                destinationPort: 25, reason: .noException)
        }
    }

    /// A real writer on a temporary directory. The SYNs are pushed just before the shutdown: `run()` returns only
    /// when they are committed, and after it the writer's threads are gone.
    @Test func gracefulShutdownCommitsWhatIsPendingAndStopsTheWriter() async throws {
        let directory = TemporaryDirectory(prefix: "egress25-services-test")
        defer { directory.cleanup() }
        let writer = try BlockLogWriter(
            directory: directory.path + "/blocklog",
            configuration: BlockLogConfiguration(flushIntervalMilliseconds: 60_000), nodeName: "services-test",
            resolver: NoNames(), logger: Logger(label: "services-test"))
        let ring = BlockLogRing(capacity: 1 << 10)
        writer.attach(ring)
        let now = Int64(Date().timeIntervalSince1970 * 1000)

        await testGracefulShutdown { trigger in
            let service = BlockLogService(writer: writer)
            let running = Task { try await service.run() }
            for attempt in Self.attempts(5, at: now) { #expect(ring.push(attempt)) }
            trigger.triggerGracefulShutdown()
            try? await running.value
        }
        #expect(writer.statistics.synsRecorded == 5, "the shutdown committed the pending SYNs")
        #expect(writer.statistics.lagMilliseconds == 0)
        #expect(writer.statistics.lostEvents == 0)

        // Stopped: nothing drains the ring any more, and a flush no longer commits.
        for attempt in Self.attempts(2, at: now) { #expect(ring.push(attempt)) }
        writer.flush()
        #expect(writer.statistics.synsRecorded == 5)
        let rows = try BlockLogReader(directory: directory.path + "/blocklog").query(BlockLogFilter())
        #expect(rows.reduce(0) { $0 + Int($1.syns) } == 5, "\(rows)")
    }

    @Test func withoutABlockLogItWaitsForTheShutdownOnly() async throws {
        await testGracefulShutdown { trigger in
            let running = Task { try await BlockLogService(writer: nil).run() }
            trigger.triggerGracefulShutdown()
            let result: Void? = try? await running.value
            #expect(result != nil)
        }
    }
}

/// Binding a queue needs CAP_NET_ADMIN: an unusual queue number, no traffic, bound only during the test, as
/// NetfilterQueueSocketTests do.
@Suite(.serialized, .enabled(if: Capabilities.hasNetAdmin, "needs CAP_NET_ADMIN (run as root): binds a queue"))
struct QueueWorkersServiceTests {
    static let queue: UInt16 = 54_326

    static func worker() throws -> QueueWorker {
        let snapshot = try PolicySnapshot(
            policy: Policy(subscriberRanges: [try IPPrefix(parsing: "100.64.0.0/10")], relayHosts: []),
            exceptions: [], bindings: [], generation: 1)
        return QueueWorker(
            socketConfiguration: NetfilterQueueConfiguration(queueNumber: queue, maxLength: 128),
            publisher: PolicyPublisher(initial: snapshot),
            blockVerdict: BlockVerdictSetting(BlockVerdictPolicy(action: .reject, rejectMark: 0x25)),
            ring: nil, logger: Logger(label: "services-test"))
    }

    static func kernelHasQueue() -> Bool {
        KernelQueueCounters.read().contains { $0.queueNumber == queue }
    }

    @Test func gracefulShutdownStopsTheWorkersAndReleasesTheQueue() async throws {
        let worker = try Self.worker()
        try worker.bind()
        #expect(Self.kernelHasQueue())
        await testGracefulShutdown { trigger in
            let service = QueueWorkersService(workers: [worker], notifier: SystemdNotifier(environment: [:]))
            let running = Task { try await service.run() }
            // The worker thread runs: it comes back from its receive calls (timeouts, no traffic) and says so.
            let started = worker.statistics.lastAliveMilliseconds.load(ordering: .relaxed)
            var alive = false
            for _ in 0..<100 where !alive {
                try? await Task.sleep(for: .milliseconds(20))
                alive = worker.statistics.lastAliveMilliseconds.load(ordering: .relaxed) > started
            }
            #expect(alive, "the worker thread started")
            let bound = worker.statistics.bound.load(ordering: .relaxed)
            #expect(bound)
            trigger.triggerGracefulShutdown()
            try? await running.value
        }
        let bound = worker.statistics.bound.load(ordering: .relaxed)
        #expect(!bound, "the worker says its queue is no longer bound")
        // The kernel releases the queue when the last descriptor of the socket closes. The netlink socket is not
        // close-on-exec, so a child process another suite spawns meanwhile (`timeout 2 bash ...`) may hold a copy
        // for a while: wait up to 5 s for it.
        var released = !Self.kernelHasQueue()
        for _ in 0..<100 where !released {
            try? await Task.sleep(for: .milliseconds(50))
            released = !Self.kernelHasQueue()
        }
        #expect(released, "the queue socket is closed")
    }
}
