import ArgumentParser
import Egress25Core
import ExceptionStore
import Foundation

/// `egress25ctl session ...`: the dynamic-address feed (RADIUS accounting, DHCP leases).
struct SessionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session",
        abstract: "Record which customer holds a dynamic address (the feed a RADIUS or DHCP integration drives).",
        discussion: """
            A session for an address ends any other customer's session on an overlapping address: the address \
            moved, and the previous holder's exceptions no longer apply to it. The daemon picks changes up \
            within a second.
            """,
        subcommands: [Start.self, Stop.self, Import.self, List.self, Prune.self]
    )

    /// `session start ID ADDRESS[/PREFIX]`.
    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record that a customer holds ADDRESS[/PREFIX] from now on (Accounting-Start, a new lease).")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The customer id.")
        var id: String

        @Argument(help: "ADDRESS or ADDRESS/PREFIX, e.g. 100.64.1.7 or 2001:db8:1::/56.")
        var address: String

        @Option(help: "Who makes the change, for the audit log (default: $SUDO_USER or your login name).")
        var by: String?

        func run() throws {
            let prefix = try StoreCommandSupport.parsePrefix(address, what: "address")
            let store = try StoreCommandSupport.open(global, .write)
            let change = try StoreCommandSupport.perform {
                try store.startSession(customer: id, prefix: prefix, actor: by ?? StoreCommandSupport.defaultActor)
            }
            SessionCommand.report(change, unchanged: "\(id) already holds \(prefix); nothing changed")
        }
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

        @Option(help: "Who makes the change, for the audit log (default: $SUDO_USER or your login name).")
        var by: String?

        func run() throws {
            let prefix = try address.map { try StoreCommandSupport.parsePrefix($0, what: "address") }
            let store = try StoreCommandSupport.open(global, .write)
            let ended = try StoreCommandSupport.perform {
                try store.stopSessions(customer: id, prefix: prefix, actor: by ?? StoreCommandSupport.defaultActor)
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
                Each lease is applied as `session start`. With --replace the file is the complete set of \
                current leases: every other session in force ends. Any error (named FILE:LINE) leaves the \
                store unchanged.
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The lease file, or - for standard input.")
        var file: String

        @Flag(help: "End every session in force that is not in the file.")
        var replace = false

        @Option(help: "Who makes the change, for the audit log (default: $SUDO_USER or your login name).")
        var by: String?

        func run() throws {
            let text: String
            if file == "-" {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            } else {
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw UsageError("cannot read lease file \(file)")
                }
                text = String(decoding: data, as: UTF8.self)
            }
            let leases = try StoreCommandSupport.perform { try SessionLeaseFile.parse(text, file: file) }
            let store = try StoreCommandSupport.open(global, .write)
            let change = try StoreCommandSupport.perform {
                try store.importSessions(leases, replace: replace, actor: by ?? StoreCommandSupport.defaultActor)
            }
            print(
                "imported \(leases.count) lease\(leases.count == 1 ? "" : "s") from \(file): "
                    + "\(change.started.count) session\(change.started.count == 1 ? "" : "s") started, "
                    + "\(change.ended.count) ended")
        }
    }

    /// `session list [--customer ID] [--history] [--format table|json|csv]`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List address bindings in force (sessions and static), or their history.")

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
            let listing = StoreListing(
                headers: ["customer", "prefix", "kind", "valid_from", "valid_until"],
                rows: bindings.map {
                    [
                        $0.customer, $0.prefix.description, $0.kind.rawValue, UTCTime.format($0.validFrom),
                        $0.validUntil.map(UTCTime.format) ?? "",
                    ]
                },
                objects: bindings.map(StoreListing.jsonObject))
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
                entries are never deleted. Records one audit entry, session.prune.
                """)

        @OptionGroup var global: GlobalOptions

        @Option(help: "Delete sessions that ended longer ago than this: 90d, 12w, or an RFC 3339 time.")
        var olderThan: String

        @Option(help: "Who makes the change, for the audit log (default: $SUDO_USER or your login name).")
        var by: String?

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
                    endedBefore: cutoff, actor: by ?? StoreCommandSupport.defaultActor, now: now)
            }
            let sessions = result.bindings == 1 ? "session" : "sessions"
            let entries = result.auditEntries == 1 ? "entry" : "entries"
            print(
                "deleted \(result.bindings) \(sessions) that ended before \(UTCTime.format(cutoff)) and "
                    + "\(result.auditEntries) audit \(entries)")
        }
    }

    static func report(_ change: SessionChange, unchanged: String) {
        if change.started.isEmpty && change.ended.isEmpty {
            print(unchanged)
            return
        }
        let newHolder = change.started.first?.customer
        for binding in change.ended {
            let why = newHolder.map { $0 == binding.customer ? "replaced" : "the address moved to \($0)" } ?? "ended"
            print("ended session \(binding.customer) \(binding.prefix) (\(why))")
        }
        for binding in change.started {
            print("started session \(binding.customer) \(binding.prefix)")
        }
    }
}
