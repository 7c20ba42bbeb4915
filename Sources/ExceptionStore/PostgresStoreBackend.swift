import Egress25System
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The fleet store's backend: one PostgreSQL database (`store.url`), reached over one connection.
///
/// Synchronous, as the store's API is (`egress25ctl` is a synchronous CLI): every call blocks the calling thread on
/// postgres-nio's futures (`MultiThreadedEventLoopGroup.singleton`). Never call it on an event loop thread.
///
/// - The connection is opened by the first transaction, and again by the first transaction after it was closed
///   (a server restart, `pg_terminate_backend`, a network cut). A transaction never continues on a new connection
///   and is never retried once it may have committed: only a `BEGIN` that failed because the old connection had
///   gone is sent again, on a new connection.
/// - Transactions are serialised within a process (one connection behind a lock) and, between processes, writers
///   by a row lock on `store_state` taken first (as SQLite's `BEGIN IMMEDIATE`). Do not start a transaction inside
///   another's body: the lock is not reentrant.
/// - The password is read from ``PostgresLocation/passwordFile`` at each connect, so a rotated password is used by
///   the next connection; a file that others may read is refused, as libpq refuses a loose `.pgpass`.
public final class PostgresStoreBackend: Sendable, CustomStringConvertible {
    /// The database.
    public let location: PostgresLocation
    /// How long a connection attempt (TCP or socket connect, TLS and the login) may take before it fails with
    /// ``ExceptionStoreError/Code/unreachable``, seconds.
    public let connectTimeoutSeconds: Int64
    /// How long a statement waits for a lock held by another transaction (e.g. another writer's row lock on
    /// `store_state`) before failing with ``ExceptionStoreError/Code/locked``, milliseconds (PostgreSQL's
    /// `lock_timeout`; 0: wait forever).
    public let lockTimeoutMilliseconds: Int64

    private let connection: NIOLockedValueBox<PostgresSession?>
    private let logger: Logger

    /// Creates a backend for `location`; connects with the first transaction, not here.
    ///
    /// - Parameters:
    ///   - location: `store.url` and `store.password_file`, parsed (``PostgresLocation/parse(url:passwordFile:)``).
    ///   - connectTimeoutSeconds: See ``connectTimeoutSeconds`` (default 5 s).
    ///   - lockTimeoutMilliseconds: See ``lockTimeoutMilliseconds`` (default 5000 ms, as SQLite's busy timeout).
    public init(location: PostgresLocation, connectTimeoutSeconds: Int64 = 5, lockTimeoutMilliseconds: Int64 = 5000) {
        self.location = location
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.lockTimeoutMilliseconds = lockTimeoutMilliseconds
        self.connection = NIOLockedValueBox(nil)
        self.logger = Logger(label: "egress25.store.postgresql", factory: { _ in SwiftLogNoOpLogHandler() })
    }

    deinit {
        connection.withLockedValue { $0?.closeWithoutWaiting() }
    }

    /// `PostgreSQL USER@HOST:PORT/DB` (or `PostgreSQL USER@/DB (socket DIR)`): never a password.
    public var description: String { "PostgreSQL \(location)" }

    var dialect: StoreDialect { .postgresql }

    /// Where the server is, for messages: `HOST:PORT` or the socket's path.
    var endpoint: String {
        if let socketPath = location.socketPath { return "socket \(socketPath)" }
        let host = location.host ?? ""
        return host.contains(":") ? "[\(host)]:\(location.port)" : "\(host):\(location.port)"
    }

    // MARK: - Transactions

    /// What a transaction may do, and how it begins.
    enum TransactionKind {
        /// `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`: one consistent snapshot.
        case read
        /// `BEGIN`, then the row lock on `store_state` that serialises writers.
        case write
        /// `BEGIN` alone: for the schema's migrations (which take their own advisory lock) and the node's own
        /// row, which need no `store_state` lock (a router may not take it).
        case unlocked
    }

    func read<T>(_ body: (any StoreSQL) throws -> T) throws -> T {
        try transaction(.read, body)
    }

    func write<T>(_ body: (any StoreSQL) throws -> T) throws -> T {
        try transaction(.write, body)
    }

    func writeWithoutPolicyLock<T>(_ body: (any StoreSQL) throws -> T) throws -> T {
        try transaction(.unlocked, body)
    }

