import Egress25Core
import Foundation

// Internal helpers: validation, row decoding, prefix ranges, audit entries, exception ids.

extension ExceptionStore {
    // MARK: Validation (before any transaction)

    static func validateCustomerID(_ id: String) throws(ExceptionStoreError) {
        let allowed = { (byte: UInt8) -> Bool in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"),
                UInt8(ascii: ":"), UInt8(ascii: "@"):
                return true
            default:
                return false
            }
        }
        guard !id.isEmpty, id.utf8.count <= 64, id.utf8.allSatisfy(allowed) else {
            throw ExceptionStoreError(
                .invalidArgument,
                "invalid customer id \"\(id)\": use 1 to 64 characters "
                    + "from A-Z a-z 0-9 . _ - : @")
        }
    }

    /// Checks free text: no control characters, at most `maximum` bytes, and not blank when `required`.
    /// - Returns: The text, or `nil` for an empty optional text.
    static func validateText(
        _ text: String?, field: String, required: Bool, maximum: Int
    ) throws(ExceptionStoreError) -> String? {
        guard let text, !text.allSatisfy(\.isWhitespace) else {
            if required { throw ExceptionStoreError(.invalidArgument, "\(field) must not be empty") }
            return nil
        }
        guard text.utf8.count <= maximum else {
            throw ExceptionStoreError(.invalidArgument, "\(field) is longer than \(maximum) bytes")
        }
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ExceptionStoreError(.invalidArgument, "\(field) must not contain control characters (newlines, tabs)")
        }
        return text
    }

    static func validateActor(_ actor: String) throws(ExceptionStoreError) -> String {
        try validateRequiredText(actor, field: "the actor (--by)", maximum: 100)
    }

    /// ``validateText(_:field:required:maximum:)`` for a required text. - Returns: The text.
    static func validateRequiredText(
        _ text: String, field: String, maximum: Int
    ) throws(ExceptionStoreError) -> String {
        guard let checked = try validateText(text, field: field, required: true, maximum: maximum) else {
            // validateText throws for a missing or blank required text; it returns nil only for optional ones.
            throw ExceptionStoreError(.invalidArgument, "\(field) must not be empty")
        }
        return checked
    }

    // MARK: Prefix ranges

    /// The stored range of a prefix: family (4 or 6), first and last address as fixed-width lowercase hex.
    struct PrefixRange {
        var family: Int
        var first: String
        var last: String

        init(_ prefix: IPPrefix) {
            switch (prefix.address, prefix.lastAddress) {
            case (.v4(let first), .v4(let last)):
                family = 4
                self.first = Self.hex(UInt64(first.value), digits: 8)
                self.last = Self.hex(UInt64(last.value), digits: 8)
            case (.v6(let first), .v6(let last)):
                family = 6
                self.first = Self.hex(first.high, digits: 16) + Self.hex(first.low, digits: 16)
                self.last = Self.hex(last.high, digits: 16) + Self.hex(last.low, digits: 16)
            default:
                preconditionFailure("prefix and last address of different families")
            }
        }

        /// The prefix back from the stored columns, without parsing text (the policy rebuild reads every
        /// binding); `nil` when the columns are not a CIDR range.
        static func prefix(family: Int, first: String, last: String) -> IPPrefix? {
            let firstUTF8 = first.utf8
            let lastUTF8 = last.utf8
            switch family {
            case 4:
                guard firstUTF8.count == 8, lastUTF8.count == 8, let start = UInt32(first, radix: 16),
                    let end = UInt32(last, radix: 16)
                else { return nil }
                let host = start ^ end
                guard start & host == 0, host & (host &+ 1) == 0 else { return nil }
                return IPPrefix(truncating: .v4(IPv4Address(start)), length: UInt8(32 - host.nonzeroBitCount))
            case 6:
                guard firstUTF8.count == 32, lastUTF8.count == 32,
                    let startHigh = UInt64(first.prefix(16), radix: 16),
                    let startLow = UInt64(first.suffix(16), radix: 16),
                    let endHigh = UInt64(last.prefix(16), radix: 16), let endLow = UInt64(last.suffix(16), radix: 16)
                else { return nil }
                let hostHigh = startHigh ^ endHigh
                let hostLow = startLow ^ endLow
                let bits = hostHigh.nonzeroBitCount + hostLow.nonzeroBitCount
                guard startHigh & hostHigh == 0, startLow & hostLow == 0, hostLow & (hostLow &+ 1) == 0,
                    hostHigh == 0 || hostLow == ~0, hostHigh & (hostHigh &+ 1) == 0
                else { return nil }
                return IPPrefix(
                    truncating: .v6(IPv6Address(high: startHigh, low: startLow)), length: UInt8(128 - bits))
            default:
                return nil
            }
        }

        /// `value`'s last `digits` hex digits (1...16), lowercase, zero-padded.
        static func hex(_ value: UInt64, digits: Int) -> String {
            String(unsafeUninitializedCapacity: digits) { buffer in
                let alphabet: StaticString = "0123456789abcdef"
                alphabet.withUTF8Buffer { alphabet in
                    for index in 0..<digits {
                        let shift = UInt64(4 * (digits - 1 - index))
                        buffer[index] = alphabet[Int((value >> shift) & 0xf)]
                    }
                }
                return digits
            }
        }

        /// The stored `first` of `address` truncated to `length` bits (the first address of that prefix).
        static func first(of address: IPAddress, length: UInt8) -> (family: Int, first: String) {
            switch IPPrefix(truncating: address, length: length).address {
            case .v4(let first): return (4, hex(UInt64(first.value), digits: 8))
            case .v6(let first): return (6, hex(first.high, digits: 16) + hex(first.low, digits: 16))
            }
        }
    }

    /// The form prefixes are stored in: IPv4-mapped IPv6 becomes IPv4.
    static func canonical(_ prefix: IPPrefix) -> IPPrefix { prefix.unmapped }

    // MARK: Lookups inside transactions

    static func fetchCustomer(_ db: any StoreSQL, _ id: String) throws -> Customer? {
        try db.firstRow("SELECT \(CustomerRecord.columns) FROM customer WHERE id = ?", [.text(id)])
            .map { try CustomerRecord(row: $0).customer }
    }

    static func requireCustomer(_ db: any StoreSQL, _ id: String) throws -> Customer {
        guard let customer = try fetchCustomer(db, id) else {
            throw ExceptionStoreError(.unknownCustomer, "unknown customer \(id)")
        }
        return customer
    }

    /// The condition and arguments that keep only `customer`'s rows (column `customer_id`), after checking the
    /// customer exists; no condition for `nil`.
    /// - Throws: ``ExceptionStoreError`` `unknownCustomer`.
    static func customerFilter(_ db: any StoreSQL, _ customer: String?) throws -> (sql: String, arguments: [SQLValue]) {
        guard let customer else { return ("", []) }
        _ = try requireCustomer(db, customer)
        return (" AND customer_id = ?", [.text(customer)])
    }

    static func fetchException(_ db: any StoreSQL, _ id: String) throws -> StoredException? {
        try db.firstRow("SELECT \(ExceptionRecord.columns) FROM exception WHERE id = ?", [.text(id)])
            .map(ExceptionRecord.exception)
    }

    /// In-force bindings (`valid_until IS NULL`) whose range overlaps `prefix`, any customer and kind.
    ///
    /// Two CIDR ranges overlap exactly when one contains the other, so an overlapping binding either starts
    /// inside `prefix` (one index range scan on `binding_open_by_first`), or starts before it and contains its
    /// first address: then it starts at that address truncated to a shorter length (at most 32 or 128 index
    /// seeks). No scan over unrelated bindings: a bulk import stays linear.
    static func openBindings(_ db: any StoreSQL, overlapping prefix: IPPrefix) throws -> [AddressBinding] {
        let range = PrefixRange(prefix)
        var found = try db.rows(
            """
            SELECT \(BindingRecord.columns) FROM binding
            WHERE valid_until IS NULL AND family = ? AND first >= ? AND first <= ?
            """,
            [.integer(Int64(range.family)), .text(range.first), .text(range.last)]
        ).map(BindingRecord.binding)
        if prefix.length > 0 {
            let enclosingStarts = Set(
                (0..<prefix.length).map {
                    PrefixRange(IPPrefix(truncating: prefix.address, length: $0)).first
                }
            ).subtracting([range.first]).sorted()
            if !enclosingStarts.isEmpty {
                let placeholders = Array(repeating: "?", count: enclosingStarts.count).joined(separator: ", ")
                let arguments: [SQLValue] =
                    [.integer(Int64(range.family))] + enclosingStarts.map { .text($0) } + [.text(range.first)]
                found += try db.rows(
                    """
                    SELECT \(BindingRecord.columns) FROM binding
                    WHERE valid_until IS NULL AND family = ? AND first IN (\(placeholders)) AND last >= ?
                    """,
                    arguments
                ).map(BindingRecord.binding)
            }
        }
        return found.sorted { $0.id < $1.id }
    }

    /// The customer's bindings in force (`valid_until IS NULL`), oldest first.
    static func openBindings(_ db: any StoreSQL, customer: String) throws -> [AddressBinding] {
        try db.rows(
            "SELECT \(BindingRecord.columns) FROM binding WHERE customer_id = ? AND valid_until IS NULL ORDER BY id",
            [.text(customer)]
        ).map(BindingRecord.binding)
    }

    /// - Parameter leaseUntil: Sessions: the lease end (UTC seconds); `nil` for static bindings.
    static func insertBinding(
        _ db: any StoreSQL, customer: String, prefix: IPPrefix, kind: BindingKind, now: Int64,
        leaseUntil: Int64? = nil
    ) throws -> AddressBinding {
        let id = try BindingRecord.insert(
            db, customer: customer, prefix: prefix, kind: kind, validFrom: now, leaseUntil: leaseUntil)
        return AddressBinding(
            id: id, customer: customer, prefix: prefix, kind: kind, validFrom: now, validUntil: nil,
            leaseUntil: leaseUntil)
    }

    /// Ends `binding` at `now` (UTC seconds). - Returns: The binding with `validUntil == now`.
    static func endBinding(_ db: any StoreSQL, _ binding: AddressBinding, now: Int64) throws -> AddressBinding {
        try db.execute("UPDATE binding SET valid_until = ? WHERE id = ?", [.integer(now), .integer(binding.id)])
        var ended = binding
        ended.validUntil = now
        return ended
    }

    // MARK: Audit

    static let jsonEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func json(_ value: (some Encodable)?) throws -> String? {
        guard let value else { return nil }
        return String(decoding: try jsonEncoder.encode(value), as: UTF8.self)
    }

    /// Appends one audit entry, with this store's ``identity``; the `audit_bumps_generation` trigger bumps the
    /// change token in the same transaction.
    func appendAudit<Before: Encodable, After: Encodable>(
        _ db: any StoreSQL,
        at: Int64,
        actor: String,
        action: String,
        customer: String?,
        objectID: String?,
        before: Before?,
        after: After?
    ) throws {
        try AuditRecord.insert(
            db, at: at, actor: actor, action: action, customer: customer, objectID: objectID,
            before: try Self.json(before), after: try Self.json(after), identity: identity)
    }

    // MARK: Exception ids

    static let idAlphabet = Array("23456789abcdefghjkmnpqrstuvwxyz")

    /// `exc-` and 8 random characters (31^8, about 8.5e11 ids); retried on the rare collision.
    static func newExceptionID(_ db: any StoreSQL) throws -> String {
        var generator = SystemRandomNumberGenerator()
        while true {
            let suffix = String(
                (0..<8).map { _ in idAlphabet[Int(generator.next(upperBound: UInt64(idAlphabet.count)))] })
            let id = "exc-" + suffix
            if try fetchException(db, id) == nil { return id }
        }
    }
}

/// The JSON of a binding as it ends: the binding's fields, plus `moved_to` (the customer who took the address
/// over) when a session moved.
struct EndedBindingRecord: Encodable {
    var binding: AddressBinding
    var movedTo: String?

    private enum CodingKeys: String, CodingKey {
        case movedTo = "moved_to"
    }

    func encode(to encoder: any Encoder) throws {
        try binding.encode(to: encoder)
        if let movedTo {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(movedTo, forKey: .movedTo)
        }
    }
}
