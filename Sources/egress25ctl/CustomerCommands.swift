import ArgumentParser
import Egress25Configuration
import Egress25Core
import ExceptionStore
import Foundation

/// `egress25ctl customer ...`: subscriber accounts and their static addresses.
struct CustomerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "customer",
        abstract: "Manage customers (subscriber accounts) and their static address bindings.",
        discussion: """
            Exceptions are granted to customers, never to addresses: an exception applies to whatever addresses \
            the customer holds at the time (static bindings and sessions).
            """,
        subcommands: [Add.self, Show.self, List.self, Bind.self, Unbind.self]
    )

    /// `customer add ID [--name N] [--note T] [--by NAME]`.
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a customer; creates the exception store when it does not exist yet.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The ISP's customer id (account number): 1-64 characters from A-Z a-z 0-9 . _ - : @.")
        var id: String

        @Option(help: "Display name.")
        var name: String?

        @Option(help: "Free-text note for support staff.")
        var note: String?

        @OptionGroup var changedBy: ActorOptions

        func run() throws {
            let actor = changedBy.actor
            if case .sqlite(let path) = try StoreCommandSupport.storeLocation(global),
                try !StoreCommandSupport.perform({ try ExceptionStore.storeExists(at: path) })
            {
                // The first customer creates the store: check the input on an empty store in memory first, so
                // that a bad id leaves nothing behind.
                _ = try StoreCommandSupport.perform {
                    try ExceptionStore.inMemory().addCustomer(id: id, name: name, note: note, actor: actor)
                }
            }
            let store = try StoreCommandSupport.open(global, .create)
            let customer = try StoreCommandSupport.perform {
                try store.addCustomer(id: id, name: name, note: note, actor: actor)
            }
            print("added customer \(customer.id)")
        }
    }

    /// `customer show ID [--format text|json]`.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a customer, the addresses it holds, and its exceptions.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The customer id.")
        var id: String

        @Flag(help: "Also list ended bindings (the customer's address history).")
        var history = false

        @Option(help: "Output format: text or json.")
        var format: StoreShowFormat = .text

        func run() throws {
            let store = try StoreCommandSupport.open(global, .read)
            let now = UTCTime.now()
            let (customer, bindings, exceptions) = try StoreCommandSupport.perform {
                guard let customer = try store.customer(id: id) else {
                    throw ExceptionStoreError(.unknownCustomer, "unknown customer \(id)")
                }
                return (
                    customer, try store.bindings(customer: id, inForceAt: history ? nil : now),
                    try store.exceptions(customer: id, status: .all, now: now)
                )
            }
            switch format {
            case .json:
                var object = StoreListing.jsonObject(customer) as? [String: Any] ?? [:]
                object["bindings"] = bindings.map { binding -> Any in
                    var entry = StoreListing.jsonObject(binding) as? [String: Any] ?? [:]
                    entry["in_force"] = binding.isInForce(at: now)
                    return entry
                }
                object["exceptions"] = exceptions.map { exception -> Any in
                    var entry = StoreListing.jsonObject(exception) as? [String: Any] ?? [:]
                    entry["status"] = exception.status(at: now).rawValue
                    return entry
                }
                print(StoreListing.json(object))
            case .text:
                var lines = [
                    "customer  \(customer.id)",
                    "name      \(customer.name ?? "-")",
                    "note      \(customer.note ?? "-")",
                    "origin    "
                        + (customer.autoCreated ? "auto-created by the session feed (unknown id)" : "support staff"),
                    "added     \(UTCTime.format(customer.createdAt))",
                    "",
                ]
                if bindings.isEmpty {
                    lines.append("addresses: none (exceptions have no effect until a binding or session exists)")
                } else {
                    lines.append(history ? "addresses (history):" : "addresses in force:")
                    let rows = bindings.map { binding in
                        [
                            binding.prefix.description, binding.kind.rawValue,
                            UTCTime.format(binding.validFrom), binding.validUntil.map(UTCTime.format) ?? "",
                        ]
                    }
                    lines.append(
                        indented(StoreListing.table(headers: ["prefix", "kind", "from", "until"], rows: rows)))
                }
                lines.append("")
                if exceptions.isEmpty {
                    lines.append("exceptions: none")
                } else {
                    lines.append("exceptions:")
                    let rows = exceptions.map { exception in
                        [
                            exception.id, exception.status(at: now).rawValue, exception.destinationsText,
                            exception.expiryText, exception.ticket ?? "-", exception.reason,
                        ]
                    }
                    lines.append(
                        indented(
                            StoreListing.table(
                                headers: ["id", "status", "destinations", "expires", "ticket", "reason"], rows: rows)))
                }
                print(lines.joined(separator: "\n"))
            }
        }

        private func indented(_ text: String) -> String {
            text.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n")
        }
    }

    /// `customer list [--format table|json|csv]`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List customers with the addresses they hold and their active exceptions.",
            discussion: """
                ORIGIN is `staff` for customers added with `customer add`, `feed` for ids the session feed \
                recorded because the store had never seen them (json: auto_created).
                """)

        @OptionGroup var global: GlobalOptions

        @Option(help: "Output format: table, json or csv.")
        var format: StoreListFormat = .table

        func run() throws {
            let store = try StoreCommandSupport.open(global, .read)
            let now = UTCTime.now()
            let (customers, bindings, exceptions) = try StoreCommandSupport.perform {
                (
                    try store.customers(), try store.bindings(inForceAt: now),
                    try store.exceptions(status: .active, now: now)
                )
            }
            let prefixes = Dictionary(grouping: bindings, by: \.customer).mapValues { $0.map(\.prefix.description) }
            let active = Dictionary(grouping: exceptions, by: \.customer).mapValues { $0.map(\.id) }
            let rows = customers.map { customer in
                [
                    customer.id, customer.name ?? "", (prefixes[customer.id] ?? []).joined(separator: " "),
                    (active[customer.id] ?? []).joined(separator: " "), UTCTime.format(customer.createdAt),
                    customer.autoCreated ? "feed" : "staff", customer.note ?? "",
                ]
            }
            let objects = customers.map { customer -> Any in
                var object = StoreListing.jsonObject(customer) as? [String: Any] ?? [:]
                object["addresses"] = prefixes[customer.id] ?? []
                object["active_exceptions"] = active[customer.id] ?? []
                return object
            }
            let listing = StoreListing(
                headers: ["id", "name", "addresses", "active_exceptions", "created_at", "origin", "note"], rows: rows,
                objects: objects)
            print(listing.render(format))
        }
    }

    /// `customer bind ID ADDRESS[/PREFIX]`.
    struct Bind: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bind a static IPv4 address or IPv6 prefix to a customer.",
            discussion: """
                Refused when the prefix overlaps an address another customer holds. Binding the same prefix \
                twice is a no-op. The prefix must lie inside policy.subscriber_ranges and must not be a larger \
                block than sessions.max_prefix (default /24 for IPv4, /48 for IPv6) unless --force (exit status 2 \
                otherwise).
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The customer id.")
        var id: String

        @Argument(help: "ADDRESS or ADDRESS/PREFIX, e.g. 192.0.2.8/29 or 2001:db8:aa::/48.")
        var address: String

        @Flag(help: "Accept a prefix outside policy.subscriber_ranges or larger than sessions.max_prefix.")
        var force = false

        @OptionGroup var changedBy: ActorOptions

        func run() throws {
            let prefix = try StoreCommandSupport.parsePrefix(address, what: "address")
            let configuration = try global.loadStoreConfiguration()
            let store = try StoreCommandSupport.open(global, .write)
            let binding = try StoreCommandSupport.perform {
                try store.bind(
                    customer: id, prefix: prefix, actor: changedBy.actor,
                    plan: StoreCommandSupport.addressPlan(configuration, force: force))
            }
            let since = UTCTime.format(binding.validFrom)
            print("\(binding.prefix) is bound statically to \(binding.customer) since \(since)")
        }
    }

    /// `customer unbind ID ADDRESS[/PREFIX]`.
    struct Unbind: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End a customer's static binding on exactly ADDRESS[/PREFIX].")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The customer id.")
        var id: String

        @Argument(help: "ADDRESS or ADDRESS/PREFIX as bound.")
        var address: String

        @OptionGroup var changedBy: ActorOptions

        func run() throws {
            let prefix = try StoreCommandSupport.parsePrefix(address, what: "address")
            let store = try StoreCommandSupport.open(global, .write)
            let binding = try StoreCommandSupport.perform {
                try store.unbind(customer: id, prefix: prefix, actor: changedBy.actor)
            }
            print("\(binding.prefix) is no longer bound to \(binding.customer)")
        }
    }
}
