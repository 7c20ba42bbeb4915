import Egress25Core
import Foundation
import GRDB

extension ExceptionStore {
    /// Opens the store the configuration names: the SQLite file (as ``init(path:mode:busyTimeoutSeconds:identity:)``)
    /// or the fleet's PostgreSQL database.
    ///
    /// PostgreSQL is never migrated on open: `egress25ctl store migrate` does that, once, as the database's owner
    /// (routers and support staff connect with roles that may not change the schema). A database without the schema,
    /// or with an older one, is refused with a message that says so.
    /// - Throws: ``ExceptionStoreError``: `notFound`, `newerSchema`, `olderSchema`, `unreachable`, `authentication`,
    ///   `io`, ...
    public convenience init(
        location: StoreLocation, mode: OpenMode = .create, identity: OperatingSystemIdentity = .current()
    ) throws(ExceptionStoreError) {
        switch location {
        case .sqlite(let path):
            try self.init(path: path, mode: mode, identity: identity)
        case .postgresql(let postgres):
            let backend = PostgresStoreBackend(location: postgres)
            try PostgresSchema.requireCurrent(backend)
            self.init(backend: backend, path: postgres.description, mode: mode, identity: identity)
        }
    }

    /// Creates or upgrades the schema at `location`: the SQLite file (created when missing) or the PostgreSQL
    /// database (in one transaction, under an advisory lock; run as the database's owner).
    /// - Returns: The schema version before and after.
    /// - Throws: ``ExceptionStoreError`` (`newerSchema` for a store written by a newer egress25, `unreachable`,
    ///   `permissionDenied`, `io`, ...).
    public static func migrateSchema(at location: StoreLocation) throws(ExceptionStoreError) -> (from: Int, to: Int) {
        switch location {
        case .sqlite(let path):
            let before = try storeExists(at: path) ? try sqliteSchemaVersion(path: path) : 0
            _ = try ExceptionStore(path: path, mode: .create)
            return (before, schemaVersion)
        case .postgresql(let postgres):
            let backend = PostgresStoreBackend(location: postgres)
            defer { backend.close() }
            return try PostgresSchema.migrate(backend)
        }
    }

    /// The schema version recorded in the SQLite file at `path` (0 for an empty file).
    static func sqliteSchemaVersion(path: String) throws(ExceptionStoreError) -> Int {
        do {
            var configuration = Configuration()
            configuration.readonly = true
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            return try queue.read { db in
                try db.tableExists("grdb_migrations") ? try schemaVersion(of: db) : 0
            }
        } catch {
            throw SQLiteStoreBackend.mapError(
                error, path: path, operation: "read the schema version of", function: #function)
        }
    }

    /// What `egress25ctl store status` shows: never throws; a problem is in ``StoreStatus/problem``.
    public static func status(of location: StoreLocation) -> StoreStatus {
        switch location {
        case .sqlite(let path):
            var status = StoreStatus(
                backend: .sqlite, location: path, reachable: false, roundTripMilliseconds: nil, schemaVersion: nil,
                binarySchemaVersion: schemaVersion, problem: nil)
            do {
                guard try storeExists(at: path) else {
                    status.problem = "no store at \(path) yet (created by the first `egress25ctl customer add`)"
                    return status
                }
                let started = ContinuousClock.now
                status.schemaVersion = try sqliteSchemaVersion(path: path)
                status.roundTripMilliseconds = Self.milliseconds(ContinuousClock.now - started)
                status.reachable = true
                if let version = status.schemaVersion, version != schemaVersion {
                    status.problem =
                        version > schemaVersion
                        ? "written by a newer egress25 (schema \(version) > \(schemaVersion))"
                        : "schema \(version) < \(schemaVersion): any egress25ctl write command migrates it"
                }
            } catch {
                status.problem = error.message
            }
            return status
        case .postgresql(let postgres):
            let backend = PostgresStoreBackend(location: postgres)
            defer { backend.close() }
            var status = StoreStatus(
                backend: .postgresql, location: postgres.description, reachable: false, roundTripMilliseconds: nil,
                schemaVersion: nil, binarySchemaVersion: PostgresSchema.version, problem: nil)
            do {
                status.roundTripMilliseconds = Self.milliseconds(try backend.roundTrip())
                status.reachable = true
                let version = try PostgresSchema.schemaVersion(backend)
                status.schemaVersion = version
                if version > PostgresSchema.version {
                    status.problem = "written by a newer egress25 (schema \(version) > \(PostgresSchema.version))"
                } else if version < PostgresSchema.version {
                    status.problem = "schema \(version) < \(PostgresSchema.version): run `egress25ctl store migrate`"
                }
            } catch {
                status.problem = error.message
            }
            return status
        }
    }

    private static func milliseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }

