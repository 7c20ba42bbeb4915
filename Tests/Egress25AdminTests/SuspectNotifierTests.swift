import AsyncHTTPClient
import Egress25Configuration
import Egress25Core
import Egress25Operations
import Egress25TestSupport
import ExceptionStore
import Foundation
import Hummingbird
import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization
import Testing

@testable import Egress25Admin

/// ``SuspectNotifier`` against a real HTTP receiver (Hummingbird on 127.0.0.1) and a real store, with a fake
/// `detect` and a clock the test moves: rounds driven one at a time (`round(client:)`), and the service run by a
/// `ServiceGroup` for the restart.
@Suite struct SuspectNotifierTests {
    /// 2026-11-29T08:00:00Z, a multiple of 600 s.
    static let t0: Int64 = 1_795_939_200

    static func suspect(_ source: String, windowStart: Int64 = t0) -> Suspect {
        Suspect(
            source: source, customer: "cust-1", windowStart: windowStart, windowEnd: windowStart + 600, attempts: 40,
            distinctDestinations: 25, synsPerMinute: 4, firstSeenMilliseconds: windowStart * 1000 + 1000,
            lastSeenMilliseconds: windowStart * 1000 + 500_000, topDestinations: ["203.0.113.1"], nodes: ["edge-1"],
            reasons: [.distinctDestinations])
    }

    static func settings(port: Int) -> AbuseSettings {
        var settings = AbuseSettings()
        settings.webhookURL = "http://127.0.0.1:\(port)/hook"
        // Generous: the whole suite runs in parallel on 2 cores, and a starved receiver must not read as a failure.
        settings.webhookTimeoutMilliseconds = 20_000
        return settings
    }

    static func notifier(
        store: ExceptionStore, executor: StoreExecutor, settings: AbuseSettings, clock: TestClock,
        suspects: SuspectList, logs: LogLines = LogLines(), interval: Duration = .seconds(15)
    ) -> SuspectNotifier {
        SuspectNotifier(
            store: store, executor: executor, settings: settings, nodeName: "admin-1", interval: interval,
            clock: { clock.now() }, logger: logs.logger(), detect: { _, _ in suspects.current })
    }

