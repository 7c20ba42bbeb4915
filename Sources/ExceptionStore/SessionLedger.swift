import Egress25Core

// The session feed's rules, written once: `startSession`, `stopSessions`, `importSessions` and the accounting batch
// (`applyAccounting`) all load the bindings they touch into a `SessionLedger` inside their write transaction, apply
// the rules to it in memory, in order, and write what changed at the end (`ExceptionStore.write(_:_:)`: one
// statement per row on SQLite, a few set-based statements on PostgreSQL, whose every statement is a round trip).

/// The accounting feed's key of a session: the NAS it is on and its Acct-Session-Id.
struct SessionKey: Hashable {
    var nas: String
    var sessionID: String
}

extension AddressBinding {
    /// The accounting feed's session this binding belongs to; `nil` for other bindings.
    var sessionKey: SessionKey? {
        guard let nas, let accountingSessionID else { return nil }
        return SessionKey(nas: nas, sessionID: accountingSessionID)
    }
}

/// The bindings one write transaction touches, in memory: the rows loaded from the store (every open binding
/// overlapping the prefixes the transaction claims, every binding of the sessions it names) and the ones it
/// creates, with the changes still to be written (customers, bindings, audit entries).
///
/// New bindings get provisional ids from ``provisionalBase`` on (above any real id, so ordering by id stays
/// creation order); ``ExceptionStore/write(_:_:)`` maps them to the ids the database assigns.
struct SessionLedger {
    /// Provisional ids of bindings created in the ledger start here.
    static let provisionalBase: Int64 = 1 << 62

    let actor: String
    let now: Int64

    /// Every binding known, in its current state (loaded or created), by id.
    private(set) var bindings: [Int64: AddressBinding] = [:]
    /// Open bindings by their own prefix.
    private var openByPrefix: [IPPrefix: [Int64]] = [:]
    /// Open bindings by their prefix truncated to each ``queryLengths`` length shorter than theirs: the bindings
    /// strictly inside a prefix of that length.
    private var openInside: [IPPrefix: [Int64]] = [:]
    /// How many open bindings have each length, per family (index 0: IPv4, 1: IPv6).
    private var openLengths: [[Int]] = [Array(repeating: 0, count: 33), Array(repeating: 0, count: 129)]
    /// The prefix lengths ``openOverlapping(_:)`` is asked about, per family; other lengths fall back to a scan.
    private var queryLengths: [[UInt8]] = [[], []]
    /// Every binding (open or ended) of each accounting session, in creation order.
    private(set) var bySession: [SessionKey: [Int64]] = [:]

    /// Customer ids known to exist; ids loaded as missing are in ``missingCustomers``.
    private var existingCustomers: Set<String> = []
    private var missingCustomers: Set<String> = []

    // What to write.
    private(set) var createdCustomers: [Customer] = []
    /// Provisional ids of the bindings created, in order.
    private(set) var createdBindings: [Int64] = []
    /// Loaded bindings whose `valid_until` or `lease_until` changed.
    private(set) var changedBindings: Set<Int64> = []
    private(set) var audit: [PendingAudit] = []
    /// A lease moved: the change token must grow even without an audit entry.
    private(set) var leaseRenewed = false
    private var nextProvisionalID = SessionLedger.provisionalBase

    /// - Parameter queryLengths: The prefixes the transaction will claim (their lengths index the open bindings).
    init(actor: String, now: Int64, claiming prefixes: some Sequence<IPPrefix>) {
        self.actor = actor
        self.now = now
        var lengths: [Set<UInt8>] = [[], []]
        for prefix in prefixes { lengths[Self.family(prefix)].insert(prefix.length) }
        queryLengths = lengths.map { $0.sorted() }
    }

    static func family(_ prefix: IPPrefix) -> Int { prefix.address.isIPv4 ? 0 : 1 }

    static func isProvisional(_ id: Int64) -> Bool { id >= provisionalBase }

    /// Whether anything is to be written.
    var isEmpty: Bool {
        createdCustomers.isEmpty && createdBindings.isEmpty && changedBindings.isEmpty && audit.isEmpty
    }

    // MARK: Loading

