import ArgumentParser
import Egress25Configuration
import Egress25Core
import ExceptionStore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Opening the exception store for a support-staff command, and mapping its errors to exit codes.
enum StoreCommandSupport {
    /// How a command uses the store.
    enum Access {
        /// Read only; a missing store reads as empty.
        case read
        /// Change an existing store; a missing store is an error naming `customer add`.
        case write
        /// Change the store, creating `<state_directory>` and the file (mode 0640) when missing.
        case create
    }

    /// The store the configuration named by `--config` names: `<state_directory>/exceptions.sqlite`, or the fleet's
    /// PostgreSQL database (`store.url`).
    static func storeLocation(_ global: GlobalOptions) throws -> StoreLocation {
        try global.loadStoreConfiguration().store.location
    }

    /// The store for messages: the file, or `USER@HOST:PORT/DB`.
    static func describe(_ location: StoreLocation) -> String {
        switch location {
        case .sqlite(let path): return path
        case .postgresql(let postgres): return "PostgreSQL \(postgres)"
        }
    }

    /// Opens the store the configuration names.
    /// - Throws: `CommandFailure` (exit 1) for a missing store (write), a newer schema, a lock, an unreachable
    ///   database or an I/O error.
    static func open(_ global: GlobalOptions, _ access: Access) throws -> ExceptionStore {
        let location = try storeLocation(global)
        return try perform {
            switch (location, access) {
            case (.sqlite(let path), .read):
                if try !ExceptionStore.storeExists(at: path) { return try ExceptionStore.inMemory() }
                return try ExceptionStore(path: path, mode: .readOnly)
            case (_, .read):
                return try ExceptionStore(location: location, mode: .readOnly)
            case (_, .write):
                return try ExceptionStore(location: location, mode: .readWrite)
            case (_, .create):
                return try ExceptionStore(location: location, mode: .create)
            }
        }
    }

    /// The bounds of bindings and sessions from the configuration (`policy.subscriber_ranges`,
    /// `sessions.max_prefix`), or `nil` with `--force`.
    static func addressPlan(_ configuration: Egress25Configuration, force: Bool) -> AddressPlan? {
        if force { return nil }
        return AddressPlan(
            subscriberRanges: configuration.policy.policy.subscriberRanges,
            shortestIPv4: configuration.sessions.maxPrefixIPv4, shortestIPv6: configuration.sessions.maxPrefixIPv6)
    }

    /// Runs a store operation; maps ``ExceptionStoreError`` to `UsageError` (invalid argument, exit 2) or
    /// `CommandFailure` (everything else, exit 1).
    static func perform<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as ExceptionStoreError {
            if error.code == .invalidArgument { throw UsageError(error.message) }
            throw CommandFailure(error.message)
        }
    }

    /// The actor recorded in the audit log when `--by` is not given: `$SUDO_USER`, else the login name of the
    /// effective user, else `uid N`.
    static var defaultActor: String {
        if let sudoUser = ProcessInfo.processInfo.environment["SUDO_USER"], !sudoUser.isEmpty { return sudoUser }
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return "uid \(geteuid())"
    }

    /// Parses an address or CIDR prefix argument (`203.0.113.7`, `2001:db8:1::/56`).
    /// - Throws: `UsageError` naming the option and the reason.
    static func parsePrefix(_ text: String, what: String) throws -> IPPrefix {
        do {
            return try IPPrefix(parsing: text.trimmingCharacters(in: .whitespaces))
        } catch {
            throw UsageError("\(what) \(text) is not an address or CIDR prefix: \(error.reason)")
        }
    }

    /// Writes `warning: MESSAGE` on stderr.
    static func warn(_ message: String) {
        FileHandleStderr.write("warning: \(message)\n")
    }
}

/// `--format` of listing commands.
enum StoreListFormat: String, ExpressibleByArgument, CaseIterable {
    /// Aligned columns for people.
    case table
    /// A JSON array of objects (times RFC 3339 UTC).
    case json
    /// RFC 4180 CSV with a header row.
    case csv
}

/// `--format` of the `show` commands.
enum StoreShowFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Rows of strings rendered as a table or CSV, or objects rendered as JSON.
struct StoreListing {
    var headers: [String]
    var rows: [[String]]
    /// One JSON object per row.
    var objects: [Any]

    func render(_ format: StoreListFormat) -> String {
        switch format {
        case .table: return Self.table(headers: headers, rows: rows)
        case .csv:
            return ([headers] + rows).map { $0.map(Self.csvField).joined(separator: ",") }.joined(separator: "\n")
        case .json: return Self.json(objects)
        }
    }

    /// Columns separated by two spaces, headers upper-case; no trailing blanks.
    static func table(headers: [String], rows: [[String]]) -> String {
        let all = [headers.map { $0.uppercased() }] + rows
        var widths = [Int](repeating: 0, count: headers.count)
        for row in all {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }.joined(separator: "\n")
    }

    /// RFC 4180: quoted when it contains `,`, `"`, CR or LF; quotes doubled.
    static func csvField(_ text: String) -> String {
        if text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return text
    }

    /// Pretty-printed JSON with sorted keys.
    static func json(_ object: Any) -> String {
        guard
            let data = try? JSONSerialization.data(
                withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    /// An `Encodable` value as a JSON object (`[String: Any]`) for composing output.
    static func jsonObject(_ value: some Encodable) -> Any {
        let encoder = JSONEncoder()
        guard let data = try? encoder.encode(value), let object = try? JSONSerialization.jsonObject(with: data)
        else { return NSNull() }
        return object
    }

    /// JSON text (an audit entry's before/after) as an object; `NSNull` for `nil`.
    static func parsedJSON(_ text: String?) -> Any {
        guard let text, let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) else { return NSNull() }
        return object
    }
}

extension StoredException {
    /// `permanent` or the RFC 3339 expiry.
    var expiryText: String { expiresAt.map(UTCTime.format) ?? "permanent" }
}
