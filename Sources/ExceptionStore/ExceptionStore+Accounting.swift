import Egress25Core

/// One session as the RADIUS accounting feed reports it (an Accounting-Start or Interim-Update).
public struct AccountingSession: Hashable, Sendable {
    /// The NAS (BNG) the session is on: its NAS-Identifier or NAS-IP-Address, as the listener names it. 1 to 253
    /// bytes, no NUL.
    public var nas: String
    /// The Acct-Session-Id, unique per ``nas``. 1 to 253 bytes, no NUL.
    public var sessionID: String
    /// The subscriber: becomes the customer id (an id the store has never seen is auto-created, as
    /// ``ExceptionStore/startSession(customer:prefix:actor:now:leaseSeconds:plan:mayTakeOver:)`` does).
    public var customer: String
    /// The addresses the session holds: Framed-IP-Address as a /32, Framed-IPv6-Prefix, Delegated-IPv6-Prefix.
    /// May be empty (an Interim-Update that only renews).
    public var prefixes: [IPPrefix]
    /// The lease from now, seconds, at least 1 (e.g. a few Acct-Interim-Intervals).
    public var leaseSeconds: Int64

    /// Creates a session report.
    public init(nas: String, sessionID: String, customer: String, prefixes: [IPPrefix], leaseSeconds: Int64) {
        self.nas = nas
        self.sessionID = sessionID
        self.customer = customer
        self.prefixes = prefixes
        self.leaseSeconds = leaseSeconds
    }
}

/// One accounting request, as ``ExceptionStore/applyAccounting(_:actor:now:plan:)`` applies it.
public enum AccountingEvent: Hashable, Sendable {
    /// Accounting-Start: the session holds its prefixes from now, whoever held them before.
    case start(AccountingSession)
    /// Interim-Update: the session is alive; renews its lease and adds prefixes it did not hold yet, unless another
    /// customer's session holds them (then the claims disagree and nobody holds them).
    case interim(AccountingSession)
    /// Accounting-Stop: the session ended.
    case stop(nas: String, sessionID: String)
    /// Accounting-On or Accounting-Off: the NAS (re)started, every session it had open before `before` (UTC
    /// seconds) is gone.
    case nasRestart(nas: String, before: Int64)
}

/// What ``ExceptionStore/applyAccounting(_:actor:now:plan:)`` did with one event.
public enum AccountingOutcome: Hashable, Sendable {
    /// The event changed the store: how many session bindings it started, renewed (the lease moved) and ended.
    case applied(started: Int, renewed: Int, ended: Int)
    /// Nothing to do: a retransmit within the same second, a Start or Interim of a session that was stopped (or
    /// ended by Accounting-On), a Stop of an unknown or ended session, an Accounting-On of a NAS without open
    /// sessions, or a session report without prefixes for a session the store does not hold.
    case duplicate
    /// The event cannot be applied and wrote nothing; the other events of the batch still apply. The error is
    /// `invalidArgument` (a bad customer id, NAS or session id, `leaseSeconds < 1`, a prefix outside the plan) or
    /// `conflict` (a prefix overlaps another customer's static binding, which sessions never take over).
    case rejected(ExceptionStoreError)
}