    /// Runs `body` in one transaction of `kind`: commits when it returns, rolls back when it throws.
    /// - Throws: What `body` throws; postgres-nio's errors (``storeError(_:operation:function:)`` words them);
    ///   ``CommitOutcomeUnknown`` when the connection was lost while committing.
    @discardableResult
    func transaction<T>(_ kind: TransactionKind, _ body: (any StoreSQL) throws -> T) throws -> T {
        try connection.withLockedValue { connection in
            let sql = try begin(kind, &connection)
            let result: T
            do {
                if kind == .write {
                    try sql.execute("SELECT generation FROM store_state WHERE id = 1 FOR UPDATE", [])
                }
                result = try body(sql)
            } catch {
                rollback(sql, &connection)
                throw error
            }
            let metadata: PostgresQueryMetadata
            do {
                metadata = try sql.run("COMMIT", []).metadata
            } catch let closed as ConnectionClosed where closed.beforeSending {
                connection = nil
                throw closed  // COMMIT was not sent: nothing was applied
            } catch {
                if Self.isConnectionFailure(error) || sql.connection.isClosed {
                    sql.connection.closeWithoutWaiting()
                    connection = nil
                    throw CommitOutcomeUnknown(underlying: error)
                }
                throw error  // the server refused the commit and rolled the transaction back
            }
            if metadata.command == "ROLLBACK" {
                // PostgreSQL answers COMMIT of a failed transaction with ROLLBACK: a statement failed and the body
                // went on past its error.
                throw RolledBackAtCommit()
            }
            return result
        }
    }

    /// Opens the connection if there is none (or it was closed) and sends the `BEGIN` for `kind`. A `BEGIN` that
    /// fails because the connection had gone (the server closed it between transactions) is sent once more, on a
    /// new connection: nothing of the transaction ran yet.
    private func begin(_ kind: TransactionKind, _ connection: inout PostgresSession?) throws -> PostgresSQL {
        let statement =
            switch kind {
            case .read: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
            case .write, .unlocked: "BEGIN"
            }
        var attempt = 0
        while true {
            attempt += 1
            if let open = connection, open.isClosed {
                connection = nil
            }
            let current: PostgresSession
            if let open = connection {
                current = open
            } else {
                current = try connect()
                connection = current
            }
            let sql = PostgresSQL(connection: current, logger: logger)
            do {
                try sql.execute(statement, [])
                return sql
            } catch {
                guard attempt == 1, Self.isConnectionFailure(error) || current.isClosed else { throw error }
                current.closeWithoutWaiting()
                connection = nil
            }
        }
    }

    /// Rolls back after `body` threw; drops the connection when even that fails (it is gone, or in a state no
    /// later transaction should inherit).
    private func rollback(_ sql: PostgresSQL, _ connection: inout PostgresSession?) {
        if sql.connection.isClosed {
            connection = nil
            return
        }
        do {
            try sql.execute("ROLLBACK", [])
        } catch {
            sql.connection.closeWithoutWaiting()
            connection = nil
        }
    }

