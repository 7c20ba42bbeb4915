import Egress25TestSupport
import Foundation
import Synchronization
import Testing

@testable import ExceptionStore

#if canImport(Glibc)
import Glibc
#endif

/// The superuser URL of a throwaway PostgreSQL server (`scripts/test-postgres.sh start` prints it), from
/// `EGRESS25_TEST_PG_URL`; the tests that need a server are skipped when it is unset.
enum PostgresTestServer {
    static let url: String? = ProcessInfo.processInfo.environment["EGRESS25_TEST_PG_URL"].flatMap {
        $0.isEmpty ? nil : $0
    }
    static var isConfigured: Bool { url != nil }

    /// The superuser's location, on database `database`.
    static func superuser(database: String = "postgres") throws -> PostgresLocation {
        var location = try PostgresLocation.parse(url: url!)
        location.database = database
        return location
    }

    /// The server's TCP port (the socket's number: the test cluster listens on both).
    static var port: Int { (try? superuser().port) ?? 5432 }
}

/// A database of its own for one test (`egress25_t_<random>`), created on the test server as the superuser, and the
/// login roles the test makes; ``drop()`` removes both.
final class PostgresTestDatabase {
    let name: String
    private let administration: PostgresStoreBackend
    private var roles: [String] = []
    let temporary = TemporaryDirectory(prefix: "egress25-pg-tests")

    init() throws {
        name = "egress25_t_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        administration = PostgresStoreBackend(location: try PostgresTestServer.superuser())
        try administration.executeOutsideTransaction("CREATE DATABASE \(name)")
    }

    /// The superuser on this database, over the unix socket.
    func superuser() throws -> PostgresStoreBackend {
        PostgresStoreBackend(location: try PostgresTestServer.superuser(database: name))
    }

    /// A LOGIN role `<database>_<suffix>` with `password`, member of `groups`; dropped by ``drop()``.
    func createRole(_ suffix: String, password: String, in groups: [String] = []) throws -> String {
        let role = "\(name)_\(suffix)"
        let membership = groups.isEmpty ? "" : " IN ROLE " + groups.joined(separator: ", ")
        try administration.executeOutsideTransaction("CREATE ROLE \(role) LOGIN PASSWORD '\(password)'\(membership)")
        roles.append(role)
        return role
    }

    /// A file holding `password` (and a newline), mode `mode`.
    func passwordFile(_ password: String, mode: mode_t = 0o600) throws -> String {
        let path = temporary.path + "/password-\(UInt32.random(in: 0...UInt32.max))"
        try (password + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, mode)
        return path
    }

    /// `role` over TCP (127.0.0.1, no TLS) with the password in `passwordFile`.
    func tcpBackend(role: String, passwordFile: String?) throws -> PostgresStoreBackend {
        let location = try PostgresLocation.parse(
            url: "postgresql://\(role)@127.0.0.1:\(PostgresTestServer.port)/\(name)?sslmode=disable",
            passwordFile: passwordFile)
        return PostgresStoreBackend(location: location)
    }

    func drop() {
        try? administration.executeOutsideTransaction("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        for role in roles {
            try? administration.executeOutsideTransaction("DROP ROLE IF EXISTS \(role)")
        }
        administration.close()
        temporary.cleanup()
    }
}

/// Runs `body` and returns the ``ExceptionStoreError`` it throws (the backend's error mapped by `backend`).
private func storeError<T>(
    _ backend: PostgresStoreBackend, operation: String = "test", _ body: () throws -> T
) -> ExceptionStoreError? {
    do {
        _ = try body()
        return nil
    } catch {
        return backend.storeError(error, operation: operation, function: "test")
    }
}

private func count(_ backend: PostgresStoreBackend, _ table: String) throws -> Int64 {
    try backend.read { sql in try sql.firstRow("SELECT count(*) FROM \(table)")!.int64(0) }
}

