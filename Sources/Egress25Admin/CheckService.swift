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
public final class CheckService: Sendable {
    /// How often the store's change token is read, at most, ms.
    public static let tokenCheckMilliseconds: Int64 = 100
    /// The oldest a cached snapshot may be, ms.
    public static let maximumAgeMilliseconds: Int64 = 60_000

    struct Cached {
        var token: Int64
        var snapshot: PolicySnapshot
        var builtAt: Int64
        var tokenCheckedAt: Int64
    }

    let configuration: Egress25Configuration
    let executor: StoreExecutor
    private let cached = Mutex<Cached?>(nil)

    /// Explains with `configuration`'s policy and the stores of `executor`.
    public init(configuration: Egress25Configuration, executor: StoreExecutor) {
        self.configuration = configuration
        self.executor = executor
    }

    /// Drops the cached snapshot (after a change made through this server).
    public func invalidate() {
        cached.withLock { $0 = nil }
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
        if let snapshot = cached.withLock({ cached -> PolicySnapshot? in
            guard let cached, now - cached.builtAt < Self.maximumAgeMilliseconds,
                now - cached.tokenCheckedAt < Self.tokenCheckMilliseconds
            else { return nil }
            return cached.snapshot
        }) {
            return snapshot
        }
        let configuration = self.configuration
        let previous = cached.withLock { $0 }
        let fresh: Cached = try await executor.run { store in
            let token = try performStoreOperation { () throws(ExceptionStoreError) in try store.changeToken() }
            if let previous, previous.token == token, now - previous.builtAt < Self.maximumAgeMilliseconds {
                var checked = previous
                checked.tokenCheckedAt = now
                return checked
            }
            let snapshot = try Self.build(configuration, store, now: now / 1000)
            return Cached(token: token, snapshot: snapshot, builtAt: now, tokenCheckedAt: now)
        }
        cached.withLock { $0 = fresh }
        return fresh.snapshot
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