    /// The time of one `SELECT 1` on the connection (opened first if needed; the connect is not timed), for
    /// `egress25ctl store status`.
    /// - Returns: The round trip's duration.
    /// - Throws: ``ExceptionStoreError`` (`unreachable`, `authentication`, `tls`, `notFound`, `connectionLost`, ...).
    public func roundTrip() throws(ExceptionStoreError) -> Duration {
        do {
            return try connection.withLockedValue { connection in
                if let open = connection, open.isClosed { connection = nil }
                let current = try connection ?? connect()
                connection = current
                let sql = PostgresSQL(connection: current, logger: logger)
                let clock = ContinuousClock()
                let start = clock.now
                do {
                    try sql.execute("SELECT 1", [])
                } catch {
                    if Self.isConnectionFailure(error) || current.isClosed { connection = nil }
                    throw error
                }
                return clock.now - start
            }
        } catch {
            throw storeError(error, operation: "reach", function: #function)
        }
    }

    /// Runs one statement outside any transaction (`CREATE DATABASE`, `DROP DATABASE` cannot run inside one):
    /// for set-up tooling and the tests, never for the store's data.
    /// - Throws: postgres-nio's error (``storeError(_:operation:function:)`` words it).
    func executeOutsideTransaction(_ statement: String) throws {
        try connection.withLockedValue { connection in
            if let open = connection, open.isClosed { connection = nil }
            let current = try connection ?? connect()
            connection = current
            do {
                try PostgresSQL(connection: current, logger: logger).execute(statement, [])
            } catch {
                if Self.isConnectionFailure(error) || current.isClosed { connection = nil }
                throw error
            }
        }
    }

    /// Closes the connection (waiting for the server to see it go); the next transaction opens a new one.
    public func close() {
        let open = connection.withLockedValue { connection in
            defer { connection = nil }
            return connection
        }
        try? open?.connection.close().wait()
    }

    // MARK: - Notifications

    /// Opens a connection of its own that `LISTEN`s on `channel` and calls `ring` for each notification (on an
    /// event-loop thread: keep it short). The connection stays open until ``StoreDoorbell/close()`` or until it is
    /// lost (``StoreDoorbell/isOpen`` turns false; open a new one).
    /// - Throws: ``ExceptionStoreError`` as a connect does (`unreachable`, `authentication`, `tls`, ...).
    func listen(channel: String, _ ring: @escaping @Sendable () -> Void) throws(ExceptionStoreError) -> StoreDoorbell {
        do {
            let session = try connect()
            session.connection.addListener(channel: channel) { _, _ in ring() }
            return StoreDoorbell(session: session)
        } catch {
            throw storeError(error, operation: "listen on", function: #function)
        }
    }

    // MARK: - Connecting

    private static let connectionIDs = NIOLockedValueBox(0)

    /// Opens and authenticates one connection to ``location``.
    /// - Throws: ``ExceptionStoreError`` for a password file that cannot be used or TLS that cannot be set up;
    ///   ``ConnectFailure`` for what postgres-nio reports.
    private func connect() throws -> PostgresSession {
        let password = try location.passwordFile.map(Self.readPassword(file:))
        var configuration: PostgresConnection.Configuration
        if let socketPath = location.socketPath {
            configuration = .init(
                unixSocketPath: socketPath, username: location.user, password: password, database: location.database)
        } else {
            let host = location.host ?? "localhost"
            configuration = .init(
                host: host, port: location.port, username: location.user, password: password,
                database: location.database, tls: try tls())
            if location.sslMode == .verifyFull && !Self.isIPAddress(host) {
                configuration.options.tlsServerName = host
            }
        }
        configuration.options.connectTimeout = .seconds(connectTimeoutSeconds)
        configuration.options.additionalStartupParameters = [
            ("application_name", "egress25"),
            ("lock_timeout", "\(lockTimeoutMilliseconds)"),
        ]
        let id = Self.connectionIDs.withLockedValue { id in
            id += 1
            return id
        }
        do {
            return PostgresSession(
                try PostgresConnection.connect(
                    on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: id,
                    logger: logger
                ).wait())
        } catch {
            throw ConnectFailure(underlying: error)
        }
    }

    /// The TLS mode for TCP, as libpq's `sslmode` means it.
    private func tls() throws(ExceptionStoreError) -> PostgresConnection.Configuration.TLS {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch location.sslMode {
        case .disable:
            return .disable
        case .prefer, .require:
            configuration.certificateVerification = .none
        case .verifyCA:
            configuration.certificateVerification = .noHostnameVerification
        case .verifyFull:
            configuration.certificateVerification = .fullVerification
        }
        if let roots = location.sslRootCertificate {
            configuration.trustRoots = .file(roots)
        }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            let roots = location.sslRootCertificate.map { " (sslrootcert=\($0))" } ?? ""
            throw ExceptionStoreError(
                .tls, "cannot set up TLS for store \(description)\(roots): \(Self.oneLine("\(error)"))")
        }
        return location.sslMode == .prefer ? .prefer(context) : .require(context)
    }

    /// The first line of `file` (its trailing newline, and a carriage return, stripped).
    /// - Throws: ``ExceptionStoreError`` (`io`) when the file cannot be read, is empty, or may be read or written by
    ///   others (mode & 0o007), as libpq refuses such a `.pgpass`.
    static func readPassword(file: String) throws(ExceptionStoreError) -> String {
        var info = stat()
        guard stat(file, &info) == 0 else {
            throw ExceptionStoreError(
                .io, "cannot read store.password_file \(file): \(SystemCallError.describe(errno))")
        }
        let mode = info.st_mode & 0o777
        if mode & 0o007 != 0 {
            throw ExceptionStoreError(
                .io,
                "store.password_file \(file) has mode 0\(String(mode, radix: 8)): others may read it; "
                    + "make it 0600 or 0640 (chmod o-rwx), as libpq refuses such a .pgpass")
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ExceptionStoreError(
                .io, "cannot read store.password_file \(file): \(SystemCallError.describe(errno))")
        }
        var line = Substring(String(decoding: data, as: UTF8.self))
        if let newline = line.firstIndex(of: "\n") { line = line[..<newline] }
        if line.hasSuffix("\r") { line = line.dropLast() }
        guard !line.isEmpty else {
            throw ExceptionStoreError(.io, "store.password_file \(file) is empty: its first line is the password")
        }
        return String(line)
    }

    private static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }

