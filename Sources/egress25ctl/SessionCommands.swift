import ArgumentParser
import Egress25Configuration
import Egress25Core
import ExceptionStore
import Foundation

/// `egress25ctl session ...`: the dynamic-address feed (RADIUS accounting, DHCP leases).
struct SessionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session",
        abstract: "Record which customer holds a dynamic address (the feed a RADIUS or DHCP integration drives).",
        discussion: """
            The feed is the truth of who holds an address. A session for an address ends every other session on \
            an overlapping address, whoever holds it: the address moved, and the previous holder's exceptions no \
            longer apply to it. A customer id the store has never seen is recorded as a customer without \
            exceptions (marked auto-created by the feed), so a start never fails for an unknown id. Every \
            session has a lease (sessions.lease, default 26h), extended by each start or renew of the same \
            session; once it ends, no exception applies through the session until the feed renews it. \
            Prefixes must lie inside policy.subscriber_ranges and must not be larger blocks than \
            sessions.max_prefix (default /24, /48) unless --force. The daemon picks changes up within a second.
            """,
        subcommands: [Start.self, Renew.self, Stop.self, Import.self, List.self, Prune.self]
    )

    /// `session start ID ADDRESS[/PREFIX] [--force]`.
    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record that a customer holds ADDRESS[/PREFIX] from now on (Accounting-Start, a new lease).",
            discussion: """
                Ends every overlapping session of anyone else. An unknown customer id is recorded as an \
                auto-created customer without exceptions. Starting a session the customer already holds renews \
                its lease (now + sessions.lease). Exit status 2 for a prefix outside policy.subscriber_ranges or \
                larger than sessions.max_prefix (without --force), 1 when another customer holds the address \
                statically.
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var session: SessionArguments

        func run() throws {
            try SessionCommand.start(global: global, session)
        }
    }

    /// `session renew ID ADDRESS[/PREFIX] [--force]`.
    struct Renew: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Renew a session's lease to now + sessions.lease (Interim-Update, a DHCP renewal).",
            discussion: """
                Renewing a session the store does not have starts it: an Interim-Update proves the customer \
                holds the address now, and when its Accounting-Start was lost the address must not stay with \
                nobody. A renewal never takes an address from another customer's open session (exit 1): a late \
                update of the previous holder must not hand it the address back; only `session start` moves \
                an address. Prints "renewed session ..." or "started session ...".
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var session: SessionArguments

        func run() throws {
            try SessionCommand.start(global: global, session, mayTakeOver: false)
        }
    }

    /// The arguments of `session start` and `session renew`.
    struct SessionArguments: ParsableArguments {
        @Argument(help: "The customer id (need not be known to the store).")
        var id: String

        @Argument(help: "ADDRESS or ADDRESS/PREFIX, e.g. 100.64.1.7 or 2001:db8:1::/56.")
        var address: String

        @Flag(help: "Accept a prefix outside policy.subscriber_ranges or larger than sessions.max_prefix.")
        var force = false

        @OptionGroup var changedBy: ActorOptions
    }

    /// `session start` and `session renew`: the same store call.
    static func start(global: GlobalOptions, _ arguments: SessionArguments, mayTakeOver: Bool = true) throws {
        let (id, address, force) = (arguments.id, arguments.address, arguments.force)
        let prefix = try StoreCommandSupport.parsePrefix(address, what: "address")
        let configuration = try global.loadStoreConfiguration()
        let store = try StoreCommandSupport.open(global, .write)
        let change = try StoreCommandSupport.perform {
            try store.startSession(
                customer: id, prefix: prefix, actor: arguments.changedBy.actor,
                leaseSeconds: configuration.sessions.leaseSeconds,
                plan: StoreCommandSupport.addressPlan(configuration, force: force), mayTakeOver: mayTakeOver)
        }
        report(change)
    }

    /// `session stop ID [ADDRESS[/PREFIX]]`.
    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End a customer's session on ADDRESS[/PREFIX], or all of its sessions (Accounting-Stop).",
            discussion: "Stopping a session that is not in force changes nothing and only warns (exit status 0).")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The customer id.")
        var id: String

        @Argument(help: "ADDRESS or ADDRESS/PREFIX of the session; omit to end all of the customer's sessions.")
        var address: String?

        @OptionGroup var changedBy: ActorOptions

        func run() throws {
            let prefix = try address.map { try StoreCommandSupport.parsePrefix($0, what: "address") }
            let store = try StoreCommandSupport.open(global, .write)
            let ended = try StoreCommandSupport.perform {
                try store.stopSessions(customer: id, prefix: prefix, actor: changedBy.actor)
            }
            if ended.isEmpty {
                StoreCommandSupport.warn(
                    "\(id) has no session\(prefix.map { " on \($0)" } ?? "") in force; nothing changed")
            }
            for binding in ended {
                print("ended session \(binding.customer) \(binding.prefix)")
            }
        }
    }

    /// `session import FILE [--replace]`.
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import current leases from a file, all or nothing, in one transaction.",
            discussion: """
                FILE (or - for standard input) is UTF-8 text with one lease per line: CUSTOMER,ADDRESS[/PREFIX]. \
                Blank lines and lines starting with # are ignored, and so is a first line "customer,address". \
                Each lease is applied as `session start`: unknown customer ids are recorded as auto-created \
                customers (never skipped, never an error), sessions already held are renewed. With --replace the \
                file is the complete set of current leases: every other session in force ends. A malformed line, \
                overlapping leases, or (without --force) a prefix outside policy.subscriber_ranges or larger than \
                sessions.max_prefix is an error named FILE:LINE, and leaves the store unchanged.
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The lease file, or - for standard input.")
        var file: String

        @Flag(help: "End every session in force that is not in the file.")
        var replace = false

        @Flag(help: "Accept prefixes outside policy.subscriber_ranges or larger than sessions.max_prefix.")
        var force = false

        @OptionGroup var changedBy: ActorOptions

        func run() throws {
            let text: String
            if file == "-" {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            } else {
                // FileHandle reads to the end of a pipe, a FIFO or /dev/null too, not only of a regular file.
                guard let handle = FileHandle(forReadingAtPath: file),
                    let data = try? handle.readToEnd() ?? Data()
                else {
                    throw UsageError("cannot read lease file \(file)")
                }
                text = String(decoding: data, as: UTF8.self)
            }
            let leases = try StoreCommandSupport.perform { try SessionLeaseFile.parse(text, file: file) }
            let configuration = try global.loadStoreConfiguration()
            let store = try StoreCommandSupport.open(global, .write)
            let change = try StoreCommandSupport.perform {
                try store.importSessions(
                    leases, replace: replace, actor: changedBy.actor,
                    leaseSeconds: configuration.sessions.leaseSeconds,
                    plan: StoreCommandSupport.addressPlan(configuration, force: force))
            }
            let created = change.createdCustomers.count
            print(
                "imported \(leases.count) lease\(leases.count == 1 ? "" : "s") from \(file): "
                    + "\(change.started.count) session\(change.started.count == 1 ? "" : "s") started, "
                    + "\(change.renewed.count) renewed, \(change.ended.count) ended, "
                    + "\(created) new customer\(created == 1 ? "" : "s") (auto-created)")
        }
    }

    /// `session list [--customer ID] [--history] [--format table|json|csv]`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List address bindings in force (sessions and static), or their history.",
            discussion: """
                LEASE_UNTIL is a session's lease end (empty for static bindings); LEASE says `expired` once it has \
                passed: no exception applies through that session until the feed renews it. NAS and \
                ACCT_SESSION_ID name the RADIUS accounting session that started a session (empty for static \
                bindings and for sessions from `session start` or `session import`).
                """)

        @OptionGroup var global: GlobalOptions

        @Option(help: "Only this customer's bindings.")
        var customer: String?

        @Flag(help: "Include ended bindings.")
        var history = false

        @Option(help: "Output format: table, json or csv.")
        var format: StoreListFormat = .table

        func run() throws {
            let store = try StoreCommandSupport.open(global, .read)
            let now = UTCTime.now()
            let bindings = try StoreCommandSupport.perform {
                try store.bindings(customer: customer, inForceAt: history ? nil : now)
            }
            func leaseState(_ binding: AddressBinding) -> String {
                guard binding.kind == .session, binding.validUntil == nil, binding.leaseUntil != nil else { return "" }
                return binding.leaseExpired(at: now) ? "expired" : "valid"
            }
            let listing = StoreListing(
                headers: [
                    "customer", "prefix", "kind", "valid_from", "valid_until", "lease_until", "lease", "nas",
                    "acct_session_id",
                ],
                rows: bindings.map {
                    [
                        $0.customer, $0.prefix.description, $0.kind.rawValue, UTCTime.format($0.validFrom),
                        $0.validUntil.map(UTCTime.format) ?? "", $0.leaseUntil.map(UTCTime.format) ?? "",
                        leaseState($0), $0.nas ?? "", $0.accountingSessionID ?? "",
                    ]
                },
                objects: bindings.map { binding -> Any in
                    var object = StoreListing.jsonObject(binding) as? [String: Any] ?? [:]
                    if binding.kind == .session { object["lease_expired"] = binding.leaseExpired(at: now) }
                    return object
                })
            print(listing.render(format))
        }
    }

    /// `session prune --older-than DURATION`.
    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete session history (ended sessions and their audit entries) older than a retention.",
            discussion: """
                Every reconnect adds a session and two audit entries; run this daily (e.g. --older-than 90d) so the \
                store does not grow without bound. Static bindings, customers, exceptions and their audit \
                entries are never deleted. Records one audit entry, session.prune. History younger than 90 days \
                answers abuse reports: deleting it needs --force (exit status 2 otherwise).
                """)

        @OptionGroup var global: GlobalOptions

        @Option(help: "Delete sessions that ended longer ago than this: 90d, 12w, or an RFC 3339 time.")
        var olderThan: String

        @Flag(help: "Allow deleting history younger than 90 days.")
        var force = false

        @OptionGroup var changedBy: ActorOptions

        func run() throws {
            let now = UTCTime.now()
            let cutoff: Int64
            do {
                cutoff = try UTCTime.parseInstant(olderThan, now: now, durationIsPast: true)
            } catch {
                throw UsageError("--older-than: \(error)")
            }
            let store = try StoreCommandSupport.open(global, .write)
            let result = try StoreCommandSupport.perform {
                try store.pruneSessionHistory(
                    endedBefore: cutoff, actor: changedBy.actor, now: now, force: force)
            }
            let sessions = result.bindings == 1 ? "session" : "sessions"
            let entries = result.auditEntries == 1 ? "entry" : "entries"
            print(
                "deleted \(result.bindings) \(sessions) that ended before \(UTCTime.format(cutoff)) and "
                    + "\(result.auditEntries) audit \(entries)")
        }
    }

    static func report(_ change: SessionChange) {
        for customer in change.createdCustomers {
            print("added customer \(customer) (auto-created by the session feed, no exceptions)")
        }
        let newHolder = change.started.first?.customer ?? change.renewed.first?.customer
        for binding in change.ended {
            let why =
                newHolder.map { $0 == binding.customer ? "replaced" : "the address moved to \($0)" }
                ?? "a renewal by another customer contradicts it: no session holds the address until the next update"
            print("ended session \(binding.customer) \(binding.prefix) (\(why))")
        }
        if newHolder == nil && !change.ended.isEmpty {
            FileHandleStderr.write(
                "egress25ctl: warning: the address was held by another customer's session; both claims are void "
                    + "until the next update or start\n")
        }
        for binding in change.started {
            print(
                "started session \(binding.customer) \(binding.prefix), lease until "
                    + (binding.leaseUntil.map(UTCTime.format) ?? "-"))
        }
        for binding in change.renewed {
            print(
                "renewed session \(binding.customer) \(binding.prefix), lease until "
                    + (binding.leaseUntil.map(UTCTime.format) ?? "-"))
        }
    }
}
