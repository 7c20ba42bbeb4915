import AsyncHTTPClient
import Egress25Configuration
import Egress25Core
import Egress25Operations
import ExceptionStore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Finds suspects (``SuspectDetector``) and announces each one once on `abuse.webhook.url`: egress25-admin's
/// service for the abuse desk's ticketing.
///
/// Every ``interval`` one round:
/// 1. `detect` the suspects of the windows overlapping the last two windows up to now;
/// 2. record them in the store's `suspect_notice` table (``ExceptionStore/recordSuspectNotices(_:now:)``): a
///    (source, window) already recorded is left as it was, so a suspect is announced once per window, across
///    restarts and across several egress25-admin processes on one store, and its evidence is the window as it
///    stood when the source first crossed a threshold;
/// 3. with a webhook URL, deliver the due notices, oldest first, one at a time, at most 100 a round: an HTTP POST
///    of the evidence document (below) with `Content-Type: application/json`, `User-Agent: egress25-admin` and
///    `Idempotency-Key: <source>/<window start>`. A 2xx answer marks the notice delivered; anything else (another
///    status, a timeout, a refused connection) records the error and schedules a retry after ``RetryPolicy`` (5 s,
///    10 s, 20 s … at most 15 min, plus up to 10 % jitter), and ends the round's deliveries, so a receiver that is
///    down costs one timeout per round, not one per notice. Redirects are not followed (a 3xx is a failure).
///    Without a webhook URL suspects are still recorded (the API lists them) and nothing is delivered; a URL
///    configured later receives the pending notices of the retention period, oldest first;
/// 4. once an hour, delete the notices whose window started more than 7 days ago.
///
/// Delivery is at least once: a crash (or a lost store write) between the receiver's 2xx and recording it sends
/// the notice again after the restart, with the same `Idempotency-Key`, so receivers can de-duplicate on it. Two
/// egress25-admin processes on one store may likewise both send a notice that falls due at the same moment.
///
/// The evidence document (RFC 8259 JSON, times RFC 3339 UTC):
/// `{"type": "egress25.suspect", "id": "<source>/<window start, UTC seconds>", "detected_at": "…",
/// "suspect": <``Suspect``>, "node": "<this egress25-admin's node name>"}`.
///
/// Errors never end the service: each is logged as one line and the next round tries again. The store's blocking
/// calls run on the ``StoreExecutor``'s threads.
public final class SuspectNotifier: Service, Sendable {
    /// Finds the suspects of the windows overlapping `[since, until)` (UTC seconds), e.g.
    /// ``detector(source:settings:executor:)``.
    public typealias Detect = @Sendable (_ since: Int64, _ until: Int64) async throws -> [Suspect]

    /// How long after a failed delivery the notice is tried again.
    public struct RetryPolicy: Sendable, Hashable {
        /// The delay after the first failure, seconds (default 5); it doubles with each further failure.
        public var initialDelaySeconds: Int64
        /// The largest delay, seconds, before jitter (default 15 min).
        public var maximumDelaySeconds: Int64
        /// The largest jitter, as a fraction of the delay (default 0.1: up to 10 % more).
        public var jitter: Double

        /// Creates a policy; delays in seconds, `jitter` a fraction of the delay.
        public init(initialDelaySeconds: Int64 = 5, maximumDelaySeconds: Int64 = 900, jitter: Double = 0.1) {
            self.initialDelaySeconds = initialDelaySeconds
            self.maximumDelaySeconds = maximumDelaySeconds
            self.jitter = jitter
        }

        /// The delay after the `failures`-th failure (1 for the first), seconds: `initialDelaySeconds ×
        /// 2^(failures − 1)`, at most `maximumDelaySeconds`, plus `jitter × unitRandom` of it (rounded down).
        /// - Parameter unitRandom: A number in `0..<1`.
        public func delaySeconds(afterFailures failures: Int, unitRandom: Double) -> Int64 {
            let doublings = min(max(0, failures - 1), 40)
            let (scaled, overflow) = initialDelaySeconds.multipliedReportingOverflow(by: Int64(1) << doublings)
            let delay = max(0, overflow ? maximumDelaySeconds : min(scaled, maximumDelaySeconds))
            let extra = Double(delay) * max(0, jitter) * min(max(0, unitRandom), 1)
            return delay + Int64(extra.rounded(.down))
        }
    }

    /// The most deliveries one round makes.
    public static let maximumDeliveriesPerRound = 100
    /// How long notices are kept after their window started, seconds (7 days).
    public static let retentionSeconds: Int64 = 7 * 86400
    /// How often old notices are pruned, seconds (1 hour).
    public static let pruneIntervalSeconds: Int64 = 3600

    let store: ExceptionStore
    let executor: StoreExecutor
    let settings: AbuseSettings
    let nodeName: String
    /// The time between two rounds.
    public let interval: Duration
    let retry: RetryPolicy
    let clock: @Sendable () -> Int64
    let logger: Logger
    let detect: Detect

    private let deliveredCount = Atomic<Int>(0)
    private let failedCount = Atomic<Int>(0)
    private let pendingCount = Atomic<Int>(0)
    private let roundCount = Atomic<Int>(0)
    private let lastPrune = Mutex<Int64?>(nil)

