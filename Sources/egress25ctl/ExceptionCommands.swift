import ArgumentParser
import Egress25Core
import Egress25Operations
import ExceptionStore
import Foundation

/// `egress25ctl exception ...`: per-customer exceptions to outbound port 25 blocking.
struct ExceptionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exception",
        abstract: "Grant, revoke and list per-customer exceptions (telecommuters, business mail servers).",
        discussion: """
            An exception lets a customer's SYNs to port 25 through, from whatever addresses the customer holds, \
            to any destination or only to --to prefixes, until it expires or is revoked. egress25d applies \
            changes within a second.
            """,
        subcommands: [Grant.self, Revoke.self, List.self, Show.self]
    )

    /// `exception grant ID [--to DEST]... (--for D | --expires T | --permanent) --reason TEXT [--ticket T] --by NAME`.
    struct Grant: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Grant an exception to a customer; prints the new exception id (exc-XXXXXXXX).",
            discussion: """
                Give exactly one of --for, --expires, --permanent. Granting to a customer that holds no address \
                now is allowed, with a warning: it takes effect once a binding or session exists.
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The customer id.")
        var id: String

        @Option(
            name: .customLong("to"),
            help: "A destination address or CIDR prefix (repeat, or separate with commas); omit for any destination.")
        var destinations: [String] = []

        @Option(name: .customLong("for"), help: "Valid for this long from now: 90m, 12h, 30d, 2w.")
        var duration: String?

        @Option(
            help: """
                Valid until this time (exclusive): RFC 3339 (2026-12-31T23:00:00Z), a duration from now, or a date \
                alone, which means the end of that day in UTC (2026-12-31: valid through 2026-12-31T23:59:59Z, \
                blocked from 2027-01-01T00:00:00Z).
                """)
        var expires: String?

        @Flag(help: "Never expires (revoke it explicitly).")
        var permanent = false

        @Option(help: "Why it is granted (required).")
        var reason: String

        @Option(help: "Support ticket reference.")
        var ticket: String?

        @Option(help: "Who grants it (required, recorded in the audit log).")
        var by: String

        func run() throws {
            let now = UTCTime.now()
            let labels = [
                "duration": "--for", "expires_at": "--expires", "permanent": "--permanent", "destinations": "--to",
            ]
            let input: (grant: ExceptionGrant, warnings: [String])
            do {
                input = try ExceptionGrantInput.grant(
                    customer: id, destinations: destinations, duration: duration, expires: expires,
                    permanent: permanent, reason: reason, ticket: ticket, grantedBy: by, now: now,
                    label: { labels[$0] ?? "--\($0)" })
            } catch {
                throw cliError(error)
            }
            input.warnings.forEach(StoreCommandSupport.warn)
            let grant = input.grant
            let store = try StoreCommandSupport.open(global, .write)
            let result = try StoreCommandSupport.perform { try store.grantException(grant, now: now) }
            if result.bindingsInForce.isEmpty {
                StoreCommandSupport.warn(
                    "customer \(id) holds no address now: \(result.exception.id) has no effect until a binding "
                        + "(customer bind) or session (session start) exists")
            }
            print(result.exception.id)
        }
    }

    /// `exception revoke EXC_ID --reason TEXT --by NAME`.
    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an exception: blocked again from now on.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The exception id (exc-...).")
        var exceptionID: String

        @Option(help: "Why it is revoked (required).")
        var reason: String

        @Option(help: "Who revokes it (required, recorded in the audit log).")
        var by: String

        func run() throws {
            let store = try StoreCommandSupport.open(global, .write)
            let revoked = try StoreCommandSupport.perform {
                try store.revokeException(id: exceptionID, reason: reason, by: by)
            }
            print("revoked \(revoked.id) (customer \(revoked.customer))")
        }
    }

    /// Which exceptions `exception list` shows.
    enum StatusFlag: String, EnumerableFlag {
        case active, expired, revoked, all

        static func help(for value: StatusFlag) -> ArgumentHelp? {
            switch value {
            case .active: return "Neither expired nor revoked (the default)."
            case .expired: return "Expired, not revoked."
            case .revoked: return "Revoked."
            case .all: return "All of them."
            }
        }

        var filter: ExceptionStatusFilter {
            switch self {
            case .active: return .active
            case .expired: return .expired
            case .revoked: return .revoked
            case .all: return .all
            }
        }
    }

    /// `exception list [--customer ID] [--active|--expired|--revoked|--all] [--format table|json|csv]`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List exceptions, oldest first.")

        @OptionGroup var global: GlobalOptions

        @Option(help: "Only this customer's exceptions.")
        var customer: String?

        @Flag var status: StatusFlag = .active

        @Option(help: "Output format: table, json or csv.")
        var format: StoreListFormat = .table

        func run() throws {
            let store = try StoreCommandSupport.open(global, .read)
            let now = UTCTime.now()
            let exceptions = try StoreCommandSupport.perform {
                try store.exceptions(customer: customer, status: status.filter, now: now)
            }
            let rows = exceptions.map { exception in
                [
                    exception.id, exception.customer, exception.status(at: now).rawValue, exception.destinationsText,
                    exception.expiryText, exception.ticket ?? "", exception.grantedBy,
                    UTCTime.format(exception.createdAt), exception.reason,
                ]
            }
            let objects = exceptions.map { exception -> Any in
                var object = StoreListing.jsonObject(exception) as? [String: Any] ?? [:]
                object["status"] = exception.status(at: now).rawValue
                return object
            }
            let listing = StoreListing(
                headers: [
                    "id", "customer", "status", "destinations", "expires", "ticket", "granted_by", "created_at",
                    "reason",
                ],
                rows: rows, objects: objects)
            print(listing.render(format))
        }
    }

    /// `exception show EXC_ID [--format text|json]`.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an exception and its audit history.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The exception id (exc-...).")
        var exceptionID: String

        @Option(help: "Output format: text or json.")
        var format: StoreShowFormat = .text

        func run() throws {
            let store = try StoreCommandSupport.open(global, .read)
            let now = UTCTime.now()
            let (exception, history, bindings) = try StoreCommandSupport.perform {
                guard let exception = try store.exception(id: exceptionID) else {
                    throw ExceptionStoreError(.unknownException, "unknown exception \(exceptionID)")
                }
                return (
                    exception, try store.auditEntries(objectID: exceptionID),
                    try store.bindings(customer: exception.customer, inForceAt: now)
                )
            }
            switch format {
            case .json:
                var object = StoreListing.jsonObject(exception) as? [String: Any] ?? [:]
                object["status"] = exception.status(at: now).rawValue
                object["sources_now"] = bindings.map(\.prefix.description)
                object["history"] = history.map(AuditCommand.jsonObject)
                print(StoreListing.json(object))
            case .text:
                var lines = [
                    "exception     \(exception.id)",
                    "customer      \(exception.customer)",
                    "status        \(exception.status(at: now).rawValue)",
                    "destinations  \(exception.destinationsText)",
                    "expires       \(exception.expiryText)",
                    "reason        \(exception.reason)",
                    "ticket        \(exception.ticket ?? "-")",
                    "granted       \(UTCTime.format(exception.createdAt)) by \(exception.grantedBy)",
                ]
                if let revocation = exception.revocation {
                    lines.append(
                        "revoked       \(UTCTime.format(revocation.at)) by \(revocation.by): \(revocation.reason)")
                }
                lines.append(
                    "sources now   "
                        + (bindings.isEmpty
                            ? "none (the customer holds no address)"
                            : bindings.map {
                                $0.prefix.description + ($0.leaseExpired(at: now) ? " (session lease expired)" : "")
                            }.joined(separator: " ")))
                lines.append("")
                lines.append("history:")
                let rows = history.map { [UTCTime.format($0.at), $0.actor, $0.operatingSystemUserText, $0.action] }
                lines.append(
                    StoreListing.table(headers: ["at", "actor", "os_user", "action"], rows: rows)
                        .split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
                print(lines.joined(separator: "\n"))
            }
        }
    }
}
