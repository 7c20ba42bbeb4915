import Egress25Core
import GRDB

// The rows of the store's tables as GRDB records: one `Codable` struct per table, its columns named once in
// `CodingKeys` and reachable as `Columns` in the query interface. They are internal: the public value types
// (`Customer`, `AddressBinding`, `StoredException`, `AuditEntry`) keep their own JSON encoding (RFC 3339 times)
// for `egress25ctl --json` and the audit log's `before`/`after`, and do not expose GRDB to callers.
//
// Every record selects its columns by name (`databaseSelection`, from `CodingKeys`), never `SELECT *`: a pooled
// reader connection that last saw the schema before a migration prepares `*` against the old schema, and SQLite's
// transparent re-prepare does not change the column list GRDB read at prepare time (a column added by the migration
// would decode as missing). Named columns make SQLite notice the stale schema and reload it.

/// A record that selects exactly the columns of its `CodingKeys`.
protocol NamedColumnsRecord: TableRecord {
    associatedtype CodingKeys: CodingKey & CaseIterable & RawRepresentable<String>
}

extension NamedColumnsRecord {
    static var databaseSelection: [any SQLSelectable] { CodingKeys.allCases.map { Column($0.rawValue) } }

    /// The columns, for SQL text: `"id", "name", ...`.
    static var columnList: String { CodingKeys.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ") }
}

/// A row of `customer`.
struct CustomerRecord: Codable, FetchableRecord, PersistableRecord, NamedColumnsRecord {
    static let databaseTableName = "customer"

    var id: String
    var name: String?
    var note: String?
    /// UTC seconds.
    var createdAt: Int64
    /// Schema 2; 0 (false) in rows written before it.
    var autoCreated: Bool

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, name, note
        case createdAt = "created_at"
        case autoCreated = "auto_created"
    }

    enum Columns {
        static let id = Column(CodingKeys.id)
    }

    init(_ customer: Customer) {
        id = customer.id
        name = customer.name
        note = customer.note
        createdAt = customer.createdAt
        autoCreated = customer.autoCreated
    }

    var customer: Customer {
        Customer(id: id, name: name, note: note, createdAt: createdAt, autoCreated: autoCreated)
    }
}

/// A row of `binding`: a customer holding a prefix over `[valid_from, valid_until)`.
struct BindingRecord: Codable, FetchableRecord, MutablePersistableRecord, NamedColumnsRecord {
    static let databaseTableName = "binding"

    /// `nil` until inserted (`INTEGER PRIMARY KEY AUTOINCREMENT`).
    var id: Int64?
    var customerID: String
    /// Canonical CIDR text.
    var prefix: String
    /// 4 or 6.
    var family: Int
    /// First address, fixed-width lowercase hex (8 or 32 digits): text order is numeric order.
    var first: String
    /// Last address, same form.
    var last: String
    /// `static` or `session` (``BindingKind``).
    var kind: String
    /// UTC seconds.
    var validFrom: Int64
    /// UTC seconds; `nil` while in force.
    var validUntil: Int64?
    /// UTC seconds; sessions only (schema 2).
    var leaseUntil: Int64?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, prefix, family, first, last, kind
        case customerID = "customer_id"
        case validFrom = "valid_from"
        case validUntil = "valid_until"
        case leaseUntil = "lease_until"
    }

    enum Columns {
        static let id = Column(CodingKeys.id)
        static let customerID = Column(CodingKeys.customerID)
        static let family = Column(CodingKeys.family)
        static let first = Column(CodingKeys.first)
        static let last = Column(CodingKeys.last)
        static let kind = Column(CodingKeys.kind)
        static let validFrom = Column(CodingKeys.validFrom)
        static let validUntil = Column(CodingKeys.validUntil)
        static let leaseUntil = Column(CodingKeys.leaseUntil)
    }

    /// A new binding (no id yet) in force from `validFrom`.
    init(customer: String, prefix: IPPrefix, kind: BindingKind, validFrom: Int64, leaseUntil: Int64?) {
        let range = ExceptionStore.PrefixRange(prefix)
        self.id = nil
        self.customerID = customer
        self.prefix = prefix.description
        self.family = range.family
        self.first = range.first
        self.last = range.last
        self.kind = kind.rawValue
        self.validFrom = validFrom
        self.validUntil = nil
        self.leaseUntil = leaseUntil
    }

    mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    /// The public value.
    /// - Throws: ``ExceptionStoreError`` `io` when the row is not a binding this build wrote (corrupt prefix,
    ///   kind or id).
    func binding() throws(ExceptionStoreError) -> AddressBinding {
        guard let id, let parsed = IPPrefix(prefix), let kind = BindingKind(rawValue: kind) else {
            throw ExceptionStoreError(
                .io, "corrupt binding row \(id.map(String.init) ?? "without id"): prefix \(prefix), kind \(kind)")
        }
        return AddressBinding(
            id: id, customer: customerID, prefix: parsed, kind: kind, validFrom: validFrom, validUntil: validUntil,
            leaseUntil: leaseUntil)
    }
}

/// The columns of `binding` the policy rebuild reads for every binding in force: all of them are in the covering
/// index `binding_open_by_first`, so the rebuild never visits the table. Decoded by column name in `init(row:)`
/// rather than through `Decodable`, which GRDB documents as the slower path: the rebuild reads every binding in
/// force (not measured against the positional decoding it replaces).
struct BindingInForce: FetchableRecord, TableRecord {
    static let databaseTableName = BindingRecord.databaseTableName
    static var databaseSelection: [any SQLSelectable] {
        [
            BindingRecord.Columns.customerID, BindingRecord.Columns.family, BindingRecord.Columns.first,
            BindingRecord.Columns.last, BindingRecord.Columns.leaseUntil,
        ]
    }

