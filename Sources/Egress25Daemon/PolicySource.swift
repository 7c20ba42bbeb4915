import Atomics
import Egress25Configuration
import Egress25Core
import ExceptionStore
import Foundation
import Logging

/// Where a policy snapshot comes from: the configuration's policy (with its static exceptions) and the
/// exception store's exceptions resolved to customers' current address bindings.
final class PolicySource: Sendable {
    /// The embedded store (rebuilt whole when its change token moves), or the fleet store (a replica kept current
    /// by ``FleetSyncService``).
    enum Origin: Sendable {
        case local(PolicySnapshotBuilder)
        case fleet(FleetPolicy)
    }

    let origin: Origin
    /// The embedded store, `nil` in fleet mode or before it exists.
    var store: ExceptionStore? {
        if case .local(let builder) = origin { return builder.store }
        return nil
    }
    /// The fleet store's side, `nil` with the embedded store.
    var fleet: FleetPolicy? {
        if case .fleet(let fleet) = origin { return fleet }
        return nil
    }
    let logger: Logger
    /// Snapshots published after the first one.
    let reloads = ManagedAtomic<UInt64>(0)
    /// Reloads rejected (invalid configuration or store error); the previous policy stayed in force.
    let reloadFailures = ManagedAtomic<UInt64>(0)
    /// Whether the last reload attempt succeeded (true until one fails).
    let lastReloadSucceeded = ManagedAtomic<Bool>(true)
    private let lastChangeToken = ManagedAtomic<Int64>(Int64.min)

    /// - Parameter readOnly: Open an existing store without creating it, and do not contact the fleet store (for
    ///   `--check-config`).
    init(configuration: Egress25Configuration, logger: Logger, readOnly: Bool = false) throws {
        self.logger = logger
        switch configuration.store.location {
        case .sqlite(let path):
            do {
                origin = .local(try PolicySnapshotBuilder(path: path, mode: readOnly ? .readOnly : .create))
            } catch {
                throw DaemonStartupError(error.description)
            }
        case .postgresql(let location):
            // readWrite: the router writes its own node row; the router role may change no policy table.
            let fleet = FleetPolicy(
                openStore: { try ExceptionStore(location: .postgresql(location), mode: .readWrite) },
                storeDescription: location.description, nodeName: configuration.store.nodeName,
                cachePath: configuration.state.policyCache,
                maxStalenessSeconds: configuration.store.maxStalenessSeconds, logger: logger)
            if !readOnly { fleet.start() }
            origin = .fleet(fleet)
        }
    }

    /// Builds a snapshot from `policy` and the store's current exceptions and bindings (read in one
    /// transaction, so a change half-applied by `egress25ctl` is never seen), or, in fleet mode, from the replica
    /// in force (the configuration's policy alone while there is none).
    ///
    /// - Throws: ``DaemonStartupError`` describing the store or policy problem.
    func buildSnapshot(policy: Policy, generation: UInt64) throws -> PolicySnapshot {
        switch origin {
        case .local(let builder):
            do {
                let (snapshot, token) = try builder.build(policy: policy, generation: generation)
                if let token { lastChangeToken.store(token, ordering: .relaxed) }
                return snapshot
            } catch {
                throw DaemonStartupError(error.description)
            }
        case .fleet(let fleet):
            let inputs = fleet.policyInputs(now: UTCTime.now())
            do {
                return try PolicySnapshot(
                    policy: policy, exceptions: inputs?.exceptions ?? [], bindings: inputs?.bindings ?? [],
                    generation: generation)
            } catch {
                throw DaemonStartupError("policy: \(error)")
            }
        }
    }

    /// Session history (ended session bindings and their audit entries) is kept this long: 90 days, in s.
    static let sessionHistorySeconds: Int64 = 90 * 86_400

    /// Deletes session history older than ``sessionHistorySeconds`` so a busy RADIUS/DHCP feed does not grow the
    /// store without bound. Static bindings, exceptions and their audit trail are never deleted.
    func pruneSessionHistory() {
        guard let store else { return }
        let now = UTCTime.now()
        do {
            let result = try store.pruneSessionHistory(
                endedBefore: now - Self.sessionHistorySeconds, actor: "egress25d", now: now)
            logger.info(
                "pruned session history older than 90 days",
                metadata: ["bindings": "\(result.bindings)", "audit_entries": "\(result.auditEntries)"])
        } catch {
            logger.warning("pruning session history failed; retrying tomorrow", metadata: ["error": "\(error)"])
        }
    }

    /// Whether the store was written (by any process) since the last snapshot was built.
    func storeChanged() -> Bool {
        guard let store else { return false }
        do {
            return try store.changeToken() != lastChangeToken.load(ordering: .relaxed)
        } catch {
            logger.error("reading the exception store failed", metadata: ["error": "\(error)"])
            return false
        }
    }
}