extension ExceptionStore {
    /// Applies a batch of RADIUS accounting requests in order, in ONE write transaction, and answers one outcome
    /// per event (same order).
    ///
    /// Sessions are keyed by (NAS, Acct-Session-Id); their bindings carry the key (``AddressBinding/nas``,
    /// ``AddressBinding/accountingSessionID``). No event or sequence of events lets one customer's exceptions apply
    /// to an address another subscriber holds:
    /// - `start`: each prefix becomes an open session binding of the session, lease until `now + leaseSeconds`;
    ///   every other open session binding overlapping it ends (audit `session.end`, with `moved_to` when another
    ///   customer held it), including the same customer's binding from another session (a reconnect is a new
    ///   session, so a late Stop of the old one never ends the new one). A Start of a session already open (a
    ///   retransmit) renews the leases of its open bindings and adds its prefixes the session never held. A Start of
    ///   a session whose bindings have all ended (stopped, ended by Accounting-On, or its addresses taken over) is a
    ///   `duplicate`: a late retransmit never reopens a session (nor does a NAS that reuses the id).
    /// - `interim`: renews the lease of every open binding of the session; each prefix the session never held is
    ///   claimed as by a renewal (`mayTakeOver: false`): when another customer's open session overlaps it, the
    ///   claims disagree, that session's binding ends and nobody is bound (judged on the state before the event). An
    ///   Interim of a session never seen starts it by that rule; of an ended one it is a `duplicate`.
    /// - A prefix a session held and lost (to another subscriber's Start, in a dispute, or by a reconnect) is never
    ///   taken back by that session's later Starts or Interims: only a new session claims it. A refused claim counts
    ///   as held and lost: it is recorded as a binding of the refused session that ends as it starts (`[now, now)`,
    ///   never in force, not audited), so a retransmitted or later Interim of the refused session binds nobody
    ///   either (without it, the retransmit would find the address free and take it). After a dispute the address
    ///   stays unbound until an Accounting-Start (or the Interim of a session that never claimed it) settles it.
    /// - A Start or Interim of an open session naming another customer than the session's bindings (an
    ///   Acct-Session-Id reused while in use, a changed User-Name): the claims disagree; the session's open bindings
    ///   end, nobody is bound, the claims are recorded as refused.
    /// - `stop`: ends every open binding of the session, nothing else.
    /// - `nasRestart`: ends every open binding of sessions of that NAS with `validFrom < before`.
    /// - A customer id the store has never seen is created (``Customer/autoCreated``, audit `customer.add`) when
    ///   the event starts (or records a refused claim of) a binding for it.
    /// - Audit entries as ``startSession(customer:prefix:actor:now:leaseSeconds:plan:mayTakeOver:)`` writes them
    ///   (`customer.add`, `session.start`, `session.end`); lease renewals are not audited, the change token grows
    ///   (once per batch).
    /// - Idempotent: applying the same batch again (same `now`) changes nothing; later, it only renews leases.
    ///
    /// - Parameters:
    ///   - events: The requests, in the order the feed sent them.
    ///   - actor: Who writes, for the audit log (e.g. `radius`).
    ///   - now: UTC seconds.
    ///   - plan: Bounds every prefix must satisfy; `nil` for none.
    /// - Returns: One outcome per event; a `rejected` event wrote nothing, and did not stop the others.
    /// - Throws: ``ExceptionStoreError`` only when the transaction fails as a whole (`invalidArgument` for an empty
    ///   actor, `locked`, `io`, `connectionLost`, `unreachable`, `permissionDenied`, ...): then nothing of the batch
    ///   was applied.
    public func applyAccounting(
        _ events: [AccountingEvent], actor: String, now: Int64 = UTCTime.now(), plan: AddressPlan? = nil
    ) throws(ExceptionStoreError) -> [AccountingOutcome] {
        let actor = try Self.validateActor(actor)
        var prepared: [Result<AccountingEvent, ExceptionStoreError>] = []
        prepared.reserveCapacity(events.count)
        var scope = LedgerScope()
        // A Start the store refuses (a subscriber id that is no customer id, one prefix outside the plan) still says
        // that its addresses moved: whoever held them loses them, so no exception of theirs applies to the new
        // subscriber. The prefixes inside the plan are released; nothing is started.
        var releases: [Int: (prefixes: [IPPrefix], key: SessionKey)] = [:]
        for (index, event) in events.enumerated() {
            do {
                let event = try Self.validated(event, plan: plan)
                scope.add(event)
                prepared.append(.success(event))
            } catch {
                var error = error
                error.operation = #function
                prepared.append(.failure(error))
                // An Interim the store refuses disputes its addresses the same way: nobody keeps them.
                switch event {
                case .start(let session), .interim(let session):
                    let prefixes = Set(session.prefixes.map(Self.canonical)).filter { plan?.problem(with: $0) == nil }
                    if !prefixes.isEmpty {
                        releases[index] = (
                            prefixes.sorted(), SessionKey(nas: session.nas, sessionID: session.sessionID)
                        )
                        scope.prefixes.formUnion(prefixes)
                    }
                case .stop, .nasRestart:
                    break
                }
            }
        }
        if scope.isEmpty { return prepared.map { result in Self.rejectedOrDuplicate(result) } }
        return try write("apply the accounting feed to") { db in
            if db.dialect == .postgresql {
                // A batch's set-based statements look expensive to the planner (it cannot see the lists' lengths):
                // JIT-compiling them costs far more (about 200 ms) than running them.
                try db.execute("SET LOCAL jit = off")
            }
            var ledger = SessionLedger(actor: actor, now: now, claiming: scope.prefixes)
            try Self.load(db, into: &ledger, scope)
            var outcomes: [AccountingOutcome] = []
            outcomes.reserveCapacity(prepared.count)
            for (index, result) in prepared.enumerated() {
                switch result {
                case .failure(let error):
                    if let release = releases[index] {
                        _ = Self.release(release.prefixes, except: release.key, movedTo: nil, &ledger)
                    }
                    outcomes.append(.rejected(error))
                case .success(let event): outcomes.append(Self.apply(event, to: &ledger))
                }
            }
            _ = try write(ledger, db)
            return outcomes
        }
    }

