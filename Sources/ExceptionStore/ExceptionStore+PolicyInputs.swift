import Egress25Core
import GRDB

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
            var bindings: [CustomerBinding] = []
            var sourcesByCustomer: [String: [IPPrefix]] = [:]
            var openCount = 0
            for (index, sql) in [
                """
                SELECT customer_id, family, first, last FROM binding
                WHERE valid_until IS NULL AND valid_from <= ? ORDER BY family, first
                """,
                """
                SELECT customer_id, family, first, last FROM binding
                WHERE valid_until > ? AND valid_from <= ? ORDER BY family, first
                """,
            ].enumerated() {
                let arguments: StatementArguments = sql.contains("valid_until >") ? [now, now] : [now]
                let rows = try Row.fetchCursor(db.cachedStatement(sql: sql), arguments: arguments)
                while let row = try rows.next() {
                    let customer: String = row[0]
                    let first: String = row[2]
                    let last: String = row[3]
                    guard let prefix = PrefixRange.prefix(family: row[1], first: first, last: last) else {
                        throw ExceptionStoreError(.io, "corrupt binding of \(customer): range \(first)-\(last)")
                    }
                    bindings.append(CustomerBinding(customer: customer, prefix: prefix))
                    sourcesByCustomer[customer, default: []].append(prefix)
                }
                if index == 0 { openCount = bindings.count }
            }
            if openCount > 0 && bindings.count > openCount {
                bindings.sort { $0.prefix < $1.prefix }  // `now` in the past: merge the two ordered lists
            }
            let stored = try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.exceptionColumns) FROM exception
                    WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
                    ORDER BY created_at, id
                    """,
                arguments: [now - Self.recentlyExpiredWindowSeconds]
            ).map(Self.exception)
            var rules: [ExceptionRule] = []
            rules.reserveCapacity(stored.count)
            for exception in stored {
                guard let sources = sourcesByCustomer[exception.customer], !sources.isEmpty else { continue }
                rules.append(
                    ExceptionRule(
                        id: exception.id, customer: exception.customer, sources: Array(Set(sources)).sorted(),
                        destinations: exception.destinations, notBefore: exception.createdAt,
                        expiresAt: exception.expiresAt, reason: exception.reason, ticket: exception.ticket))
            }
            return (rules, bindings)
        }
    }
}
