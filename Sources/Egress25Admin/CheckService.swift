import Egress25Configuration
import Egress25Core
import Egress25Operations
import ExceptionStore
import Synchronization

/// Answers "why is this SYN blocked?" for the API and the console with ``PolicyExplanation``, the code
/// `egress25ctl check` runs, from a policy snapshot cached until the store's change token moves.
///
/// The token is read at most every ``tokenCheckMilliseconds`` (a change made through this server invalidates
/// at once), and the snapshot is rebuilt at least every ``maximumAgeMilliseconds``. A snapshot built at one time
/// judges correctly later: expiries and session leases are judged by the clock at decision time, and every
/// change to bindings or exceptions moves the token. An explanation at another time (`at`) builds its own.
///
/// One refresh (token read, and the rebuild when needed) runs at a time. The request that finds the cache stale
/// starts it and waits for it, so a request after a quiet spell sees every change committed before it (after
/// ``tokenCheckMilliseconds``). A request that arrives while a refresh is under way answers at once from the
/// cached snapshot when that one was confirmed current (token read) less than ``maximumStaleMilliseconds`` ago,
/// and waits for the refresh otherwise; there is no cached snapshot to answer from after ``invalidate()``.
///
/// Why (BENCHMARKS.md, "egress25-admin"; a rebuild takes about 0.3-0.4 s for 100,000 bindings on the benchmark VM):
/// when each request that found the cache stale ran its own refresh, at 500 requests/s right after a start the
/// median answer took 4.7 s and 41 % timed out; with one refresh that every stale request awaited, a session feed
/// renewing 2 sessions a second (each renewal moves the token) made p99 311 ms.
public final class CheckService: Sendable {
    /// How often the store's change token is read, at most, ms.
    public static let tokenCheckMilliseconds: Int64 = 100
    /// The oldest a cached snapshot may be, ms.
    public static let maximumAgeMilliseconds: Int64 = 60_000
    /// How long after its token was last read a cached snapshot still answers while a refresh is under way, ms.
    public static let maximumStaleMilliseconds: Int64 = 2_000

    struct Cached: Sendable {
        var token: Int64
        var snapshot: PolicySnapshot
        var builtAt: Int64
        /// When the token was last read and matched `token`, ms.
        var tokenCheckedAt: Int64
    }

    struct State {
        var cached: Cached?
        /// The refresh under way.
        var refresh: Task<Cached, any Error>?
        /// Grows with every ``invalidate()``: a refresh started before one neither installs its snapshot nor is
        /// joined by later callers.
        var epoch: UInt64 = 0
    }

    enum Lookup {
        case current(PolicySnapshot)
        case refreshing(Task<Cached, any Error>)
    }

    let configuration: Egress25Configuration
    let executor: StoreExecutor
    private let state = Mutex(State())
    /// Snapshots built for the current time so far (for tests).
    let builds = Atomic<Int>(0)

    /// Explains with `configuration`'s policy and the stores of `executor`.
    public init(configuration: Egress25Configuration, executor: StoreExecutor) {
        self.configuration = configuration
        self.executor = executor
    }

    /// Drops the cached snapshot (after a change made through this server).
    public func invalidate() {
        state.withLock { state in
            state.cached = nil
            state.refresh = nil
            state.epoch &+= 1
        }
    }

    /// The explanation of a SYN from `source` to `destination`:`port`, judged now or `at`.
    /// - Throws: ``OperationError`` (invalid input naming the field, `failed` without a policy, `unavailable`).
    public func explain(source: String, destination: String, port: Int, at: String?) async throws -> PolicyExplanation {
        let configuration = self.configuration
        if let at {
            return try await executor.run { store in
                try PolicyExplanation.explain(
                    configuration: configuration, source: source, destination: destination, port: port, at: at,
                    snapshot: { time throws(OperationError) in try Self.build(configuration, store, now: time) })
            }
        }
        let snapshot = try await currentSnapshot()
        return try PolicyExplanation.explain(
            configuration: configuration, source: source, destination: destination, port: port,
            snapshot: { _ in snapshot })
    }

    func currentSnapshot() async throws -> PolicySnapshot {
        let now = UTCTime.nowMilliseconds()
        let lookup = state.withLock { state -> Lookup in
            if let cached = state.cached, now - cached.builtAt < Self.maximumAgeMilliseconds,
                now - cached.tokenCheckedAt < Self.tokenCheckMilliseconds
            {
                return .current(cached.snapshot)
            }
            if let refresh = state.refresh {
                if let cached = state.cached, now - cached.tokenCheckedAt < Self.maximumStaleMilliseconds {
                    return .current(cached.snapshot)
                }
                return .refreshing(refresh)
            }
            let (previous, epoch) = (state.cached, state.epoch)
            let refresh = Task { try await self.refresh(previous: previous, epoch: epoch) }
            state.refresh = refresh
            return .refreshing(refresh)
        }
        switch lookup {
        case .current(let snapshot): return snapshot
        case .refreshing(let refresh): return try await refresh.value.snapshot
        }
    }

    /// Reads the change token and rebuilds the snapshot when it moved or `previous` is too old; installs the result
    /// unless ``invalidate()`` was called since `epoch`.
    private func refresh(previous: Cached?, epoch: UInt64) async throws -> Cached {
        let configuration = self.configuration
        let result: Result<Cached, any Error>
        do {
            result = .success(
                try await executor.run { store in
                    let now = UTCTime.nowMilliseconds()
                    let token = try performStoreOperation { () throws(ExceptionStoreError) in try store.changeToken() }
                    if let previous, previous.token == token, now - previous.builtAt < Self.maximumAgeMilliseconds {
                        var checked = previous
                        checked.tokenCheckedAt = now
                        return checked
                    }
                    let snapshot = try Self.build(configuration, store, now: now / 1000)
                    self.builds.add(1, ordering: .relaxed)
                    return Cached(token: token, snapshot: snapshot, builtAt: now, tokenCheckedAt: now)
                })
        } catch {
            result = .failure(error)
        }
        state.withLock { state in
            guard state.epoch == epoch else { return }
            state.refresh = nil
            if case .success(let fresh) = result { state.cached = fresh }
        }
        return try result.get()
    }

    static func build(
        _ configuration: Egress25Configuration, _ store: ExceptionStore, now: Int64
    ) throws(OperationError) -> PolicySnapshot {
        do {
            return try PolicySnapshotBuilder(store: store).build(
                policy: configuration.policy.policy, generation: 0, now: now
            ).snapshot
        } catch {
            throw OperationError(.unavailable, error.description)
        }
    }
}