    /// The sessions of the accounting feed active at `now` (UTC seconds): distinct (NAS, Acct-Session-Id) with an
    /// open binding whose lease has not ended. Read from the index `binding_open_by_session` alone (the gauge
    /// `egress25_radius_sessions_active`, read every few seconds).
    /// - Throws: ``ExceptionStoreError`` (`io`, `unreachable`, ...).
    public func activeAccountingSessionCount(now: Int64 = UTCTime.now()) throws(ExceptionStoreError) -> Int {
        try read("count the accounting sessions of") { db in
            Int(
                try db.firstRow(
                    """
                    SELECT count(*) FROM (
                        SELECT DISTINCT nas, acct_session_id FROM binding
                        WHERE valid_until IS NULL AND nas IS NOT NULL AND lease_until > ?) AS active
                    """, [.integer(now)]
                )?.int64(0) ?? 0)
        }
    }

    // MARK: - Validation

    /// A validated event: prefixes canonical and without repeats.
    /// - Throws: ``ExceptionStoreError`` `invalidArgument`.
    static func validated(_ event: AccountingEvent, plan: AddressPlan?) throws(ExceptionStoreError) -> AccountingEvent {
        switch event {
        case .start(let session): return .start(try validated(session, plan: plan))
        case .interim(let session): return .interim(try validated(session, plan: plan))
        case .stop(let nas, let sessionID):
            try validateSessionText(nas, field: "the NAS")
            try validateSessionText(sessionID, field: "the Acct-Session-Id")
            return event
        case .nasRestart(let nas, _):
            try validateSessionText(nas, field: "the NAS")
            return event
        }
    }

    static func validated(
        _ session: AccountingSession, plan: AddressPlan?
    ) throws(ExceptionStoreError)
        -> AccountingSession
    {
        try validateSessionText(session.nas, field: "the NAS")
        try validateSessionText(session.sessionID, field: "the Acct-Session-Id")
        try validateCustomerID(session.customer)
        try validateLease(session.leaseSeconds)
        var session = session
        var seen: Set<IPPrefix> = []
        var prefixes: [IPPrefix] = []
        for prefix in session.prefixes.map(canonical) where seen.insert(prefix).inserted {
            if let plan, let problem = plan.problem(with: prefix) {
                throw ExceptionStoreError(.invalidArgument, problem)
            }
            prefixes.append(prefix)
        }
        session.prefixes = prefixes
        return session
    }

    /// A NAS name or Acct-Session-Id: 1 to 253 bytes (a RADIUS attribute's most), no NUL.
    static func validateSessionText(_ text: String, field: String) throws(ExceptionStoreError) {
        guard !text.isEmpty, text.utf8.count <= 253, !text.utf8.contains(0) else {
            throw ExceptionStoreError(
                .invalidArgument, "\(field) \"\(text.prefix(40))\" must be 1 to 253 bytes without NUL")
        }
    }

    private static func rejectedOrDuplicate(
        _ result: Result<AccountingEvent, ExceptionStoreError>
    )
        -> AccountingOutcome
    {
        if case .failure(let error) = result { return .rejected(error) }
        return .duplicate
    }

    // MARK: - Applying one event to the ledger

