import ArgumentParser
import Egress25Core
import ExceptionStore

/// `egress25ctl token ...`: the bearer tokens of egress25-admin's API and console.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Create, list and revoke egress25-admin API tokens (support, abuse, ops, admin).",
        discussion: """
            A token is printed once, when created, and stored only as its SHA-256 in the exception store \
            (SQLite or the fleet's PostgreSQL), so every egress25-admin on the store accepts it and a revocation \
            takes effect on each of them within a second. Roles: support (explain, customers, grant and revoke \
            exceptions, audit), abuse (block log, top offenders, suspects, exports, audit), ops (nodes, explain), \
            admin (everything). Changes made with a token are audited under its name and role.
            """,
        subcommands: [Create.self, List.self, Revoke.self]
    )

    /// `token create --name NAME --role ROLE [--expires 90d] [--by NAME]`.
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token and print it (once: it cannot be shown again).")

        @OptionGroup var global: GlobalOptions

        @Option(help: "Who holds the token (audit actor): 1-64 characters from A-Z a-z 0-9 . _ - @.")
        var name: String

        @Option(help: "support, abuse, ops or admin.")
        var role: APIRole

        @Option(
            help: "Valid for this long (90d, 12h, 2w) or until this time (RFC 3339 or a date); default: never expires.")
        var expires: String?

        @OptionGroup var changedBy: ActorOptions

        func run() throws {
            let now = UTCTime.now()
            var expiresAt: Int64?
            if let expires {
                do {
                    expiresAt = try UTCTime.parseExpiry(expires, now: now)
                } catch {
                    throw UsageError("--expires: \(error)")
                }
            }
            let store = try StoreCommandSupport.open(global, .create)
            let created = try StoreCommandSupport.perform {
                try store.createAPIToken(
                    name: name, role: role, expiresAt: expiresAt, actor: changedBy.actor, now: now)
            }
            print(created.token)
            // On stderr, so `TOKEN=$(egress25ctl token create ...)` captures the token alone.
            FileHandleStderr.write(
                "token \(name) (\(role.rawValue)) created"
                    + (created.record.expiresAt.map { ", valid until \(UTCTime.format($0))" } ?? ", never expires")
                    + "; it is shown only now: give it to \(name) over a safe channel\n")
        }
    }

    /// `token list [--all] [--format table|json|csv]`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never the tokens themselves).")

        @OptionGroup var global: GlobalOptions

        @Flag(help: "Include revoked tokens.")
        var all = false

        @Option(help: "Output format: table, json or csv.")
        var format: StoreListFormat = .table

        func run() throws {
            let store = try StoreCommandSupport.open(global, .read)
            let now = UTCTime.now()
            let tokens = try StoreCommandSupport.perform { try store.apiTokens(includeRevoked: all) }
            let rows = tokens.map { token in
                [
                    token.name, token.role.rawValue, token.status(at: now).rawValue, UTCTime.format(token.createdAt),
                    token.createdBy, token.expiresAt.map(UTCTime.format) ?? "never",
                    token.revokedAt.map { "\(UTCTime.format($0)) by \(token.revokedBy ?? "?")" } ?? "",
                ]
            }
            let objects = tokens.map { token -> Any in
                var object = StoreListing.jsonObject(token) as? [String: Any] ?? [:]
                object["status"] = token.status(at: now).rawValue
                return object
            }
            let listing = StoreListing(
                headers: ["name", "role", "status", "created_at", "created_by", "expires_at", "revoked"], rows: rows,
                objects: objects)
            print(listing.render(format))
        }
    }

    /// `token revoke NAME [--by NAME]`.
    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a token: refused by every egress25-admin within a second.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The token's name.")
        var name: String

        @OptionGroup var changedBy: ActorOptions

        func run() throws {
            let store = try StoreCommandSupport.open(global, .write)
            let revoked = try StoreCommandSupport.perform {
                try store.revokeAPIToken(name: name, actor: changedBy.actor)
            }
            print("revoked token \(revoked.name) (\(revoked.role.rawValue))")
        }
    }
}

extension APIRole: ExpressibleByArgument {}