    /// Creates the service; ``run()`` starts it.
    ///
    /// - Parameters:
    ///   - store: The store holding `suspect_notice` (the admin's store: SQLite or the fleet's PostgreSQL).
    ///   - executor: Where the store's blocking calls run.
    ///   - settings: `abuse:`: the window length, the webhook URL (`nil`: record only) and its timeout (ms).
    ///   - nodeName: This egress25-admin's node name, the evidence's `node`.
    ///   - interval: The time between two rounds (default 15 s).
    ///   - retry: The delays after failed deliveries.
    ///   - clock: The current time, UTC seconds.
    ///   - logger: Where the one-line reports of suspects, deliveries and errors go.
    ///   - detect: Finds the suspects of `[since, until)`, UTC seconds.
    public init(
        store: ExceptionStore, executor: StoreExecutor, settings: AbuseSettings, nodeName: String,
        interval: Duration = .seconds(15), retry: RetryPolicy = RetryPolicy(),
        clock: @escaping @Sendable () -> Int64 = { UTCTime.now() }, logger: Logger, detect: @escaping Detect
    ) {
        self.store = store
        self.executor = executor
        self.settings = settings
        self.nodeName = nodeName
        self.interval = interval
        self.retry = retry
        self.clock = clock
        self.logger = logger
        self.detect = detect
    }

    /// A `detect` that reads `source` with ``SuspectDetector/suspects(in:since:until:settings:)`` on the executor's
    /// threads (the block log and the store are read with blocking calls).
    public static func detector(
        source: BlockedAttemptSource, settings: AbuseSettings, executor: StoreExecutor
    ) -> Detect {
        { since, until in
            try await executor.run { _ in
                try SuspectDetector.suspects(in: source, since: since, until: until, settings: settings)
            }
        }
    }

    /// Notices delivered (2xx) since the service was created.
    public var delivered: Int { deliveredCount.load(ordering: .relaxed) }
    /// Delivery attempts that failed since the service was created.
    public var failed: Int { failedCount.load(ordering: .relaxed) }
    /// Notices not delivered yet (due or waiting for a retry), as of the last round.
    public var pending: Int { pendingCount.load(ordering: .relaxed) }
    /// Rounds completed since the service was created.
    public var rounds: Int { roundCount.load(ordering: .relaxed) }