    static func apply(_ event: AccountingEvent, to ledger: inout SessionLedger) -> AccountingOutcome {
        switch event {
        case .start(let session): return report(session, isStart: true, &ledger)
        case .interim(let session): return report(session, isStart: false, &ledger)
        case .stop(let nas, let sessionID):
            let open = ledger.bindings(of: SessionKey(nas: nas, sessionID: sessionID)).filter { $0.validUntil == nil }
            if open.isEmpty { return .duplicate }
            for binding in open { ledger.end(binding.id, movedTo: nil) }
            return .applied(started: 0, renewed: 0, ended: open.count)
        case .nasRestart(let nas, let before):
            let open = ledger.bySession.filter { $0.key.nas == nas }.values.joined().sorted().compactMap {
                ledger.bindings[$0]
            }.filter { $0.validUntil == nil && $0.validFrom < before }
            if open.isEmpty { return .duplicate }
            for binding in open { ledger.end(binding.id, movedTo: nil) }
            return .applied(started: 0, renewed: 0, ended: open.count)
        }
    }

    /// Ends every open session binding overlapping `prefixes` that is not of the session `key` (static bindings
    /// stay): the addresses moved, and nobody the store can record holds them now.
    /// - Returns: How many bindings ended.
    static func release(
        _ prefixes: [IPPrefix], except key: SessionKey, movedTo: String?, _ ledger: inout SessionLedger
    ) -> Int {
        var ended = 0
        for prefix in prefixes {
            for binding in ledger.openOverlapping(prefix) where binding.kind == .session {
                if binding.nas == key.nas && binding.accountingSessionID == key.sessionID { continue }
                guard ledger.bindings[binding.id]?.validUntil == nil else { continue }  // ended for another prefix
                ledger.end(binding.id, movedTo: movedTo == binding.customer ? nil : movedTo)
                ended += 1
            }
        }
        return ended
    }

    /// An Accounting-Start (`isStart`) or Interim-Update.
    private static func report(
        _ session: AccountingSession, isStart: Bool, _ ledger: inout SessionLedger
    )
        -> AccountingOutcome
    {
        let key = SessionKey(nas: session.nas, sessionID: session.sessionID)
        let customer = session.customer
        let all = ledger.bindings(of: key)
        let open = all.filter { $0.validUntil == nil }
        // The session ended (stopped, Accounting-On, its addresses taken over): never reopened. A Start of it still
        // says its addresses moved here (a NAS that reuses ids after a reboot): whoever else holds them loses them.
        if !all.isEmpty && open.isEmpty {
            // The same subscriber again is a late retransmit: nothing changes. Another subscriber under an ended
            // session's id is a NAS reusing ids: the addresses moved to someone the store cannot record.
            guard isStart, !all.contains(where: { $0.customer == customer }) else { return .duplicate }
            let ended = release(session.prefixes, except: key, movedTo: customer, &ledger)
            return ended == 0 ? .duplicate : .applied(started: 0, renewed: 0, ended: ended)
        }
        // Prefixes this customer's session never held (a refused claim counts as held).
        let held = Set(all.lazy.filter { $0.customer == customer }.map(\.prefix))
        let fresh = session.prefixes.filter { !held.contains($0) }
        // Checked before anything changes: a rejected event writes nothing.
        for prefix in fresh {
            if let other = SessionLedger.staticConflict(in: ledger.openOverlapping(prefix), customer: customer) {
                return .rejected(
                    ExceptionStoreError(
                        .conflict,
                        "cannot start a session on \(prefix) for \(customer): customer \(other.customer) holds "
                            + "\(other.prefix) statically (unbind it first)",
                        operation: "applyAccounting(_:actor:now:plan:)"))
            }
        }
        // Every prefix left is started or recorded as refused: either needs the customer.
        if !fresh.isEmpty { _ = ledger.ensureCustomer(customer) }
        if all.contains(where: { $0.customer != customer }) {
            // The session names another subscriber than before (an Acct-Session-Id reused while in use, or a
            // changed User-Name): the claims disagree. Its open bindings end, nothing is started, and the claims are
            // recorded as refused, so a retransmit changes nothing.
            for binding in open { ledger.end(binding.id, movedTo: nil) }
            for prefix in fresh { ledger.refuseClaim(customer: customer, prefix: prefix, session: key) }
            return .applied(started: 0, renewed: 0, ended: open.count)
        }
        let leaseUntil = ledger.now + session.leaseSeconds
        var renewed = 0
        for binding in open where ledger.renew(binding.id, leaseUntil: leaseUntil).changed {
            renewed += 1
        }
        // An Interim's claims are judged on the state before it (one prefix's claim may end what disputes another).
        let disputed = fresh.map { prefix in
            !isStart && SessionLedger.disputes(ledger.openOverlapping(prefix), customer: customer, session: key)
        }
        var started = 0
        var ended = 0
        for (prefix, disputed) in zip(fresh, disputed) {
            do {
                let change = try ledger.claim(
                    prefix, for: customer, session: key, leaseUntil: leaseUntil, mayTakeOver: isStart,
                    disputed: disputed)
                started += change.started.count
                ended += change.ended.count
                renewed += change.renewed.count
            } catch {
                // Unreachable: static conflicts were checked above and claims add no static binding.
                return .rejected(error)
            }
        }
        if started + renewed + ended == 0 { return .duplicate }
        return .applied(started: started, renewed: renewed, ended: ended)
    }
}