    static func client(for notifier: SuspectNotifier) -> HTTPClient {
        HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: notifier.clientConfiguration)
    }

    @Test func aNewSuspectIsPostedOnceWithItsEvidence() async throws {
        // Its own thread: the receiver and the notifier must not wait for the shared pool (see TestThreadExecutor).
        try await withTaskExecutorPreference(TestThreadExecutor.shared) {
            let fixture = try NotifierStore(.sqlite)
            let store = try fixture.open()
            let executor = StoreExecutor(stores: [store])
            let receiver = WebhookReceiver()
            let clock = TestClock(Self.t0 + 30)
            try await receiver.serve { port in
                let notifier = Self.notifier(
                    store: store, executor: executor, settings: Self.settings(port: port), clock: clock,
                    suspects: SuspectList([Self.suspect("2001:db8::7")]))
                let client = Self.client(for: notifier)
                await notifier.round(client: client)
                #expect(receiver.requests == 1)
                let delivery = try #require(receiver.deliveries.first)
                #expect(delivery.idempotencyKey == "2001:db8::7/\(Self.t0)")
                #expect(delivery.contentType == "application/json")
                #expect(delivery.userAgent == "egress25-admin")
                let document = try #require(
                    try JSONSerialization.jsonObject(with: Data(delivery.body.utf8)) as? [String: Any])
                #expect(document["type"] as? String == "egress25.suspect")
                #expect(document["id"] as? String == "2001:db8::7/\(Self.t0)")
                #expect(document["detected_at"] as? String == "2026-11-29T08:00:30Z")
                #expect(document["node"] as? String == "admin-1")
                let suspect = try #require(document["suspect"] as? [String: Any])
                #expect(suspect["source"] as? String == "2001:db8::7")
                #expect(suspect["window_start"] as? String == "2026-11-29T08:00:00Z")
                #expect(suspect["reasons"] as? [String] == ["distinct_destinations"])

                // The same suspect in the next round: already announced.
                clock.advance(15)
                await notifier.round(client: client)
                clock.advance(600)
                await notifier.round(client: client)
                #expect(receiver.requests == 1)
                #expect(notifier.rounds == 3)
                #expect((notifier.delivered, notifier.failed, notifier.pending) == (1, 0, 0))
                let notices = try store.suspectNotices(since: 0)
                #expect(notices.count == 1)
                #expect(notices.first?.deliveredAt == Self.t0 + 30)
                #expect(notices.first?.attempts == 1)
                try await client.shutdown()
            }
            try await executor.shutdown()
        }
    }

    @Test func aFailingReceiverGetsRetriesWithBackoffUntilItAcceptsOnce() async throws {
        // Its own thread: the receiver and the notifier must not wait for the shared pool (see TestThreadExecutor).
        try await withTaskExecutorPreference(TestThreadExecutor.shared) {
            let fixture = try NotifierStore(.sqlite)
            let store = try fixture.open()
            let executor = StoreExecutor(stores: [store])
            let receiver = WebhookReceiver(failFirst: 2)
            let clock = TestClock(Self.t0 + 30)
            let logs = LogLines()
            try await receiver.serve { port in
                let notifier = Self.notifier(
                    store: store, executor: executor, settings: Self.settings(port: port), clock: clock,
                    suspects: SuspectList([Self.suspect("192.0.2.7")]), logs: logs)
                let client = Self.client(for: notifier)
                func notice() throws -> SuspectNotice { try #require(try store.suspectNotices(since: 0).first) }

                await notifier.round(client: client)  // 503 (1)
                #expect(receiver.requests == 1)
                var current = try notice()
                #expect(current.attempts == 1)
                #expect(current.deliveredAt == nil)
                #expect(current.lastError?.contains("503") == true)
                #expect((Self.t0 + 35)...(Self.t0 + 35) ~= current.nextAttemptAt)  // 5 s (+ 10 %, rounded down)
                #expect((notifier.failed, notifier.pending) == (1, 1))
                #expect(logs.lines.contains { $0.contains("192.0.2.7/\(Self.t0)") && $0.contains("503") })

                clock.advance(4)  // not due yet
                await notifier.round(client: client)
                #expect(receiver.requests == 1)

                clock.advance(1)
                await notifier.round(client: client)  // 503 (2)
                #expect(receiver.requests == 2)
                current = try notice()
                #expect(current.attempts == 2)
                #expect((clock.now() + 10)...(clock.now() + 11) ~= current.nextAttemptAt)  // 10 s + up to 10 %

                clock.set(current.nextAttemptAt - 1)
                await notifier.round(client: client)
                #expect(receiver.requests == 2)
                clock.set(current.nextAttemptAt)
                await notifier.round(client: client)  // accepted
                #expect(receiver.requests == 3)
                #expect(receiver.deliveries.count == 1)
                current = try notice()
                #expect(current.attempts == 3)
                #expect(current.deliveredAt == clock.now())
                #expect(current.lastError == nil)

                clock.advance(3600)
                await notifier.round(client: client)
                #expect(receiver.requests == 3)
                #expect((notifier.delivered, notifier.failed, notifier.pending) == (1, 2, 0))
                try await client.shutdown()
            }
            try await executor.shutdown()
        }
    }

    @Test func aReceiverThatDoesNotAnswerInTimeIsAFailure() async throws {
        // Its own thread: the receiver and the notifier must not wait for the shared pool (see TestThreadExecutor).
        try await withTaskExecutorPreference(TestThreadExecutor.shared) {
            let fixture = try NotifierStore(.sqlite)
            let store = try fixture.open()
            let executor = StoreExecutor(stores: [store])
            let receiver = WebhookReceiver(stallFirst: 1)
            let clock = TestClock(Self.t0 + 30)
            try await receiver.serve { port in
                var settings = Self.settings(port: port)
                settings.webhookTimeoutMilliseconds = 1000
                let notifier = Self.notifier(
                    store: store, executor: executor, settings: settings, clock: clock,
                    suspects: SuspectList([Self.suspect("192.0.2.7")]))
                let client = Self.client(for: notifier)
                let started = ContinuousClock.now
                await notifier.round(client: client)
                #expect(ContinuousClock.now - started < .seconds(9), "the round waited for the receiver")
                let failed = try #require(try store.suspectNotices(since: 0).first)
                #expect(failed.deliveredAt == nil)
                #expect(failed.lastError == "no answer within 1000 ms")
                clock.set(failed.nextAttemptAt)
                await notifier.round(client: client)
                #expect(receiver.requests == 2)
                #expect(receiver.deliveries.map(\.idempotencyKey) == ["192.0.2.7/\(Self.t0)"])
                #expect(try store.suspectNotices(since: 0).first?.deliveredAt == failed.nextAttemptAt)
                try await client.shutdown()
            }
            try await executor.shutdown()
        }
    }

    @Test func withoutAWebhookSuspectsAreRecordedAndNothingIsSent() async throws {
        let fixture = try NotifierStore(.sqlite)
        let store = try fixture.open()
        let executor = StoreExecutor(stores: [store])
        var settings = AbuseSettings()
        settings.webhookURL = nil
        let notifier = Self.notifier(
            store: store, executor: executor, settings: settings, clock: TestClock(Self.t0 + 30),
            suspects: SuspectList([Self.suspect("192.0.2.7"), Self.suspect("192.0.2.8")]))
        await notifier.round(client: nil)
        let notices = try store.suspectNotices(since: 0)
        #expect(notices.map(\.source) == ["192.0.2.7", "192.0.2.8"])
        #expect(notices.allSatisfy { $0.attempts == 0 && $0.deliveredAt == nil })
        #expect((notifier.delivered, notifier.failed, notifier.pending) == (0, 0, 2))
        try await executor.shutdown()
    }

    @Test func errorsAreLoggedAndTheRoundGoesOn() async throws {
        let fixture = try NotifierStore(.sqlite)
        let store = try fixture.open()
        let executor = StoreExecutor(stores: [store])
        let logs = LogLines()
        struct Broken: Error, CustomStringConvertible { var description: String { "block log unreadable" } }
        let notifier = SuspectNotifier(
            store: store, executor: executor, settings: AbuseSettings(), nodeName: "admin-1",
            clock: { Self.t0 }, logger: logs.logger(), detect: { _, _ in throw Broken() })
        await notifier.round(client: nil)
        await notifier.round(client: nil)
        #expect(notifier.rounds == 2)
        #expect(logs.lines.filter { $0.contains("block log unreadable") }.count == 2)
        try await executor.shutdown()
    }

    @Test func theRetryDelayDoublesFromFiveSecondsUpToFifteenMinutesPlusAtMostTenPercent() {
        let policy = SuspectNotifier.RetryPolicy()
        let delays = (1...10).map { policy.delaySeconds(afterFailures: $0, unitRandom: 0) }
        #expect(delays == [5, 10, 20, 40, 80, 160, 320, 640, 900, 900])
        #expect(policy.delaySeconds(afterFailures: 1000, unitRandom: 0) == 900)
        #expect(policy.delaySeconds(afterFailures: 9, unitRandom: 0.999_999) == 989)
        #expect(policy.delaySeconds(afterFailures: 3, unitRandom: 0.5) == 21)
    }

    /// Notifier 1 delivers one suspect, then records a second while the receiver is down, and stops; notifier 2,
    /// on the same store, delivers the second exactly once and not the first again.
    @Test(arguments: NotifierBackend.available) func aRestartDeliversWhatWasPendingAndNothingTwice(
        backend: NotifierBackend
    ) async throws {
        // Its own thread: the receiver and the notifier must not wait for the shared pool (see TestThreadExecutor).
        try await withTaskExecutorPreference(TestThreadExecutor.shared) {
            let fixture = try NotifierStore(backend)
            let executor = StoreExecutor(stores: [try fixture.open()])
            let suspects = SuspectList([Self.suspect("192.0.2.1")])
            let first = WebhookReceiver()
            let logs = LogLines()

            // Notifier 1: delivers 192.0.2.1; the receiver goes away; 192.0.2.2 fails.
            let store1 = try fixture.open()
            let notifier1 = try await first.serve { port in
                let notifier = Self.notifier(
                    store: store1, executor: executor, settings: Self.settings(port: port),
                    clock: TestClock(Self.t0 + 30),
                    suspects: suspects, logs: logs, interval: .milliseconds(30))
                try await runService(notifier) {
                    try await eventually("notifier 1 delivers 192.0.2.1") { first.deliveries.count == 1 }
                }
                return notifier
            }
            let settings = notifier1.settings
            suspects.current = [Self.suspect("192.0.2.1"), Self.suspect("192.0.2.2")]
            try await runService(notifier1) {
                try await eventually("notifier 1 fails to deliver 192.0.2.2") { notifier1.failed >= 1 }
            }
            #expect(first.deliveries.map(\.idempotencyKey) == ["192.0.2.1/\(Self.t0)"])
            let stored = try store1.suspectNotices(since: 0)
            try #require(stored.map(\.source) == ["192.0.2.1", "192.0.2.2"])
            #expect(stored.map { $0.deliveredAt != nil } == [true, false])
            #expect(stored[1].attempts == 1)
            #expect(stored[1].lastError?.contains("Connection refused") == true, "\(stored[1].lastError ?? "nil")")

            // Notifier 2, a new process on the same store, a minute later (past the retry delay).
            let second = WebhookReceiver()
            let store2 = try fixture.open()
            let notifier2 = Self.notifier(
                store: store2, executor: executor, settings: settings, clock: TestClock(Self.t0 + 90),
                suspects: suspects, logs: logs, interval: .milliseconds(30))
            try await second.serve(port: settings.port) { _ in
                try await runService(notifier2) {
                    try await eventually("notifier 2 delivers 192.0.2.2") { second.deliveries.count == 1 }
                    let rounds = notifier2.rounds
                    try await eventually("notifier 2 runs 3 more rounds") { notifier2.rounds >= rounds + 3 }
                }
            }
            #expect(second.deliveries.map(\.idempotencyKey) == ["192.0.2.2/\(Self.t0)"])
            #expect(second.requests == 1)
            let after = try store2.suspectNotices(since: 0)
            try #require(after.count == 2)
            #expect(after.map { $0.deliveredAt != nil } == [true, true])
            #expect(after.map(\.attempts) == [1, 2])
            #expect(after[1].deliveredAt == Self.t0 + 90)
            #expect((notifier2.delivered, notifier2.failed, notifier2.pending) == (1, 0, 0))
            try await executor.shutdown()
        }
    }
}

