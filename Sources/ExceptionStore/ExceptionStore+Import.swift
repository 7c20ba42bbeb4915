import Egress25Core
import Foundation

/// What ``ExceptionStore/importSQLiteStore(at:actor:now:)`` did.
public struct StoreImportResult: Hashable, Sendable {
    /// The file was imported before: nothing was written.
    public var alreadyImported: Bool
    /// When it was imported (now, or the earlier import's time), UTC seconds.
    public var importedAt: Int64
    /// Customers of the file; ``customersMerged`` of them already existed in the fleet store and were kept as
    /// they are there.
    public var customers: Int
    /// Customers of the file that the fleet store held already.
    public var customersMerged: Int
    /// Bindings (static and sessions, in force and ended) written.
    public var bindings: Int
    /// Exceptions of the file (revoked and expired ones too).
    public var exceptions: Int
    /// Audit entries of the file, copied with their original times and actors.
    public var auditEntries: Int
    /// Identifies the imported store (FNV-1a 64 of its oldest audit entries, hex).
    public var fingerprint: String
}

extension ExceptionStore {
    /// Moves a single router's SQLite store into this fleet store, in ONE transaction: its customers, bindings (in
    /// force and ended, renumbered), exceptions and audit history (entries about bindings renumbered with them), plus
    /// one audit entry `store.import`.
    ///
    /// - A customer id already in the fleet store is the same customer (ids are the ISP's account numbers): the
    ///   fleet's row stays, its bindings and exceptions are added.
    /// - A binding in force that overlaps another customer's binding in force, or an exception id the fleet store
    ///   holds with other content, stops the import before anything is written.
    /// - Idempotent: the file is recognised by its oldest audit entries (``StoreImportResult/fingerprint``), which
    ///   never change; a second run writes nothing and says when the first ran.
    ///
    /// - Parameters:
    ///   - path: The SQLite store (`exceptions.sqlite`), at this build's schema.
    ///   - actor: Who imports, for the `store.import` audit entry.
    ///   - now: UTC seconds.
    /// - Throws: ``ExceptionStoreError``: `invalidArgument` (not an egress25 store, an older schema, this store is
    ///   not PostgreSQL), `conflict`, `notFound`, `permissionDenied`, `unreachable`, `io`.
    public func importSQLiteStore(
        at path: String, actor: String, now: Int64 = UTCTime.now()
    ) throws(ExceptionStoreError) -> StoreImportResult {
        guard dialect == .postgresql else {
            throw ExceptionStoreError(.invalidArgument, "import-sqlite writes into the fleet store (store.url)")
        }
        let actor = try Self.validateActor(actor)
        guard try Self.storeExists(at: path) else { throw ExceptionStoreError(.notFound, "no file at \(path)") }
        let source = try Self.readImportSource(path)
        let fingerprint = source.fingerprint
        return try write("import \(path) into") { db in
            if let row = try db.firstRow(
                "SELECT imported_at FROM store_import WHERE fingerprint = ?", [.text(fingerprint)])
            {
                return StoreImportResult(
                    alreadyImported: true, importedAt: try row.int64(0), customers: 0, customersMerged: 0,
                    bindings: 0, exceptions: 0, auditEntries: 0, fingerprint: fingerprint)
            }
            var merged = 0
            for customer in source.customers {
                if try Self.fetchCustomer(db, customer.id) != nil {
                    merged += 1
                } else {
                    try CustomerRecord(customer).insert(db)
                }
            }
            var newIDs: [Int64: Int64] = [:]
            for binding in source.bindings.sorted(by: { $0.id < $1.id }) {
                if binding.validUntil == nil {
                    let overlapping = try Self.openBindings(db, overlapping: binding.prefix)
                    if let other = overlapping.first(where: { $0.customer != binding.customer }) {
                        throw ExceptionStoreError(
                            .conflict,
                            "\(path): binding \(binding.id) (\(binding.prefix) for \(binding.customer)) overlaps "
                                + "\(other.prefix), which customer \(other.customer) holds in the fleet store "
                                + "(\(other.kind.rawValue) since \(UTCTime.format(other.validFrom))); nothing was "
                                + "imported")
                    }
                }
                let range = PrefixRange(binding.prefix)
                let row = try db.firstRow(
                    """
                    INSERT INTO binding (customer_id, prefix, family, first, last, kind, valid_from, valid_until,
                        lease_until, nas, acct_session_id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
                    """,
                    [
                        .text(binding.customer), .text(binding.prefix.description), .integer(Int64(range.family)),
                        .text(range.first), .text(range.last), .text(binding.kind.rawValue),
                        .integer(binding.validFrom), .integer(binding.validUntil), .integer(binding.leaseUntil),
                        .text(binding.nas), .text(binding.accountingSessionID),
                    ])
                newIDs[binding.id] = try row?.int64(0)
            }
            for exception in source.exceptions {
                if let existing = try Self.fetchException(db, exception.id) {
                    guard existing == exception else {
                        throw ExceptionStoreError(
                            .conflict,
                            "\(path): exception \(exception.id) exists in the fleet store with other content; "
                                + "nothing was imported")
                    }
                    continue
                }
                try ExceptionRecord.insert(db, exception)
            }
            for entry in source.audit {
                var objectID = entry.objectID
                if let object = objectID, object.hasPrefix("binding-"), let old = Int64(object.dropFirst(8)),
                    let new = newIDs[old]
                {
                    objectID = "binding-\(new)"
                }
                try db.execute(
                    """
                    INSERT INTO audit (
                        at, actor, action, customer_id, object_id, before, after, os_user, sudo_user, role)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .integer(entry.at), .text(entry.actor), .text(entry.action), .text(entry.customer),
                        .text(objectID), .text(entry.before), .text(entry.after), .text(entry.osUser),
                        .text(entry.sudoUser), .text(entry.role),
                    ])
            }
            let result = StoreImportResult(
                alreadyImported: false, importedAt: now, customers: source.customers.count, customersMerged: merged,
                bindings: source.bindings.count, exceptions: source.exceptions.count,
                auditEntries: source.audit.count, fingerprint: fingerprint)
            try db.execute(
                "INSERT INTO store_import (fingerprint, source_path, imported_at, imported_by) VALUES (?, ?, ?, ?)",
                [.text(fingerprint), .text(path), .integer(now), .text(actor)])
            try appendAudit(
                db, at: now, actor: actor, action: "store.import", customer: nil, objectID: fingerprint,
                before: String?.none,
                after: [
                    "source": path, "customers": "\(result.customers)", "bindings": "\(result.bindings)",
                    "exceptions": "\(result.exceptions)", "audit_entries": "\(result.auditEntries)",
                ])
            return result
        }
    }

    struct ImportSource {
        var customers: [Customer] = []
        var bindings: [AddressBinding] = []
        var exceptions: [StoredException] = []
        var audit: [AuditEntry] = []
        var fingerprint = ""
    }

    /// Everything in the SQLite store at `path`, read in one transaction.
    static func readImportSource(_ path: String) throws(ExceptionStoreError) -> ImportSource {
        let version = try sqliteSchemaVersion(path: path)
        guard version > 0 else {
            throw ExceptionStoreError(.invalidArgument, "\(path) is not an egress25 store (no egress25 schema in it)")
        }
        guard version == schemaVersion else {
            throw ExceptionStoreError(
                .invalidArgument,
                version > schemaVersion
                    ? "\(path) was written by a newer egress25 (schema \(version) > \(schemaVersion)); upgrade egress25ctl"
                    : "\(path) has schema \(version) < \(schemaVersion); run any egress25ctl write command against it "
                        + "on its router first (that migrates it), then import")
        }
        let store = try ExceptionStore(path: path, mode: .readOnly)
        return try store.read("read the store to import from") { db in
            var source = ImportSource()
            source.customers = try db.rows("SELECT \(CustomerRecord.columns) FROM customer ORDER BY id").map {
                try CustomerRecord(row: $0).customer
            }
            source.bindings = try db.rows("SELECT \(BindingRecord.columns) FROM binding ORDER BY id").map(
                BindingRecord.binding)
            source.exceptions = try db.rows("SELECT \(ExceptionRecord.columns) FROM exception ORDER BY id").map(
                ExceptionRecord.exception)
            source.audit = try db.rows("SELECT \(AuditRecord.columns) FROM audit ORDER BY sequence").map(
                AuditRecord.entry)
            // The oldest entries that are never pruned (support staff's changes); the session feed's when there are
            // none.
            var oldest = source.audit.filter { !$0.action.hasPrefix("session.") }
            if oldest.isEmpty { oldest = source.audit }
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for entry in oldest.prefix(100) {
                let text = "\(entry.at)|\(entry.actor)|\(entry.action)|\(entry.objectID ?? "")|\(entry.after ?? "")\n"
                for byte in text.utf8 {
                    hash ^= UInt64(byte)
                    hash = hash &* 0x100_0000_01b3
                }
            }
            source.fingerprint = String(hash, radix: 16)
            return source
        }
    }
}
