import Atomics
import Egress25Configuration
import Egress25Core
import ExceptionStore
import Foundation
import Logging

/// Where a policy snapshot comes from: the configuration's policy (with its static exceptions) and the
/// exception store's exceptions resolved to customers' current address bindings.
final class PolicySource: Sendable {
    let builder: PolicySnapshotBuilder
    var store: ExceptionStore? { builder.store }
    let logger: Logger
    /// Snapshots published after the first one.
    let reloads = ManagedAtomic<UInt64>(0)
    /// Reloads rejected (invalid configuration or store error); the previous policy stayed in force.
    let reloadFailures = ManagedAtomic<UInt64>(0)
    /// Whether the last reload attempt succeeded (true until one fails).
    let lastReloadSucceeded = ManagedAtomic<Bool>(true)
    private let lastChangeToken = ManagedAtomic<Int64>(Int64.min)

    /// - Parameter readOnly: Open an existing store without creating it (for `--check-config`).
    init(configuration: Egress25Configuration, logger: Logger, readOnly: Bool = false) throws {
        self.logger = logger
        do {
            builder = try PolicySnapshotBuilder(
                path: configuration.state.exceptionStore, mode: readOnly ? .readOnly : .create)
        } catch {
            throw DaemonStartupError(error.description)
        }
    }

    /// Builds a snapshot from `policy` and the store's current exceptions and bindings (read in one
    /// transaction, so a change half-applied by `egress25ctl` is never seen).
    ///
    /// - Throws: ``DaemonStartupError`` describing the store or policy problem.
    func buildSnapshot(policy: Policy, generation: UInt64) throws -> PolicySnapshot {
        do {
            let (snapshot, token) = try builder.build(policy: policy, generation: generation)
            if let token { lastChangeToken.store(token, ordering: .relaxed) }
            return snapshot
        } catch {
            throw DaemonStartupError(error.description)
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
