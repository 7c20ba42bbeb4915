import DequeModule
import Egress25Core
import ExceptionStore
import Foundation
import Logging
import NIOCore
import RadiusAccounting
import Synchronization

/// One verified Accounting-Request waiting for its batch: the store event it becomes, and where its answer goes.
struct PendingAccounting: Sendable {
    /// What the request asks of the store.
    var event: AccountingEvent
    /// The NAS it speaks for (the `nas` label, and the session key's first half).
    var nas: String
    /// Its content without Identifier and Acct-Delay-Time: a retransmit has the same.
    var digest: RadiusContentDigest
    /// When the event happened at the NAS, UTC seconds: receipt minus Acct-Delay-Time.
    var eventTime: Int64
    /// The answer's ingredients.
    var identifier: UInt8
    var authenticator: RadiusAuthenticator
    var secret: [UInt8]
    var channel: any Channel
    var remote: SocketAddress

    /// The key of the session this event concerns, `nil` for Accounting-On/Off.
    var sessionKey: SessionKey? {
        switch event {
        case .start(let session), .interim(let session): SessionKey(nas: session.nas, sessionID: session.sessionID)
        case .stop(let nas, let sessionID): SessionKey(nas: nas, sessionID: sessionID)
        case .nasRestart: nil
        }
    }
}

/// A session's key: (NAS, Acct-Session-Id).
struct SessionKey: Hashable, Sendable {
    var nas: String
    var sessionID: String
}

/// A request's identity across retransmits: its NAS and content digest.
struct RetransmitKey: Hashable, Sendable {
    var nas: String
    var digest: RadiusContentDigest
}

/// Group commit for the RADIUS feed: requests queue here from the listener's event loops; one thread of its own
/// takes everything queued (up to ``maximumBatch``), applies it to the store in one transaction
/// (``ExceptionStore/applyAccounting(_:actor:now:plan:)``), and only after the commit answers each request. While
/// one batch commits the next one gathers, so a storm makes batches larger, not queues longer; a lone request is
/// committed at once.
///
/// Nothing is answered that is not committed: when the store fails, the batch goes unanswered and the NASes
/// retransmit. Requests beyond ``maximumQueued`` are dropped unanswered (counted `status="overload"`).
///
/// Retransmits are recognized without the store: by content (``RetransmitKey``) for 2 min after their answer.
/// An Interim arriving after its session's Stop, and a Start from before its NAS's Accounting-On, are answered as
/// duplicates for 1 h (the memory is lost on restart; the store's own rule, a stopped session is never reopened,
/// still holds then).
final class AccountingCommitter: Sendable {
    /// The most requests one transaction takes.
    static let maximumBatch = 2000
    /// The most requests waiting for a batch: about 2.5 s of what one SQLite store commits on a small router
    /// (8,000 Starts/s, BENCHMARKS.md). A request that would wait longer is better dropped (the NAS retransmits
    /// it) than answered after the NAS gave up on it.
    static let maximumQueued = 20_000
    /// How long an answered request's content is remembered as a retransmit, seconds.
    static let retransmitMemorySeconds: Int64 = 120
    /// How long a stopped session or a NAS restart is remembered, seconds.
    static let stopMemorySeconds: Int64 = 3600

    private struct Queue: ~Copyable {
        var pending = Deque<PendingAccounting>()
        var stopping = false
        var running = false
    }

    private let queue = Mutex(Queue())
    private let wakeup = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let store: ExceptionStore
    private let plan: AddressPlan?
    private let metrics: RadiusMetrics
    private let logger: Logger
    private let clock: @Sendable () -> Int64

    /// - Parameters:
    ///   - store: A store of its own (its own PostgreSQL connection), so a storm never waits for API requests.
    ///   - plan: Bounds on the sessions' prefixes (`policy.subscriber_ranges`, `sessions.max_prefix`).
    ///   - clock: UTC seconds.
    init(
        store: ExceptionStore, plan: AddressPlan?, metrics: RadiusMetrics, logger: Logger,
        clock: @escaping @Sendable () -> Int64 = { UTCTime.now() }
    ) {
        self.store = store
        self.plan = plan
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
    }

