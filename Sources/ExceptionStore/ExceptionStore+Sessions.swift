import Egress25Core
import GRDB

extension ExceptionStore {
    /// Records that `customer` holds `prefix` now (a RADIUS Accounting-Start, a DHCP lease).
    ///
    /// Any other session binding in force that overlaps `prefix` ends now: the address moved, and an exception of
    /// the previous holder no longer applies to it. Audit actions `session.end` (with `moved_to`) and
    /// `session.start`. Idempotent: when the customer already holds exactly this session, nothing is written.
    ///
    /// - Throws: ``ExceptionStoreError``: `invalidArgument`, `unknownCustomer`, `conflict` (another customer
    ///   holds an overlapping *static* binding; sessions never take over static addresses), `locked`, `io`.
    @discardableResult
    public func startSession(
        customer: String, prefix: IPPrefix, actor: String, now: Int64 = UTCTime.now()
    ) throws(ExceptionStoreError) -> SessionChange {
        try Self.validateCustomerID(customer)
        let actor = try Self.validateActor(actor)
        let prefix = Self.canonical(prefix)
        return try write("start a session for \(customer) in") { db in
            _ = try Self.requireCustomer(db, customer)
            return try Self.startSession(db, customer: customer, prefix: prefix, actor: actor, now: now, origin: nil)
                .change
        }
    }

    /// Ends the customer's session on exactly `prefix`, or every session of the customer when `prefix` is `nil`
    /// (RADIUS Accounting-Stop). Audit action `session.end`. Idempotent: no matching session writes nothing and
    /// returns an empty list.
    /// - Returns: The ended bindings.
    /// - Throws: ``ExceptionStoreError``: `invalidArgument`, `unknownCustomer`, `locked`, `io`.
    @discardableResult
    public func stopSessions(
        customer: String, prefix: IPPrefix? = nil, actor: String, now: Int64 = UTCTime.now()
    ) throws(ExceptionStoreError) -> [AddressBinding] {
        try Self.validateCustomerID(customer)
        let actor = try Self.validateActor(actor)
        let prefix = prefix.map(Self.canonical)
        return try write("stop sessions of \(customer) in") { db in
            _ = try Self.requireCustomer(db, customer)
            let sessions = try Self.openBindings(db, customer: customer).filter {
                $0.kind == .session && (prefix == nil || $0.prefix == prefix)
            }
            var ended: [AddressBinding] = []
            for session in sessions {
                let record = try Self.endBinding(db, session, now: now)
                try Self.appendAudit(
                    db, at: now, actor: actor, action: "session.end", customer: customer,
                    objectID: "binding-\(session.id)", before: session,
                    after: EndedBindingRecord(binding: record, movedTo: nil))
                ended.append(record)
            }
            return ended
        }
    }

