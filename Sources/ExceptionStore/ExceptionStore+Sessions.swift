import Egress25Core

extension ExceptionStore {
    /// A session's lease when the caller gives none: 26 h (93600 s), the default of `sessions.lease`.
    public static let defaultSessionLeaseSeconds: Int64 = 93_600

    /// The youngest session history ``pruneSessionHistory(endedBefore:actor:now:force:)`` deletes without
    /// `force`: 90 days (7776000 s).
    static let minimumSessionHistorySeconds: Int64 = 90 * 86_400

    /// How long the fleet store keeps its change log: 1 day (86400 s). ``pruneSessionHistory(endedBefore:actor:now:force:)``
    /// deletes older entries; a router further behind reads the policy data whole.
    static let changeLogRetentionSeconds: Int64 = 86_400

    /// Records that `customer` holds `prefix` now (a RADIUS Accounting-Start or Interim-Update, a DHCP lease or
    /// renewal), with a lease until `now + leaseSeconds`.
    ///
    /// - The session feed is the truth of who holds an address: every other session binding in force that
    ///   overlaps `prefix` ends now, whoever holds it (audit `session.end` with `moved_to`), so an exception of the
    ///   previous holder no longer applies to it. This holds for lease-expired sessions too.
    /// - An id the store has never seen is recorded as a customer without exceptions, marked
    ///   ``Customer/autoCreated`` (audit `customer.add` with `auto_created: true`); the start never fails because
    ///   the id is unknown.
    /// - When the customer already holds exactly this session, the call renews it: its lease moves to
    ///   `now + leaseSeconds` (no audit entry, the change token grows so the daemon picks the new lease up).
    ///
    /// - Parameters:
    ///   - leaseSeconds: The lease, in seconds (`sessions.lease`), at least 1.
    ///   - plan: Bounds the prefix must satisfy (subscriber ranges, largest block); `nil` for none (`--force`).
    ///   - mayTakeOver: `true` for a start (Accounting-Start: the address moved here, whoever held it). `false` for
    ///     a renewal (Interim-Update): when another customer holds an overlapping session, the claims disagree (a
    ///     late update of a previous holder, or an update whose Start was lost), so the holder's session ends and
    ///     none is started: no exception applies to the address until the next update or Start settles it. A
    ///     late update can therefore never hand the previous holder's exceptions the address back.
    ///   - now: UTC seconds.
    /// - Throws: ``ExceptionStoreError``: `invalidArgument` (bad customer id or actor, `leaseSeconds < 1`, a prefix
    ///   outside `plan`), `conflict` (another customer holds an overlapping *static* binding, which sessions never
    ///   take over), `locked`, `io`.
    @discardableResult
    public func startSession(
        customer: String, prefix: IPPrefix, actor: String, now: Int64 = UTCTime.now(),
        leaseSeconds: Int64 = ExceptionStore.defaultSessionLeaseSeconds, plan: AddressPlan? = nil,
        mayTakeOver: Bool = true
    ) throws(ExceptionStoreError) -> SessionChange {
        try Self.validateCustomerID(customer)
        let actor = try Self.validateActor(actor)
        let prefix = Self.canonical(prefix)
        try Self.validateLease(leaseSeconds)
        if let plan, let problem = plan.problem(with: prefix) {
            throw ExceptionStoreError(.invalidArgument, problem)
        }
        return try write("start a session for \(customer) in") { db in
            var ledger = SessionLedger(actor: actor, now: now, claiming: [prefix])
            try Self.load(db, into: &ledger, LedgerScope(customers: [customer], prefixes: [prefix]))
            var change = SessionChange()
            if ledger.ensureCustomer(customer) {
                change.createdCustomers.append(customer)
            }
            let one = try ledger.claim(
                prefix, for: customer, session: nil, leaseUntil: now + leaseSeconds, mayTakeOver: mayTakeOver)
            let stored = one.mapped(try write(ledger, db))
            change.started = stored.started
            change.ended = stored.ended
            change.renewed = stored.renewed
            return change
        }
    }

    /// Ends the customer's session on exactly `prefix`, or every session of the customer when `prefix` is `nil`
    /// (RADIUS Accounting-Stop). Audit action `session.end`. Idempotent: no matching session (also: an id the
    /// store has never seen) writes nothing and returns an empty list.
    /// - Returns: The ended bindings.
    /// - Throws: ``ExceptionStoreError``: `invalidArgument`, `locked`, `io`.
    @discardableResult
    public func stopSessions(
        customer: String, prefix: IPPrefix? = nil, actor: String, now: Int64 = UTCTime.now()
    ) throws(ExceptionStoreError) -> [AddressBinding] {
        try Self.validateCustomerID(customer)
        let actor = try Self.validateActor(actor)
        let prefix = prefix.map(Self.canonical)
        return try write("stop sessions of \(customer) in") { db in
            var ledger = SessionLedger(actor: actor, now: now, claiming: [])
            for session in try Self.openBindings(db, customer: customer)
            where session.kind == .session && (prefix == nil || session.prefix == prefix) {
                ledger.load(session)
            }
            let ended = ledger.bindings.values.sorted { $0.id < $1.id }.map { ledger.end($0.id, movedTo: nil) }
            _ = try write(ledger, db)
            return ended
        }
    }

