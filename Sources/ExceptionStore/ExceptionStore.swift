import Egress25Core
import Egress25System
import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The persistent store of customers, their address bindings, per-customer exceptions and the audit log: one
/// SQLite file (`<state_directory>/exceptions.sqlite`) in WAL mode, opened through GRDB (one router), or the fleet's
/// PostgreSQL database (`store.url`), with the same logic and the same SQL on both (``StoreSQL``).
///
/// - Every change runs in one write transaction together with its audit entries, after its input was validated:
///   a call that throws wrote nothing.
/// - Writers are serialised: on SQLite they queue on the write lock for up to the busy timeout (5 s by default),
///   on PostgreSQL on a row lock of `store_state`; readers see either all of a change or none of it.
/// - The daemon reads ``policyInputs(now:)`` (one read transaction) and polls ``changeToken()``.
///
/// Times are UTC seconds (`Int64`). Every method that changes something takes the actor (who) and `now`
/// (defaulting to the clock) so tests and imports can be exact.
public final class ExceptionStore: Sendable {
    /// How ``init(path:mode:busyTimeoutSeconds:)`` opens the file.
    public enum OpenMode: Hashable, Sendable {
        /// Create the directory (mode 0750) and the file (mode 0640) when missing, then migrate.
        case create
        /// Open an existing store and migrate it; a missing file throws ``ExceptionStoreError/Code/notFound``.
        case readWrite
        /// Open an existing store for reading only; never migrates (an older schema throws
        /// ``ExceptionStoreError/Code/olderSchema``). The directory must allow creating the `-shm` file, or the
        /// `-wal`/`-shm` files must exist (SQLite WAL readers need the shared-memory index).
        case readOnly
    }

    /// The database file, or for PostgreSQL the database's description (`USER@HOST:PORT/DB`): for messages.
    public let path: String
    /// The open mode.
    public let mode: OpenMode
    /// The operating-system user recorded in every audit entry this store writes.
    public let identity: OperatingSystemIdentity
    /// Where the transactions run.
    let backend: any StoreBackend

    /// Which database holds the store.
    public var dialect: StoreDialect { backend.dialect }

    /// The backend and where it is, e.g. `SQLite /var/lib/egress25/exceptions.sqlite`.
    public var backendDescription: String { backend.description }

    /// Exceptions that expired within this many seconds before `now` (30 days) are still handed to the policy,
    /// so `decide()` can say "exception X expired" rather than "no exception".
    static let recentlyExpiredWindowSeconds: Int64 = 30 * 86400

