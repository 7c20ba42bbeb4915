import ArgumentParser
import Egress25Core
import ExceptionStore
import Foundation

/// `egress25ctl store migrate|status|import-sqlite`: the store itself, embedded SQLite or the fleet's PostgreSQL.
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Create, upgrade and inspect the store (embedded SQLite, or the fleet's PostgreSQL with store.url).",
        subcommands: [Migrate.self, Status.self, ImportSQLite.self]
    )

    /// `store migrate`.
    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or upgrade the store's schema (idempotent).",
            discussion: """
                Refuses a store written by a newer egress25. On PostgreSQL run it as the database's owner (a role \
                with CREATEROLE the first time: it creates the group roles egress25_router and egress25_admin).
                """)

        @OptionGroup var global: GlobalOptions

        func run() throws {
            let location = try StoreCommandSupport.storeLocation(global)
            let (from, to) = try StoreCommandSupport.perform { try ExceptionStore.migrateSchema(at: location) }
            let name = StoreCommandSupport.describe(location)
            if from == to {
                print("\(name): schema \(to), up to date")
            } else {
                print("\(name): schema \(from) -> \(to)")
            }
        }
    }

    /// `store status`.
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the backend, the schema version, reachability and one round trip's latency.",
            discussion: "Exit code 1 when the store is unreachable or its schema is not this binary's.")

        @OptionGroup var global: GlobalOptions

        @Option(help: "Output format: text or json.")
        var format: StoreShowFormat = .text

        func run() throws {
            let location = try StoreCommandSupport.storeLocation(global)
            let status = ExceptionStore.status(of: location)
            switch format {
            case .text:
                var lines = [
                    "backend:      \(status.backend)",
                    "store:        \(status.location)",
                    "reachable:    \(status.reachable ? "yes" : "no")",
                ]
                if let roundTrip = status.roundTripMilliseconds {
                    lines.append("round trip:   \(String(format: "%.2f", roundTrip)) ms")
                }
                lines.append(
                    "schema:       \(status.schemaVersion.map(String.init) ?? "unknown") (this binary: "
                        + "\(status.binarySchemaVersion))")
                if let problem = status.problem { lines.append("problem:      \(problem)") }
                print(lines.joined(separator: "\n"))
            case .json:
                print(StoreListing.json(StoreListing.jsonObject(status)))
            }
            if status.problem != nil { throw ExitCode.failure }
        }
    }

    /// `store import-sqlite FILE`.
    struct ImportSQLite: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-sqlite",
            abstract:
                "Move a single router's SQLite store into the fleet store (all or nothing; a second run changes nothing).",
            discussion: """
                Imports the customers, bindings, sessions, exceptions and the audit history of FILE (a router's \
                <state_directory>/exceptions.sqlite) into the store named by store.url, in one transaction. A \
                binding that overlaps another customer's binding in force in the fleet store stops the import \
                before anything is written. Bindings get new ids; their audit entries are renumbered with them.
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The SQLite store file to import.")
        var file: String

        @OptionGroup var changedBy: ActorOptions

        func run() throws {
            let store = try StoreCommandSupport.open(global, .write)
            guard store.dialect == .postgresql else {
                throw UsageError("store import-sqlite needs the fleet store: set store.url in \(global.config)")
            }
            let result = try StoreCommandSupport.perform {
                try store.importSQLiteStore(at: file, actor: changedBy.actor)
            }
            if result.alreadyImported {
                print("\(file) was imported already (\(UTCTime.format(result.importedAt))); nothing changed")
            } else {
                print(
                    "imported \(file): \(result.customers) customers (\(result.customersMerged) already in the fleet "
                        + "store), \(result.bindings) bindings, \(result.exceptions) exceptions, "
                        + "\(result.auditEntries) audit entries")
            }
        }
    }
}

/// `egress25ctl node list`: the fleet's routers.
struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "The routers of the fleet store (store.url): heartbeat, policy generation, data age, shipping lag.",
        subcommands: [List.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every router that has written a heartbeat to the fleet store.",
            discussion: """
                HEARTBEAT is the router's last heartbeat (every 5 s while it reaches the store); GENERATION the \
                store change token of the policy data it enforces (compare with the store's, shown in the header); \
                DATA_AGE how old that data was at the heartbeat plus the time since; SHIPPING_LAG how far its \
                block log's shipping is behind.
                """)

        @OptionGroup var global: GlobalOptions

        @Option(help: "Output format: table, json or csv.")
        var format: StoreListFormat = .table

        func run() throws {
            let store = try StoreCommandSupport.open(global, .read)
            guard store.dialect == .postgresql else {
                throw UsageError("node list needs the fleet store: set store.url in \(global.config)")
            }
            let now = UTCTime.now()
            let (nodes, generation) = try StoreCommandSupport.perform { (try store.nodes(), try store.changeToken()) }
            func age(_ seconds: Int64?) -> String { seconds.map(Self.durationText) ?? "-" }
            let listing = StoreListing(
                headers: ["node", "heartbeat", "generation", "data_age", "shipping_lag"],
                rows: nodes.map { node in
                    [
                        node.name, node.lastHeartbeat.map { "\(UTCTime.format($0)) (\(age(now - $0)) ago)" } ?? "-",
                        node.policyGeneration.map { "\($0)\($0 == generation ? "" : " (behind)")" } ?? "-",
                        age(node.policyDataAt.map { now - $0 }), age(node.shippingLag),
                    ]
                },
                objects: nodes.map { StoreListing.jsonObject($0) })
            if format == .table { print("store generation \(generation)") }
            print(listing.render(format))
        }
    }
}

extension NodeCommand.List {
    /// `42s`, `5m12s`, `3h4m`, `2d5h`: the two largest units.
    static func durationText(_ seconds: Int64) -> String {
        let seconds = max(0, seconds)
        switch seconds {
        case ..<60: return "\(seconds)s"
        case ..<3600: return "\(seconds / 60)m\(seconds % 60)s"
        case ..<86_400: return "\(seconds / 3600)h\(seconds % 3600 / 60)m"
        default: return "\(seconds / 86_400)d\(seconds % 86_400 / 3600)h"
        }
    }
}