    /// Imports current leases in one transaction (all or nothing): each lease as
    /// ``startSession(customer:prefix:actor:now:leaseSeconds:plan:)``, so unknown ids become auto-created
    /// customers and sessions already held are renewed.
    ///
    /// - Parameters:
    ///   - leases: The leases; exact duplicates are ignored, other overlaps between leases are an error.
    ///   - replace: Also end every session binding in force that is not in `leases` (the file is the complete
    ///     set of current leases).
    ///   - leaseSeconds: The lease of every imported session, in seconds, at least 1.
    ///   - plan: Bounds every prefix must satisfy; `nil` for none (`--force`).
    /// - Returns: Every binding started, renewed and ended, and the customers created.
    /// - Throws: ``ExceptionStoreError``, its message starting with the lease's `origin` (`FILE:LINE: `):
    ///   `invalidArgument` (overlapping leases, a prefix outside `plan`), `conflict`, `locked`, `io`.
    @discardableResult
    public func importSessions(
        _ leases: [SessionLease], replace: Bool = false, actor: String, now: Int64 = UTCTime.now(),
        leaseSeconds: Int64 = ExceptionStore.defaultSessionLeaseSeconds, plan: AddressPlan? = nil
    ) throws(ExceptionStoreError) -> SessionChange {
        let actor = try Self.validateActor(actor)
        try Self.validateLease(leaseSeconds)
        func located(_ lease: SessionLease, _ message: String) -> String {
            lease.origin.map { "\($0): \(message)" } ?? message
        }
        // Validate: customer ids and bounds, then overlaps between leases (sorted by first address; each lease is
        // compared with the lease reaching furthest so far).
        var unique: [SessionLease] = []
        var seen: Set<SessionLeaseKey> = []
        for var lease in leases {
            do {
                try Self.validateCustomerID(lease.customer)
            } catch {
                throw ExceptionStoreError(error.code, located(lease, error.message), operation: error.operation)
            }
            lease.prefix = Self.canonical(lease.prefix)
            if let plan, let problem = plan.problem(with: lease.prefix) {
                throw ExceptionStoreError(.invalidArgument, located(lease, problem))
            }
            if seen.insert(SessionLeaseKey(customer: lease.customer, prefix: lease.prefix)).inserted {
                unique.append(lease)
            }
        }
        let ordered = unique.map { ($0, PrefixRange($0.prefix)) }.sorted { a, b in
            (a.1.family, a.1.first, b.1.last) < (b.1.family, b.1.first, a.1.last)
        }
        var widest: (lease: SessionLease, range: PrefixRange)?
        for (lease, range) in ordered {
            if let (previous, previousRange) = widest, previousRange.family == range.family,
                previousRange.last >= range.first
            {
                let where_ = previous.origin.map { " (\($0))" } ?? ""
                throw ExceptionStoreError(
                    .invalidArgument,
                    located(
                        lease,
                        "\(lease.prefix) for \(lease.customer) "
                            + "overlaps \(previous.prefix) for \(previous.customer)\(where_)"))
            }
            if let current = widest, current.range.family == range.family, current.range.last >= range.last {
                continue
            }
            widest = (lease, range)
        }
        return try write("import sessions into") { db in
            var change = SessionChange()
            var ledger = SessionLedger(actor: actor, now: now, claiming: unique.map(\.prefix))
            try Self.load(
                db, into: &ledger,
                LedgerScope(customers: Set(unique.map(\.customer)), prefixes: Set(unique.map(\.prefix))))
            var claimed = SessionChangeWithKept()
            for lease in unique {
                if ledger.ensureCustomer(lease.customer) {
                    change.createdCustomers.append(lease.customer)
                }
                let one = try ledger.claim(
                    lease.prefix, for: lease.customer, session: nil, leaseUntil: now + leaseSeconds,
                    mayTakeOver: true, origin: lease.origin)
                claimed.started += one.started
                claimed.ended += one.ended
                claimed.renewed += one.renewed
            }
            let kept = Set(claimed.started.map(\.id) + claimed.renewed.map(\.id))
            if replace {
                // Every session in force that the file does not hold ends.
                try db.forEachRow(
                    "SELECT \(BindingRecord.columns) FROM binding WHERE kind = ? AND valid_until IS NULL ORDER BY id",
                    [.text(BindingKind.session.rawValue)]
                ) { ledger.load(try BindingRecord.binding($0)) }
                for session in ledger.bindings.values.sorted(by: { $0.id < $1.id })
                where session.kind == .session && session.validUntil == nil && !kept.contains(session.id) {
                    claimed.ended.append(ledger.end(session.id, movedTo: nil))
                }
            }
            let stored = claimed.mapped(try write(ledger, db))
            change.started = stored.started
            change.ended = stored.ended
            change.renewed = stored.renewed
            return change
        }
    }

