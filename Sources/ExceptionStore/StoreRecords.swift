import Egress25Core

// The rows of the store's tables, decoded from the SQL both backends share (`StoreSQL`): one struct per table, its
// columns named once (`columns`, in the order `init(row:)` reads them), and the statement that inserts it. They are
// internal: the public value types (`Customer`, `AddressBinding`, `StoredException`, `AuditEntry`) keep their own JSON
// encoding (RFC 3339 times) for `egress25ctl --json` and the audit log's `before`/`after`.
//
// Every query names its columns, never `SELECT *`: a pooled SQLite reader that last saw the schema before a migration
// prepares `*` against the old schema, and a PostgreSQL `*` would follow a column added later.

/// A row of `customer`.
struct CustomerRecord {
    static let columns = "id, name, note, created_at, auto_created"

    var customer: Customer

    init(_ customer: Customer) { self.customer = customer }

    /// Decodes the columns of ``columns``, in order.
    init(row: SQLRow) throws {
        customer = Customer(
            id: try row.text(0), name: try row.optionalText(1), note: try row.optionalText(2),
            createdAt: try row.int64(3), autoCreated: try row.bool(4))
    }

    func insert(_ db: any StoreSQL) throws {
        try db.execute(
            "INSERT INTO customer (\(Self.columns)) VALUES (?, ?, ?, ?, ?)",
            [
                .text(customer.id), .text(customer.name), .text(customer.note), .integer(customer.createdAt),
                .bool(customer.autoCreated),
            ])
    }
}

/// A row of `binding`: a customer holding a prefix over `[valid_from, valid_until)`.
///
/// Columns: `prefix` is canonical CIDR text; `family` 4 or 6; `first`/`last` the first and last address as
/// fixed-width lowercase hex (8 or 32 digits), so text order is numeric order; times UTC seconds; `lease_until`
/// for sessions only (schema 2); `nas`/`acct_session_id` for the accounting feed's sessions only (SQLite schema 4,
/// PostgreSQL schema 3).
enum BindingRecord {
    static let columns = "id, customer_id, prefix, kind, valid_from, valid_until, lease_until, nas, acct_session_id"

    /// Decodes the columns of ``columns``, in order.
    /// - Throws: ``ExceptionStoreError`` `io` when the row is not a binding this build wrote (corrupt prefix or
    ///   kind).
    static func binding(_ row: SQLRow) throws -> AddressBinding {
        let id = try row.int64(0)
        let prefixText = try row.text(2)
        let kindText = try row.text(3)
        guard let prefix = IPPrefix(prefixText), let kind = BindingKind(rawValue: kindText) else {
            throw ExceptionStoreError(.io, "corrupt binding row \(id): prefix \(prefixText), kind \(kindText)")
        }
        return AddressBinding(
            id: id, customer: try row.text(1), prefix: prefix, kind: kind, validFrom: try row.int64(4),
            validUntil: try row.optionalInt64(5), leaseUntil: try row.optionalInt64(6), nas: try row.optionalText(7),
            accountingSessionID: try row.optionalText(8))
    }

    /// Inserts a binding from `validFrom`, in force until `validUntil` (`nil`: open). - Returns: Its id.
    static func insert(
        _ db: any StoreSQL, customer: String, prefix: IPPrefix, kind: BindingKind, validFrom: Int64,
        validUntil: Int64? = nil, leaseUntil: Int64?, nas: String? = nil, accountingSessionID: String? = nil
    ) throws -> Int64 {
        let range = ExceptionStore.PrefixRange(prefix)
        let row = try db.firstRow(
            """
            INSERT INTO binding (customer_id, prefix, family, first, last, kind, valid_from, valid_until, lease_until,
                nas, acct_session_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
            """,
            [
                .text(customer), .text(prefix.description), .integer(Int64(range.family)), .text(range.first),
                .text(range.last), .text(kind.rawValue), .integer(validFrom), .integer(validUntil),
                .integer(leaseUntil), .text(nas), .text(accountingSessionID),
            ])
        guard let row else { throw ExceptionStoreError(.io, "inserting a binding returned no id") }
        return try row.int64(0)
    }
}

