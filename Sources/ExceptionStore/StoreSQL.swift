import Egress25System

// The store's logic (customers, sessions, exceptions, the audit log, the policy inputs) is written once, in SQL
// both backends understand, against `StoreSQL`: the embedded SQLite file (GRDB) and the fleet's PostgreSQL
// (postgres-nio). Placeholders are `?`; the PostgreSQL backend numbers them (`$1`, `$2`, ...). Integers are
// 64-bit, booleans are stored as 0/1, times as UTC seconds, so one row decodes the same from either backend.

/// A value bound to, or read from, a statement of the store.
public enum SQLValue: Hashable, Sendable {
    case null
    case integer(Int64)
    case text(String)
}

extension SQLValue: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral {
    /// `.integer(value)`.
    public init(integerLiteral value: Int64) { self = .integer(value) }
    /// `.text(value)`.
    public init(stringLiteral value: String) { self = .text(value) }
}

extension SQLValue {
    /// `.null` for `nil`, else the integer.
    static func integer(_ value: Int64?) -> SQLValue { value.map { .integer($0) } ?? .null }
    /// `.null` for `nil`, else the text.
    static func text(_ value: String?) -> SQLValue { value.map { .text($0) } ?? .null }
    /// 1 or 0.
    static func bool(_ value: Bool) -> SQLValue { .integer(value ? 1 : 0) }
}

/// One row of a query's result, its columns in the order the statement selected them.
public struct SQLRow: Sendable {
    /// The values, in column order.
    public var values: [SQLValue]

    /// Creates a row from its values.
    public init(_ values: [SQLValue]) { self.values = values }

    /// The integer in column `index` (0-based).
    /// - Throws: ``StoreRowError`` when it is NULL or text.
    public func int64(_ index: Int) throws(StoreRowError) -> Int64 {
        guard let value = try optionalInt64(index) else { throw StoreRowError(column: index, expected: "an integer") }
        return value
    }

    /// The integer in column `index`, `nil` for NULL.
    /// - Throws: ``StoreRowError`` when it is text or the column does not exist.
    public func optionalInt64(_ index: Int) throws(StoreRowError) -> Int64? {
        switch try value(index) {
        case .null: return nil
        case .integer(let value): return value
        case .text: throw StoreRowError(column: index, expected: "an integer")
        }
    }

    /// The text in column `index`.
    /// - Throws: ``StoreRowError`` when it is NULL or an integer.
    public func text(_ index: Int) throws(StoreRowError) -> String {
        guard let value = try optionalText(index) else { throw StoreRowError(column: index, expected: "text") }
        return value
    }

    /// The text in column `index`, `nil` for NULL.
    /// - Throws: ``StoreRowError`` when it is an integer or the column does not exist.
    public func optionalText(_ index: Int) throws(StoreRowError) -> String? {
        switch try value(index) {
        case .null: return nil
        case .text(let value): return value
        case .integer: throw StoreRowError(column: index, expected: "text")
        }
    }

    /// Column `index` as a boolean (stored as 0/1; NULL is false).
    /// - Throws: ``StoreRowError`` when it is text.
    public func bool(_ index: Int) throws(StoreRowError) -> Bool {
        (try optionalInt64(index) ?? 0) != 0
    }

    private func value(_ index: Int) throws(StoreRowError) -> SQLValue {
        guard values.indices.contains(index) else { throw StoreRowError(column: index, expected: "a column") }
        return values[index]
    }
}

/// A row whose column does not hold what the store wrote there (a damaged or foreign database).
public struct StoreRowError: Error, Hashable, CustomStringConvertible {
    /// The column, 0-based.
    public var column: Int
    /// What the column should have held.
    public var expected: String

    /// `column N of a row does not hold WHAT` (N from 1).
    public var description: String { "column \(column + 1) of a row does not hold \(expected)" }
}

/// One connection of a backend inside one transaction: what the store's logic runs its SQL on.
///
/// Both calls take SQL with `?` placeholders, written in the subset SQLite 3.35+ and PostgreSQL 15 share
/// (`RETURNING`, `ON CONFLICT`, `CAST(x AS BIGINT)`; no `max(a, b)`, `strftime`, temporary tables).
protocol StoreSQL {
    /// Which database runs the SQL, for the few statements that must differ.
    var dialect: StoreDialect { get }

    /// Runs one statement.
    /// - Returns: How many rows it inserted, updated or deleted.
    /// - Throws: The backend's error (mapped to ``ExceptionStoreError`` by the store).
    @discardableResult
    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int

    /// Runs one query and calls `body` with each row, in the order the query gives.
    /// - Throws: The backend's error, or what `body` throws.
    func forEachRow(_ sql: String, _ arguments: [SQLValue], _ body: (SQLRow) throws -> Void) throws
}

extension StoreSQL {
    /// Every row of a query.
    func rows(_ sql: String, _ arguments: [SQLValue] = []) throws -> [SQLRow] {
        var rows: [SQLRow] = []
        try forEachRow(sql, arguments) { rows.append($0) }
        return rows
    }

    /// The first row of a query, if any.
    func firstRow(_ sql: String, _ arguments: [SQLValue] = []) throws -> SQLRow? {
        var first: SQLRow?
        try forEachRow(sql, arguments) { row in if first == nil { first = row } }
        return first
    }

    @discardableResult
    func execute(_ sql: String) throws -> Int { try execute(sql, []) }
}