    /// Adds a binding read from the store (once; a binding already known keeps its state in the ledger).
    mutating func load(_ binding: AddressBinding) {
        guard bindings[binding.id] == nil else { return }
        bindings[binding.id] = binding
        if binding.validUntil == nil { index(binding) }
        if let key = binding.sessionKey { bySession[key, default: []].append(binding.id) }
    }

    /// Records whether customer `id` exists in the store.
    mutating func loadCustomer(_ id: String, exists: Bool) {
        if exists {
            existingCustomers.insert(id)
            missingCustomers.remove(id)
        } else if !existingCustomers.contains(id) {
            missingCustomers.insert(id)
        }
    }

    private mutating func index(_ binding: AddressBinding) {
        let family = Self.family(binding.prefix)
        openByPrefix[binding.prefix, default: []].append(binding.id)
        openLengths[family][Int(binding.prefix.length)] += 1
        for length in queryLengths[family] where length < binding.prefix.length {
            openInside[IPPrefix(truncating: binding.prefix.address, length: length), default: []].append(binding.id)
        }
    }

    private mutating func unindex(_ binding: AddressBinding) {
        let family = Self.family(binding.prefix)
        Self.remove(binding.id, from: &openByPrefix, at: binding.prefix)
        openLengths[family][Int(binding.prefix.length)] -= 1
        for length in queryLengths[family] where length < binding.prefix.length {
            Self.remove(binding.id, from: &openInside, at: IPPrefix(truncating: binding.prefix.address, length: length))
        }
    }

    private static func remove(_ id: Int64, from index: inout [IPPrefix: [Int64]], at key: IPPrefix) {
        guard var ids = index[key] else { return }
        ids.removeAll { $0 == id }
        index[key] = ids.isEmpty ? nil : ids
    }

    // MARK: Reading

    /// Open bindings overlapping `prefix` (any customer and kind), oldest first. Complete when the store's open
    /// bindings overlapping `prefix` were loaded.
    func openOverlapping(_ prefix: IPPrefix) -> [AddressBinding] {
        let family = Self.family(prefix)
        var ids: [Int64] = openByPrefix[prefix] ?? []
        for length in 0..<Int(prefix.length) where openLengths[family][length] > 0 {
            ids += openByPrefix[IPPrefix(truncating: prefix.address, length: UInt8(length))] ?? []
        }
        if queryLengths[family].contains(prefix.length) {
            ids += openInside[prefix] ?? []
        } else {
            ids += openByPrefix.lazy.filter { $0.key.length > prefix.length && prefix.contains($0.key) }
                .flatMap(\.value)
        }
        return ids.sorted().compactMap { bindings[$0] }
    }

    /// Every binding (open or ended) of session `key`, oldest first.
    func bindings(of key: SessionKey) -> [AddressBinding] {
        (bySession[key] ?? []).sorted().compactMap { bindings[$0] }
    }

    /// Whether customer `id` exists (in the store, or created in this ledger).
    func customerExists(_ id: String) -> Bool { existingCustomers.contains(id) }

    // MARK: Changing

    /// Records `id` as an auto-created customer when it does not exist (audit `customer.add`).
    /// - Precondition: Whether it exists was loaded (``loadCustomer(_:exists:)``).
    /// - Returns: Whether it was created.
    mutating func ensureCustomer(_ id: String) -> Bool {
        if existingCustomers.contains(id) { return false }
        precondition(missingCustomers.contains(id), "customer \(id) was not loaded")
        let customer = Customer(id: id, name: nil, note: nil, createdAt: now, autoCreated: true)
        createdCustomers.append(customer)
        existingCustomers.insert(id)
        missingCustomers.remove(id)
        audit.append(PendingAudit(action: "customer.add", customer: id, objectID: id, after: .customer(customer)))
        return true
    }

    /// Starts a session binding (audit `session.start`). - Returns: It, with its provisional id.
    mutating func startBinding(
        customer: String, prefix: IPPrefix, leaseUntil: Int64, session: SessionKey?
    ) -> AddressBinding {
        let binding = AddressBinding(
            id: nextProvisionalID, customer: customer, prefix: prefix, kind: .session, validFrom: now, validUntil: nil,
            leaseUntil: leaseUntil, nas: session?.nas, accountingSessionID: session?.sessionID)
        nextProvisionalID += 1
        bindings[binding.id] = binding
        index(binding)
        if let session { bySession[session, default: []].append(binding.id) }
        createdBindings.append(binding.id)
        audit.append(
            PendingAudit(
                action: "session.start", customer: customer, objectID: "binding-\(binding.id)", after: .binding(binding)
            ))
        return binding
    }

