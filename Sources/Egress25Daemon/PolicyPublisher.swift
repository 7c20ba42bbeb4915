import Atomics
import BlockLog
import Egress25Core
import Synchronization

extension PolicySnapshot: AtomicReference {}

/// Holds the policy snapshot in force and publishes a new one with one atomic swap.
///
/// Queue workers read ``current`` once per received batch (an acquiring atomic load, no lock);
/// the reloader builds the next snapshot off the hot path and calls ``publish(_:)``.
/// It also answers the block-log writer's questions about recent generations: a blocked attempt
/// carries indices into the snapshot that judged it, resolved to ids after the fact.
public final class PolicyPublisher: Sendable {
    private let reference: ManagedAtomic<PolicySnapshot>
    /// The most recent snapshots, newest last, so indices of in-flight events stay resolvable.
    private let recent: Mutex<[PolicySnapshot]>
    private static let retainedGenerations = 8

    /// Starts with `initial` in force.
    public init(initial: PolicySnapshot) {
        self.reference = ManagedAtomic(initial)
        self.recent = Mutex([initial])
    }

    /// The snapshot in force. Cheap enough to call once per batch on the hot path.
    @inline(__always)
    public var current: PolicySnapshot {
        reference.load(ordering: .acquiring)
    }

    /// Makes `snapshot` the one in force; batches received after this call are judged with it.
    public func publish(_ snapshot: PolicySnapshot) {
        recent.withLock { snapshots in
            snapshots.append(snapshot)
            if snapshots.count > Self.retainedGenerations {
                snapshots.removeFirst(snapshots.count - Self.retainedGenerations)
            }
        }
        reference.store(snapshot, ordering: .releasing)
    }

    private func snapshot(generation: UInt64) -> PolicySnapshot? {
        recent.withLock { snapshots in snapshots.last { $0.generation == generation } }
    }
}

extension PolicyPublisher: BlockLogResolver {
    /// The customer id at `index` in the snapshot of `generation`; `nil` when the index is negative (no customer)
    /// or that generation is no longer among the 8 most recent.
    public func customerID(generation: UInt64, index: Int32) -> String? {
        guard index >= 0, let snapshot = snapshot(generation: generation) else { return nil }
        return snapshot.customer(at: index)
    }

    /// The exception id at `index` in the snapshot of `generation`; `nil` when the index is negative (no
    /// exception) or that generation is no longer among the 8 most recent.
    public func exceptionID(generation: UInt64, index: Int32) -> String? {
        guard index >= 0, let snapshot = snapshot(generation: generation) else { return nil }
        return snapshot.exception(at: index).id
    }
}
