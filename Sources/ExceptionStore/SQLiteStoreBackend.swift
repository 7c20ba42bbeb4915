import Egress25System
import Foundation
import GRDB

/// The embedded store's backend: one SQLite file in WAL mode, opened through GRDB (a pool: one writer, concurrent
/// readers). Write transactions are `BEGIN IMMEDIATE`: writers from several processes queue on SQLite's write lock
/// for up to the busy timeout.
final class SQLiteStoreBackend: StoreBackend {
    let path: String
    let database: any DatabaseWriter
    let readOnly: Bool

    init(path: String, database: any DatabaseWriter, readOnly: Bool) {
        self.path = path
        self.database = database
        self.readOnly = readOnly
    }

    var description: String { "SQLite \(path)" }
    var dialect: StoreDialect { .sqlite }

    func read<T>(_ body: (any StoreSQL) throws -> T) throws -> T {
        try database.read { db in try body(GRDBStoreSQL(db: db)) }
    }

    func write<T>(_ body: (any StoreSQL) throws -> T) throws -> T {
        try database.write { db in try body(GRDBStoreSQL(db: db)) }
    }

    /// SQLite has one write lock for everything: the same as ``write(_:)``.
    func writeWithoutPolicyLock<T>(_ body: (any StoreSQL) throws -> T) throws -> T {
        try write(body)
    }

    func storeError(_ error: any Error, operation: String, function: String) -> ExceptionStoreError {
        Self.mapError(error, path: path, operation: operation, function: function)
    }

    /// "cannot OPERATION store PATH: why", from SQLite's result code.
    static func mapError(
        _ error: any Error, path: String, operation: String, function: String
    ) -> ExceptionStoreError {
        if var error = error as? ExceptionStoreError {
            error.operation = function  // thrown by a helper inside the transaction: name the store method
            return error
        }
        func failure(_ code: ExceptionStoreError.Code, _ message: String) -> ExceptionStoreError {
            ExceptionStoreError(code, message, operation: function)
        }
        guard let error = error as? DatabaseError else {
            return failure(.io, "cannot \(operation) store \(path): \(error)")
        }
        let detail = error.message ?? "\(error.resultCode)"
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return failure(
                .locked,
                "cannot \(operation) store \(path): another process held its "
                    + "write lock for longer than the busy timeout (\(detail)); try again")
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_READONLY, .SQLITE_AUTH:
            return failure(
                .io,
                "cannot \(operation) store \(path): \(detail) "
                    + "(check that it exists and that you may write to it and to its directory)")
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            return failure(
                .io,
                "cannot \(operation) store \(path): not a usable SQLite database "
                    + "(\(detail))")
        default:
            return failure(.io, "cannot \(operation) store \(path): \(detail)")
        }
    }
}

/// A GRDB connection inside a transaction. Every statement is cached by its SQL text (prepared once per
/// connection): a bulk session import runs the same few statements for every lease.
struct GRDBStoreSQL: StoreSQL {
    let db: Database

    var dialect: StoreDialect { .sqlite }

    @discardableResult
    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
        let statement = try db.cachedStatement(sql: sql)
        try statement.execute(arguments: Self.arguments(arguments))
        return db.changesCount
    }

    func forEachRow(_ sql: String, _ arguments: [SQLValue], _ body: (SQLRow) throws -> Void) throws {
        let statement = try db.cachedStatement(sql: sql)
        let cursor = try Row.fetchCursor(statement, arguments: Self.arguments(arguments))
        var values: [SQLValue] = []
        while let row = try cursor.next() {
            values.removeAll(keepingCapacity: true)
            for index in 0..<row.count {
                let value: DatabaseValue = row[index]
                switch value.storage {
                case .null: values.append(.null)
                case .int64(let value): values.append(.integer(value))
                case .string(let value): values.append(.text(value))
                case .double(let value): values.append(.integer(Int64(value)))
                case .blob(let value): values.append(.text(String(decoding: value, as: UTF8.self)))
                }
            }
            try body(SQLRow(values))
        }
    }

    static func arguments(_ values: [SQLValue]) -> StatementArguments {
        // The existential form: GRDB's generic initializer maps through a key path, which is costly unspecialized
        // (a bulk write binds thousands of rows).
        StatementArguments(
            values.map { value -> (any DatabaseValueConvertible)? in
                switch value {
                case .null: return nil
                case .integer(let integer): return integer
                case .text(let text): return text
                }
            })
    }
}