    // MARK: - Errors

    /// The connection could not be opened (what postgres-nio said is in `underlying`).
    struct ConnectFailure: Error {
        var underlying: any Error
    }

    /// The connection was lost after `COMMIT` was sent and before its answer came: the change may have been
    /// applied.
    struct CommitOutcomeUnknown: Error {
        var underlying: any Error
    }

    /// The connection had closed: before the statement was sent (`beforeSending`), or without answering it.
    struct ConnectionClosed: Error, CustomStringConvertible {
        var beforeSending: Bool
        var description: String { "the connection was closed" }
    }

    /// `COMMIT` answered `ROLLBACK`: a statement of the transaction had failed.
    struct RolledBackAtCommit: Error {}

    /// A column of a type the store does not read (only integers, booleans and text).
    struct UnsupportedColumnType: Error, CustomStringConvertible {
        var column: Int
        var name: String
        var type: PostgresDataType

        var description: String {
            let typeName = type.knownSQLName?.lowercased() ?? "oid \(type.rawValue)"
            return "column \(column + 1) (\(name)) has PostgreSQL type \(typeName), which the store does not read "
                + "(only bigint, integer, smallint, boolean and text; CAST it AS BIGINT or TEXT)"
        }
    }

    /// Whether `error` means the connection is gone (closed by either side, reset, or the server shutting down).
    static func isConnectionFailure(_ error: any Error) -> Bool {
        if error is ConnectionClosed { return true }
        guard let error = error as? PSQLError else { return error is ChannelError || error is IOError }
        switch error.code {
        case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown:
            return true
        case .server:
            let state = error.serverInfo?[.sqlState] ?? ""
            return state.hasPrefix("57P") || state.hasPrefix("08")
        default:
            return false
        }
    }

    /// Maps an error a transaction threw to one line: "cannot OPERATION store PostgreSQL USER@HOST:PORT/DB: why".
    /// Never contains a password (postgres-nio's errors carry none; the query text is not shown).
    func storeError(_ error: any Error, operation: String, function: String) -> ExceptionStoreError {
        if var error = error as? ExceptionStoreError {
            error.operation = function
            return error
        }
        func failure(_ code: ExceptionStoreError.Code, _ why: String) -> ExceptionStoreError {
            ExceptionStoreError(code, "cannot \(operation) store \(description): \(why)", operation: function)
        }
        switch error {
        case let failed as ConnectFailure:
            return connectError(failed.underlying, failure)
        case let failed as CommitOutcomeUnknown:
            return failure(
                .connectionLost,
                "the connection to \(endpoint) was lost while committing "
                    + "(\(Self.describe(failed.underlying))): the change may or may not have been applied; "
                    + "check with `egress25ctl audit` before repeating it")
        case is RolledBackAtCommit:
            return failure(.io, "a statement of the transaction failed and the server rolled it back: nothing applied")
        case let failed as UnsupportedColumnType:
            return failure(.io, "\(failed)")
        case let failed as StoreRowError:
            return failure(.io, "a row does not hold what egress25 wrote: \(failed)")
        case let failed as PSQLError where failed.code == .server:
            return serverError(failed, failure)
        default:
            if Self.isConnectionFailure(error) {
                return failure(
                    .connectionLost,
                    "the connection to \(endpoint) was lost during the transaction (\(Self.describe(error))): "
                        + "nothing was applied")
            }
            return failure(.io, Self.describe(error))
        }
    }