    /// Runs a round every ``interval`` until the task is cancelled or a graceful shutdown begins; a shutdown lets
    /// the delivery under way finish (at most the webhook timeout) and stops before the next. The HTTP client is
    /// created here and shut down on the way out.
    /// - Throws: Nothing: errors are logged and the next round tries again.
    public func run() async throws {
        let client = settings.webhookURL.map { _ in
            HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: clientConfiguration)
        }
        let target = settings.webhookURL.map { "webhook \($0)" } ?? "no webhook (recording only)"
        logger.info("suspect notifier started: window \(settings.windowSeconds) s, every \(interval), \(target)")
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await round(client: client)
            try? await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
        }
        do {
            // In a task of its own: a cancelled task's shutdown can end early and leave the client running, and
            // AsyncHTTPClient traps when a client is freed without a shutdown.
            if let client { try await Task { try await client.shutdown() }.value }
        } catch {
            logger.warning("suspect notifier: cannot shut the HTTP client down: \(error)")
        }
        logger.info("suspect notifier stopped")
    }

    var clientConfiguration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        let timeout = TimeAmount.milliseconds(max(1, settings.webhookTimeoutMilliseconds))
        configuration.timeout = .init(connect: timeout, read: timeout)
        // A refused connection fails the request now rather than being retried until the deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }

    /// One round: detect and record, deliver what is due (with `client`, when there is a webhook URL), prune once an
    /// hour, count the pending notices.
    func round(client: HTTPClient?) async {
        let now = clock()
        await recordSuspects(now: now)
        if let client, let url = settings.webhookURL { await deliverDue(url: url, client: client, now: now) }
        await pruneIfDue(now: now)
        do {
            let pending = try await executor.run { [store] _ in try store.pendingSuspectNoticeCount() }
            pendingCount.store(pending, ordering: .relaxed)
        } catch {
            logger.warning("suspect notifier: cannot count pending notices: \(error)")
        }
        roundCount.add(1, ordering: .relaxed)
    }

    func recordSuspects(now: Int64) async {
        let window = max(1, settings.windowSeconds)
        let suspects: [Suspect]
        do {
            suspects = try await detect(now - 2 * window, now)
        } catch {
            logger.warning("suspect notifier: cannot detect suspects: \(error)")
            return
        }
        guard !suspects.isEmpty else { return }
        do {
            let notices = try suspects.map { suspect in
                SuspectNotice(
                    source: suspect.source, windowStart: suspect.windowStart, detectedAt: now,
                    evidence: try Self.evidence(suspect, detectedAt: now, node: nodeName), nextAttemptAt: now)
            }
            let new = try await executor.run { [store] _ in try store.recordSuspectNotices(notices, now: now) }
            let newKeys = Set(new.map(Self.idempotencyKey))
            for suspect in suspects where newKeys.contains("\(suspect.source)/\(suspect.windowStart)") {
                let reasons = suspect.reasons.map(\.rawValue).joined(separator: ", ")
                let rate = (suspect.synsPerMinute * 10).rounded() / 10
                let message =
                    "suspect \(suspect.source) in the window from \(UTCTime.format(suspect.windowStart)): "
                    + "\(suspect.distinctDestinations) destinations, \(suspect.attempts) attempts, \(rate)/min "
                    + "(\(reasons))"
                logger.notice("\(message)")
            }
        } catch {
            logger.warning("suspect notifier: cannot record \(suspects.count) suspect(s): \(error)")
        }
    }

    func deliverDue(url: String, client: HTTPClient, now: Int64) async {
        let due: [SuspectNotice]
        do {
            due = try await executor.run { [store] _ in
                try store.dueSuspectNotices(now: now, limit: Self.maximumDeliveriesPerRound)
            }
        } catch {
            logger.warning("suspect notifier: cannot read due notices: \(error)")
            return
        }
        for notice in due {
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            let failure = await post(notice, to: url, client: client)
            if failure != nil && Task.isCancelled { return }  // cut off by the shutdown, not the receiver's fault
            let finished = clock()
            let key = Self.idempotencyKey(notice)
            let retryAt: Int64
            if let failure {
                failedCount.add(1, ordering: .relaxed)
                let delay = retry.delaySeconds(
                    afterFailures: notice.attempts + 1, unitRandom: Double.random(in: 0..<1))
                retryAt = finished + delay
                logger.warning(
                    "suspect notifier: delivery of \(key) failed (attempt \(notice.attempts + 1)): \(failure); retrying in \(delay) s"
                )
            } else {
                deliveredCount.add(1, ordering: .relaxed)
                retryAt = finished
                logger.info("suspect notifier: delivered \(key)")
            }
            do {
                try await executor.run { [store] _ in
                    try store.recordSuspectDelivery(
                        source: notice.source, windowStart: notice.windowStart, now: finished, error: failure,
                        retryAt: retryAt)
                }
            } catch {
                logger.warning(
                    "suspect notifier: cannot record the delivery of \(key) (it will be sent again): \(error)")
                return
            }
            if failure != nil { return }
        }
    }

    /// POSTs the notice's evidence; `nil` on a 2xx answer, else why not.
    func post(_ notice: SuspectNotice, to url: String, client: HTTPClient) async -> String? {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "egress25-admin")
        request.headers.add(name: "Idempotency-Key", value: Self.idempotencyKey(notice))
        request.body = .bytes(ByteBuffer(string: notice.evidence))
        do {
            let response = try await client.execute(
                request, timeout: .milliseconds(max(1, settings.webhookTimeoutMilliseconds)))
            // Read (and drop) the answer so the connection can be reused; its content does not matter.
            _ = try? await response.body.collect(upTo: 64 * 1024)
            guard (200..<300).contains(response.status.code) else {
                return "HTTP \(response.status.code) \(response.status.reasonPhrase)"
            }
            return nil
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            return "no answer within \(settings.webhookTimeoutMilliseconds) ms"
        } catch {
            return String(describing: error)
        }
    }

    func pruneIfDue(now: Int64) async {
        let due = lastPrune.withLock { last in
            guard last.map({ now - $0 >= Self.pruneIntervalSeconds }) ?? true else { return false }
            last = now
            return true
        }
        guard due else { return }
        do {
            let pruned = try await executor.run { [store] _ in
                try store.pruneSuspectNotices(before: now - Self.retentionSeconds)
            }
            if pruned > 0 { logger.info("suspect notifier: pruned \(pruned) notice(s) older than 7 days") }
        } catch {
            logger.warning("suspect notifier: cannot prune old notices: \(error)")
        }
    }

    /// `<source>/<window start, UTC seconds>`: the notice's id and `Idempotency-Key`.
    static func idempotencyKey(_ notice: SuspectNotice) -> String {
        "\(notice.source)/\(notice.windowStart)"
    }

    /// The evidence document of `suspect`, detected at `detectedAt` (UTC seconds) by egress25-admin on `node`.
    /// - Throws: `EncodingError` (not for a suspect of finite numbers).
    public static func evidence(_ suspect: Suspect, detectedAt: Int64, node: String) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let document = Evidence(
            id: "\(suspect.source)/\(suspect.windowStart)", detectedAt: detectedAt, suspect: suspect, node: node)
        return String(decoding: try encoder.encode(document), as: UTF8.self)
    }

    struct Evidence: Encodable {
        var type = "egress25.suspect"
        var id: String
        var detectedAt: Int64
        var suspect: Suspect
        var node: String

        private enum CodingKeys: String, CodingKey {
            case type, id, suspect, node
            case detectedAt = "detected_at"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(type, forKey: .type)
            try container.encode(id, forKey: .id)
            try container.encode(UTCTime.format(detectedAt), forKey: .detectedAt)
            try container.encode(suspect, forKey: .suspect)
            try container.encode(node, forKey: .node)
        }
    }
}