    /// Records that accounting session `session` claimed `prefix` for `customer` and was refused (the claims
    /// disagreed): a binding of the session that ends as it starts, `[now, now)`, never in force and not audited.
    /// The session then counts as having held and lost `prefix`, so neither a retransmit nor a later Interim-Update
    /// of it takes `prefix`: a Start of a new session does.
    /// - Precondition: `customer` exists (``ensureCustomer(_:)``).
    mutating func refuseClaim(customer: String, prefix: IPPrefix, session: SessionKey) {
        let binding = AddressBinding(
            id: nextProvisionalID, customer: customer, prefix: prefix, kind: .session, validFrom: now, validUntil: now,
            leaseUntil: now, nas: session.nas, accountingSessionID: session.sessionID)
        nextProvisionalID += 1
        bindings[binding.id] = binding
        bySession[session, default: []].append(binding.id)
        createdBindings.append(binding.id)
    }

    /// Ends open binding `id` now (audit `session.end`, with `moved_to` when `movedTo` took the address over).
    /// - Returns: The binding as ended.
    @discardableResult
    mutating func end(_ id: Int64, movedTo: String?) -> AddressBinding {
        guard let open = bindings[id], open.validUntil == nil else { preconditionFailure("binding \(id) is not open") }
        var ended = open
        ended.validUntil = now
        bindings[id] = ended
        unindex(open)
        if !Self.isProvisional(id) { changedBindings.insert(id) }
        audit.append(
            PendingAudit(
                action: "session.end", customer: open.customer, objectID: "binding-\(id)", before: .binding(open),
                after: .ended(ended, movedTo: movedTo)))
        return ended
    }

    /// Moves the lease of open binding `id` to `leaseUntil` (not audited; the change token grows).
    /// - Returns: The binding, and whether its lease changed.
    mutating func renew(_ id: Int64, leaseUntil: Int64) -> (binding: AddressBinding, changed: Bool) {
        guard var binding = bindings[id] else { preconditionFailure("binding \(id) is not known") }
        guard binding.leaseUntil != leaseUntil else { return (binding, false) }
        binding.leaseUntil = leaseUntil
        bindings[id] = binding
        if !Self.isProvisional(id) { changedBindings.insert(id) }
        leaseRenewed = true
        return (binding, true)
    }

    // MARK: The rule

    /// Who holds `prefix` now, by the session feed (see ``ExceptionStore/startSession(customer:prefix:actor:now:leaseSeconds:plan:mayTakeOver:)``):
    /// every other open session binding overlapping `prefix` ends (with `moved_to` when another customer held it),
    /// and `customer` starts a session on it, unless the claim is disputed.
    ///
    /// - Parameters:
    ///   - session: The accounting session claiming (`nil`: `egress25ctl session start`, an import). Bindings of
    ///     the same session are left as they are (its prefixes may nest). Without a session, an open session of
    ///     `customer` on exactly `prefix` (whoever started it) is the same session: its lease is renewed.
    ///   - mayTakeOver: `false` for a renewal (Interim-Update): when another customer holds an overlapping session,
    ///     the claims disagree: the holder's session ends and none is started (an accounting session records the
    ///     refused claim, ``refuseClaim(customer:prefix:session:)``).
    ///   - disputed: The caller found the claim disputed before earlier claims of the same request changed the
    ///     ledger (an Interim-Update with several prefixes is judged on the state before it).
    /// - Throws: ``ExceptionStoreError`` `conflict` when another customer holds an overlapping static binding
    ///   (nothing changed then).
    mutating func claim(
        _ prefix: IPPrefix, for customer: String, session: SessionKey?, leaseUntil: Int64, mayTakeOver: Bool,
        disputed: Bool = false, origin: String? = nil
    ) throws(ExceptionStoreError) -> SessionChangeWithKept {
        let overlapping = openOverlapping(prefix)
        if let other = Self.staticConflict(in: overlapping, customer: customer) {
            let location = origin.map { "\($0): " } ?? ""
            throw ExceptionStoreError(
                .conflict,
                "\(location)cannot start a session on \(prefix) for \(customer): "
                    + "customer \(other.customer) holds \(other.prefix) statically (unbind it first)")
        }
        let disputed = disputed || (!mayTakeOver && Self.disputes(overlapping, customer: customer, session: session))
        var result = SessionChangeWithKept()
        for binding in overlapping where binding.kind == .session {
            if let session, binding.sessionKey == session { continue }
            if session == nil && binding.customer == customer && binding.prefix == prefix {
                // The same session again (an Interim-Update, a repeated Start): renew its lease.
                result.renewed.append(renew(binding.id, leaseUntil: leaseUntil).binding)
                continue
            }
            result.ended.append(end(binding.id, movedTo: binding.customer == customer ? nil : customer))
        }
        if disputed {
            if let session { refuseClaim(customer: customer, prefix: prefix, session: session) }
        } else if result.renewed.isEmpty {
            result.started.append(
                startBinding(customer: customer, prefix: prefix, leaseUntil: leaseUntil, session: session))
        }
        return result
    }