    /// A failure to connect: unreachable, TLS, or the server refusing the login.
    private func connectError(
        _ error: any Error, _ failure: (ExceptionStoreError.Code, String) -> ExceptionStoreError
    ) -> ExceptionStoreError {
        let tlsHost = location.host ?? endpoint
        if let tlsError = Self.tlsError(in: error) {
            return failure(.tls, "TLS verification of \(tlsHost) failed: \(tlsError)")
        }
        guard let error = error as? PSQLError else {
            return failure(.unreachable, "cannot reach \(endpoint): \(Self.describe(error))")
        }
        switch error.code {
        case .server:
            return serverError(error, failure)
        case .sslUnsupported:
            return failure(
                .tls,
                "TLS verification of \(tlsHost) failed: the server at \(endpoint) does not offer TLS, "
                    + "which sslmode=\(location.sslMode.rawValue) requires")
        case .failedToAddSSLHandler:
            return failure(.tls, "cannot start TLS with \(tlsHost): \(Self.describe(error.underlying ?? error))")
        case .authMechanismRequiresPassword:
            return failure(
                .authentication,
                "the server asks role \(location.user) for a password and store.password_file "
                    + (location.passwordFile == nil ? "is not set" : "gave none"))
        case .unsupportedAuthMechanism, .saslError:
            return failure(
                .authentication, "the login of role \(location.user) failed: \(Self.describe(error))")
        default:
            return failure(.unreachable, "cannot reach \(endpoint): \(Self.describe(error.underlying ?? error))")
        }
    }

    /// An error the server sent (ErrorResponse), by its SQLSTATE.
    private func serverError(
        _ error: PSQLError, _ failure: (ExceptionStoreError.Code, String) -> ExceptionStoreError
    ) -> ExceptionStoreError {
        let state = error.serverInfo?[.sqlState] ?? ""
        let message = Self.oneLine(error.serverInfo?[.message] ?? "\(error.code)")
        switch state {
        case "28P01":
            let check = location.passwordFile.map { "check the password in \($0)" } ?? "store.password_file is not set"
            return failure(.authentication, "password authentication failed for role \(location.user) (\(check))")
        case "28000":
            return failure(.authentication, "the server refused the login: \(message)")
        case "3D000":
            return failure(.notFound, "\(message) on \(endpoint)")
        case "42501":
            return failure(
                .permissionDenied,
                "role \(location.user) may not do this (\(message)); "
                    + "a router's credentials cannot change policy: use the admin role's")
        case "42P01", "42703":
            return failure(
                .olderSchema,
                "\(message): the database has no egress25 schema or an older one; run `egress25ctl store migrate`")
        case "55P03", "40001", "40P01":
            return failure(.locked, "\(message); nothing was written, try again")
        case "57P03":
            return failure(.unreachable, "the server at \(endpoint) is not accepting connections: \(message)")
        default:
            if state.hasPrefix("57P") || state.hasPrefix("08") {
                return failure(
                    .connectionLost,
                    "the connection to \(endpoint) was lost during the transaction (\(message)): nothing was applied")
            }
            if state.hasPrefix("53") {
                return failure(.io, "the server at \(endpoint) is out of resources: \(message)")
            }
            let detail = error.serverInfo?[.detail].map { " (\(Self.oneLine($0)))" } ?? ""
            return failure(.io, message + detail)
        }
    }

    /// The TLS error in `error` or its underlying errors, worded for one line; `nil` when there is none.
    private static func tlsError(in error: any Error) -> String? {
        switch error {
        case let error as NIOSSLError:
            if case .handshakeFailed(let reason) = error { return oneLine("the handshake failed: \(reason)") }
            return oneLine("\(error)")
        case let error as NIOSSLExtraError:
            return oneLine("\(error)")
        case let error as BoringSSLError:
            return oneLine("\(error)")
        case let error as PSQLError:
            return error.underlying.flatMap { tlsError(in: $0) }
        default:
            return nil
        }
    }

    /// An error without postgres-nio's query dump: the underlying reason, on one line.
    private static func describe(_ error: any Error) -> String {
        switch error {
        case let error as PSQLError:
            if let message = error.serverInfo?[.message] { return oneLine(message) }
            if let underlying = error.underlying { return describe(underlying) }
            switch error.code {
            case .serverClosedConnection: return "the server closed the connection"
            case .clientClosedConnection: return "the connection was closed"
            case .uncleanShutdown: return "the connection was cut"
            default: return "\(error.code)"
            }
        case let error as NIOConnectionError:
            if let first = error.connectionErrors.first { return describe(first.error) }
            if error.dnsAError != nil || error.dnsAAAAError != nil {
                return "cannot resolve the host name \(error.host)"
            }
            return "no address for \(error.host)"
        case let error as IOError:
            return SystemCallError.describe(error.errnoCode)
        case let error as ChannelError:
            if case .connectTimeout(let amount) = error {
                return "timed out after \(amount.nanoseconds / 1_000_000_000) s"
            }
            return oneLine("\(error)")
        default:
            return oneLine("\(error)")
        }
    }

