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