    /// Imports current leases in one transaction (all or nothing): each lease as
    /// ``startSession(customer:prefix:actor:now:)``.
    ///
    /// - Parameters:
    ///   - leases: The leases; exact duplicates are ignored, other overlaps between leases are an error.
    ///   - replace: Also end every session binding in force that is not in `leases` (the file is the complete
    ///     set of current leases).
    /// - Returns: Every binding started and ended.
    /// - Throws: ``ExceptionStoreError``, its message starting with the lease's `origin` (`FILE:LINE: `):
    ///   `invalidArgument` (overlapping leases), `unknownCustomer`, `conflict`, `locked`, `io`.
    @discardableResult
    public func importSessions(
        _ leases: [SessionLease], replace: Bool = false, actor: String, now: Int64 = UTCTime.now()
    ) throws(ExceptionStoreError) -> SessionChange {
        let actor = try Self.validateActor(actor)
        func located(_ lease: SessionLease, _ message: String) -> String {
            lease.origin.map { "\($0): \(message)" } ?? message
        }
        // Validate: customer ids, then overlaps between leases (sorted by first address; each lease is compared
        // with the lease reaching furthest so far).
        var unique: [SessionLease] = []
        var seen: Set<SessionLeaseKey> = []
        for var lease in leases {
            do {
                try Self.validateCustomerID(lease.customer)
            } catch {
                throw ExceptionStoreError(error.code, located(lease, error.message))
            }
            lease.prefix = Self.canonical(lease.prefix)
            if seen.insert(SessionLeaseKey(customer: lease.customer, prefix: lease.prefix)).inserted {
                unique.append(lease)
            }
        }
        let ordered = unique.map { ($0, PrefixRange($0.prefix)) }.sorted { a, b in
            (a.1.family, a.1.first, b.1.last) < (b.1.family, b.1.first, a.1.last)
        }
        var widest: (SessionLease, PrefixRange)?
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
            if widest == nil || widest!.1.family != range.family || widest!.1.last < range.last {
                widest = (lease, range)
            }
        }
        return try write("import sessions into") { db in
            var change = SessionChange()
            var known: Set<String> = []
            var kept: Set<Int64> = []
            for lease in unique {
                if !known.contains(lease.customer) {
                    guard try Self.fetchCustomer(db, lease.customer) != nil else {
                        throw ExceptionStoreError(
                            .unknownCustomer, located(lease, "unknown customer \(lease.customer)"))
                    }
                    known.insert(lease.customer)
                }
                let one = try Self.startSession(
                    db, customer: lease.customer, prefix: lease.prefix, actor: actor, now: now, origin: lease.origin)
                change.started += one.started
                change.ended += one.ended
                kept.formUnion(one.started.map(\.id))
                kept.formUnion(one.kept.map(\.id))
            }
            if replace {
                let open = try Row.fetchAll(
                    db,
                    sql: "SELECT \(Self.bindingColumns) FROM binding WHERE kind = 'session' AND valid_until IS NULL "
                        + "ORDER BY id"
                ).map(Self.binding)
                for session in open where !kept.contains(session.id) {
                    let record = try Self.endBinding(db, session, now: now)
                    try Self.appendAudit(
                        db, at: now, actor: actor, action: "session.end", customer: session.customer,
                        objectID: "binding-\(session.id)", before: session,
                        after: EndedBindingRecord(binding: record, movedTo: nil))
                    change.ended.append(record)
                }
            }
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
    /// - Parameter cutoff: UTC seconds, at most `now`.
    /// - Returns: How many bindings and audit entries were deleted.
    /// - Throws: ``ExceptionStoreError``: `invalidArgument` (`cutoff > now`, empty actor), `locked`, `io`.
    @discardableResult
    public func pruneSessionHistory(
        endedBefore cutoff: Int64, actor: String, now: Int64 = UTCTime.now()
    ) throws(ExceptionStoreError) -> SessionPruneResult {
        let actor = try Self.validateActor(actor)
        guard cutoff <= now else {
            throw ExceptionStoreError(.invalidArgument, "the cutoff \(UTCTime.format(cutoff)) is in the future")
        }
        return try write("prune session history in") { db in
            try db.execute(
                sql: """
                    CREATE TEMP TABLE IF NOT EXISTS pruned_binding (id INTEGER PRIMARY KEY);
                    DELETE FROM pruned_binding;
                    INSERT INTO pruned_binding (id)
                        SELECT id FROM binding WHERE kind = 'session' AND valid_until < ?;
                    """,
                arguments: [cutoff])
            try db.execute(sql: "DELETE FROM binding WHERE id IN (SELECT id FROM pruned_binding)")
            let bindings = db.changesCount
            try db.execute(
                sql: """
                    DELETE FROM audit
                    WHERE action IN ('session.start', 'session.end') AND object_id LIKE 'binding-%'
                        AND CAST(substr(object_id, 9) AS INTEGER) IN (SELECT id FROM pruned_binding)
                    """)
            let entries = db.changesCount
            try db.execute(sql: "DELETE FROM pruned_binding")
            let result = SessionPruneResult(cutoff: cutoff, bindings: bindings, auditEntries: entries)
            if bindings == 0 && entries == 0 { return result }  // nothing changed: no entry, no change token bump
            try Self.appendAudit(
                db, at: now, actor: actor, action: "session.prune", customer: nil, objectID: nil,
                before: SessionPruneResult?.none, after: result)
            return result
        }
    }

    /// The session logic inside a write transaction; the customer exists.
    static func startSession(
        _ db: Database, customer: String, prefix: IPPrefix, actor: String, now: Int64, origin: String?
    ) throws -> SessionChangeWithKept {
        let overlapping = try openBindings(db, overlapping: prefix)
        if let other = overlapping.first(where: { $0.kind == .static && $0.customer != customer }) {
            let location = origin.map { "\($0): " } ?? ""
            throw ExceptionStoreError(
                .conflict,
                "\(location)cannot start a session on \(prefix) for \(customer): "
                    + "customer \(other.customer) holds \(other.prefix) statically (unbind it first)")
        }
        var result = SessionChangeWithKept()
        for session in overlapping where session.kind == .session {
            if session.customer == customer && session.prefix == prefix {
                result.kept.append(session)
                continue
            }
            let record = try endBinding(db, session, now: now)
            try appendAudit(
                db, at: now, actor: actor, action: "session.end", customer: session.customer,
                objectID: "binding-\(session.id)", before: session,
                after: EndedBindingRecord(binding: record, movedTo: session.customer == customer ? nil : customer))
            result.ended.append(record)
        }
        if result.kept.isEmpty {
            let binding = try insertBinding(db, customer: customer, prefix: prefix, kind: .session, now: now)
            try appendAudit(
                db, at: now, actor: actor, action: "session.start", customer: customer,
                objectID: "binding-\(binding.id)", before: AddressBinding?.none, after: binding)
            result.started.append(binding)
        }
        return result
    }
}

struct SessionLeaseKey: Hashable {
    var customer: String
    var prefix: IPPrefix
}

/// A ``SessionChange`` plus the sessions that already existed unchanged.
struct SessionChangeWithKept {
    var started: [AddressBinding] = []
    var ended: [AddressBinding] = []
    var kept: [AddressBinding] = []

    var change: SessionChange { SessionChange(started: started, ended: ended) }
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

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(UTCTime.format(cutoff), forKey: .cutoff)
        try container.encode(bindings, forKey: .bindings)
        try container.encode(auditEntries, forKey: .auditEntries)
    }
}