    private static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}

extension PostgresStoreBackend: StoreBackend {}

/// One open connection, and the promise of the statement in flight on it, failed when the connection closes:
/// postgres-nio (1.33) never completes a query written to a connection that has closed meanwhile.
final class PostgresSession: Sendable {
    let connection: PostgresConnection
    private let inFlight = NIOLockedValueBox<EventLoopPromise<PostgresQueryResult>?>(nil)

    init(_ connection: PostgresConnection) {
        self.connection = connection
        connection.closeFuture.whenComplete { [inFlight] _ in
            inFlight.withLockedValue { promise in
                promise?.fail(PostgresStoreBackend.ConnectionClosed(beforeSending: false))
                promise = nil
            }
        }
    }

    var isClosed: Bool { connection.isClosed }

    /// Runs `query` and waits for all of its rows.
    /// - Throws: postgres-nio's error; ``PostgresStoreBackend/ConnectionClosed`` when the connection had closed
    ///   before the statement was sent (`beforeSending`) or closed without answering it.
    func query(_ query: PostgresQuery, logger: Logger) throws -> PostgresQueryResult {
        if connection.isClosed { throw PostgresStoreBackend.ConnectionClosed(beforeSending: true) }
        let promise = connection.eventLoop.makePromise(of: PostgresQueryResult.self)
        inFlight.withLockedValue { $0 = promise }
        defer { inFlight.withLockedValue { $0 = nil } }
        if connection.isClosed {  // closed before the promise was registered: its close callback has run
            promise.fail(PostgresStoreBackend.ConnectionClosed(beforeSending: true))
        } else {
            connection.query(query, logger: logger).cascade(to: promise)
        }
        return try promise.futureResult.wait()
    }

    /// Closes without waiting for the server to see it.
    func closeWithoutWaiting() {
        let connection = self.connection
        let closed: EventLoopFuture<Void> = connection.close()
        // The connection must outlive its close (postgres-nio asserts that a connection is closed when it is
        // freed): the callback holds it until then.
        closed.whenComplete { _ in withExtendedLifetime(connection) {} }
    }
}

// MARK: - Statements

/// One transaction's statements on one connection: numbers the `?` placeholders, binds ``SQLValue``s and decodes
/// rows into ``SQLRow``s.
struct PostgresSQL: StoreSQL {
    let connection: PostgresSession
    let logger: Logger

    var dialect: StoreDialect { .postgresql }

    @discardableResult
    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
        try run(sql, arguments).metadata.rows ?? 0
    }

    func forEachRow(_ sql: String, _ arguments: [SQLValue], _ body: (SQLRow) throws -> Void) throws {
        for row in try run(sql, arguments) {
            try body(try Self.decode(row))
        }
    }

    /// `COPY table (columns) FROM STDIN` with `text` in PostgreSQL's text format (tab-separated, `\N` for NULL,
    /// one line per row), inside the current transaction. postgres-nio's COPY is asynchronous: it runs as a task on
    /// ``CopyExecutor``'s own thread while the calling thread waits, so it never waits for (or holds) a thread of
    /// Swift concurrency's pool, which may be busy or be the caller's.
    /// - Throws: postgres-nio's error (a malformed line, a constraint, a lost connection).
    func copy(table: String, columns: [String], text: String) throws {
        let done = DispatchSemaphore(value: 0)
        let outcome = NIOLockedValueBox<(any Error)?>(nil)
        let connection = self.connection.connection
        let logger = self.logger
        Task(executorPreference: CopyExecutor.shared) {
            do {
                try await connection.copyFrom(table: table, columns: columns, logger: logger) { writer in
                    try await writer.write(ByteBuffer(string: text))
                }
            } catch {
                outcome.withLockedValue { $0 = error }
            }
            done.signal()
        }
        done.wait()
        if let error = outcome.withLockedValue({ $0 }) { throw error }
    }

    /// Runs one statement with `?` placeholders and collects its rows.
    func run(_ sql: String, _ arguments: [SQLValue]) throws -> PostgresQueryResult {
        var binds = PostgresBindings(capacity: arguments.count)
        for argument in arguments {
            switch argument {
            case .null: binds.appendNull()
            case .integer(let value): binds.append(value)
            case .text(let value): binds.append(value)
            }
        }
        let query = PostgresQuery(unsafeSQL: PostgresPlaceholders.numbered(sql), binds: binds)
        return try connection.query(query, logger: logger)
    }

    /// A row's cells as ``SQLValue``s: the integer types and booleans (0/1) as `.integer`, the text types as
    /// `.text`, NULL as `.null`.
    /// - Throws: ``PostgresStoreBackend/UnsupportedColumnType`` for any other type.
    static func decode(_ row: PostgresRow) throws -> SQLRow {
        var values: [SQLValue] = []
        for cell in row {
            guard cell.bytes != nil else {
                values.append(.null)
                continue
            }
            switch cell.dataType {
            case .int8: values.append(.integer(try cell.decode(Int64.self)))
            case .int4: values.append(.integer(Int64(try cell.decode(Int32.self))))
            case .int2: values.append(.integer(Int64(try cell.decode(Int16.self))))
            case .bool: values.append(.integer(try cell.decode(Bool.self) ? 1 : 0))
            case .text, .varchar, .bpchar, .name: values.append(.text(try cell.decode(String.self)))
            default:
                throw PostgresStoreBackend.UnsupportedColumnType(
                    column: cell.columnIndex, name: cell.columnName, type: cell.dataType)
            }
        }
        return SQLRow(values)
    }
}

