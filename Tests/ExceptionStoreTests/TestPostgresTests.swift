import Egress25TestSupport
import Foundation
import Testing

/// The PostgreSQL test fixture itself: a database per test, SQL as the superuser, login roles, and clean-up.
@Suite(.enabled(if: TestPostgres.isAvailable, "needs EGRESS25_TEST_PG_URL (scripts/test-postgres.sh start)"))
struct TestPostgresTests {
    @Test("makeDatabase creates a uniquely named database that psql runs SQL in, and drop removes it")
    func databaseLifecycle() throws {
        let database = try TestPostgres.makeDatabase()
        let other = try TestPostgres.makeDatabase(prefix: "egress25_other")
        defer {
            try? database.drop()
            try? other.drop()
        }
        #expect(database.name.hasPrefix("egress25_t_") && database.name.count == "egress25_t_".count + 16)
        #expect(other.name.hasPrefix("egress25_other_"))
        #expect(database.name != other.name)
        #expect(database.url.contains("/\(database.name)?host="))
        #expect(try database.psql("SELECT current_database()") == database.name + "\n")
        let rows = try database.psql(
            """
            CREATE TABLE t (id integer, label text);
            INSERT INTO t VALUES (1, 'a'), (2, 'b');
            SELECT id, label FROM t ORDER BY id;
            """)
        #expect(rows == "1|a\n2|b\n")
        // The other database does not see the table.
        #expect(try other.psql("SELECT count(*) FROM pg_tables WHERE tablename = 't'") == "0\n")

        try database.drop()
        let left = try other.psql("SELECT count(*) FROM pg_database WHERE datname = '\(database.name)'")
        #expect(left == "0\n")
        try database.drop()  // twice is harmless
    }

    @Test("a failing statement throws with psql's message and stops the script")
    func failingStatement() throws {
        let database = try TestPostgres.makeDatabase()
        defer { try? database.drop() }
        let error = #expect(throws: TestFailure.self) {
            try database.psql("CREATE TABLE u (x int); SELECT * FROM missing_table; CREATE TABLE v (x int);")
        }
        #expect(error?.description.contains("missing_table") == true)
        #expect(
            try database.psql("SELECT string_agg(tablename, ',') FROM pg_tables WHERE tablename IN ('u', 'v')") == "u\n"
        )
    }

    @Test(
        "createLoginRole makes a role that logs in over TCP with its password only, in the given roles; drop removes it"
    )
    func loginRole() throws {
        let database = try TestPostgres.makeDatabase()
        defer { try? database.drop() }
        let group = "egress25_group_" + database.name.suffix(16)
        try database.psql("CREATE ROLE \(group) NOLOGIN")
        defer { _ = try? TestPostgres.psql(url: TestPostgres.superuserURL!, sql: "DROP ROLE IF EXISTS \(group)") }

        let role = try database.createLoginRole(name: "edge", password: "s3cret'pw", memberOf: [group])
        #expect(role == "edge_" + database.name.suffix(16))
        let tcp = database.tcpURL(user: role)
        #expect(tcp.hasPrefix("postgresql://\(role)@127.0.0.1:"))
        #expect(tcp.hasSuffix("/\(database.name)?sslmode=disable"))

        // The password goes in a URL here only to drive psql; egress25 reads it from store.password_file.
        let withPassword = tcp.replacingOccurrences(of: "\(role)@", with: "\(role):s3cret%27pw@")
        #expect(
            try TestPostgres.psql(url: withPassword, sql: "SELECT current_user, pg_has_role('\(group)', 'MEMBER')")
                == "\(role)|t\n")
        let wrong = tcp.replacingOccurrences(of: "\(role)@", with: "\(role):wrong@")
        let error = #expect(throws: TestFailure.self) { try TestPostgres.psql(url: wrong, sql: "SELECT 1") }
        #expect(error?.description.contains("password authentication failed") == true)

        try database.drop()
        let roles = try TestPostgres.psql(
            url: TestPostgres.superuserURL!, sql: "SELECT count(*) FROM pg_roles WHERE rolname = '\(role)'")
        #expect(roles == "0\n")
    }
}