// MARK: - Loading

/// What one transaction of the session feed touches: the customers it may create, the prefixes it claims, the
/// accounting sessions it names and the NASes it restarts.
struct LedgerScope {
    var customers: Set<String> = []
    var prefixes: Set<IPPrefix> = []
    var sessions: Set<SessionKey> = []
    var nases: Set<String> = []

    var isEmpty: Bool { customers.isEmpty && prefixes.isEmpty && sessions.isEmpty && nases.isEmpty }

    mutating func add(_ event: AccountingEvent) {
        switch event {
        case .start(let session), .interim(let session):
            customers.insert(session.customer)
            prefixes.formUnion(session.prefixes)
            sessions.insert(SessionKey(nas: session.nas, sessionID: session.sessionID))
        case .stop(let nas, let sessionID):
            sessions.insert(SessionKey(nas: nas, sessionID: sessionID))
        case .nasRestart(let nas, _):
            nases.insert(nas)
        }
    }
}

extension ExceptionStore {
    /// Loads into `ledger`, inside the transaction on `db`, what `scope` touches, in three statements whatever its
    /// size: which of its customers exist; the prefix lengths in use; then every open binding overlapping one of its
    /// prefixes, every binding (open or ended) of its sessions, and every open binding of its NASes' sessions.
    ///
    /// Overlap is found as ``openBindings(_:overlapping:)`` finds it, for all prefixes at once: two CIDR ranges
    /// overlap exactly when one contains the other, so an overlapping binding starts inside a prefix (an index range
    /// scan on `binding_open_by_first` per prefix), or starts at the prefix's first address truncated to a shorter
    /// length that open bindings have (``openPrefixLengths(_:)``; one index seek per distinct truncation, the
    /// ledger keeps only those that reach the prefix).
    static func load(_ db: any StoreSQL, into ledger: inout SessionLedger, _ scope: LedgerScope) throws {
        let dialect = db.dialect
        if !scope.customers.isEmpty {
            let list = SQLList(columns: [.text], rows: scope.customers.sorted().map { [.text($0)] })
            var existing: Set<String> = []
            try db.forEachRow(
                "SELECT id FROM customer WHERE id IN (SELECT v.c0 FROM \(list.table(dialect)))",
                list.arguments(dialect)
            ) { existing.insert(try $0.text(0)) }
            for customer in scope.customers { ledger.loadCustomer(customer, exists: existing.contains(customer)) }
        }
        var parts: [String] = []
        var arguments: [SQLValue] = []
        // One index probe (or range scan) per row of `list`. PostgreSQL's planner, which cannot see the list's
        // length, would hash-join a range condition against every open binding: the lateral subquery (kept apart by
        // OFFSET 0) makes it probe the index once per row.
        func add(_ list: SQLList, where condition: String) {
            guard !list.isEmpty else { return }
            switch dialect {
            case .postgresql:
                parts.append(
                    """
                    SELECT \(qualifiedBindingColumns) FROM \(list.table(dialect)) CROSS JOIN LATERAL (
                        SELECT \(qualifiedBindingColumns) FROM binding b WHERE \(condition) OFFSET 0) AS b
                    """)
            case .sqlite:
                parts.append(
                    "SELECT \(qualifiedBindingColumns) FROM \(list.table(dialect)) JOIN binding b ON \(condition)")
            }
            arguments += list.arguments(dialect)
        }
        if !scope.prefixes.isEmpty {
            let lengths = try openPrefixLengths(db)
            var inside: [[SQLValue]] = []
            var enclosing: Set<EnclosingStart> = []
            for prefix in scope.prefixes {
                let range = PrefixRange(prefix)
                inside.append([.integer(Int64(range.family)), .text(range.first), .text(range.last)])
                for length in lengths[range.family == 4 ? 0 : 1] where length < prefix.length {
                    let start = PrefixRange.first(of: prefix.address, length: length)
                    if start.first != range.first {
                        enclosing.insert(EnclosingStart(family: start.family, first: start.first))
                    }
                }
            }
            add(
                SQLList(columns: [.integer, .text, .text], rows: inside),
                where: "b.valid_until IS NULL AND b.family = v.c0 AND b.first >= v.c1 AND b.first <= v.c2")
            add(
                SQLList(
                    columns: [.integer, .text], rows: enclosing.map { [.integer(Int64($0.family)), .text($0.first)] }),
                where: "b.valid_until IS NULL AND b.family = v.c0 AND b.first = v.c1")
        }
        add(
            SQLList(columns: [.text, .text], rows: scope.sessions.map { [.text($0.nas), .text($0.sessionID)] }),
            where: "b.nas IS NOT NULL AND b.nas = v.c0 AND b.acct_session_id = v.c1")
        add(
            SQLList(columns: [.text], rows: scope.nases.map { [.text($0)] }),
            where: "b.valid_until IS NULL AND b.nas IS NOT NULL AND b.nas = v.c0")
        guard !parts.isEmpty else { return }
        try db.forEachRow(parts.joined(separator: "\nUNION ALL\n"), arguments) { row in
            ledger.load(try BindingRecord.binding(row))
        }
    }

