import Egress25Core
import GRDB
import GRDBSQLite

/// A prepared SQLite statement driven through the C API, for the writer's and reader's inner loops where
/// GRDB's `StatementArguments` would allocate per row. Created and used inside a GRDB database access on
/// that database's connection; ``finalize()`` it before the connection closes.
final class RawStatement {
    private var handle: OpaquePointer?
    private let connection: OpaquePointer
    let sql: String

    /// SQLite's `SQLITE_TRANSIENT`: SQLite copies bound blobs and texts before `bind` returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    init(_ db: Database, sql: String) throws {
        guard let connection = db.sqliteConnection else {
            throw BlockLogError(.sqlite, "database connection is closed")
        }
        self.connection = connection
        self.sql = sql
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(connection, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else {
            throw BlockLogError(.sqlite, "cannot prepare \(sql): \(String(cString: sqlite3_errmsg(connection)))")
        }
        handle = statement
    }

    deinit { finalize() }

    func finalize() {
        if let handle { sqlite3_finalize(handle) }
        handle = nil
    }

    func bind(_ index: Int32, _ value: Int64) {
        sqlite3_bind_int64(handle, index, value)
    }

    func bind(_ index: Int32, blob: [UInt8]) {
        blob.withUnsafeBytes { buffer in
            _ = sqlite3_bind_blob(handle, index, buffer.baseAddress, Int32(buffer.count), RawStatement.transient)
        }
    }

    func bind(_ index: Int32, text: String?) {
        guard let text else {
            sqlite3_bind_null(handle, index)
            return
        }
        _ = sqlite3_bind_text(handle, index, text, -1, RawStatement.transient)
    }

    /// Steps once. - Returns: `true` when a row is available, `false` when done.
    /// - Throws: ``BlockLogError`` with SQLite's message.
    func step() throws -> Bool {
        let code = sqlite3_step(handle)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let message = String(cString: sqlite3_errmsg(connection))
            sqlite3_reset(handle)
            throw BlockLogError(.sqlite, "\(message) (SQLite code \(code))")
        }
    }

    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    func text(_ column: Int32) -> String? {
        guard let pointer = sqlite3_column_text(handle, column) else { return nil }
        return String(cString: pointer)
    }

    func packedAddress(_ column: Int32) -> PackedAddress? {
        guard let pointer = sqlite3_column_blob(handle, column) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, column))
        return PackedAddress(encoded: UnsafeRawBufferPointer(start: pointer, count: count))
    }

    func address(_ column: Int32) -> IPAddress? {
        guard let pointer = sqlite3_column_blob(handle, column) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, column))
        return AddressCoding.decode(UnsafeRawBufferPointer(start: pointer, count: count))
    }
}
