import Atomics
import Egress25Core
import Egress25System
import ExceptionStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A fleet router's policy data (`store.url` set): a ``PolicyReplica`` of the fleet store kept current from its
/// change log, the cache file it starts from when PostgreSQL is unreachable, and the router's own `node` row.
///
/// The database being down is normal: the router keeps enforcing the last data it applied (expiry and lease ends
/// are judged by the clock in the snapshot), retries with backoff, and catches up when the database returns. With
/// neither database nor cache it enforces the configuration's own policy (relays and static exceptions) and says so
/// in one log line. All store calls run on the sync thread (``FleetSyncService``), never on a queue worker.
final class FleetPolicy: Sendable {
    struct State {
        var store: ExceptionStore?
        /// The data in force; `nil` before any (no database and no cache).
        var replica: PolicyReplica?
        /// The replica changed since the cache was written.
        var cacheDirty = false
        /// Monotonic ms of the last cache write.
        var lastCacheSave: Int64 = 0
    }

    let openStore: @Sendable () throws -> ExceptionStore
    /// The store's description, for the cache and messages (`USER@HOST:PORT/DB`).
    let storeDescription: String
    let nodeName: String
    let cachePath: String
    /// `store.max_staleness`, s: beyond it `/healthz` is unhealthy.
    let maxStalenessSeconds: Int64
    let logger: Logger
    private let state = Mutex(State())

    /// Whether the last store call succeeded (`egress25_store_connected`).
    let connected = ManagedAtomic<Bool>(false)
    /// When the data in force was last confirmed current (UTC s); 0 before any data.
    let dataFetchedAt = ManagedAtomic<Int64>(0)
    /// The store's change token of the data in force (`egress25_policy_store_generation`, `node list`).
    let dataGeneration = ManagedAtomic<Int64>(0)
    /// Sync attempts that failed (`egress25_store_errors_total`).
    let errors = ManagedAtomic<UInt64>(0)

    /// Rung by the fleet store's `NOTIFY egress25_policy` and by shutdown: wakes the sync thread before its next
    /// poll.
    let wake = DispatchSemaphore(value: 0)
    private let doorbell = Mutex<StoreDoorbell?>(nil)

    /// Keeps a `LISTEN` open while the store answers (reopened after it was lost); a failure is not an error: the
    /// 250 ms poll still finds every change.
    func keepDoorbell() {
        if doorbell.withLock({ $0?.isOpen }) == true { return }
        guard let store = state.withLock({ $0.store }) else { return }
        do {
            let bell = try store.policyDoorbell { [wake] in wake.signal() }
            doorbell.withLock { $0 = bell }
        } catch {
            logger.debug("no doorbell on the fleet store; polling only", metadata: ["error": "\(error)"])
        }
    }

    func closeDoorbell() {
        doorbell.withLock {
            $0?.close()
            $0 = nil
        }
    }

    /// Fewer cache writes than changes: at most one per this many ms (a 1,000 changes/s feed must not rewrite
    /// a 100,000-binding file each time); the last change is always written within this interval.
    static let cacheSaveIntervalMilliseconds: Int64 = 2_000

    init(
        openStore: @escaping @Sendable () throws -> ExceptionStore, storeDescription: String, nodeName: String,
        cachePath: String, maxStalenessSeconds: Int64, logger: Logger
    ) {
        self.openStore = openStore
        self.storeDescription = storeDescription
        self.nodeName = nodeName
        self.cachePath = cachePath
        self.maxStalenessSeconds = maxStalenessSeconds
        self.logger = logger
    }

    /// The first data: from the store when it answers, else from the cache, else none (one log line each).
    func start(now: Int64 = UTCTime.now()) {
        switch sync(now: now) {
        case .changed, .unchanged:
            logger.notice(
                "policy data read from the fleet store",
                metadata: ["store": "\(storeDescription)", "generation": "\(dataGeneration.load(ordering: .relaxed))"])
            return
        case .failed(let error):
            do {
                if let cached = try PolicyReplicaCache.load(from: cachePath, store: storeDescription) {
                    install(cached, dirty: false)
                    logger.warning(
                        "the fleet store is unreachable; enforcing the cached policy data until it answers",
                        metadata: [
                            "error": "\(error)", "cache": "\(cachePath)",
                            "age_seconds": "\(now - cached.fetchedAt)",
                        ])
                    return
                }
            } catch {
                logger.error("the policy cache is unusable", metadata: ["error": "\(error)"])
            }
            logger.error(
                """
                the fleet store is unreachable and no policy cache exists: enforcing the configuration's own policy \
                (relays and static exceptions) until the store answers
                """,
                metadata: ["error": "\(error)"])
        }
    }