    /// Starts the committing thread (once).
    func start() {
        let first = queue.withLock { queue -> Bool in
            defer { queue.running = true }
            return !queue.running && !queue.stopping
        }
        guard first else { return }
        let thread = Thread { [self] in
            var state = CommitterState()
            run(&state)
            finished.signal()
        }
        thread.name = "egress25-radius-commit"
        thread.start()
    }

    /// Stops after the batch in progress; requests still queued go unanswered (the NASes retransmit them to the
    /// next instance). Blocks until the thread has ended; idempotent.
    func stop() {
        let wasRunning = queue.withLock { queue -> Bool in
            defer {
                queue.stopping = true
                queue.running = false
            }
            return queue.running
        }
        guard wasRunning else { return }
        wakeup.signal()
        finished.wait()
    }

    /// Queues one request; called on the listener's event loops. Drops it (counted) when the queue is full.
    func submit(_ request: PendingAccounting) {
        let outcome = queue.withLock { queue -> (accepted: Bool, wasEmpty: Bool) in
            guard !queue.stopping, queue.pending.count < Self.maximumQueued else { return (false, false) }
            queue.pending.append(request)
            return (true, queue.pending.count == 1)
        }
        if !outcome.accepted {
            metrics.requests(.overload, nas: request.nas)
        } else if outcome.wasEmpty {
            wakeup.signal()
        }
    }

    /// What the committing thread remembers between batches (owned by it alone).
    struct CommitterState {
        var answered: [RetransmitKey: Int64] = [:]
        var answeredOrder = Deque<(RetransmitKey, Int64)>()
        var stopped: [SessionKey: Int64] = [:]
        var stoppedOrder = Deque<(SessionKey, Int64)>()
        var restarts: [String: Int64] = [:]
        var failures = 0
        var lastFailureLog: Int64 = 0

        /// Forgets what is older than the memories' limits.
        mutating func expire(now: Int64) {
            while let (key, at) = answeredOrder.first, at + AccountingCommitter.retransmitMemorySeconds < now {
                answeredOrder.removeFirst()
                if answered[key] == at { answered[key] = nil }
            }
            while let (key, at) = stoppedOrder.first, at + AccountingCommitter.stopMemorySeconds < now {
                stoppedOrder.removeFirst()
                if stopped[key] == at { stopped[key] = nil }
            }
            restarts = restarts.filter { $0.value + AccountingCommitter.stopMemorySeconds >= now }
        }
    }

    private func run(_ state: inout CommitterState) {
        while true {
            let batch = queue.withLock { queue -> [PendingAccounting]? in
                if queue.stopping { return nil }
                let count = min(queue.pending.count, Self.maximumBatch)
                guard count > 0 else { return [] }
                let batch = Array(queue.pending.prefix(count))
                queue.pending.removeFirst(count)
                return batch
            }
            guard let batch else { return }
            if batch.isEmpty {
                wakeup.wait()
                continue
            }
            commit(batch, &state)
        }
    }

