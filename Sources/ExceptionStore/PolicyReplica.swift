import Egress25Core
import Foundation

/// A fleet router's copy of the policy data it enforces: every binding in force and every exception the policy
/// needs, held in memory, brought up to date from the fleet store's change log, and saved under
/// `state_directory` so the router starts from it when PostgreSQL is unreachable.
///
/// Times are UTC seconds. The data is a value: a sync builds the next copy off the hot path, and the daemon builds
/// a `PolicySnapshot` from it (``policyInputs(now:)``), so no verdict waits for the store.
public struct PolicyReplica: Sendable, Equatable {
    /// One binding in force.
    public struct Binding: Sendable, Equatable {
        /// The customer holding the prefix.
        public var customer: String
        /// The address or prefix held.
        public var prefix: IPPrefix
        /// Sessions: the lease end (UTC seconds); `nil` for static bindings.
        public var leaseUntil: Int64?
    }

    /// The last change-log entry applied (`change_log.seq`); 0 before any.
    public internal(set) var changeSequence: Int64 = 0
    /// The store's change token (`store_state.generation`) when the data was read: the policy generation shown in
    /// `node list`.
    public internal(set) var generation: Int64 = 0
    /// When the data was last confirmed current against the store (UTC seconds): its age is `now - fetchedAt`.
    public internal(set) var fetchedAt: Int64 = 0
    /// Bindings in force, by binding id (change them with ``setBinding(_:_:)``, which keeps the index by customer).
    public private(set) var bindings: [Int64: Binding] = [:]
    /// The ids of each customer's bindings in force: exceptions are resolved through it without walking every
    /// binding (100,000 on a large BNG) at each rebuild.
    private var bindingIDsByCustomer: [String: Set<Int64>] = [:]
    /// Exceptions neither revoked nor expired before the recently-expired window, by id.
    public internal(set) var exceptions: [String: StoredException] = [:]

    /// An empty replica (no data yet).
    public init() {}

    /// Sets (or, with `nil`, removes) binding `id`.
    mutating func setBinding(_ id: Int64, _ binding: Binding?) {
        if let old = bindings[id] {
            bindingIDsByCustomer[old.customer]?.remove(id)
            if bindingIDsByCustomer[old.customer]?.isEmpty == true { bindingIDsByCustomer[old.customer] = nil }
        }
        bindings[id] = binding
        if let binding { bindingIDsByCustomer[binding.customer, default: []].insert(id) }
    }

    /// What `PolicySnapshot` takes, as ``ExceptionStore/policyInputs(now:)`` gives it from a store.
    ///
    /// The exceptions are resolved with the same ``PolicyInputsAssembler`` the store uses, fed only the bindings
    /// of customers that have an exception (through the index by customer); the bindings are every binding in
    /// force, in address order.
    /// - Parameter now: UTC seconds.
    public func policyInputs(now: Int64) -> (exceptions: [ExceptionRule], bindings: [CustomerBinding]) {
        let recent = now - ExceptionStore.recentlyExpiredWindowSeconds
        let stored = exceptions.values.filter { $0.expiresAt.map { $0 > recent } ?? true }.sorted {
            ($0.createdAt, $0.id) < ($1.createdAt, $1.id)
        }
        var assembler = PolicyInputsAssembler()
        assembler.unordered()
        for customer in Set(stored.map(\.customer)) {
            for id in bindingIDsByCustomer[customer] ?? [] {
                guard let binding = bindings[id] else { continue }
                assembler.add(customer: customer, prefix: binding.prefix, leaseUntil: binding.leaseUntil)
            }
        }
        let rules = assembler.finish(exceptions: stored).exceptions
        var all: [CustomerBinding] = []
        all.reserveCapacity(bindings.count)
        for binding in bindings.values {
            all.append(CustomerBinding(customer: binding.customer, prefix: binding.prefix))
        }
        all.sort { $0.prefix < $1.prefix }
        return (rules, all)
    }

    /// Applies the rows a change-log batch names: each row's current state replaces the copy (an ended binding, a
    /// revoked exception or a deleted row leaves it).
    mutating func apply(_ batch: PolicyChangeBatch) {
        for (id, row) in batch.bindings {
            if let row, row.validUntil == nil {
                setBinding(id, Binding(customer: row.customer, prefix: row.prefix, leaseUntil: row.leaseUntil))
            } else {
                setBinding(id, nil)
            }
        }
        for (id, row) in batch.exceptions {
            if let row, row.revocation == nil { exceptions[id] = row } else { exceptions[id] = nil }
        }
        changeSequence = batch.changeSequence
        generation = batch.generation
        fetchedAt = batch.readAt
    }
}

/// What the change log says changed since a replica's ``PolicyReplica/changeSequence``, read in one transaction:
/// the current row of every binding and exception named (`nil`: the row is gone).
struct PolicyChangeBatch {
    var changeSequence: Int64
    var generation: Int64
    var readAt: Int64
    var bindings: [Int64: AddressBinding?] = [:]
    var exceptions: [String: StoredException?] = [:]
}