    enum SyncOutcome {
        case changed
        case unchanged
        case failed(ExceptionStoreError)
    }

    /// One round trip to the store: opens it when needed and applies what changed. Never throws: a failure marks
    /// the store disconnected and keeps the data in force.
    func sync(now: Int64 = UTCTime.now()) -> SyncOutcome {
        let (store, replica) = state.withLock { ($0.store, $0.replica) }
        do {
            let open: ExceptionStore
            if let store {
                open = store
            } else {
                do {
                    open = try openStore()
                } catch let error as ExceptionStoreError {
                    throw error
                } catch {
                    throw ExceptionStoreError(.io, "\(error)")
                }
                state.withLock { $0.store = open }
            }
            var next = replica ?? PolicyReplica()
            let result = try open.syncPolicyReplica(&next, now: now)
            if !connected.exchange(true, ordering: .relaxed) {
                logger.notice("fleet store connected", metadata: ["store": "\(storeDescription)"])
            }
            switch result {
            case .unchanged:
                // Only the fetch time moved: the cache is rewritten with it at most every minute.
                install(next, dirty: replica == nil)
                return replica == nil ? .changed : .unchanged
            case .applied, .reloaded:
                return installing(next)
            }
        } catch let error as ExceptionStoreError {
            return failed(error)
        } catch {
            return failed(ExceptionStoreError(.io, "\(error)"))
        }
    }

    private func installing(_ replica: PolicyReplica) -> SyncOutcome {
        install(replica, dirty: true)
        return .changed
    }

    /// The cache is rewritten at least this often while the data is confirmed current, so a router restarted from
    /// it reports the data's true age, ms.
    static let cacheRefreshMilliseconds: Int64 = 60_000

    private func failed(_ error: ExceptionStoreError) -> SyncOutcome {
        errors.wrappingIncrement(ordering: .relaxed)
        if connected.exchange(false, ordering: .relaxed) {
            logger.error(
                "fleet store unreachable; enforcing the policy data in force and retrying",
                metadata: ["error": "\(error)"])
        }
        return .failed(error)
    }

    private func install(_ replica: PolicyReplica, dirty: Bool) {
        state.withLock {
            $0.replica = replica
            if dirty { $0.cacheDirty = true }
        }
        dataFetchedAt.store(replica.fetchedAt, ordering: .relaxed)
        dataGeneration.store(replica.generation, ordering: .relaxed)
    }

    /// The policy inputs of the data in force; `nil` when there is none (the configuration's policy only).
    func policyInputs(now: Int64) -> (exceptions: [ExceptionRule], bindings: [CustomerBinding])? {
        let replica = state.withLock { $0.replica }
        return replica?.policyInputs(now: now)
    }

    /// The age of the data in force, s; `nil` when there is none.
    func dataAgeSeconds(now: Int64 = UTCTime.now()) -> Int64? {
        let fetched = dataFetchedAt.load(ordering: .relaxed)
        return fetched == 0 ? nil : max(0, now - fetched)
    }

    /// The `/healthz` problem, if any: no policy data, or data older than `store.max_staleness`.
    func problem(now: Int64 = UTCTime.now()) -> String? {
        guard let age = dataAgeSeconds(now: now) else {
            return "no policy data from the fleet store \(storeDescription) yet (unreachable, no cache)"
        }
        if age > maxStalenessSeconds {
            return "policy data is \(age) s old, older than store.max_staleness (\(maxStalenessSeconds) s): "
                + "the fleet store \(storeDescription) has not answered"
        }
        return nil
    }

    /// Writes the cache when the data changed and the last write is ``cacheSaveIntervalMilliseconds`` old.
    func saveCacheIfDue(nowMilliseconds: Int64 = SystemClock.monotonicMilliseconds()) {
        let replica: PolicyReplica? = state.withLock { state in
            let elapsed = nowMilliseconds - state.lastCacheSave
            guard let replica = state.replica,
                (state.cacheDirty && elapsed >= Self.cacheSaveIntervalMilliseconds)
                    || elapsed >= Self.cacheRefreshMilliseconds
            else { return nil }
            state.cacheDirty = false
            state.lastCacheSave = nowMilliseconds
            return replica
        }
        guard let replica else { return }
        do {
            try PolicyReplicaCache.save(replica, store: storeDescription, to: cachePath)
        } catch {
            state.withLock { $0.cacheDirty = true }
            logger.error("cannot write the policy cache; retrying", metadata: ["error": "\(error)"])
        }
    }