/// The store's SQL uses `?` placeholders (as SQLite); PostgreSQL wants `$1`, `$2`, ...
enum PostgresPlaceholders {
    private static let cache = NIOLockedValueBox<[String: String]>([:])
    /// More distinct statements than the store has: a cache this full is emptied rather than grown.
    private static let cacheLimit = 4096

    /// `sql` with each `?` outside string literals (`'...'`, `''` escaping a quote), quoted identifiers
    /// (`"..."`) and comments (`-- ...`, `/* ... */`) replaced by `$1`, `$2`, ... in order. Cached per string.
    static func numbered(_ sql: String) -> String {
        if let cached = cache.withLockedValue({ $0[sql] }) { return cached }
        let rewritten = rewrite(sql)
        cache.withLockedValue { cache in
            if cache.count >= cacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[sql] = rewritten
        }
        return rewritten
    }

    /// ``numbered(_:)`` without the cache.
    static func rewrite(_ sql: String) -> String {
        enum State { case code, literal, identifier, lineComment, blockComment }
        var state = State.code
        var output = ""
        output.reserveCapacity(sql.utf8.count + 8)
        var number = 0
        var previous: Character = " "
        for character in sql {
            switch state {
            case .code:
                switch character {
                case "?":
                    number += 1
                    output += "$\(number)"
                    previous = " "
                    continue
                case "'": state = .literal
                case "\"": state = .identifier
                case "-" where previous == "-": state = .lineComment
                case "*" where previous == "/":
                    state = .blockComment
                    output.append(character)
                    previous = " "  // "/*/" does not end the comment
                    continue
                default: break
                }
            case .literal:
                if character == "'" { state = .code }  // '' (an escaped quote) leaves and re-enters
            case .identifier:
                if character == "\"" { state = .code }
            case .lineComment:
                if character == "\n" { state = .code }
            case .blockComment:
                if character == "/" && previous == "*" {
                    state = .code
                    output.append(character)
                    previous = " "
                    continue
                }
            }
            output.append(character)
            previous = character
        }
        return output
    }
}

/// One thread that runs the store's asynchronous COPY tasks (``PostgresSQL/copy(table:columns:text:)``), so that a
/// synchronous caller never depends on a free thread of Swift concurrency's pool (two on a two-core router).
final class CopyExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = CopyExecutor()

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    private init() {
        let thread = Thread { [self] in self.run() }
        thread.name = "store-copy"
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }
}

/// A `LISTEN` on a connection of its own (``ExceptionStore/policyDoorbell(_:)``): rings when the fleet store's
/// change log grows, so routers apply a change at once instead of at their next poll.
public final class StoreDoorbell: Sendable {
    private let session: PostgresSession

    init(session: PostgresSession) { self.session = session }

    /// False once the connection was lost: open a new doorbell.
    public var isOpen: Bool { !session.isClosed }

    /// Closes the connection (without waiting for the server).
    public func close() { session.closeWithoutWaiting() }

    deinit { session.closeWithoutWaiting() }
}