@Suite("PostgreSQL placeholders")
struct PostgresPlaceholderTests {
    @Test func numbersQuestionMarksOutsideLiteralsIdentifiersAndComments() {
        #expect(PostgresPlaceholders.rewrite("SELECT ?") == "SELECT $1")
        #expect(
            PostgresPlaceholders.rewrite("UPDATE t SET a = ?, b = ? WHERE c = ? AND d IN (?, ?)")
                == "UPDATE t SET a = $1, b = $2 WHERE c = $3 AND d IN ($4, $5)")
        #expect(PostgresPlaceholders.rewrite("SELECT '?', ? FROM t") == "SELECT '?', $1 FROM t")
        #expect(PostgresPlaceholders.rewrite("SELECT 'it''s ?', ?") == "SELECT 'it''s ?', $1")
        #expect(
            PostgresPlaceholders.rewrite("SELECT \"odd?name\" FROM t WHERE x = ?")
                == "SELECT \"odd?name\" FROM t WHERE x = $1")
        #expect(PostgresPlaceholders.rewrite("SELECT ? -- why?\n, ?") == "SELECT $1 -- why?\n, $2")
        #expect(PostgresPlaceholders.rewrite("SELECT /* ? */ ?") == "SELECT /* ? */ $1")
        #expect(PostgresPlaceholders.rewrite("SELECT /*/ ? */ ?") == "SELECT /*/ ? */ $1")
        #expect(PostgresPlaceholders.rewrite("SELECT a - ? - ?") == "SELECT a - $1 - $2")
        #expect(PostgresPlaceholders.rewrite("SELECT 'é?', ?") == "SELECT 'é?', $1")
        let statement = "SELECT ? FROM customer WHERE id = ?"
        #expect(PostgresPlaceholders.numbered(statement) == "SELECT $1 FROM customer WHERE id = $2")
        #expect(PostgresPlaceholders.numbered(statement) == "SELECT $1 FROM customer WHERE id = $2")  // cached
    }
}

// Needs a PostgreSQL server: `scripts/test-postgres.sh start` prints the URL to put in EGRESS25_TEST_PG_URL.
@Suite(
    "PostgreSQL backend",
    .enabled(if: PostgresTestServer.isConfigured, "needs EGRESS25_TEST_PG_URL (scripts/test-postgres.sh start)"))
struct PostgresBackendTests {
    @Test func migrateTwiceIsIdempotent() throws {
        let database = try PostgresTestDatabase()
        defer { database.drop() }
        let backend = try database.superuser()
        defer { backend.close() }

        #expect(try PostgresSchema.schemaVersion(backend) == 0)
        let missing = #expect(throws: ExceptionStoreError.self) { try PostgresSchema.requireCurrent(backend) }
        #expect(missing?.code == .olderSchema)
        #expect(missing?.message.contains("run `egress25ctl store migrate`") == true)

        let first = try PostgresSchema.migrate(backend)
        #expect(first.from == 0 && first.to == PostgresSchema.version)
        let second = try PostgresSchema.migrate(backend)
        #expect(second.from == PostgresSchema.version && second.to == PostgresSchema.version)
        #expect(try PostgresSchema.schemaVersion(backend) == PostgresSchema.version)
        try PostgresSchema.requireCurrent(backend)
        #expect(try count(backend, "egress25_schema") == Int64(PostgresSchema.version))
        #expect(try count(backend, "store_state") == 1)
    }