    /// Writes this router's `node` row: heartbeat, the policy generation in force and the age of its data.
    /// - Parameter shippingLagSeconds: the block-log shipper's lag, `nil` without one (or before its first pass).
    func heartbeat(now: Int64 = UTCTime.now(), shippingLagSeconds: Int64? = nil) {
        guard let store = state.withLock({ $0.store }) else { return }
        do {
            try store.recordNodeHeartbeat(
                NodeHeartbeat(
                    node: nodeName, at: now, policyGeneration: dataGeneration.load(ordering: .relaxed),
                    policyDataAt: dataFetchedAt.load(ordering: .relaxed), shippingLagSeconds: shippingLagSeconds))
        } catch {
            logger.warning("cannot record the node heartbeat", metadata: ["error": "\(error)"])
        }
    }
}

/// Keeps the fleet router's policy data current: one thread (the store calls block on network round trips and
/// must not hold Swift concurrency's few threads) that asks the store what changed when its doorbell rings
/// (`LISTEN egress25_policy`) and at least every 250 ms, republishes the snapshot when something did (at most every
/// 500 ms: under a session feed's churn one rebuild covers many changes), writes the cache and the node's
/// heartbeat; after a failure it tries again every 0.5 s.
struct FleetSyncService: Service {
    let fleet: FleetPolicy
    /// Its lag goes into the heartbeat.
    let shipper: BlockLogShipper?
    let reload: @Sendable (Daemon.ReloadSource, String) -> Bool

    /// The poll interval, ms.
    static let pollMilliseconds: Int64 = 250
    /// The longest wait between attempts while the store is unreachable, ms.
    static let maxBackoffMilliseconds: Int64 = 500
    /// How often the node row is written, ms.
    static let heartbeatMilliseconds: Int64 = 5_000
    /// The shortest time between two republished snapshots, ms: a rebuild of 100,000 bindings costs tens of ms of
    /// CPU, so a churn of 1,000 changes/s is folded into 2 rebuilds a second, each change live within 0.5 s plus
    /// the sync.
    static let republishMilliseconds: Int64 = 500

    func run() async throws {
        let stop = ManagedAtomic<Bool>(false)
        let finished = DispatchSemaphore(value: 0)
        let thread = Thread { [fleet, shipper, reload] in
            Thread.current.name = "fleet-sync"
            var wait = Self.pollMilliseconds
            var lastHeartbeat: Int64 = 0
            var lastPublish: Int64 = .min / 2
            var unpublished = false
            while !stop.load(ordering: .relaxed) {
                // The doorbell, a shutdown, the poll interval or a deferred republish, whichever comes first.
                var timeout = wait
                if unpublished {
                    let due = lastPublish + Self.republishMilliseconds - SystemClock.monotonicMilliseconds()
                    timeout = max(0, min(timeout, due))
                }
                _ = fleet.wake.wait(timeout: .now() + .milliseconds(Int(timeout)))
                if stop.load(ordering: .relaxed) { break }
                let outcome = fleet.sync()
                if case .changed = outcome { unpublished = true }
                let now = SystemClock.monotonicMilliseconds()
                if unpublished && now - lastPublish >= Self.republishMilliseconds {
                    _ = reload(.exceptionStore, "fleet store changed")
                    lastPublish = now
                    unpublished = false
                }
                switch outcome {
                case .changed:
                    wait = Self.pollMilliseconds
                    fleet.keepDoorbell()
                case .unchanged:
                    wait = Self.pollMilliseconds
                    fleet.keepDoorbell()
                case .failed:
                    wait = min(wait * 2, Self.maxBackoffMilliseconds)
                }
                fleet.saveCacheIfDue()
                if fleet.connected.load(ordering: .relaxed) && now - lastHeartbeat >= Self.heartbeatMilliseconds {
                    lastHeartbeat = now
                    let lag = shipper?.lagSeconds.load(ordering: .relaxed)
                    fleet.heartbeat(shippingLagSeconds: lag.flatMap { $0 < 0 ? nil : $0 })
                }
            }
            fleet.closeDoorbell()
            fleet.saveCacheIfDue(nowMilliseconds: .max / 2)
            finished.signal()
        }
        thread.start()
        try? await gracefulShutdown()
        stop.store(true, ordering: .relaxed)
        fleet.wake.signal()
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                finished.wait()
                continuation.resume()
            }
        }
    }
}