    /// The prefix lengths of the open bindings, IPv4's and IPv6's, ascending: a loose scan of the index
    /// `binding_open_by_length` (one probe per length in use), inside the transaction on `db`.
    static func openPrefixLengths(_ db: any StoreSQL) throws -> [[UInt8]] {
        // The index key is family * 256 + length, so each family's lengths are one key range.
        let key = prefixLengthKeySQL(dialect: db.dialect)
        func next(_ family: Int, after: String?) -> String {
            "(SELECT min(\(key)) FROM binding WHERE valid_until IS NULL AND \(key) > \(after ?? "\(family * 256 - 1)") "
                + "AND \(key) < \((family + 1) * 256))"
        }
        var lengths: [[UInt8]] = [[], []]
        try db.forEachRow(
            """
            WITH RECURSIVE
                v4(length) AS (
                    SELECT \(next(4, after: nil))
                    UNION ALL SELECT \(next(4, after: "v4.length")) FROM v4 WHERE v4.length IS NOT NULL),
                v6(length) AS (
                    SELECT \(next(6, after: nil))
                    UNION ALL SELECT \(next(6, after: "v6.length")) FROM v6 WHERE v6.length IS NOT NULL)
            SELECT 4, length - 1024 FROM v4 WHERE length IS NOT NULL
            UNION ALL SELECT 6, length - 1536 FROM v6 WHERE length IS NOT NULL
            """, []
        ) { row in
            let family = try row.int64(0)
            guard let length = UInt8(exactly: try row.int64(1)), length <= (family == 4 ? 32 : 128) else { return }
            lengths[family == 4 ? 0 : 1].append(length)
        }
        return lengths
    }

    /// ``BindingRecord/columns`` of the table aliased `b`.
    static let qualifiedBindingColumns = BindingRecord.columns.split(separator: ",").map {
        "b." + $0.drop { $0 == " " }
    }.joined(separator: ", ")
}

/// A truncated prefix's first address, as stored (`binding.family`, `binding.first`).
private struct EnclosingStart: Hashable {
    var family: Int
    var first: String
}