    /// Every router that has written a heartbeat, by name.
    /// - Throws: ``ExceptionStoreError``; on the embedded SQLite store `invalidArgument`.
    public func nodes() throws(ExceptionStoreError) -> [NodeRecord] {
        guard dialect == .postgresql else {
            throw ExceptionStoreError(.invalidArgument, "nodes are kept by the fleet store (store.url)")
        }
        return try read("read the nodes of") { db in
            try db.rows(
                """
                SELECT name, db_role, last_heartbeat, policy_generation, policy_data_at, started_at, shipping_lag
                FROM node ORDER BY name
                """
            ).map { row in
                NodeRecord(
                    name: try row.text(0), databaseRole: try row.text(1), lastHeartbeat: try row.optionalInt64(2),
                    policyGeneration: try row.optionalInt64(3),
                    policyDataAt: try row.optionalInt64(4).flatMap { $0 == 0 ? nil : $0 },
                    startedAt: try row.optionalInt64(5), shippingLag: try row.optionalInt64(6))
            }
        }
    }
}

/// What `egress25ctl store status` reports.
public struct StoreStatus: Hashable, Sendable, Encodable {
    /// SQLite or PostgreSQL.
    public var backend: StoreDialect
    /// The file, or `USER@HOST:PORT/DB` (never a password).
    public var location: String
    /// Whether the store answered (the file could be read, the server accepted the login).
    public var reachable: Bool
    /// One round trip (`SELECT 1`, or reading the SQLite schema), ms.
    public var roundTripMilliseconds: Double?
    /// The store's schema version, `nil` when it could not be read.
    public var schemaVersion: Int?
    /// The schema version this build writes.
    public var binarySchemaVersion: Int
    /// Why the store cannot be used as it is, `nil` when it can.
    public var problem: String?

    private enum CodingKeys: String, CodingKey {
        case backend, location, reachable, problem
        case roundTripMilliseconds = "round_trip_ms"
        case schemaVersion = "schema_version"
        case binarySchemaVersion = "binary_schema_version"
    }
}

extension StoreDialect: Encodable {}

/// A router of the fleet (a row of `node`). Times are UTC seconds.
public struct NodeRecord: Hashable, Sendable, Encodable {
    /// `node_name` of the router.
    public var name: String
    /// The database role that writes the row.
    public var databaseRole: String
    /// The router's last heartbeat.
    public var lastHeartbeat: Int64?
    /// The store's change token of the policy data the router enforces.
    public var policyGeneration: Int64?
    /// When that data was last confirmed current.
    public var policyDataAt: Int64?
    /// The router's first heartbeat.
    public var startedAt: Int64?
    /// At the last heartbeat: how old the router's oldest final block-log row not yet shipped was, s (0: caught
    /// up); `nil` for a router without a block log.
    public var shippingLag: Int64?

    private enum CodingKeys: String, CodingKey {
        case name
        case databaseRole = "database_role"
        case lastHeartbeat = "last_heartbeat"
        case policyGeneration = "policy_generation"
        case policyDataAt = "policy_data_at"
        case startedAt = "started_at"
        case shippingLag = "shipping_lag_seconds"
    }
}