    /// Another customer's static binding among `overlapping`: sessions never take those over.
    static func staticConflict(in overlapping: [AddressBinding], customer: String) -> AddressBinding? {
        overlapping.first { $0.kind == .static && $0.customer != customer }
    }

    /// Whether another customer holds a session among `overlapping` (not of `session`).
    static func disputes(_ overlapping: [AddressBinding], customer: String, session: SessionKey?) -> Bool {
        overlapping.contains {
            $0.kind == .session && $0.customer != customer && (session == nil || $0.sessionKey != session)
        }
    }
}

/// An audit entry to write; its bindings carry provisional ids until the write maps them.
struct PendingAudit {
    enum Payload {
        case customer(Customer)
        case binding(AddressBinding)
        case ended(AddressBinding, movedTo: String?)
    }

    var action: String
    var customer: String?
    var objectID: String
    var before: Payload? = nil
    var after: Payload? = nil
}

extension ExceptionStore {
    /// Writes what `ledger` changed, inside the transaction on `db`: customers, then bindings (created ones with
    /// their state at the end, e.g. already ended), then the audit entries in order, and one change token bump when
    /// a lease moved without any audit entry.
    /// - Returns: The ids the store assigned to the ledger's provisional ids.
    func write(_ ledger: SessionLedger, _ db: any StoreSQL) throws -> [Int64: Int64] {
        if ledger.isEmpty { return [:] }
        let ids: [Int64: Int64]
        if db.dialect == .postgresql {
            ids = try writeSetBased(ledger, db)
        } else {
            ids = try writeRowByRow(ledger, db)
        }
        if ledger.leaseRenewed && ledger.audit.isEmpty {
            // Renewals are not audited (a feed renews every few minutes), but the change token grows so the daemon
            // rebuilds with the new lease ends: once per transaction.
            try db.execute("UPDATE store_state SET generation = generation + 1 WHERE id = 1")
        }
        return ids
    }

    /// SQLite: one cached statement per row.
    private func writeRowByRow(_ ledger: SessionLedger, _ db: any StoreSQL) throws -> [Int64: Int64] {
        for customer in ledger.createdCustomers {
            try CustomerRecord(customer).insert(db)
        }
        var ids: [Int64: Int64] = [:]
        for provisional in ledger.createdBindings {
            guard let binding = ledger.bindings[provisional] else { continue }
            ids[provisional] = try BindingRecord.insert(
                db, customer: binding.customer, prefix: binding.prefix, kind: binding.kind,
                validFrom: binding.validFrom, validUntil: binding.validUntil, leaseUntil: binding.leaseUntil,
                nas: binding.nas, accountingSessionID: binding.accountingSessionID)
        }
        for id in ledger.changedBindings.sorted() {
            guard let binding = ledger.bindings[id] else { continue }
            try db.execute(
                "UPDATE binding SET valid_until = ?, lease_until = ? WHERE id = ?",
                [.integer(binding.validUntil), .integer(binding.leaseUntil), .integer(id)])
        }
        for entry in ledger.audit {
            let (before, after) = try Self.auditJSON(entry, ids: ids)
            try AuditRecord.insert(
                db, at: ledger.now, actor: ledger.actor, action: entry.action, customer: entry.customer,
                objectID: Self.mapObjectID(entry.objectID, ids: ids), before: before, after: after,
                identity: identity)
        }
        return ids
    }

