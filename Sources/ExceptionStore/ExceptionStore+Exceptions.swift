import Egress25Core

extension ExceptionStore {
    /// Grants an exception to a customer. Audit action `exception.grant`.
    ///
    /// The exception follows the customer: it applies to whatever addresses the customer holds (static bindings
    /// and sessions) while it is in force. Granting to a customer with no binding is allowed; the result's
    /// `bindingsInForce` is then empty and the exception has no effect until a binding exists.
    ///
    /// - Parameter now: Grant time, UTC seconds; becomes `createdAt` (the exception's `notBefore`).
    /// - Returns: The stored exception (its new id is `exc-` and 8 characters) and the customer's bindings.
    /// - Throws: ``ExceptionStoreError``: `invalidArgument` (bad customer id, empty reason or `grantedBy`,
    ///   `expiresAt <= now`, an empty destination list), `unknownCustomer`, `locked`, `io`.
    public func grantException(
        _ grant: ExceptionGrant, now: Int64 = UTCTime.now()
    ) throws(ExceptionStoreError) -> GrantedException {
        try Self.validateCustomerID(grant.customer)
        let reason = try Self.validateRequiredText(grant.reason, field: "the reason", maximum: 1000)
        let ticket = try Self.validateText(grant.ticket, field: "the ticket", required: false, maximum: 200)
        let grantedBy = try Self.validateRequiredText(grant.grantedBy, field: "the grantor (--by)", maximum: 100)
        if let expiresAt = grant.expiresAt, expiresAt <= now {
            throw ExceptionStoreError(
                .invalidArgument,
                "the expiry \(UTCTime.format(expiresAt)) is not in the future "
                    + "(now is \(UTCTime.format(now)))")
        }
        let destinations: DestinationScope
        switch grant.destinations {
        case .any:
            destinations = .any
        case .prefixes(let list):
            let canonical = Array(Set(list.map(Self.canonical))).sorted()
            guard !canonical.isEmpty else {
                throw ExceptionStoreError(
                    .invalidArgument, "the destination list is empty (omit --to for any destination)")
            }
            destinations = .prefixes(canonical)
        }
        return try write("grant an exception to \(grant.customer) in") { db in
            _ = try Self.requireCustomer(db, grant.customer)
            let id = try Self.newExceptionID(db)
            let exception = StoredException(
                id: id, customer: grant.customer, destinations: destinations, expiresAt: grant.expiresAt,
                reason: reason, ticket: ticket, grantedBy: grantedBy, createdAt: now)
            try ExceptionRecord.insert(db, exception)
            try appendAudit(
                db, at: now, actor: grantedBy, action: "exception.grant", customer: grant.customer, objectID: id,
                before: StoredException?.none, after: exception)
            let bindings = try Self.openBindings(db, customer: grant.customer).filter { $0.isInForce(at: now) }
            return GrantedException(exception: exception, bindingsInForce: bindings)
        }
    }

    /// Revokes an exception: blocked again from `now` on. Audit action `exception.revoke`.
    /// Revoking an expired exception is allowed (it records the decision); revoking twice is not.
    /// - Returns: The exception with its ``StoredException/revocation``.
    /// - Throws: ``ExceptionStoreError``: `invalidArgument` (empty reason or `by`), `unknownException`,
    ///   `alreadyRevoked`, `locked`, `io`.
    @discardableResult
    public func revokeException(
        id: String, reason: String, by actor: String, now: Int64 = UTCTime.now()
    ) throws(ExceptionStoreError) -> StoredException {
        let reason = try Self.validateRequiredText(reason, field: "the reason", maximum: 1000)
        let actor = try Self.validateRequiredText(actor, field: "the revoker (--by)", maximum: 100)
        return try write("revoke \(id) in") { db in
            guard let exception = try Self.fetchException(db, id) else {
                throw ExceptionStoreError(.unknownException, "unknown exception \(id)")
            }
            if let revocation = exception.revocation {
                throw ExceptionStoreError(
                    .alreadyRevoked,
                    "exception \(id) was already revoked at "
                        + "\(UTCTime.format(revocation.at)) by \(revocation.by)")
            }
            var revoked = exception
            revoked.revocation = .init(at: now, by: actor, reason: reason)
            try db.execute(
                "UPDATE exception SET revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE id = ?",
                [.integer(now), .text(actor), .text(reason), .text(id)])
            try appendAudit(
                db, at: now, actor: actor, action: "exception.revoke", customer: exception.customer, objectID: id,
                before: exception, after: revoked)
            return revoked
        }
    }

    /// The exception with this id, or `nil`.
    /// - Throws: ``ExceptionStoreError`` (`io`).
    public func exception(id: String) throws(ExceptionStoreError) -> StoredException? {
        try read("read") { db in try Self.fetchException(db, id) }
    }

    /// Exceptions by status at `now`, oldest first.
    /// - Parameters:
    ///   - customer: Only this customer's; `nil` for all.
    ///   - status: `.active` (neither expired nor revoked), `.expired` (expired, not revoked), `.revoked`, `.all`.
    ///   - now: UTC seconds.
    /// - Throws: ``ExceptionStoreError`` (`unknownCustomer` when `customer` does not exist, `io`).
    public func exceptions(
        customer: String? = nil, status: ExceptionStatusFilter = .active, now: Int64 = UTCTime.now()
    ) throws(ExceptionStoreError) -> [StoredException] {
        try read("read") { db in
            let filter = try Self.customerFilter(db, customer)
            var sql = "SELECT \(ExceptionRecord.columns) FROM exception WHERE 1 = 1" + filter.sql
            var arguments = filter.arguments
            switch status {
            case .active:
                sql += " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"
                arguments.append(.integer(now))
            case .expired:
                sql += " AND revoked_at IS NULL AND expires_at <= ?"
                arguments.append(.integer(now))
            case .revoked:
                sql += " AND revoked_at IS NOT NULL"
            case .all:
                break
            }
            return try db.rows(sql + " ORDER BY created_at, id", arguments).map(ExceptionRecord.exception)
        }
    }

    /// Audit entries, oldest first.
    /// - Parameters:
    ///   - since: Only entries at or after this time (UTC seconds).
    ///   - customer: Only entries about this customer.
    ///   - objectID: Only entries about this object (an exception id, `binding-N`, a customer id).
    ///   - limit: At most this many (the newest ones), `nil` for all.
    /// - Throws: ``ExceptionStoreError`` (`io`).
    public func auditEntries(
        since: Int64? = nil, customer: String? = nil, objectID: String? = nil, limit: Int? = nil
    ) throws(ExceptionStoreError) -> [AuditEntry] {
        try read("read the audit log of") { db in
            var sql = "SELECT \(AuditRecord.columns) FROM audit WHERE 1 = 1"
            var arguments: [SQLValue] = []
            if let since {
                sql += " AND at >= ?"
                arguments.append(.integer(since))
            }
            if let customer {
                sql += " AND customer_id = ?"
                arguments.append(.text(customer))
            }
            if let objectID {
                sql += " AND object_id = ?"
                arguments.append(.text(objectID))
            }
            sql += " ORDER BY sequence DESC"
            if let limit {
                sql += " LIMIT ?"
                arguments.append(.integer(Int64(max(0, limit))))
            }
            return try db.rows(sql, arguments).reversed().map(AuditRecord.entry)
        }
    }
}