/// The database behind a ``StoreSQL``.
public enum StoreDialect: String, Hashable, Sendable {
    /// The embedded store: one SQLite file under `state_directory`.
    case sqlite
    /// The fleet store: one PostgreSQL database for every router.
    case postgresql
}

/// Where a store's transactions run: the SQLite file or the PostgreSQL database.
///
/// `read` runs `body` in one read-only transaction that sees one consistent state; `write` in one write
/// transaction that commits when `body` returns and rolls back when it throws. Writers are serialised (SQLite's
/// `BEGIN IMMEDIATE`; on PostgreSQL a row lock on `store_state` taken first), so the logic's read-check-write steps
/// (e.g. "end every session overlapping this prefix, then start one") never interleave with another writer's.
protocol StoreBackend: Sendable {
    /// The backend, for messages and `store status`: `SQLite /var/lib/egress25/exceptions.sqlite`,
    /// `PostgreSQL egress25_admin@db.example.net:5432/egress25`.
    var description: String { get }
    var dialect: StoreDialect { get }

    func read<T>(_ body: (any StoreSQL) throws -> T) throws -> T
    func write<T>(_ body: (any StoreSQL) throws -> T) throws -> T
    /// A write transaction that does not take the writers' lock: for tables outside the policy (a router's `node`
    /// row, shipped blocked attempts), which the router role writes but may not lock `store_state` for.
    func writeWithoutPolicyLock<T>(_ body: (any StoreSQL) throws -> T) throws -> T

    /// Maps an error a transaction threw (not an ``ExceptionStoreError``) to one line for the operator:
    /// "cannot OPERATION store DESCRIPTION: why".
    func storeError(_ error: any Error, operation: String, function: String) -> ExceptionStoreError
}

/// Many rows passed to one statement as a table (`FROM \(list.table(dialect)) WHERE ... v.c0 ...`), so a set-based
/// statement needs one round trip whatever the number of rows: on PostgreSQL one array parameter per column
/// (`unnest(?::text[], ?::bigint[]) AS v(c0, c1)`), on SQLite one JSON array of rows (`json_each`). The columns
/// are named `c0`, `c1`, ... in the table `v`; with `ordinality`, `v.ord` numbers the rows from 1 in list order.
struct SQLList {
    enum ColumnType {
        case integer
        case text
    }

    var columns: [ColumnType]
    var rows: [[SQLValue]]

    var isEmpty: Bool { rows.isEmpty }

    /// The table expression, aliased `v`.
    func table(_ dialect: StoreDialect, ordinality: Bool = false) -> String {
        let names = columns.indices.map { "c\($0)" }
        switch dialect {
        case .postgresql:
            let arrays = columns.map { $0 == .integer ? "?::bigint[]" : "?::text[]" }.joined(separator: ", ")
            let aliases = (names + (ordinality ? ["ord"] : [])).joined(separator: ", ")
            return "unnest(\(arrays))\(ordinality ? " WITH ORDINALITY" : "") AS v(\(aliases))"
        case .sqlite:
            var selected = names.enumerated().map { "value ->> \($0.offset) AS \($0.element)" }
            if ordinality { selected.append("key + 1 AS ord") }
            return "(SELECT \(selected.joined(separator: ", ")) FROM json_each(?)) AS v"
        }
    }

    /// The arguments of ``table(_:ordinality:)``. Built as bytes: a batch's audit column alone is hundreds of
    /// kilobytes of JSON.
    func arguments(_ dialect: StoreDialect) -> [SQLValue] {
        switch dialect {
        case .postgresql:
            return columns.indices.map { column in
                var literal: [UInt8] = [UInt8(ascii: "{")]
                for (index, row) in rows.enumerated() {
                    if index > 0 { literal.append(UInt8(ascii: ",")) }
                    switch row[column] {
                    case .null: literal += "NULL".utf8
                    case .integer(let value): literal += String(value).utf8
                    case .text(let value): Self.appendQuoted(value, to: &literal, escapingFor: .postgresql)
                    }
                }
                literal.append(UInt8(ascii: "}"))
                return .text(String(decoding: literal, as: UTF8.self))
            }
        case .sqlite:
            var json: [UInt8] = [UInt8(ascii: "[")]
            for (index, row) in rows.enumerated() {
                if index > 0 { json.append(UInt8(ascii: ",")) }
                json.append(UInt8(ascii: "["))
                for (column, value) in row.enumerated() {
                    if column > 0 { json.append(UInt8(ascii: ",")) }
                    switch value {
                    case .null: json += "null".utf8
                    case .integer(let value): json += String(value).utf8
                    case .text(let value): Self.appendQuoted(value, to: &json, escapingFor: .sqlite)
                    }
                }
                json.append(UInt8(ascii: "]"))
            }
            json.append(UInt8(ascii: "]"))
            return [.text(String(decoding: json, as: UTF8.self))]
        }
    }

    /// `"text"` with `"` and `\` escaped by a backslash (a PostgreSQL array element), or as a JSON string (SQLite:
    /// control characters as `\u00XX` too).
    private static let hex = Array("0123456789abcdef".utf8)

    private static func appendQuoted(_ text: String, to output: inout [UInt8], escapingFor dialect: StoreDialect) {
        output.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                output.append(UInt8(ascii: "\\"))
                output.append(byte)
            case 0..<0x20 where dialect == .sqlite:
                output += "\\u00".utf8
                output.append(hex[Int(byte >> 4)])
                output.append(hex[Int(byte & 0xf)])
            default:
                output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}