/// The outcome of ``ExceptionStore/syncPolicyReplica(_:now:maxChanges:)``.
public enum PolicyReplicaSync: Sendable, Equatable {
    /// Nothing changed since the replica's sequence; only its ``PolicyReplica/fetchedAt`` moved.
    case unchanged
    /// Changes were applied incrementally (how many change-log entries).
    case applied(changes: Int)
    /// The replica was read whole: it was empty, too far behind, or behind the pruned part of the log.
    case reloaded
}

extension ExceptionStore {
    /// The largest change-log backlog applied incrementally; a longer one (a router that was cut off for hours)
    /// reads the policy data whole, which is then cheaper.
    public static let maxIncrementalChanges = 50_000

    /// Brings `replica` up to date with the fleet store, in ONE read transaction, so a change committed by another
    /// process is applied entirely or not at all (a connection lost mid-read applies nothing).
    ///
    /// - Parameters:
    ///   - replica: The copy to update; left unchanged when this throws.
    ///   - now: UTC seconds, recorded as ``PolicyReplica/fetchedAt``.
    ///   - maxChanges: Backlogs longer than this are read whole.
    /// - Returns: What was done.
    /// - Throws: ``ExceptionStoreError`` (`unreachable`, `io`, ...); on the embedded SQLite store, which has no
    ///   change log, `invalidArgument`.
    @discardableResult
    public func syncPolicyReplica(
        _ replica: inout PolicyReplica, now: Int64 = UTCTime.now(), maxChanges: Int = maxIncrementalChanges
    ) throws(ExceptionStoreError) -> PolicyReplicaSync {
        guard dialect == .postgresql else {
            throw ExceptionStoreError(.invalidArgument, "a policy replica needs the fleet store (store.url)")
        }
        let current = replica
        let (result, next) = try read("read the policy changes from") { db -> (PolicyReplicaSync, PolicyReplica) in
            guard
                let state = try db.firstRow(
                    "SELECT generation, change_log_pruned_through FROM store_state WHERE id = 1")
            else { throw ExceptionStoreError(.io, "store_state has no row") }
            let generation = try state.int64(0)
            let prunedThrough = try state.int64(1)
            let backlog = try db.firstRow(
                "SELECT count(*), coalesce(max(seq), 0) FROM change_log WHERE seq > ?",
                [.integer(current.changeSequence)])
            let count = try backlog?.int64(0) ?? 0
            let last = try backlog?.int64(1) ?? 0
            var next = current
            // Never read (no fetch time yet), behind the pruned part of the log, or too far behind: read it whole.
            if current.fetchedAt == 0 || current.changeSequence < prunedThrough || count > maxChanges {
                next = try Self.readPolicyReplica(db, now: now)
                next.generation = generation
                return (.reloaded, next)
            }
            if count == 0 {
                next.fetchedAt = now
                next.generation = generation
                return (.unchanged, next)
            }
            var bindingIDs = Set<Int64>()
            var exceptionIDs = Set<String>()
            try db.forEachRow(
                "SELECT table_name, row_id FROM change_log WHERE seq > ? AND seq <= ?",
                [.integer(current.changeSequence), .integer(last)]
            ) { row in
                let table = try row.text(0)
                let id = try row.text(1)
                if table == "binding", let id = Int64(id) { bindingIDs.insert(id) }
                if table == "exception" { exceptionIDs.insert(id) }
            }
            var batch = PolicyChangeBatch(changeSequence: last, generation: generation, readAt: now)
            for id in bindingIDs { batch.bindings[id] = .some(nil) }
            for id in exceptionIDs { batch.exceptions[id] = .some(nil) }
            try Self.forEachRow(db, of: "binding", BindingRecord.columns, ids: bindingIDs.map { .integer($0) }) {
                let binding = try BindingRecord.binding($0)
                batch.bindings[binding.id] = binding
            }
            try Self.forEachRow(db, of: "exception", ExceptionRecord.columns, ids: exceptionIDs.map { .text($0) }) {
                let exception = try ExceptionRecord.exception($0)
                batch.exceptions[exception.id] = exception
            }
            next.apply(batch)
            return (.applied(changes: Int(count)), next)
        }
        replica = next
        return result
    }