    /// PostgreSQL: one statement per table, whatever the number of rows (each statement is a round trip).
    private func writeSetBased(_ ledger: SessionLedger, _ db: any StoreSQL) throws -> [Int64: Int64] {
        if !ledger.createdCustomers.isEmpty {
            let list = SQLList(columns: [.text], rows: ledger.createdCustomers.map { [.text($0.id)] })
            try db.execute(
                """
                INSERT INTO customer (id, name, note, created_at, auto_created)
                SELECT v.c0, NULL, NULL, ?, 1 FROM \(list.table(db.dialect)) ORDER BY v.c0
                """,
                [.integer(ledger.now)] + list.arguments(db.dialect))
        }
        var ids: [Int64: Int64] = [:]
        if !ledger.createdBindings.isEmpty {
            let created = ledger.createdBindings.compactMap { ledger.bindings[$0] }
            let list = SQLList(
                columns: [.text, .text, .integer, .text, .text, .text, .integer, .integer, .integer, .text, .text],
                rows: created.map { binding in
                    let range = PrefixRange(binding.prefix)
                    return [
                        .text(binding.customer), .text(binding.prefix.description), .integer(Int64(range.family)),
                        .text(range.first), .text(range.last), .text(binding.kind.rawValue),
                        .integer(binding.validFrom), .integer(binding.validUntil), .integer(binding.leaseUntil),
                        .text(binding.nas), .text(binding.accountingSessionID),
                    ]
                })
            // Identity values are drawn in the order the rows are inserted (the list's order), so the returned ids,
            // sorted, belong to the rows in list order.
            let assigned = try db.rows(
                """
                INSERT INTO binding (customer_id, prefix, family, first, last, kind, valid_from, valid_until,
                    lease_until, nas, acct_session_id)
                SELECT v.c0, v.c1, v.c2, v.c3, v.c4, v.c5, v.c6, v.c7, v.c8, v.c9, v.c10
                FROM \(list.table(db.dialect, ordinality: true)) ORDER BY v.ord
                RETURNING id
                """, list.arguments(db.dialect)
            ).map { try $0.int64(0) }.sorted()
            guard assigned.count == created.count else {
                throw ExceptionStoreError(.io, "inserting \(created.count) bindings returned \(assigned.count) ids")
            }
            for (binding, id) in zip(created, assigned) { ids[binding.id] = id }
        }
        if !ledger.changedBindings.isEmpty {
            let list = SQLList(
                columns: [.integer, .integer, .integer],
                rows: ledger.changedBindings.sorted().compactMap { id in
                    ledger.bindings[id].map { [.integer(id), .integer($0.validUntil), .integer($0.leaseUntil)] }
                })
            try db.execute(
                """
                UPDATE binding SET valid_until = v.c1, lease_until = v.c2
                FROM \(list.table(db.dialect)) WHERE binding.id = v.c0
                """, list.arguments(db.dialect))
        }
        if !ledger.audit.isEmpty {
            var rows: [[SQLValue]] = []
            rows.reserveCapacity(ledger.audit.count)
            for entry in ledger.audit {
                let (before, after) = try Self.auditJSON(entry, ids: ids)
                rows.append([
                    .text(entry.action), .text(entry.customer), .text(Self.mapObjectID(entry.objectID, ids: ids)),
                    .text(before), .text(after),
                ])
            }
            let list = SQLList(columns: [.text, .text, .text, .text, .text], rows: rows)
            try db.execute(
                """
                INSERT INTO audit (at, actor, action, customer_id, object_id, before, after, os_user, sudo_user, role)
                SELECT ?, ?, v.c0, v.c1, v.c2, v.c3, v.c4, ?, ?, ?
                FROM \(list.table(db.dialect, ordinality: true)) ORDER BY v.ord
                """,
                [.integer(ledger.now), .text(ledger.actor)] + [
                    .text(identity.user), .text(identity.sudoUser), .text(identity.role),
                ] + list.arguments(db.dialect))
        }
        return ids
    }