    /// Sorts out the retransmits, applies the rest in one transaction, answers.
    func commit(_ batch: [PendingAccounting], _ state: inout CommitterState) {
        let now = clock()
        state.expire(now: now)
        // Each request either becomes an event of this batch (its index in `events`), or is a repeat of one
        // (answered with it), or is answered at once as a duplicate.
        var events: [AccountingEvent] = []
        var owner: [Int] = []  // for each event, the index of the request it came from
        var followers: [Int: [Int]] = [:]  // event index -> requests answered with it
        var firstInBatch: [RetransmitKey: Int] = [:]
        var immediate: [Int] = []
        for (index, request) in batch.enumerated() {
            let key = RetransmitKey(nas: request.nas, digest: request.digest)
            if state.answered[key] != nil || isStale(request, state) {
                immediate.append(index)
            } else if let event = firstInBatch[key] {
                followers[event, default: []].append(index)
            } else {
                firstInBatch[key] = events.count
                owner.append(index)
                events.append(request.event)
            }
        }
        var outcomes: [AccountingOutcome] = []
        if !events.isEmpty {
            do {
                outcomes = try store.applyAccounting(events, actor: "radius", now: now, plan: plan)
                state.failures = 0
            } catch {
                // Nothing of the batch was applied; its requests go unanswered and come back as retransmits.
                state.failures += 1
                for request in batch { metrics.requests(.storeError, nas: request.nas) }
                if now - state.lastFailureLog >= 10 {
                    state.lastFailureLog = now
                    logger.error(
                        "RADIUS accounting not recorded: the store failed; the NASes will retransmit",
                        metadata: ["error": "\(error)", "requests": "\(batch.count)"])
                }
                // Do not spin against a store that is down: back off up to 1 s (requests keep queuing, bounded).
                Thread.sleep(forTimeInterval: min(1.0, 0.05 * Double(state.failures)))
                return
            }
        }
        // Committed: remember, count and answer.
        var answers: [Int] = immediate
        var tally: [String: [RadiusMetrics.Status: Int]] = [:]
        for index in immediate { tally[batch[index].nas, default: [:]][.duplicate, default: 0] += 1 }
        for (eventIndex, outcome) in outcomes.enumerated() {
            let request = batch[owner[eventIndex]]
            let status: RadiusMetrics.Status
            switch outcome {
            case .applied: status = .applied
            case .duplicate: status = .duplicate
            case .rejected(let error):
                status = .rejected
                logger.warning(
                    "RADIUS accounting refused by the store",
                    metadata: ["nas": "\(request.nas)", "reason": "\(error.message)"])
            }
            tally[request.nas, default: [:]][status, default: 0] += 1
            for follower in followers[eventIndex] ?? [] {
                tally[batch[follower].nas, default: [:]][.duplicate, default: 0] += 1
            }
            answers.append(owner[eventIndex])
            answers.append(contentsOf: followers[eventIndex] ?? [])
            let key = RetransmitKey(nas: request.nas, digest: request.digest)
            state.answered[key] = now
            state.answeredOrder.append((key, now))
            switch request.event {
            case .stop(let nas, let sessionID):
                let session = SessionKey(nas: nas, sessionID: sessionID)
                state.stopped[session] = now
                state.stoppedOrder.append((session, now))
            case .nasRestart(let nas, let before):
                state.restarts[nas] = max(state.restarts[nas] ?? before, before)
            case .start, .interim:
                break
            }
        }
        for (nas, statuses) in tally {
            for (status, count) in statuses { metrics.requests(status, nas: nas, count: count) }
        }
        answer(answers.map { batch[$0] })
    }

    /// Whether the store would take `request` for new although it is old news: a Start or Interim of a session
    /// stopped within the last hour, or a Start that happened before its NAS's last Accounting-On/Off.
    private func isStale(_ request: PendingAccounting, _ state: CommitterState) -> Bool {
        switch request.event {
        case .start(let session):
            // A Start of a stopped session goes to the store: it never reopens the session, but it ends whoever
            // else holds the addresses (a NAS that reuses session ids after a reboot).
            if let restart = state.restarts[session.nas] { return request.eventTime < restart }
            return false
        case .interim(let session):
            return state.stopped[SessionKey(nas: session.nas, sessionID: session.sessionID)] != nil
        case .stop, .nasRestart:
            return false
        }
    }

    /// Sends the Accounting-Responses, one write per request and one flush per channel.
    private func answer(_ requests: [PendingAccounting]) {
        guard !requests.isEmpty else { return }
        var byChannel: [ObjectIdentifier: (channel: any Channel, envelopes: [AddressedEnvelope<ByteBuffer>])] = [:]
        let allocator = ByteBufferAllocator()
        for request in requests {
            var buffer = allocator.buffer(capacity: 20)
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 20) { bytes in
                AccountingCodec.encodeResponse(
                    identifier: request.identifier, requestAuthenticator: request.authenticator,
                    secret: request.secret, into: bytes)
                return 20
            }
            let id = ObjectIdentifier(request.channel)
            byChannel[id, default: (request.channel, [])].envelopes.append(
                AddressedEnvelope(remoteAddress: request.remote, data: buffer))
        }
        for (_, entry) in byChannel {
            let channel = entry.channel
            let envelopes = entry.envelopes
            channel.eventLoop.execute {
                for envelope in envelopes { channel.write(envelope, promise: nil) }
                channel.flush()
            }
        }
    }
}