    /// Opens (and by default creates and migrates) the store at `path`.
    ///
    /// - Parameters:
    ///   - path: The SQLite file, normally `<state_directory>/exceptions.sqlite`.
    ///   - mode: See ``OpenMode``.
    ///   - busyTimeoutSeconds: How long a write waits for another process's write lock before
    ///     ``ExceptionStoreError/Code/locked`` (seconds).
    ///   - identity: The operating-system user recorded in audit entries; default: this process's
    ///     (``OperatingSystemIdentity/current()``).
    /// - Throws: ``ExceptionStoreError`` with code `notFound`, `newerSchema`, `olderSchema`, `locked` or `io`.
    public init(
        path: String, mode: OpenMode = .create, busyTimeoutSeconds: Double = 5,
        identity: OperatingSystemIdentity = .current()
    ) throws(ExceptionStoreError) {
        self.path = path
        self.mode = mode
        self.identity = identity
        let exists = try Self.storeExists(at: path)
        switch mode {
        case .create:
            if !exists { try Self.createFile(at: path) }
        case .readWrite, .readOnly:
            if !exists {
                throw ExceptionStoreError(
                    .notFound,
                    "no exception store at \(path) (it is created by the first "
                        + "`egress25ctl customer add`)")
            }
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeoutSeconds)
        configuration.readonly = mode == .readOnly
        configuration.foreignKeysEnabled = true
        configuration.label = "egress25.exceptions"
        configuration.prepareDatabase { db in
            // 32 MiB page cache per connection (SQLite's default is 2 MiB): the policy rebuild reads every binding
            // in force, and bulk imports update several indexes per lease.
            try db.execute(sql: "PRAGMA cache_size = -32768")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw SQLiteStoreBackend.mapError(error, path: path, operation: "open", function: #function)
        }
        self.backend = SQLiteStoreBackend(path: path, database: pool, readOnly: mode == .readOnly)
        try checkSchema(pool)
    }

    /// A store on an open backend whose schema was checked (the fleet's PostgreSQL).
    init(backend: any StoreBackend, path: String, mode: OpenMode, identity: OperatingSystemIdentity) {
        self.backend = backend
        self.path = path
        self.mode = mode
        self.identity = identity
    }

    /// An empty, migrated store in memory: for read commands when no store file exists yet.
    /// - Throws: ``ExceptionStoreError`` (`io`).
    public static func inMemory() throws(ExceptionStoreError) -> ExceptionStore {
        try ExceptionStore(inMemory: ())
    }

    private init(inMemory: ()) throws(ExceptionStoreError) {
        self.path = ":memory:"
        self.mode = .create
        self.identity = OperatingSystemIdentity.current()
        do {
            let queue = try DatabaseQueue()
            try Self.migrator.migrate(queue)
            self.backend = SQLiteStoreBackend(path: ":memory:", database: queue, readOnly: false)
        } catch {
            throw SQLiteStoreBackend.mapError(error, path: ":memory:", operation: "open", function: #function)
        }
    }

    /// Whether a store file exists at `path`, telling "missing" apart from "not allowed to look".
    /// - Throws: ``ExceptionStoreError`` (`io`) when `path` or its directory cannot be examined (e.g. `EACCES`:
    ///   the store may well exist, but this user may not read it).
    public static func storeExists(at path: String) throws(ExceptionStoreError) -> Bool {
        var info = stat()
        if stat(path, &info) == 0 { return true }
        let code = errno
        if code == ENOENT { return false }
        throw ExceptionStoreError(
            .io,
            "cannot access store \(path): \(SystemCallError.describe(code))"
                + (code == EACCES ? " (run as the store's owner or a member of its group)" : ""))
    }

    /// Refuses stores written by a newer schema; migrates older ones unless read-only. The store's schema is
    /// what the migrator recorded in `grdb_migrations` (see ``schemaVersion``); `PRAGMA user_version` is not read.
    private func checkSchema(_ database: any DatabaseWriter) throws(ExceptionStoreError) {
        let version: Int
        let superseded: Bool
        let complete: Bool
        do {
            (version, superseded, complete) = try database.read { db in
                (
                    try Self.schemaVersion(of: db), try Self.migrator.hasBeenSuperseded(db),
                    try Self.migrator.hasCompletedMigrations(db)
                )
            }
        } catch {
            throw SQLiteStoreBackend.mapError(
                error, path: path, operation: "read the schema version of", function: #function)
        }
        if superseded {
            throw ExceptionStoreError(
                .newerSchema,
                "store \(path) was written by a newer egress25 (schema "
                    + "\(max(version, Self.schemaVersion + 1)) > \(Self.schemaVersion)); upgrade egress25ctl")
        }
        if complete { return }
        if mode == .readOnly {
            throw ExceptionStoreError(
                .olderSchema,
                "store \(path) has schema \(version) < \(Self.schemaVersion) "
                    + "and is opened read-only; run an egress25ctl write command (as the store's owner) to migrate it")
        }
        do {
            try Self.migrator.migrate(database)
        } catch {
            // Another process may have applied the same migration between our check and our transaction
            // (GRDB checks applied migrations outside the migration's transaction): fine if it is complete now.
            let completeNow = (try? database.read { db in try Self.migrator.hasCompletedMigrations(db) }) ?? false
            if !completeNow {
                throw SQLiteStoreBackend.mapError(error, path: path, operation: "migrate", function: #function)
            }
        }
    }

    /// Creates the parent directory (0750) and an empty database file (0640, owned by the directory's owner
    /// when created by root). SQLite gives the `-wal` and `-shm` files the mode (and, as root, the owner) of the
    /// database file.
    private static func createFile(at path: String) throws(ExceptionStoreError) {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty && !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
            } catch {
                throw ExceptionStoreError(
                    .io,
                    "cannot create the state directory \(directory): "
                        + "\((error as NSError).localizedDescription)")
            }
        }
        let descriptor = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o640)
        if descriptor < 0 {
            let code = errno
            if code == EEXIST { return }  // created concurrently by another process
            throw ExceptionStoreError(.io, "cannot create \(path): \(SystemCallError.describe(code))")
        }
        _ = fchmod(descriptor, 0o640)
        // Created by root (`sudo egress25ctl customer add` before egress25d ever ran): give the file to the state
        // directory's owner and group (egress25:egress25), so the daemon, running as that user, can open it. SQLite
        // does the same for the -wal and -shm files it creates as root.
        var directoryInfo = stat()
        if geteuid() == 0, stat(directory.isEmpty ? "." : directory, &directoryInfo) == 0 {
            if fchown(descriptor, directoryInfo.st_uid, directoryInfo.st_gid) != 0 {
                let code = errno
                close(descriptor)
                unlink(path)
                throw ExceptionStoreError(
                    .io, "cannot give \(path) to the owner of \(directory): \(SystemCallError.describe(code))")
            }
        }
        close(descriptor)
    }

    // MARK: - Transactions

    /// Runs `body` in one write transaction (rolled back when it throws). `operation` words the messages ("cannot
    /// OPERATION store PATH"); an error names `function`, the store method, as its operation.
    ///
    /// `policyLock: false` skips the writers' serialisation (PostgreSQL's `store_state` row lock), for writes that
    /// touch no policy table (a router's `node` row): the router role may not take that lock.
    func write<T>(
        _ operation: String, function: String = #function, policyLock: Bool = true,
        _ body: (any StoreSQL) throws -> T
    ) throws(ExceptionStoreError) -> T {
        if mode == .readOnly {
            throw ExceptionStoreError(
                .io, "cannot \(operation) store \(path): it is open read-only", operation: function)
        }
        do {
            return try policyLock ? backend.write(body) : backend.writeWithoutPolicyLock(body)
        } catch {
            throw backend.storeError(error, operation: operation, function: function)
        }
    }

    /// Runs `body` in one read transaction (one consistent state); as ``write(_:function:_:)``.
    func read<T>(
        _ operation: String, function: String = #function, _ body: (any StoreSQL) throws -> T
    ) throws(ExceptionStoreError) -> T {
        do {
            return try backend.read(body)
        } catch {
            throw backend.storeError(error, operation: operation, function: function)
        }
    }

    /// This store, recording `identity` in the audit entries of the changes made through the returned value (same
    /// connection, same transactions): egress25-admin passes each request's token role this way.
    public func recording(_ identity: OperatingSystemIdentity) -> ExceptionStore {
        ExceptionStore(backend: backend, path: path, mode: mode, identity: identity)
    }

    // MARK: - Change detection

    /// A number that grows with every change committed by any process (each audit entry bumps it in the same
    /// transaction). Cheap: one indexed single-row read; poll it (e.g. every 250 ms) and rebuild the policy
    /// snapshot when it differs from the last value seen.
    ///
    /// Expiry needs no change: ``policyInputs(now:)`` hands out expiry times and the policy judges by the clock.
    /// - Throws: ``ExceptionStoreError`` (`io`).
    public func changeToken() throws(ExceptionStoreError) -> Int64 {
        try read("read the change token of") { db in
            try db.firstRow("SELECT generation FROM store_state WHERE id = 1")?.int64(0) ?? 0
        }
    }
}

/// The operating-system identity behind a change, recorded in the audit log beside the `--by` name (which anyone can
/// type): the login name of the effective user and, when run through sudo, `$SUDO_USER`.
public struct OperatingSystemIdentity: Hashable, Sendable {
    /// Login name of the effective uid (`getpwuid(geteuid())`), or `uid N` when it has none.
    public var user: String
    /// `$SUDO_USER` (the user who ran sudo), `nil` when unset or empty.
    public var sudoUser: String?
    /// The egress25-admin role of the API token behind the change (recorded as the audit entry's `role`); `nil`
    /// for egress25ctl.
    public var role: String?

    /// Creates an identity from a login name, the sudo user and the API role, if any.
    public init(user: String, sudoUser: String?, role: String? = nil) {
        self.user = user
        self.sudoUser = sudoUser
        self.role = role
    }

    /// This process's identity: `getpwuid(geteuid())` and the `SUDO_USER` environment variable.
    public static func current() -> OperatingSystemIdentity {
        let uid = geteuid()
        var user = "uid \(uid)"
        if let entry = getpwuid(uid), let name = entry.pointee.pw_name {
            user = String(cString: name)
        }
        let sudoUser = ProcessInfo.processInfo.environment["SUDO_USER"].flatMap { $0.isEmpty ? nil : $0 }
        return OperatingSystemIdentity(user: user, sudoUser: sudoUser)
    }
}
