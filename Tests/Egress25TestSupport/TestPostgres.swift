import Foundation
import KernelRules
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The PostgreSQL server the tests use: the throwaway cluster of `scripts/test-postgres.sh start`, which
/// `.ci/run` starts and names in `EGRESS25_TEST_PG_URL` (its superuser over the unix socket,
/// `postgresql://postgres@/postgres?host=/tmp/egress25-test-pg&port=54329`).
///
/// Every test gets a database of its own (``makeDatabase(prefix:)``) and drops it when done, so suites run in
/// parallel on one server. SQL goes through `psql` (run by KernelRules' ``CommandRunner``), not through the code
/// under test.
package enum TestPostgres {
    /// `EGRESS25_TEST_PG_URL`: the superuser URL of the test server; `nil` when the variable is unset or empty.
    package static var superuserURL: String? {
        guard let value = getenv("EGRESS25_TEST_PG_URL").map({ String(cString: $0) }), !value.isEmpty else {
            return nil
        }
        return value
    }

    /// Whether a test server is named (``superuserURL`` is set): the condition of the PostgreSQL suites,
    /// `@Suite(.enabled(if: TestPostgres.isAvailable, "needs EGRESS25_TEST_PG_URL (scripts/test-postgres.sh start)"))`.
    package static var isAvailable: Bool { superuserURL != nil }

    /// Creates a database `<prefix>_<16 random hex digits>` on the test server (as the superuser), for one test.
    /// - Parameter prefix: lower-case letters, digits and `_`, starting with a letter; at most 40 characters.
    /// - Returns: the database; call ``TestDatabase/drop()`` when the test is done.
    /// - Throws: ``TestFailure`` when no server is named (``isAvailable`` is false), the URL is not of the form
    ///   `postgresql://USER@/DB?host=DIR&port=PORT`, or `psql` fails (its stderr in the message).
    package static func makeDatabase(prefix: String = "egress25_t") throws -> TestDatabase {
        guard let superuserURL else {
            throw TestFailure("EGRESS25_TEST_PG_URL is not set: start a server with scripts/test-postgres.sh start")
        }
        return try makeDatabase(prefix: prefix, superuserURL: superuserURL)
    }

    /// As ``makeDatabase(prefix:)``, on the server whose superuser URL is `superuserURL` (e.g. a
    /// ``TestPostgresCluster`` of the test's own).
    package static func makeDatabase(prefix: String, superuserURL: String) throws -> TestDatabase {
        guard prefix.count <= 40, prefix.first.map({ $0.isASCII && $0.isLetter && $0.isLowercase }) == true,
            prefix.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") })
        else {
            throw TestFailure("database prefix \"\(prefix)\": use lower-case letters, digits and _ (at most 40)")
        }
        let server = try ServerURL(superuserURL)
        let name = "\(prefix)_\(randomHex())"
        try psql(url: superuserURL, sql: "CREATE DATABASE \(quoteIdentifier(name))")
        return TestDatabase(name: name, server: server)
    }

    /// `EGRESS25_TEST_PG_DIR` (default `/tmp/egress25-test-pg`): the directory of the test cluster, as
    /// `scripts/test-postgres.sh` names it; the data directory is `data` under it.
    package static var clusterDirectory: String {
        guard let value = getenv("EGRESS25_TEST_PG_DIR").map({ String(cString: $0) }), !value.isEmpty else {
            return "/tmp/egress25-test-pg"
        }
        return value
    }

    /// Stops the test server (`pg_ctl stop -m fast -w`, as user postgres): every connection is closed, and new
    /// ones are refused until ``startServer()``. For tests of a database outage; it stops the server for every
    /// suite running at the time, so such a test must not overlap other PostgreSQL tests.
    /// - Throws: ``TestFailure`` when no PostgreSQL server binaries are installed or `pg_ctl` fails.
    package static func stopServer() throws {
        try pgCtl(["-m", "fast", "-w", "-t", "60", "stop"])
    }

    /// Starts the test server again after ``stopServer()`` (`pg_ctl start -w`, as user postgres; log in
    /// `server.log` of ``clusterDirectory``) and returns once it accepts connections (at most 60 s).
    /// - Throws: ``TestFailure`` when no PostgreSQL server binaries are installed or `pg_ctl` fails.
    package static func startServer() throws {
        try pgCtl(["-l", clusterDirectory + "/server.log", "-w", "-t", "60", "start"])
    }

    /// Whether PostgreSQL server binaries are installed (`/usr/lib/postgresql/*/bin/postgres`), the condition of
    /// the tests that run a cluster of their own (``TestPostgresCluster``).
    package static var hasServerBinaries: Bool {
        guard let directory = try? serverBinaries() else { return false }
        return FileManager.default.isExecutableFile(atPath: directory + "/postgres")
    }

    /// The newest `/usr/lib/postgresql/VERSION/bin` (Debian keeps the server binaries off `PATH`).
    static func serverBinaries() throws -> String {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let newest = versions.compactMap(Int.init).max() else {
            throw TestFailure("no PostgreSQL server in /usr/lib/postgresql (apt-get install postgresql)")
        }
        return "/usr/lib/postgresql/\(newest)/bin"
    }

    static func pgCtl(_ arguments: [String], clusterDirectory: String = clusterDirectory) throws {
        let pgCtl = try serverBinaries() + "/pg_ctl"
        let command = ["runuser", "-u", "postgres", "--", pgCtl, "-D", clusterDirectory + "/data"] + arguments
        let result = try CommandRunner(timeoutSeconds: 90).run(command)
        guard result.succeeded else {
            throw TestFailure(
                "`\(command.joined(separator: " "))` failed (exit \(result.status)): \(result.firstErrorLine)")
        }
    }

    /// Runs `sql` (one or more statements, stopping at the first error) with `psql` against `url` (any
    /// libpq URL, e.g. one with a login role's password for a test of its rights).
    /// - Returns: stdout, tuples only and unaligned (`|` between columns, one row a line).
    /// - Throws: ``TestFailure`` with `psql`'s stderr when it cannot connect or a statement fails.
    @discardableResult
    package static func psql(url: String, sql: String) throws -> String {
        let command = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", "-"]
        let result = try CommandRunner(timeoutSeconds: 60).run(command, input: sql)
        guard result.succeeded else {
            throw TestFailure("psql failed (exit \(result.status)) on \(sql.prefix(200)): \(result.standardError)")
        }
        return result.standardOutput
    }

    /// 16 random hex digits.
    package static func randomHex() -> String {
        let value = UInt64.random(in: 0...UInt64.max)
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// `"name"`, with `"` doubled.
    package static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `'text'`, with `'` doubled (standard_conforming_strings is on).
    package static func quoteLiteral(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }
}

/// The parts of the superuser URL `postgresql://USER@/DB?host=DIR&port=PORT` that a database's URLs reuse.
struct ServerURL: Sendable {
    var user: String
    var socketDirectory: String
    var port: Int

    init(_ url: String) throws {
        let shape = "expected postgresql://USER@/DB?host=DIR&port=PORT, found \(url)"
        guard let scheme = url.range(of: "://"), let slash = url[scheme.upperBound...].firstIndex(of: "/") else {
            throw TestFailure(shape)
        }
        let authority = url[scheme.upperBound..<slash]
        guard let at = authority.firstIndex(of: "@"), authority[authority.index(after: at)...].isEmpty else {
            throw TestFailure(shape)
        }
        user = String(authority[..<at])
        var socketDirectory: String?
        var port = 5432
        if let question = url.firstIndex(of: "?") {
            for item in url[url.index(after: question)...].split(separator: "&") {
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { continue }
                if parts[0] == "host" { socketDirectory = parts[1].removingPercentEncoding ?? parts[1] }
                if parts[0] == "port", let number = Int(parts[1]) { port = number }
            }
        }
        guard let socketDirectory, !user.isEmpty else { throw TestFailure(shape) }
        self.socketDirectory = socketDirectory
        self.port = port
    }

    /// The unix-socket URL of `database` as the superuser.
    func url(database: String) -> String {
        "postgresql://\(user)@/\(database)?host=\(socketDirectory)&port=\(port)"
    }
}

/// One test's database on the test server, made by ``TestPostgres/makeDatabase(prefix:)``; ``drop()`` removes it
/// and the login roles made through it.
package final class TestDatabase: Sendable {
    /// The database name, `<prefix>_<16 hex digits>`.
    package let name: String
    let server: ServerURL
    private let roles = Mutex<[String]>([])

    init(name: String, server: ServerURL) {
        self.name = name
        self.server = server
    }

    /// The superuser's URL of this database over the unix socket:
    /// `postgresql://postgres@/NAME?host=DIR&port=PORT`.
    package var url: String { server.url(database: name) }

    /// The TCP URL of this database for login role `user` (scram password authentication; the password goes in a
    /// password file, never in the URL): `postgresql://USER@127.0.0.1:PORT/NAME?sslmode=disable`.
    package func tcpURL(user: String) -> String {
        "postgresql://\(user)@127.0.0.1:\(server.port)/\(name)?sslmode=disable"
    }

    /// Runs `sql` as the superuser in this database (several statements allowed; stops at the first error).
    /// - Returns: `psql`'s stdout, tuples only and unaligned: one row a line, columns separated by `|`.
    /// - Throws: ``TestFailure`` with `psql`'s stderr when a statement fails.
    @discardableResult
    package func psql(_ sql: String) throws -> String {
        try TestPostgres.psql(url: url, sql: sql)
    }

    /// Creates a login role `<name>_<this database's hex suffix>` (roles are cluster-wide; the suffix keeps
    /// parallel tests apart) with `password` (scram-sha-256), member of the roles `memberOf`, allowed to connect
    /// to this database. ``drop()`` drops it.
    /// - Returns: the role's name.
    /// - Throws: ``TestFailure`` when `psql` fails (e.g. a role in `memberOf` does not exist).
    @discardableResult
    package func createLoginRole(name: String, password: String, memberOf: [String] = []) throws -> String {
        let suffix = self.name.split(separator: "_").last.map(String.init) ?? TestPostgres.randomHex()
        let role = "\(name)_\(suffix)"
        let inRoles =
            memberOf.isEmpty ? "" : " IN ROLE " + memberOf.map(TestPostgres.quoteIdentifier).joined(separator: ", ")
        roles.withLock { $0.append(role) }
        try psql(
            """
            CREATE ROLE \(TestPostgres.quoteIdentifier(role)) LOGIN PASSWORD \(TestPostgres.quoteLiteral(password))\(inRoles);
            GRANT CONNECT ON DATABASE \(TestPostgres.quoteIdentifier(self.name)) TO \(TestPostgres.quoteIdentifier(role));
            """)
        return role
    }

    /// Drops the database (`WITH (FORCE)`: open connections are closed) and the login roles made by
    /// ``createLoginRole(name:password:memberOf:)``. Dropping twice is harmless.
    /// - Throws: ``TestFailure`` when `psql` fails.
    package func drop() throws {
        let roles = self.roles.withLock { roles in
            defer { roles.removeAll() }
            return roles
        }
        var sql = "DROP DATABASE IF EXISTS \(TestPostgres.quoteIdentifier(name)) WITH (FORCE);\n"
        for role in roles { sql += "DROP ROLE IF EXISTS \(TestPostgres.quoteIdentifier(role));\n" }
        try TestPostgres.psql(url: server.url(database: "postgres"), sql: sql)
    }
}

/// A PostgreSQL cluster of one test's own (`scripts/test-postgres.sh start` with its own directory and port), for a
/// test that stops and starts the server: the shared cluster of ``TestPostgres`` must not go down under the suites
/// running in parallel. ``tearDown()`` stops it and removes its directory.
package final class TestPostgresCluster: Sendable {
    /// `/tmp/<prefix>-<16 hex digits>`: the unix socket and the data directory (`data`) live here.
    package let directory: String
    /// The TCP port (127.0.0.1) and the socket's number.
    package let port: Int
    /// The superuser over the unix socket: `postgresql://postgres@/postgres?host=DIR&port=PORT`.
    package let superuserURL: String

    /// Starts a new cluster (initdb, as user postgres) on a free port between 40000 and 59999 (another one is
    /// tried, at most 5 times, when the server cannot listen on it).
    /// - Throws: ``TestFailure`` with the script's message when it fails 5 times.
    package init(prefix: String = "egress25-fleet-pg") throws {
        let directory = "/tmp/\(prefix)-\(TestPostgres.randomHex())"
        let script = packageRoot + "/scripts/test-postgres.sh"
        var failure = ""
        for _ in 0..<5 {
            let port = Int.random(in: 40_000..<60_000)
            let result = try CommandRunner(timeoutSeconds: 120).run([
                "env", "EGRESS25_TEST_PG_DIR=\(directory)", "EGRESS25_TEST_PG_PORT=\(port)", "bash", script, "start",
            ])
            if result.succeeded {
                self.directory = directory
                self.port = port
                superuserURL = result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
                return
            }
            failure = result.standardError
        }
        _ = try? CommandRunner(timeoutSeconds: 60).run([
            "env", "EGRESS25_TEST_PG_DIR=\(directory)", "bash", script, "stop",
        ])
        throw TestFailure("scripts/test-postgres.sh start failed 5 times: \(failure)")
    }

    /// A database of its own on this cluster (``TestPostgres/makeDatabase(prefix:superuserURL:)``).
    package func makeDatabase(prefix: String = "egress25_t") throws -> TestDatabase {
        try TestPostgres.makeDatabase(prefix: prefix, superuserURL: superuserURL)
    }

    /// `pg_ctl stop -m fast`: every connection is closed and new ones are refused until ``startServer()``.
    package func stopServer() throws {
        try TestPostgres.pgCtl(["-m", "fast", "-w", "-t", "60", "stop"], clusterDirectory: directory)
    }

    /// `pg_ctl start` after ``stopServer()``; returns once the server accepts connections (at most 60 s).
    package func startServer() throws {
        try TestPostgres.pgCtl(
            ["-l", directory + "/server.log", "-w", "-t", "60", "start"], clusterDirectory: directory)
    }

    /// Stops the server (immediate) and removes its directory. Harmless twice.
    package func tearDown() {
        _ = try? CommandRunner(timeoutSeconds: 60).run([
            "env", "EGRESS25_TEST_PG_DIR=\(directory)", "EGRESS25_TEST_PG_PORT=\(port)", "bash",
            packageRoot + "/scripts/test-postgres.sh", "stop",
        ])
    }
}