/// A row of `exception`: `destinations` NULL for any destination, else canonical CIDR prefixes joined by `,`;
/// `expires_at` NULL for permanent, else UTC seconds (exclusive).
enum ExceptionRecord {
    static let columns =
        "id, customer_id, destinations, expires_at, reason, ticket, granted_by, created_at, revoked_at, revoked_by, "
        + "revoke_reason"

    /// Decodes the columns of ``columns``, in order.
    /// - Throws: ``ExceptionStoreError`` `io` when a destination is not a CIDR prefix.
    static func exception(_ row: SQLRow) throws -> StoredException {
        let id = try row.text(0)
        let scope: DestinationScope
        if let destinations = try row.optionalText(2) {
            var prefixes: [IPPrefix] = []
            for part in destinations.split(separator: ",") {
                guard let prefix = IPPrefix(String(part)) else {
                    throw ExceptionStoreError(.io, "corrupt exception row \(id): destination \(part)")
                }
                prefixes.append(prefix)
            }
            scope = .prefixes(prefixes)
        } else {
            scope = .any
        }
        let revocation = try row.optionalInt64(8).map {
            StoredException.Revocation(
                at: $0, by: try row.optionalText(9) ?? "", reason: try row.optionalText(10) ?? "")
        }
        return StoredException(
            id: id, customer: try row.text(1), destinations: scope, expiresAt: try row.optionalInt64(3),
            reason: try row.text(4), ticket: try row.optionalText(5), grantedBy: try row.text(6),
            createdAt: try row.int64(7), revocation: revocation)
    }

    static func insert(_ db: any StoreSQL, _ exception: StoredException) throws {
        let destinations: String?
        switch exception.destinations {
        case .any: destinations = nil
        case .prefixes(let prefixes): destinations = prefixes.map(\.description).joined(separator: ",")
        }
        try db.execute(
            "INSERT INTO exception (\(columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                .text(exception.id), .text(exception.customer), .text(destinations), .integer(exception.expiresAt),
                .text(exception.reason), .text(exception.ticket), .text(exception.grantedBy),
                .integer(exception.createdAt), .integer(exception.revocation?.at), .text(exception.revocation?.by),
                .text(exception.revocation?.reason),
            ])
    }
}

/// A row of `audit`. Append-only: the schema refuses every `UPDATE`, and every `DELETE` but of the session feed's
/// entries; the store only ever inserts these. `before`/`after` are JSON text.
enum AuditRecord {
    static let columns = "sequence, at, actor, action, customer_id, object_id, before, after, os_user, sudo_user, role"

    /// Decodes the columns of ``columns``, in order.
    static func entry(_ row: SQLRow) throws -> AuditEntry {
        AuditEntry(
            sequence: try row.int64(0), at: try row.int64(1), actor: try row.text(2), action: try row.text(3),
            customer: try row.optionalText(4), objectID: try row.optionalText(5), before: try row.optionalText(6),
            after: try row.optionalText(7), osUser: try row.optionalText(8), sudoUser: try row.optionalText(9),
            role: try row.optionalText(10))
    }

    /// Inserts an entry; the schema bumps the change token (`store_state.generation`) in the same transaction.
    static func insert(
        _ db: any StoreSQL, at: Int64, actor: String, action: String, customer: String?, objectID: String?,
        before: String?, after: String?, identity: OperatingSystemIdentity
    ) throws {
        try db.execute(
            """
            INSERT INTO audit (at, actor, action, customer_id, object_id, before, after, os_user, sudo_user, role)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .integer(at), .text(actor), .text(action), .text(customer), .text(objectID), .text(before),
                .text(after), .text(identity.user), .text(identity.sudoUser), .text(identity.role),
            ])
    }
}