    /// Deletes the session feed's history that ended before `cutoff`: session bindings with
    /// `validUntil < cutoff`, and the `session.start`/`session.end` audit entries of those bindings. Writes one
    /// audit entry `session.prune` with the counts when it deleted anything. Static bindings, customers,
    /// exceptions and their audit entries are never deleted (the schema refuses to delete other audit entries).
    ///
    /// Sessions churn (every reconnect adds a binding and two audit entries): prune with the retention the ISP
    /// keeps subscriber address history for, e.g. daily with `cutoff = now - 90 days`.
    /// - Parameters:
    ///   - cutoff: UTC seconds, at most `now`, and at most `now - 90 days` (``minimumSessionHistorySeconds``)
    ///     unless `force`: address history younger than that answers abuse reports and must not go by a typo.
    ///   - force: Allow a cutoff later than `now - 90 days`.
    /// - Returns: How many bindings and audit entries were deleted.
    /// - Throws: ``ExceptionStoreError``: `invalidArgument` (`cutoff > now`, a cutoff younger than 90 days without
    ///   `force`, empty actor), `locked`, `io`.
    @discardableResult
    public func pruneSessionHistory(
        endedBefore cutoff: Int64, actor: String, now: Int64 = UTCTime.now(), force: Bool = false
    ) throws(ExceptionStoreError) -> SessionPruneResult {
        let actor = try Self.validateActor(actor)
        guard cutoff <= now else {
            throw ExceptionStoreError(.invalidArgument, "the cutoff \(UTCTime.format(cutoff)) is in the future")
        }
        let youngest = now - Self.minimumSessionHistorySeconds
        guard force || cutoff <= youngest else {
            throw ExceptionStoreError(
                .invalidArgument,
                "refusing to delete session history younger than 90 days (cutoff \(UTCTime.format(cutoff)) is "
                    + "after \(UTCTime.format(youngest))); use --force to delete it anyway")
        }
        return try write("prune session history in") { db in
            // The audit entries first, while their bindings still name them.
            let entries = try db.execute(
                """
                DELETE FROM audit
                WHERE action IN ('session.start', 'session.end') AND object_id LIKE 'binding-%'
                    AND CAST(substr(object_id, 9) AS BIGINT) IN (
                        SELECT id FROM binding WHERE kind = 'session' AND valid_until < ?)
                """,
                [.integer(cutoff)])
            let bindings = try db.execute(
                "DELETE FROM binding WHERE kind = 'session' AND valid_until < ?", [.integer(cutoff)])
            if db.dialect == .postgresql {
                // The fleet store's change log: routers need only the recent entries (one further behind reads the
                // policy data whole), and an Interim-Update feed writes one per renewal.
                let horizon = now - Self.changeLogRetentionSeconds
                if let through = try db.firstRow("SELECT max(seq) FROM change_log WHERE at < ?", [.integer(horizon)])?
                    .optionalInt64(0)
                {
                    try db.execute("DELETE FROM change_log WHERE seq <= ?", [.integer(through)])
                    try db.execute(
                        "UPDATE store_state SET change_log_pruned_through = ? WHERE id = 1", [.integer(through)])
                }
            }
            let result = SessionPruneResult(cutoff: cutoff, bindings: bindings, auditEntries: entries)
            if bindings == 0 && entries == 0 { return result }  // nothing changed: no entry, no change token bump
            try appendAudit(
                db, at: now, actor: actor, action: "session.prune", customer: nil, objectID: nil,
                before: SessionPruneResult?.none, after: result)
            return result
        }
    }

    /// Checks a lease length (seconds).
    static func validateLease(_ seconds: Int64) throws(ExceptionStoreError) {
        guard seconds >= 1 else {
            throw ExceptionStoreError(.invalidArgument, "the session lease (\(seconds) s) must be at least 1 second")
        }
    }
}

struct SessionLeaseKey: Hashable {
    var customer: String
    var prefix: IPPrefix
}

/// What the session logic did inside one transaction.
struct SessionChangeWithKept {
    var started: [AddressBinding] = []
    var ended: [AddressBinding] = []
    /// Sessions that already existed exactly, with their lease renewed.
    var renewed: [AddressBinding] = []
}

/// What ``ExceptionStore/pruneSessionHistory(endedBefore:actor:now:)`` deleted.
public struct SessionPruneResult: Hashable, Sendable, Encodable {
    /// Sessions that ended before this time (UTC seconds) were deleted.
    public var cutoff: Int64
    /// Session bindings deleted.
    public var bindings: Int
    /// `session.start`/`session.end` audit entries deleted.
    public var auditEntries: Int

    private enum CodingKeys: String, CodingKey {
        case cutoff, bindings
        case auditEntries = "audit_entries"
    }

    /// Encodes `cutoff` as RFC 3339 UTC text and `auditEntries` as `audit_entries`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(UTCTime.format(cutoff), forKey: .cutoff)
        try container.encode(bindings, forKey: .bindings)
        try container.encode(auditEntries, forKey: .auditEntries)
    }
}
