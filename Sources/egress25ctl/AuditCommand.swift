import ArgumentParser
import Egress25Core
import ExceptionStore
import Foundation

/// `egress25ctl audit [--since TIME] [--customer ID]`: the append-only log of every change to the store.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Show the audit log of the exception store (who changed what, when), oldest first.",
        discussion: """
            Actions: customer.add, binding.add, binding.end, session.start, session.end, exception.grant, \
            exception.revoke, session.prune. ACTOR is the --by name (free text); OS_USER is the operating-system \
            user that ran egress25ctl, with the user who ran sudo ($SUDO_USER) in parentheses. json and csv \
            include each change's before/after state.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "Only entries at or after this time: RFC 3339, or a duration ago (12h, 7d).")
    var since: String?

    @Option(help: "Only entries about this customer.")
    var customer: String?

    @Option(help: "At most this many entries (the newest).")
    var limit: Int?

    @Option(help: "Output format: table, json or csv.")
    var format: StoreListFormat = .table

    func run() throws {
        var sinceTime: Int64?
        if let since {
            do {
                sinceTime = try UTCTime.parseInstant(since, now: UTCTime.now(), durationIsPast: true)
            } catch {
                throw UsageError("--since: \(error)")
            }
        }
        if let limit, limit < 1 { throw UsageError("--limit must be at least 1") }
        let store = try StoreCommandSupport.open(global, .read)
        let entries = try StoreCommandSupport.perform {
            try store.auditEntries(since: sinceTime, customer: customer, limit: limit)
        }
        let listing = StoreListing(
            headers: format == .csv
                ? [
                    "sequence", "at", "actor", "os_user", "sudo_user", "action", "customer", "object", "before",
                    "after",
                ]
                : ["sequence", "at", "actor", "os_user", "action", "customer", "object", "details"],
            rows: entries.map { entry in
                let who =
                    format == .csv
                    ? [entry.actor, entry.osUser ?? "", entry.sudoUser ?? ""]
                    : [entry.actor, entry.operatingSystemUserText]
                let common =
                    [String(entry.sequence), UTCTime.format(entry.at)] + who
                    + [entry.action, entry.customer ?? "", entry.objectID ?? ""]
                return format == .csv
                    ? common + [entry.before ?? "", entry.after ?? ""] : common + [Self.details(entry)]
            },
            objects: entries.map(Self.jsonObject))
        print(listing.render(format))
    }

    /// An audit entry as a JSON object with `before`/`after` as objects.
    static func jsonObject(_ entry: AuditEntry) -> Any {
        var object = StoreListing.jsonObject(entry) as? [String: Any] ?? [:]
        object["before"] = StoreListing.parsedJSON(entry.before)
        object["after"] = StoreListing.parsedJSON(entry.after)
        return object
    }

    /// A short human summary of the change.
    static func details(_ entry: AuditEntry) -> String {
        let after = StoreListing.parsedJSON(entry.after) as? [String: Any] ?? [:]
        func text(_ key: String) -> String? {
            switch after[key] {
            case let string as String: return string
            case let list as [String]: return list.joined(separator: ",")
            default: return nil
            }
        }
        switch entry.action {
        case "exception.grant":
            let destinations = text("destinations").map { $0 == "any" ? "any destination" : $0 } ?? "?"
            let expiry = text("expires_at").map { "until \($0)" } ?? "permanent"
            return "to \(destinations), \(expiry): \(text("reason") ?? "")"
        case "exception.revoke":
            let revocation = after["revocation"] as? [String: Any]
            return "revoked: \(revocation?["reason"] as? String ?? "")"
        case "session.start", "binding.add":
            return "\(text("prefix") ?? "") \(text("kind") ?? "")"
        case "session.end", "binding.end":
            return "\(text("prefix") ?? "")" + (text("moved_to").map { " moved to \($0)" } ?? "")
        case "session.prune":
            let bindings = after["bindings"] as? Int ?? 0
            let entries = after["audit_entries"] as? Int ?? 0
            return "deleted \(bindings) sessions ended before \(text("cutoff") ?? "?") and \(entries) audit entries"
        case "customer.add":
            if after["auto_created"] as? Bool == true { return "auto-created by the session feed (unknown id)" }
            return text("name") ?? ""
        default:
            return ""
        }
    }
}