    /// `binding-ID` with a provisional id mapped to the stored one.
    static func mapObjectID(_ objectID: String, ids: [Int64: Int64]) -> String {
        guard objectID.hasPrefix("binding-"), let id = Int64(objectID.dropFirst(8)), let stored = ids[id] else {
            return objectID
        }
        return "binding-\(stored)"
    }

    /// The `before`/`after` JSON of an entry, its bindings' provisional ids mapped to the stored ones.
    static func auditJSON(_ entry: PendingAudit, ids: [Int64: Int64]) throws -> (before: String?, after: String?) {
        func encode(_ payload: PendingAudit.Payload?) throws -> String? {
            func mapped(_ binding: AddressBinding) -> AddressBinding {
                var binding = binding
                if let id = ids[binding.id] { binding.id = id }
                return binding
            }
            switch payload {
            case nil: return nil
            case .customer(let customer): return try AuditJSON.customer(customer) ?? json(customer)
            case .binding(let binding):
                let binding = mapped(binding)
                return try AuditJSON.binding(binding, movedTo: nil) ?? json(binding)
            case .ended(let binding, let movedTo):
                let binding = mapped(binding)
                return try AuditJSON.binding(binding, movedTo: movedTo)
                    ?? json(EndedBindingRecord(binding: binding, movedTo: movedTo))
            }
        }
        return (try encode(entry.before), try encode(entry.after))
    }
}

extension SessionChangeWithKept {
    /// The change with the ledger's provisional ids replaced by the stored ones.
    func mapped(_ ids: [Int64: Int64]) -> SessionChangeWithKept {
        func map(_ bindings: [AddressBinding]) -> [AddressBinding] {
            bindings.map { binding in
                var binding = binding
                if let id = ids[binding.id] { binding.id = id }
                return binding
            }
        }
        return SessionChangeWithKept(started: map(started), ended: map(ended), renewed: map(renewed))
    }
}

/// The audit JSON of the session feed's entries, written directly: byte for byte what ``ExceptionStore/json(_:)``
/// (JSONEncoder, sorted keys, slashes unescaped) writes for ``Customer``, ``AddressBinding`` and
/// ``EndedBindingRecord``, at a fraction of its cost (a batch of 1000 Starts writes 2000 entries). Only for texts
/// that need no escaping; `nil` otherwise (the caller then uses JSONEncoder).
enum AuditJSON {
    /// Whether `text` is written as is inside a JSON string: printable ASCII without `"` and `\`.
    static func isPlain(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }

    private static func string(_ text: String?) -> String {
        text.map { "\"\($0)\"" } ?? "null"
    }

    static func customer(_ customer: Customer) -> String? {
        guard isPlain(customer.id), customer.name.map(isPlain) ?? true, customer.note.map(isPlain) ?? true else {
            return nil
        }
        return "{\"auto_created\":\(customer.autoCreated),\"created_at\":\"\(UTCTime.format(customer.createdAt))\","
            + "\"id\":\"\(customer.id)\",\"name\":\(string(customer.name)),\"note\":\(string(customer.note))}"
    }

    /// A binding, with `moved_to` when `movedTo` is set (``EndedBindingRecord``).
    static func binding(_ binding: AddressBinding, movedTo: String?) -> String? {
        guard isPlain(binding.customer), movedTo.map(isPlain) ?? true, binding.nas.map(isPlain) ?? true,
            binding.accountingSessionID.map(isPlain) ?? true
        else { return nil }
        let session = binding.kind == .session
        var json = "{"
        if session { json += "\"acct_session_id\":\(string(binding.accountingSessionID))," }
        json += "\"customer\":\"\(binding.customer)\",\"id\":\(binding.id),\"kind\":\"\(binding.kind.rawValue)\","
        if session { json += "\"lease_until\":\(string(binding.leaseUntil.map(UTCTime.format)))," }
        if let movedTo { json += "\"moved_to\":\"\(movedTo)\"," }
        if session { json += "\"nas\":\(string(binding.nas))," }
        json += "\"prefix\":\"\(binding.prefix)\",\"valid_from\":\"\(UTCTime.format(binding.validFrom))\","
        json += "\"valid_until\":\(string(binding.validUntil.map(UTCTime.format)))}"
        return json
    }
}