// MARK: - Helpers

extension AbuseSettings {
    /// The port of `webhookURL` (`http://127.0.0.1:PORT/hook`).
    var port: Int { Int(webhookURL!.split(separator: ":").last!.split(separator: "/").first!)! }
}

/// Runs `service` in a `ServiceGroup` while `body` runs, then shuts it down gracefully (at most 10 s).
func runService(_ service: some Service, _ body: () async throws -> Void) async throws {
    let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    try await runGroup(ServiceGroup(configuration: .init(services: [service], logger: quiet)), "the service") {
        try await body()
    }
}

/// Runs `group` while `body` runs, then shuts it down gracefully, failing when it takes more than 30 s (the
/// full parallel run on 2 cores can starve it for a while).
func runGroup<T>(_ group: ServiceGroup, _ what: String, _ body: () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let value: T
        do {
            value = try await body()
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        tasks.addTask {
            try await Task.sleep(for: .seconds(30))
            throw TestFailure("\(what) did not stop within 30 s")
        }
        _ = try await tasks.next()  // the group's end, or the watchdog's failure
        tasks.cancelAll()
        return value
    }
}

/// Polls `condition` every 20 ms until it holds; fails after `timeout`.
func eventually(
    _ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting until \(what)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// The suspects the fake `detect` returns.
final class SuspectList: Sendable {
    private let value: Mutex<[Suspect]>
    init(_ suspects: [Suspect]) { value = Mutex(suspects) }
    var current: [Suspect] {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

/// A clock the test sets, UTC seconds.
final class TestClock: Sendable {
    private let value: Mutex<Int64>
    init(_ seconds: Int64) { value = Mutex(seconds) }
    func now() -> Int64 { value.withLock { $0 } }
    func set(_ seconds: Int64) { value.withLock { $0 = seconds } }
    func advance(_ seconds: Int64) { value.withLock { $0 += seconds } }
}

/// The log lines written through ``logger()``.
final class LogLines: Sendable {
    private let value = Mutex<[String]>([])
    var lines: [String] { value.withLock { $0 } }
    func append(_ line: String) { value.withLock { $0.append(line) } }
    func logger() -> Logger { Logger(label: "suspect-notifier-test") { _ in Handler(lines: self) } }

    struct Handler: LogHandler {
        let lines: LogLines
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { lines.append("\(event.level): \(event.message)") }
    }
}

/// A webhook receiver: Hummingbird on 127.0.0.1, recording each POST to `/hook`, answering 503 to the first
/// `failFirst` requests and 204 after.
final class WebhookReceiver: Sendable {
    struct Delivery: Sendable {
        var body: String
        var idempotencyKey: String?
        var contentType: String?
        var userAgent: String?
    }

    private enum Answer { case fail, stall, accept }

    private struct State {
        var deliveries: [Delivery] = []
        var requests = 0
        var failuresLeft: Int
        var stallsLeft: Int
        var port: Int?
    }

    private let state: Mutex<State>

    /// Answers 503 to the first `failFirst` requests, then waits 10 s before answering (and not recording) the next
    /// `stallFirst`.
    init(failFirst: Int = 0, stallFirst: Int = 0) {
        state = Mutex(State(failuresLeft: failFirst, stallsLeft: stallFirst))
    }

    /// The accepted (2xx) deliveries, in order.
    var deliveries: [Delivery] { state.withLock { $0.deliveries } }
    /// All requests, failed ones included.
    var requests: Int { state.withLock { $0.requests } }

    /// Listens on 127.0.0.1:`port` (0: a free port) while `body` runs with the port, then stops (at most 10 s).
    func serve<T: Sendable>(port: Int = 0, _ body: (Int) async throws -> T) async throws -> T {
        let router = Router()
        router.post("hook") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let delivery = Delivery(
                body: String(buffer: body), idempotencyKey: request.headers[.init("Idempotency-Key")!],
                contentType: request.headers[.contentType], userAgent: request.headers[.userAgent])
            let answer = self.state.withLock { state -> Answer in
                state.requests += 1
                if state.failuresLeft > 0 {
                    state.failuresLeft -= 1
                    return .fail
                }
                if state.stallsLeft > 0 {
                    state.stallsLeft -= 1
                    return .stall
                }
                state.deliveries.append(delivery)
                return .accept
            }
            if answer == .stall { try await Task.sleep(for: .seconds(10)) }
            return Response(status: answer == .fail ? .serviceUnavailable : .noContent)
        }
        state.withLock { $0.port = nil }
        let quiet = Logger(label: "receiver", factory: { _ in SwiftLogNoOpLogHandler() })
        let application = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
            onServerRunning: { channel in self.state.withLock { $0.port = channel.localAddress?.port } },
            logger: quiet)
        let group = ServiceGroup(configuration: .init(services: [application], logger: quiet))
        return try await runGroup(group, "the receiver") {
            try await eventually("the receiver listens") { self.state.withLock { $0.port } != nil }
            return try await body(state.withLock { $0.port }!)
        }
    }
}

/// The stores the notifier tests run on: SQLite always, PostgreSQL when `EGRESS25_TEST_PG_URL` names a server
/// (`scripts/test-postgres.sh start`), as ExceptionStoreTests' `TestBackend`.
enum NotifierBackend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgresql

    /// SQLite, and PostgreSQL when a test server is configured.
    static var available: [NotifierBackend] { TestPostgres.isAvailable ? [.sqlite, .postgresql] : [.sqlite] }

    var testDescription: String { rawValue }
}

/// A store for one test, removed afterwards: a SQLite file in a temporary directory, or a migrated database of its
/// own on the test PostgreSQL server. ``open()`` can be called more than once (a restarted process).
final class NotifierStore: Sendable {
    let temporary = TemporaryDirectory(prefix: "egress25-notifier-tests")
    let database: TestDatabase?
    let location: StoreLocation

    init(_ backend: NotifierBackend) throws {
        switch backend {
        case .sqlite:
            database = nil
            location = .sqlite(path: temporary.path + "/exceptions.sqlite")
        case .postgresql:
            let database = try TestPostgres.makeDatabase(prefix: "notifier")
            self.database = database
            location = .postgresql(try PostgresLocation.parse(url: database.url))
            _ = try ExceptionStore.migrateSchema(at: location)
        }
    }

    deinit {
        try? database?.drop()
        temporary.cleanup()
    }

    func open() throws -> ExceptionStore { try ExceptionStore(location: location, mode: .create) }
}