    var customerID: String
    var family: Int
    var first: String
    var last: String
    /// UTC seconds; `nil` for static bindings.
    var leaseUntil: Int64?

    init(row: Row) throws {
        customerID = try row.decode(String.self, forColumn: BindingRecord.Columns.customerID.name)
        family = try row.decode(Int.self, forColumn: BindingRecord.Columns.family.name)
        first = try row.decode(String.self, forColumn: BindingRecord.Columns.first.name)
        last = try row.decode(String.self, forColumn: BindingRecord.Columns.last.name)
        leaseUntil = try row.decode(Int64?.self, forColumn: BindingRecord.Columns.leaseUntil.name)
    }
}

/// A row of `exception`.
struct ExceptionRecord: Codable, FetchableRecord, PersistableRecord, NamedColumnsRecord {
    static let databaseTableName = "exception"

    var id: String
    var customerID: String
    /// `nil` for any destination, else canonical CIDR prefixes joined by `,`.
    var destinations: String?
    /// UTC seconds (exclusive); `nil` for permanent.
    var expiresAt: Int64?
    var reason: String
    var ticket: String?
    var grantedBy: String
    /// UTC seconds.
    var createdAt: Int64
    /// UTC seconds; `nil` unless revoked.
    var revokedAt: Int64?
    var revokedBy: String?
    var revokeReason: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, destinations, reason, ticket
        case customerID = "customer_id"
        case expiresAt = "expires_at"
        case grantedBy = "granted_by"
        case createdAt = "created_at"
        case revokedAt = "revoked_at"
        case revokedBy = "revoked_by"
        case revokeReason = "revoke_reason"
    }

    enum Columns {
        static let id = Column(CodingKeys.id)
        static let customerID = Column(CodingKeys.customerID)
        static let expiresAt = Column(CodingKeys.expiresAt)
        static let createdAt = Column(CodingKeys.createdAt)
        static let revokedAt = Column(CodingKeys.revokedAt)
        static let revokedBy = Column(CodingKeys.revokedBy)
        static let revokeReason = Column(CodingKeys.revokeReason)
    }

    init(_ exception: StoredException) {
        id = exception.id
        customerID = exception.customer
        switch exception.destinations {
        case .any: destinations = nil
        case .prefixes(let prefixes): destinations = prefixes.map(\.description).joined(separator: ",")
        }
        expiresAt = exception.expiresAt
        reason = exception.reason
        ticket = exception.ticket
        grantedBy = exception.grantedBy
        createdAt = exception.createdAt
        revokedAt = exception.revocation?.at
        revokedBy = exception.revocation?.by
        revokeReason = exception.revocation?.reason
    }

    /// The public value.
    /// - Throws: ``ExceptionStoreError`` `io` when a destination is not a CIDR prefix.
    func exception() throws(ExceptionStoreError) -> StoredException {
        let scope: DestinationScope
        if let destinations {
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
        let revocation = revokedAt.map {
            StoredException.Revocation(at: $0, by: revokedBy ?? "", reason: revokeReason ?? "")
        }
        return StoredException(
            id: id, customer: customerID, destinations: scope, expiresAt: expiresAt, reason: reason, ticket: ticket,
            grantedBy: grantedBy, createdAt: createdAt, revocation: revocation)
    }
}

/// A row of `audit`. Append-only: the schema's `audit_no_update` trigger refuses every `UPDATE`, and
/// `audit_no_delete` every `DELETE` but of the session feed's entries; the store only ever inserts these.
struct AuditRecord: Codable, FetchableRecord, MutablePersistableRecord, NamedColumnsRecord {
    static let databaseTableName = "audit"

    /// `nil` until inserted (`INTEGER PRIMARY KEY AUTOINCREMENT`).
    var sequence: Int64?
    /// UTC seconds.
    var at: Int64
    var actor: String
    var action: String
    var customerID: String?
    var objectID: String?
    /// JSON text.
    var before: String?
    /// JSON text.
    var after: String?
    /// Schema 2; `nil` in entries written before it.
    var osUser: String?
    var sudoUser: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case sequence, at, actor, action, before, after
        case customerID = "customer_id"
        case objectID = "object_id"
        case osUser = "os_user"
        case sudoUser = "sudo_user"
    }

    enum Columns {
        static let sequence = Column(CodingKeys.sequence)
        static let at = Column(CodingKeys.at)
        static let customerID = Column(CodingKeys.customerID)
        static let objectID = Column(CodingKeys.objectID)
    }

    mutating func didInsert(_ inserted: InsertionSuccess) {
        sequence = inserted.rowID
    }

    /// The public value. - Throws: ``ExceptionStoreError`` `io` for a row without a sequence number.
    func entry() throws(ExceptionStoreError) -> AuditEntry {
        // `sequence` is the table's INTEGER PRIMARY KEY: every fetched row has one.
        guard let sequence else { throw ExceptionStoreError(.io, "corrupt audit row without a sequence number") }
        return AuditEntry(
            sequence: sequence, at: at, actor: actor, action: action, customer: customerID, objectID: objectID,
            before: before, after: after, osUser: osUser, sudoUser: sudoUser)
    }
}

/// The single row of `store_state`: the change token.
struct StoreStateRecord: Codable, FetchableRecord, TableRecord, NamedColumnsRecord {
    static let databaseTableName = "store_state"

    /// Always 1.
    var id: Int64
    /// Grows with every change (the `audit_bumps_generation` trigger, and session renewals).
    var generation: Int64

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, generation
    }

    /// The one row's key.
    static let key: Int64 = 1
}