    /// The whole policy data, inside a read transaction.
    static func readPolicyReplica(_ db: any StoreSQL, now: Int64) throws -> PolicyReplica {
        var replica = PolicyReplica()
        replica.changeSequence = try db.firstRow("SELECT coalesce(max(seq), 0) FROM change_log")?.int64(0) ?? 0
        replica.generation = try db.firstRow("SELECT generation FROM store_state WHERE id = 1")?.int64(0) ?? 0
        replica.fetchedAt = now
        try db.forEachRow(
            "SELECT id, customer_id, prefix, lease_until FROM binding WHERE valid_until IS NULL", []
        ) { row in
            let id = try row.int64(0)
            let text = try row.text(2)
            guard let prefix = IPPrefix(text) else {
                throw ExceptionStoreError(.io, "corrupt binding row \(id): prefix \(text)")
            }
            replica.setBinding(
                id,
                PolicyReplica.Binding(customer: try row.text(1), prefix: prefix, leaseUntil: try row.optionalInt64(3)))
        }
        try db.forEachRow(
            """
            SELECT \(ExceptionRecord.columns) FROM exception
            WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
            """,
            [.integer(now - recentlyExpiredWindowSeconds)]
        ) { row in
            let exception = try ExceptionRecord.exception(row)
            replica.exceptions[exception.id] = exception
        }
        return replica
    }

    /// The rows of `table` (its `columns`) whose `id` is one of `ids`, 500 ids a statement.
    static func forEachRow(
        _ db: any StoreSQL, of table: String, _ columns: String, ids: [SQLValue], _ body: (SQLRow) throws -> Void
    ) throws {
        for chunk in chunks(ids, size: 500) {
            try db.forEachRow(
                "SELECT \(columns) FROM \(table) WHERE id IN (\(placeholders(chunk.count)))", Array(chunk), body)
        }
    }

    static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ", ")
    }

    static func chunks<T>(_ items: [T], size: Int) -> [ArraySlice<T>] {
        stride(from: 0, to: items.count, by: size).map { items[$0..<min($0 + size, items.count)] }
    }
}

/// What a fleet router writes into its own `node` row (``ExceptionStore/recordNodeHeartbeat(_:)``). Times are UTC
/// seconds.
public struct NodeHeartbeat: Hashable, Sendable {
    /// `node_name` of the router.
    public var node: String
    /// When the heartbeat was taken.
    public var at: Int64
    /// The store's change token of the policy data in force.
    public var policyGeneration: Int64
    /// When that data was last confirmed current; 0 for none.
    public var policyDataAt: Int64
    /// How old the oldest final block-log row not yet shipped is, s (0: caught up); `nil` without a block log.
    public var shippingLagSeconds: Int64?

    /// Creates a heartbeat; times are UTC seconds.
    public init(
        node: String, at: Int64, policyGeneration: Int64, policyDataAt: Int64, shippingLagSeconds: Int64? = nil
    ) {
        self.node = node
        self.at = at
        self.policyGeneration = policyGeneration
        self.policyDataAt = policyDataAt
        self.shippingLagSeconds = shippingLagSeconds
    }
}

extension ExceptionStore {
    /// The fleet store's doorbell: `LISTEN egress25_policy` on a connection of its own; `ring` is called (on an
    /// event-loop thread) after every commit that grew the change log. A poll stays the fallback: a notification
    /// is lost while the connection is down.
    /// - Throws: ``ExceptionStoreError``; on the embedded SQLite store `invalidArgument`.
    public func policyDoorbell(_ ring: @escaping @Sendable () -> Void) throws(ExceptionStoreError) -> StoreDoorbell {
        guard let postgres = backend as? PostgresStoreBackend else {
            throw ExceptionStoreError(.invalidArgument, "the doorbell needs the fleet store (store.url)")
        }
        return try postgres.listen(channel: "egress25_policy", ring)
    }

    /// Writes the router's own `node` row (inserted on its first heartbeat, with `started_at`). The row belongs to
    /// the database role that first wrote it: the router role may write only rows of its own role (row-level
    /// security), so one router cannot pose as another. Takes no policy lock: heartbeats never wait for, nor
    /// delay, a support agent's change.
    /// - Throws: ``ExceptionStoreError`` (`permissionDenied` when the name belongs to another role, `unreachable`,
    ///   `io`); on the embedded SQLite store `invalidArgument`.
    public func recordNodeHeartbeat(_ heartbeat: NodeHeartbeat) throws(ExceptionStoreError) {
        guard dialect == .postgresql else {
            throw ExceptionStoreError(.invalidArgument, "node heartbeats need the fleet store (store.url)")
        }
        _ = try write("record the heartbeat of node \(heartbeat.node) in", policyLock: false) { db in
            try db.execute(
                """
                INSERT INTO node (name, last_heartbeat, policy_generation, policy_data_at, started_at, shipping_lag)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET last_heartbeat = excluded.last_heartbeat,
                    policy_generation = excluded.policy_generation, policy_data_at = excluded.policy_data_at,
                    shipping_lag = excluded.shipping_lag
                """,
                [
                    .text(heartbeat.node), .integer(heartbeat.at), .integer(heartbeat.policyGeneration),
                    .integer(heartbeat.policyDataAt), .integer(heartbeat.at), .integer(heartbeat.shippingLagSeconds),
                ])
        }
    }
}
