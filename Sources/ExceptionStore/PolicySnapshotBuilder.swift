import Egress25Core

/// Builds the `PolicySnapshot` the daemon judges with: the configuration's policy (relays, subscriber ranges,
/// static exceptions) plus the store's exceptions resolved to the customers' bindings in force. egress25d and
/// `egress25ctl check` both build through this type, so support staff see exactly the daemon's decision.
public struct PolicySnapshotBuilder: Sendable {
    /// The store at `path`, or `nil` when none exists yet (the snapshot then holds only the policy).
    public let store: ExceptionStore?
    /// The store's path, for messages.
    public let path: String

    /// Why a snapshot could not be built: the store could not be read, or the policy is invalid.
    public struct Failure: Error, CustomStringConvertible {
        /// One line naming the store path or `policy:` and the reason.
        public var description: String
    }

    /// - Parameters:
    ///   - path: `<state_directory>/exceptions.sqlite`.
    ///   - mode: How to open the store. With `.readOnly` a missing store is not an error: the snapshot then
    ///     holds the configuration's policy only.
    /// - Throws: ``Failure`` naming `path` when the store exists but cannot be opened.
    public init(path: String, mode: ExceptionStore.OpenMode) throws(Failure) {
        self.path = path
        do {
            if mode == .readOnly, try !ExceptionStore.storeExists(at: path) {
                store = nil
                return
            }
            store = try ExceptionStore(path: path, mode: mode)
        } catch {
            throw Failure(description: "exception store \(path): \(error)")
        }
    }

    /// The store `location` names: ``init(path:mode:)`` for the SQLite file; the fleet's PostgreSQL store is read
    /// directly (`check` on a fleet: the routers' replicas hold the same data).
    /// - Throws: ``Failure`` naming the store when it cannot be opened.
    public init(location: StoreLocation, mode: ExceptionStore.OpenMode) throws(Failure) {
        switch location {
        case .sqlite(let path):
            try self.init(path: path, mode: mode)
        case .postgresql(let postgres):
            let store: ExceptionStore
            do {
                store = try ExceptionStore(location: location, mode: mode)
            } catch {
                throw Failure(description: "exception store \(postgres): \(error)")
            }
            self.init(store: store, path: postgres.description)
        }
    }

    /// Builds from a store that is open already (egress25-admin keeps its stores open).
    public init(store: ExceptionStore) {
        self.init(store: store, path: store.path)
    }

    private init(store: ExceptionStore, path: String) {
        self.store = store
        self.path = path
    }

    /// The snapshot for `policy` at `now`, and the store's change token it was read at (`nil` without a store).
    /// The store's exceptions and bindings are read in one transaction, so a change half-applied by
    /// `egress25ctl` is never seen.
    /// - Parameters:
    ///   - generation: The snapshot's generation (the daemon counts reloads with it; `check` uses 0).
    ///   - now: UTC seconds.
    /// - Throws: ``Failure`` naming the store or `policy:`.
    public func build(
        policy: Policy, generation: UInt64, now: Int64 = UTCTime.now()
    ) throws(Failure)
        -> (snapshot: PolicySnapshot, changeToken: Int64?)
    {
        var exceptions: [ExceptionRule] = []
        var bindings: [CustomerBinding] = []
        var token: Int64?
        if let store {
            do {
                token = try store.changeToken()
                (exceptions, bindings) = try store.policyInputs(now: now)
            } catch {
                throw Failure(description: "exception store \(path): \(error)")
            }
        }
        do {
            let snapshot = try PolicySnapshot(
                policy: policy, exceptions: exceptions, bindings: bindings, generation: generation)
            return (snapshot, token)
        } catch {
            throw Failure(description: "policy: \(error)")
        }
    }
}
