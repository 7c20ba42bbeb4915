import Egress25Core

extension ExceptionStore {
    /// What the daemon needs to build a `PolicySnapshot`, read in ONE read transaction (a consistent snapshot:
    /// a change committed by another process is seen entirely or not at all).
    ///
    /// - `bindings`: every binding in force at `now` (static and session), ordered by address family and first
    ///   address.
    /// - `exceptions`: every exception that is not revoked and has not expired before
    ///   `now - recentlyExpiredWindowSeconds` (30 days), resolved to the customer's bindings in force at `now`:
    ///   `sources` are their prefixes, `notBefore` is the grant time, `expiresAt` the expiry, so `decide()` can
    ///   judge expiry at the exact second and name a recently expired exception. Exceptions of customers who
    ///   hold no binding are left out (they cannot match a source). Ordered by grant time, then id.
    ///
    /// Session leases: a session binding whose lease ends (``AddressBinding/leaseUntil``) stays in `bindings` (it
    /// names the last known holder) and in its customer's exceptions' `sources`, with the lease end in
    /// `ExceptionRule.sourceLeaseEnds`: the snapshot stops honouring the exception for that source at
    /// `min(expiresAt, lease end)` by the clock, exactly as it judges `expiresAt`, with no store write and no
    /// rebuild. A renewal grows the change token, so the next rebuild carries the new lease end. When a customer
    /// holds the same prefix statically and by session, the static binding wins (no lease end).
    ///
    /// A session that moves to another customer takes the address out of the previous customer's exceptions
    /// at the next rebuild: poll ``changeToken()`` and call this again when it changes.
    /// - Parameter now: UTC seconds.
    /// - Throws: ``ExceptionStoreError`` (`io`).
    public func policyInputs(
        now: Int64 = UTCTime.now()
    ) throws(ExceptionStoreError) -> (exceptions: [ExceptionRule], bindings: [CustomerBinding]) {
        try read("read the policy inputs from") { db in
            // In force at `now`: open bindings (partial index binding_open_by_first, already in prefix order),
            // plus bindings that end after `now` (only when `now` is in the past; index binding_by_end).
            var assembler = PolicyInputsAssembler()
            for (index, condition) in [
                // Open bindings, from the partial covering index binding_open_by_first, in its order.
                "valid_until IS NULL AND valid_from <= ?",
                // Ended after `now`: only when `now` is in the past (index binding_by_end).
                "valid_until > ? AND valid_from <= ?",
            ].enumerated() {
                let arguments: [SQLValue] = index == 0 ? [.integer(now)] : [.integer(now), .integer(now)]
                try db.forEachRow(
                    """
                    SELECT customer_id, family, first, last, lease_until FROM binding
                    WHERE \(condition) ORDER BY family, first
                    """, arguments
                ) { row in
                    let customer = try row.text(0)
                    let (first, last) = (try row.text(2), try row.text(3))
                    guard let prefix = PrefixRange.prefix(family: Int(try row.int64(1)), first: first, last: last)
                    else {
                        throw ExceptionStoreError(.io, "corrupt binding of \(customer): range \(first)-\(last)")
                    }
                    assembler.add(customer: customer, prefix: prefix, leaseUntil: try row.optionalInt64(4))
                }
                if index == 0 { assembler.endOfOrderedRun() }
            }
            let stored = try db.rows(
                """
                SELECT \(ExceptionRecord.columns) FROM exception
                WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at, id
                """,
                [.integer(now - Self.recentlyExpiredWindowSeconds)]
            ).map(ExceptionRecord.exception)
            return assembler.finish(exceptions: stored)
        }
    }
}

/// Turns bindings in force and exceptions into what `PolicySnapshot` takes: the bindings in address order, and each
/// exception resolved to its customer's prefixes with their lease ends. Shared by ``ExceptionStore/policyInputs(now:)``
/// (rows read from the store) and the fleet router's ``PolicyReplica`` (rows kept in memory), so both judge alike.
struct PolicyInputsAssembler {
    private(set) var bindings: [CustomerBinding] = []
    private var sourcesByCustomer: [String: [IPPrefix]] = [:]
    /// Per customer: the lease end of each source held by session only (nil once a static binding or a lease-less
    /// session holds the same prefix).
    private var leaseEndsByCustomer: [String: [IPPrefix: Int64?]] = [:]
    /// How many bindings came in address order before ``endOfOrderedRun()``; `nil`: all unordered.
    private var orderedCount: Int? = 0

    /// Adds one binding in force. `leaseUntil`: the session's lease end (UTC seconds), `nil` for static.
    mutating func add(customer: String, prefix: IPPrefix, leaseUntil: Int64?) {
        bindings.append(CustomerBinding(customer: customer, prefix: prefix))
        sourcesByCustomer[customer, default: []].append(prefix)
        if let previous = leaseEndsByCustomer[customer]?[prefix] {
            // The same prefix twice (static and session): the longest hold wins, nil (no lease) longest.
            if let previous, let leaseUntil {
                leaseEndsByCustomer[customer]?[prefix] = max(previous, leaseUntil)
            } else {
                leaseEndsByCustomer[customer]?[prefix] = .some(nil)
            }
        } else {
            leaseEndsByCustomer[customer, default: [:]][prefix] = .some(leaseUntil)
        }
    }

    /// The bindings added so far came in address order; later ones are merged in by sorting.
    mutating func endOfOrderedRun() {
        if orderedCount == 0 { orderedCount = bindings.count }
    }

    /// The bindings added in no particular order: ``finish(exceptions:)`` sorts them all.
    mutating func unordered() { orderedCount = nil }

    /// The policy inputs. `exceptions`: not revoked, not expired before the recently-expired window, ordered by
    /// grant time then id; those of customers without a binding are left out (they cannot match a source).
    func finish(exceptions stored: [StoredException]) -> (exceptions: [ExceptionRule], bindings: [CustomerBinding]) {
        var bindings = self.bindings
        if orderedCount.map({ $0 < bindings.count }) ?? true {
            bindings.sort { $0.prefix < $1.prefix }
        }
        var rules: [ExceptionRule] = []
        rules.reserveCapacity(stored.count)
        for exception in stored {
            guard let sources = sourcesByCustomer[exception.customer], !sources.isEmpty else { continue }
            var leaseEnds: [IPPrefix: Int64] = [:]
            for (prefix, end) in leaseEndsByCustomer[exception.customer] ?? [:] {
                if let end { leaseEnds[prefix] = end }
            }
            rules.append(
                ExceptionRule(
                    id: exception.id, customer: exception.customer, sources: Array(Set(sources)).sorted(),
                    destinations: exception.destinations, notBefore: exception.createdAt,
                    expiresAt: exception.expiresAt, reason: exception.reason, ticket: exception.ticket,
                    sourceLeaseEnds: leaseEnds))
        }
        return (rules, bindings)
    }
}