    @Test func concurrentMigrationsApplyEachMigrationOnce() throws {
        let database = try PostgresTestDatabase()
        defer { database.drop() }
        let backends = try (0..<4).map { _ in try database.superuser() }
        defer { backends.forEach { $0.close() } }
        let errors = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: backends.count) { index in
            do {
                try PostgresSchema.migrate(backends[index])
            } catch {
                errors.withLock { $0.append("\(error)") }
            }
        }
        #expect(errors.withLock { $0 }.isEmpty)
        #expect(try count(backends[0], "egress25_schema") == Int64(PostgresSchema.version))
    }

    @Test func newerSchemaIsRefused() throws {
        let database = try PostgresTestDatabase()
        defer { database.drop() }
        let backend = try database.superuser()
        defer { backend.close() }
        try PostgresSchema.migrate(backend)
        try backend.transaction(.unlocked) { sql in
            try sql.execute("INSERT INTO egress25_schema (version, name) VALUES (99, 'from the future')")
        }
        let migrate = #expect(throws: ExceptionStoreError.self) { try PostgresSchema.migrate(backend) }
        #expect(migrate?.code == .newerSchema)
        #expect(migrate?.message.contains("schema 99 > \(PostgresSchema.version)") == true)
        let open = #expect(throws: ExceptionStoreError.self) { try PostgresSchema.requireCurrent(backend) }
        #expect(open?.code == .newerSchema)
        #expect(try PostgresSchema.schemaVersion(backend) == 99)
    }

    @Test func valuesRoundTrip() throws {
        let database = try PostgresTestDatabase()
        defer { database.drop() }
        let backend = try database.superuser()
        defer { backend.close() }
        try PostgresSchema.migrate(backend)

        let name = "O'Brien \"the\" ? 名前 🚦\u{0}x".replacingOccurrences(of: "\u{0}", with: "")
        let selected = try backend.read { sql in
            try sql.firstRow(
                "SELECT ?, ?, ?, ?, ?, CAST(? AS text), true, false, CAST(7 AS integer), CAST(-3 AS smallint)",
                [.integer(Int64.min), .integer(Int64.max), .integer(0), .text(name), .text(""), .null])!
        }
        #expect(
            selected.values == [
                .integer(Int64.min), .integer(Int64.max), .integer(0), .text(name), .text(""), .null, .integer(1),
                .integer(0), .integer(7), .integer(-3),
            ])

        let inserted = try backend.write { sql in
            try sql.execute(
                "INSERT INTO customer (id, name, note, created_at, auto_created) VALUES (?, ?, ?, ?, ?)",
                ["c-1", .text(name), .null, .integer(Int64.min), 1])
            return try sql.firstRow(
                """
                INSERT INTO binding (customer_id, prefix, family, first, last, kind, valid_from, valid_until,
                    lease_until)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
                """,
                ["c-1", "10.0.0.0/8", 4, "0a000000", "0affffff", "session", .integer(Int64.max), .null, 0])!.int64(0)
        }
        let rows = try backend.read { sql in
            (
                try sql.rows("SELECT id, name, note, created_at, auto_created FROM customer"),
                try sql.rows(
                    "SELECT id, valid_from, valid_until, lease_until FROM binding WHERE customer_id = ?", ["c-1"])
            )
        }
        #expect(rows.0.map(\.values) == [[.text("c-1"), .text(name), .null, .integer(Int64.min), .integer(1)]])
        #expect(rows.1.map(\.values) == [[.integer(inserted), .integer(Int64.max), .null, .integer(0)]])
        let updated = try backend.write { sql in
            try sql.execute("UPDATE customer SET note = ? WHERE id = ?", ["a note", "c-1"])
        }
        #expect(updated == 1)

        let unsupported = storeError(backend) { try backend.read { sql in try sql.rows("SELECT now()") } }
        #expect(unsupported?.code == .io)
        #expect(unsupported?.message.contains("timestamp") == true)
    }

    @Test func writeRollsBackWhenTheBodyThrows() throws {
        let database = try PostgresTestDatabase()
        defer { database.drop() }
        let backend = try database.superuser()
        defer { backend.close() }
        try PostgresSchema.migrate(backend)

        #expect(throws: TestFailure.self) {
            try backend.write { sql in
                try sql.execute("INSERT INTO customer (id, created_at) VALUES (?, ?)", ["c-1", 1])
                try sql.execute("INSERT INTO audit (at, actor, action) VALUES (?, ?, ?)", [1, "t", "customer.add"])
                throw TestFailure("the body fails")
            }
        }
        #expect(try count(backend, "customer") == 0)
        #expect(try count(backend, "audit") == 0)
        #expect(try backend.read { sql in try sql.firstRow("SELECT generation FROM store_state")!.int64(0) } == 0)

        // A statement that failed inside the body rolls the transaction back too; the connection is still usable.
        let failed = storeError(backend) {
            try backend.write { sql in
                try sql.execute("INSERT INTO customer (id, created_at) VALUES (?, ?)", ["c-2", 1])
                try sql.execute("INSERT INTO customer (id, created_at) VALUES (?, ?)", ["c-2", 1])
            }
        }
        #expect(failed?.code == .io)
        #expect(failed?.message.contains("duplicate key") == true)
        #expect(try count(backend, "customer") == 0)
    }

    @Test func auditLogRefusesUpdateAndDeletesOtherThanSessions() throws {
        let database = try PostgresTestDatabase()
        defer { database.drop() }
        let backend = try database.superuser()
        defer { backend.close() }
        try PostgresSchema.migrate(backend)
        try backend.write { sql in
            try sql.execute("INSERT INTO audit (at, actor, action) VALUES (?, ?, ?)", [1, "t", "exception.grant"])
            try sql.execute("INSERT INTO audit (at, actor, action) VALUES (?, ?, ?)", [2, "feed", "session.start"])
        }
        #expect(try backend.read { sql in try sql.firstRow("SELECT generation FROM store_state")!.int64(0) } == 2)

        let update = storeError(backend) {
            try backend.write { sql in try sql.execute("UPDATE audit SET actor = 'x'") }
        }
        #expect(update?.message.contains("the audit log is append-only") == true)
        let delete = storeError(backend) {
            try backend.write { sql in try sql.execute("DELETE FROM audit WHERE action = 'exception.grant'") }
        }
        #expect(delete?.message.contains("the audit log is append-only") == true)
        let truncate = storeError(backend) { try backend.write { sql in try sql.execute("TRUNCATE audit") } }
        #expect(truncate?.message.contains("the audit log is append-only") == true)
        let pruned = try backend.write { sql in try sql.execute("DELETE FROM audit WHERE action = 'session.start'") }
        #expect(pruned == 1)
        #expect(try backend.read { sql in try sql.firstRow("SELECT actor FROM audit")!.text(0) } == "t")
    }

    @Test func wrongPasswordIsOneLine() throws {
        let database = try PostgresTestDatabase()
        defer { database.drop() }
        let role = try database.createRole("admin", password: "right horse battery")
        let wrong = try database.passwordFile("wrong staple")
        let backend = try database.tcpBackend(role: role, passwordFile: wrong)
        let error = storeError(backend, operation: "read") { try backend.read { sql in try sql.rows("SELECT 1") } }
        #expect(error?.code == .authentication)
        #expect(error?.message.contains("password authentication failed for role \(role)") == true)
        #expect(error?.message.contains(wrong) == true)
        #expect(error?.message.contains("staple") == false)
        #expect(error?.message.contains("\n") == false)

        let right = try database.tcpBackend(role: role, passwordFile: try database.passwordFile("right horse battery"))
        defer { right.close() }
        _ = try right.roundTrip()

        let loose = try database.passwordFile("right horse battery", mode: 0o644)
        let refused = storeError(backend) {
            try database.tcpBackend(role: role, passwordFile: loose).read { sql in try sql.rows("SELECT 1") }
        }
        #expect(refused?.code == .io)
        #expect(refused?.message.contains("\(loose) has mode 0644") == true)
    }

    @Test func unknownDatabaseAndRoleAreOneLine() throws {
        var location = try PostgresTestServer.superuser(database: "egress25_t_no_such_database")
        let backend = PostgresStoreBackend(location: location)
        #expect(throws: ExceptionStoreError.self) { _ = try backend.roundTrip() }
        let database = storeError(backend) { try backend.read { sql in try sql.rows("SELECT 1") } }
        #expect(database?.code == .notFound)
        #expect(database?.message.contains("egress25_t_no_such_database") == true)

        location = try PostgresTestServer.superuser()
        location.user = "egress25_t_no_such_role"
        let unknown = PostgresStoreBackend(location: location)
        let role = storeError(unknown) { try unknown.read { sql in try sql.rows("SELECT 1") } }
        #expect(role?.code == .authentication)
        #expect(role?.message.contains("egress25_t_no_such_role") == true)
    }

    @Test func unreachableServerIsOneLine() throws {
        // Port 9 (discard) on loopback: nothing listens there on a test machine, so the connect is refused.
        let tcp = PostgresStoreBackend(
            location: try PostgresLocation.parse(url: "postgresql://nobody@127.0.0.1:9/egress25?sslmode=disable"))
        let refused = storeError(tcp) { try tcp.read { sql in try sql.rows("SELECT 1") } }
        #expect(refused?.code == .unreachable)
        #expect(refused?.message.contains("cannot reach 127.0.0.1:9") == true)

        let socket = PostgresStoreBackend(
            location: try PostgresLocation.parse(url: "postgresql://nobody@/egress25?host=/nonexistent/egress25"))
        let missing = storeError(socket) { try socket.write { sql in try sql.rows("SELECT 1") } }
        #expect(missing?.code == .unreachable)
        #expect(missing?.message.contains("/nonexistent/egress25/.s.PGSQL.5432") == true)
    }

    @Test func verifyFullAgainstAServerWithoutTLSFails() throws {
        let backend = PostgresStoreBackend(
            location: try PostgresLocation.parse(
                url: "postgresql://postgres@localhost:\(PostgresTestServer.port)/postgres?sslmode=verify-full"))
        let error = storeError(backend) { try backend.read { sql in try sql.rows("SELECT 1") } }
        #expect(error?.code == .tls)
        #expect(error?.message.contains("TLS verification of localhost failed") == true)
        #expect(error?.message.contains("does not offer TLS") == true)
    }

    @Test func routerRoleCannotChangePolicyButKeepsItsOwnNodeRow() throws {
        let database = try PostgresTestDatabase()
        defer { database.drop() }
        let owner = try database.superuser()
        defer { owner.close() }
        try PostgresSchema.migrate(owner)
        try owner.write { sql in
            try sql.execute("INSERT INTO customer (id, created_at) VALUES ('c-1', 1)")
            try sql.execute(
                """
                INSERT INTO binding (customer_id, prefix, family, first, last, kind, valid_from)
                VALUES ('c-1', '192.0.2.0/24', 4, 'c0000200', 'c00002ff', 'static', 1)
                """)
        }
        let routerRole = try database.createRole("router1", password: "r1 secret", in: ["egress25_router"])
        let otherRole = try database.createRole("router2", password: "r2 secret", in: ["egress25_router"])
        let router = try database.tcpBackend(role: routerRole, passwordFile: try database.passwordFile("r1 secret"))
        defer { router.close() }
        let other = try database.tcpBackend(role: otherRole, passwordFile: try database.passwordFile("r2 secret"))
        defer { other.close() }

        // Reads the policy.
        try PostgresSchema.requireCurrent(router)
        #expect(
            try router.read { sql in try sql.rows("SELECT prefix FROM binding") }.map(\.values) == [["192.0.2.0/24"]])

        // Cannot grant an exception: neither through the store's write transaction nor by a bare INSERT.
        let grant = "INSERT INTO exception (id, customer_id, reason, granted_by, created_at) VALUES (?, ?, ?, ?, ?)"
        let arguments: [SQLValue] = ["x-1", "c-1", "router", "router", 1]
        let viaWrite = storeError(router, operation: "grant an exception in") {
            try router.write { sql in try sql.execute(grant, arguments) }
        }
        #expect(viaWrite?.code == .permissionDenied)
        #expect(viaWrite?.message.contains("role \(routerRole) may not do this") == true)
        #expect(viaWrite?.message.contains("a router's credentials cannot change policy") == true)
        let bare = storeError(router) { try router.transaction(.unlocked) { sql in try sql.execute(grant, arguments) } }
        #expect(bare?.code == .permissionDenied)
        #expect(bare?.message.contains("permission denied for table exception") == true)
        #expect(try count(owner, "exception") == 0)

        // Its own node row: inserted and updated. Another router's: invisible, not updated, not taken over.
        let heartbeat = "UPDATE node SET last_heartbeat = ? WHERE name = ?"
        try other.transaction(.unlocked) { sql in
            try sql.execute("INSERT INTO node (name, last_heartbeat) VALUES (?, ?)", ["edge-2", 10])
        }
        try router.transaction(.unlocked) { sql in
            try sql.execute("INSERT INTO node (name, last_heartbeat) VALUES (?, ?)", ["edge-1", 10])
        }
        #expect(try router.transaction(.unlocked) { sql in try sql.execute(heartbeat, [20, "edge-1"]) } == 1)
        #expect(try router.transaction(.unlocked) { sql in try sql.execute(heartbeat, [20, "edge-2"]) } == 0)
        #expect(try router.read { sql in try sql.rows("SELECT name FROM node") }.map(\.values) == [["edge-1"]])
        let takeOver = storeError(router) {
            try router.transaction(.unlocked) { sql in
                try sql.execute(
                    "INSERT INTO node (name, last_heartbeat) VALUES (?, ?) "
                        + "ON CONFLICT (name) DO UPDATE SET last_heartbeat = excluded.last_heartbeat",
                    ["edge-2", 30])
            }
        }
        #expect(takeOver != nil)
        let renamed = storeError(router) {
            try router.transaction(.unlocked) { sql in
                try sql.execute("UPDATE node SET db_role = ?", [.text(otherRole)])
            }
        }
        #expect(renamed?.code == .permissionDenied)
        let nodes = try owner.read { sql in
            try sql.rows("SELECT name, db_role, last_heartbeat FROM node ORDER BY name").map(\.values)
        }
        #expect(nodes == [["edge-1", .text(routerRole), 20], ["edge-2", .text(otherRole), 10]])
    }

    @Test func connectionTerminatedBetweenTransactionsReconnects() throws {
        let database = try PostgresTestDatabase()
        defer { database.drop() }
        let owner = try database.superuser()
        defer { owner.close() }
        try PostgresSchema.migrate(owner)
        let backend = try database.superuser()
        defer { backend.close() }

        let before = try backend.read { sql in try sql.firstRow("SELECT pg_backend_pid()")!.int64(0) }
        let terminated = try owner.read { sql in
            try sql.firstRow("SELECT pg_terminate_backend(CAST(? AS integer), 5000)", [.integer(before)])!.bool(0)
        }
        #expect(terminated)
        let after = try backend.write { sql in
            try sql.execute("INSERT INTO customer (id, created_at) VALUES ('c-1', 1)")
            return try sql.firstRow("SELECT pg_backend_pid()")!.int64(0)
        }
        #expect(after != before)
        #expect(try count(owner, "customer") == 1)

        // Terminated mid-transaction: that transaction fails (nothing applied), the next one reconnects.
        let lost = storeError(backend) {
            try backend.write { sql in
                try sql.execute("INSERT INTO customer (id, created_at) VALUES ('c-2', 1)")
                let pid = try sql.firstRow("SELECT pg_backend_pid()")!.int64(0)
                _ = try owner.transaction(.unlocked) { other in
                    try other.rows("SELECT pg_terminate_backend(CAST(? AS integer), 5000)", [.integer(pid)])
                }
                try sql.execute("INSERT INTO customer (id, created_at) VALUES ('c-3', 1)")
            }
        }
        #expect(lost?.code == .connectionLost)
        #expect(lost?.message.contains("nothing was applied") == true)
        #expect(try count(backend, "customer") == 1)
    }
}
