import Egress25Configuration
import Egress25Core
import Egress25TestSupport
import ExceptionStore
import Foundation
import Testing

@Suite("ConfigurationLoader store")
struct StoreConfigurationTests {
    static let policy = "policy: { subscriber_ranges: [100.64.0.0/10] }\n"

    static func store(_ yaml: String, purpose: ConfigurationPurpose = .router) throws -> StoreConfiguration {
        try ConfigurationLoader.parse(yaml: yaml, path: "F", purpose: purpose).store
    }

    static func error(_ yaml: String, purpose: ConfigurationPurpose = .router) -> String? {
        do {
            _ = try ConfigurationLoader.parse(yaml: yaml, path: "F", purpose: purpose)
            return nil
        } catch {
            return error.description
        }
    }

    @Test("without store.url the store is exceptions.sqlite under state_directory, 1 h, node_name")
    func sqliteDefault() throws {
        let bare = try Self.store(Self.policy)
        #expect(bare.location == .sqlite(path: "/var/lib/egress25/exceptions.sqlite"))
        #expect(bare.maxStalenessSeconds == 3600)
        #expect(bare.nodeName == (try ConfigurationLoader.parse(yaml: Self.policy, path: "F")).nodeName)
        #expect(!bare.nodeName.isEmpty)

        let configuration = try ConfigurationLoader.parse(
            yaml: "node_name: edge-7\nstate_directory: /srv/e25\n" + Self.policy
                + "store: { max_staleness: 15m }\n", path: "F")
        #expect(configuration.store.location == .sqlite(path: configuration.state.exceptionStore))
        #expect(configuration.store.location == .sqlite(path: "/srv/e25/exceptions.sqlite"))
        #expect(configuration.store.maxStalenessSeconds == 900)
        #expect(configuration.store.nodeName == "edge-7")
        #expect(configuration.purpose == .router)

        let built = Egress25Configuration(
            sourcePath: "code", nodeName: "n1", stateDirectory: "/s",
            policy: PolicySettings(policy: Policy(subscriberRanges: [], relayHosts: [])))
        #expect(built.store == StoreConfiguration(location: .sqlite(path: "/s/exceptions.sqlite"), nodeName: "n1"))
    }

    @Test("a TCP URL with TLS, a password file, max_staleness and node")
    func tcpURL() throws {
        let store = try Self.store(
            Self.policy + """
                store:
                  url: postgresql://egress25_edge1@db.example.net:5432/egress25?sslmode=verify-full&sslrootcert=/etc/egress25/db-ca.pem
                  password_file: /etc/egress25/db-password
                  max_staleness: 2h
                  node: edge-fra-1
                """)
        #expect(
            store.location
                == .postgresql(
                    PostgresLocation(
                        user: "egress25_edge1", host: "db.example.net", port: 5432, database: "egress25",
                        sslMode: .verifyFull, sslRootCertificate: "/etc/egress25/db-ca.pem",
                        passwordFile: "/etc/egress25/db-password")))
        #expect(store.maxStalenessSeconds == 7200)
        #expect(store.nodeName == "edge-fra-1")
    }

    @Test("a unix-socket URL without a password file")
    func socketURL() throws {
        let store = try Self.store(
            "node_name: edge-2\n" + Self.policy
                + "store: { url: \"postgresql://egress25@/egress25?host=/run/postgresql\" }\n")
        guard case .postgresql(let location) = store.location else {
            Issue.record("expected PostgreSQL, got \(store.location)")
            return
        }
        #expect(location.user == "egress25")
        #expect(location.host == nil)
        #expect(location.socketDirectory == "/run/postgresql")
        #expect(location.socketPath == "/run/postgresql/.s.PGSQL.5432")
        #expect(location.database == "egress25")
        #expect(location.passwordFile == nil)
        #expect(store.nodeName == "edge-2")
    }

    @Test("a password in the URL is refused at its line and column, and never echoed")
    func passwordInURL() {
        #expect(
            Self.error(Self.policy + "store:\n  url: postgresql://edge:s3cret@db/egress25\n")
                == "F:3:8: store.url postgresql://edge:***@db/egress25: a password in the URL is not accepted; put "
                + "it in the file named by store.password_file")
        let query = Self.error(Self.policy + "store:\n  url: postgresql://edge@db/egress25?password=s3cret\n")
        #expect(
            query
                == "F:3:8: store.url: a password in the URL is not accepted; put it in the file named by "
                + "store.password_file")
        #expect(query?.contains("s3cret") == false)
    }

    @Test("a password: key is refused, whatever its value")
    func passwordKey() {
        let message =
            "store.password: a password is never read from the configuration; put it in the file named by "
            + "store.password_file"
        #expect(
            Self.error(Self.policy + "store:\n  url: postgresql://edge@db/egress25\n  password: hunter2\n")
                == "F:4:3: " + message)
        #expect(Self.error(Self.policy + "store: { password: }\n") == "F:2:10: " + message)
    }

    @Test("the URL's own checks: sslmode, scheme, user, sslrootcert without verification")
    func badURLs() {
        #expect(
            Self.error(Self.policy + "store: { url: \"postgresql://edge@db/egress25?sslmode=verify\" }\n")
                == "F:2:15: store.url postgresql://edge@db/egress25?sslmode=verify: sslmode=verify is not one of "
                + "disable, prefer, require, verify-ca, verify-full")
        #expect(
            Self.error(Self.policy + "store: { url: \"mysql://edge@db/x\" }\n")?.hasPrefix("F:2:15: store.url") == true)
        #expect(Self.error(Self.policy + "store: { url: \"postgresql://db/x\" }\n")?.contains("no user") == true)
        #expect(
            Self.error(Self.policy + "store: { url: \"postgresql://e@db/x?sslmode=require&sslrootcert=/ca.pem\" }\n")?
                .contains("sslrootcert= needs sslmode=verify-ca or verify-full") == true)
        #expect(Self.error(Self.policy + "store: { url: }\n") == nil)  // null: as if absent
    }

    @Test("password_file must be an absolute path, and needs url")
    func passwordFile() {
        #expect(
            Self.error(Self.policy + "store: { url: \"postgresql://e@db/x\", password_file: db-password }\n")
                == "F:2:53: store.password_file: must be an absolute path, found \"db-password\"")
        #expect(
            Self.error(Self.policy + "store: { password_file: /etc/egress25/db-password }\n")
                == "F:2:25: store.password_file: is only read with store.url (the embedded SQLite store has no "
                + "password)")
    }

    @Test("node is 1-64 characters of letters, digits, '.', '_' and '-'")
    func nodeNames() throws {
        let url = "store: { url: \"postgresql://e@db/x\", node: "
        for bad in ["\"edge fra\"", "edge:1", "\"\"", String(repeating: "a", count: 65), "édge"] {
            let error = Self.error(Self.policy + url + bad + " }\n")
            #expect(error?.hasPrefix("F:2:44: store.node: ") == true, "\(bad): \(String(describing: error))")
            #expect(error?.contains("is not a node name: 1-64 characters") == true)
        }
        #expect(try Self.store(Self.policy + url + String(repeating: "a", count: 64) + " }\n").nodeName.count == 64)
        #expect(try Self.store(Self.policy + url + "Edge_1.fra-2 }\n").nodeName == "Edge_1.fra-2")
        // A node_name too long for the fleet store is refused only with a PostgreSQL store, at node_name.
        let long = "node_name: " + String(repeating: "n", count: 70) + "\n"
        #expect(Self.error(long + Self.policy) == nil)
        #expect(
            Self.error(long + Self.policy + "store: { url: \"postgresql://e@db/x\" }\n")?
                .hasPrefix("F:1:12: node_name: \"nnnn") == true)
    }

    @Test("max_staleness is a duration from 10s to 30d")
    func maxStaleness() throws {
        #expect(try Self.store(Self.policy + "store: { max_staleness: 10s }\n").maxStalenessSeconds == 10)
        #expect(try Self.store(Self.policy + "store: { max_staleness: 30d }\n").maxStalenessSeconds == 30 * 86400)
        #expect(
            Self.error(Self.policy + "store: { max_staleness: 9s }\n")
                == "F:2:25: store.max_staleness: 9s is out of range (10...2592000 s)")
        #expect(
            Self.error(Self.policy + "store: { max_staleness: 31d }\n")
                == "F:2:25: store.max_staleness: 31d is out of range (10...2592000 s)")
        #expect(
            Self.error(Self.policy + "store: { max_staleness: soon }\n")?
                .hasPrefix("F:2:25: store.max_staleness: expected a duration such as 60s, 1h or 30d") == true)
    }

    @Test("unknown keys in store: are refused as elsewhere")
    func unknownKeys() {
        #expect(
            Self.error(Self.policy + "store: { uri: \"postgresql://e@db/x\" }\n")
                == "F:2:10: store: unknown key \"uri\" (did you mean url?)")
        #expect(
            Self.error(Self.policy + "store: { database: x }\n")
                == "F:2:10: store: unknown key \"database\"; keys allowed in store: url, password_file, password, "
                + "max_staleness, node")
    }

    static let storeOnly = """
        store:
          url: postgresql://egress25_admin@db.example.net/egress25?sslmode=verify-full
          password_file: /etc/egress25/db-password
        """

    @Test("a file holding only store: serves a store client, not a router")
    func storeOnlyFile() throws {
        let configuration = try ConfigurationLoader.parse(yaml: Self.storeOnly, path: "F", purpose: .storeClient)
        #expect(configuration.purpose == .storeClient)
        #expect(configuration.policy.policy.subscriberRanges.isEmpty)
        guard case .postgresql(let location) = configuration.store.location else {
            Issue.record("expected PostgreSQL")
            return
        }
        #expect(location.user == "egress25_admin")
        #expect(location.passwordFile == "/etc/egress25/db-password")

        #expect(
            Self.error(Self.storeOnly)
                == "F:1:1: policy: required key is missing: a router needs policy.subscriber_ranges (a file holding "
                + "only store: is for egress25ctl on an admin machine, not for egress25d)")
        // The same with the file on disk.
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.path + "/admin.yaml"
        try Self.storeOnly.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(
            try ConfigurationLoader.load(path: path, purpose: .storeClient).store.location
                == configuration.store.location)
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.load(path: path) }
    }

    @Test("a store client needs store.url, and router sections present are still validated")
    func storeClientRequirements() {
        #expect(
            Self.error(Self.policy, purpose: .storeClient)
                == "F:1:1: store.url: required key is missing: egress25ctl on an admin machine works on the fleet's "
                + "PostgreSQL store, named by store.url")
        #expect(
            Self.error(Self.policy + "store: { max_staleness: 1h }\n", purpose: .storeClient)
                == "F:2:8: store.url: required key is missing: egress25ctl on an admin machine works on the fleet's "
                + "PostgreSQL store, named by store.url")
        #expect(
            Self.error("# nothing\n", purpose: .storeClient)
                == "F:1:1: the file holds no configuration; at least store.url is required")
        #expect(
            Self.error(Self.storeOnly + "\npolicy: { subscriber_ranges: [100.64.0.1/10] }\n", purpose: .storeClient)?
                .hasPrefix("F:4:31: policy.subscriber_ranges[0]: 100.64.0.1/10 has host bits set") == true)
        #expect(
            Self.error(Self.storeOnly + "\nqueue: { numbers: [0, 2] }\n", purpose: .storeClient)?
                .contains("queue.numbers: queue numbers must form one contiguous range") == true)
        #expect(
            Self.error(Self.storeOnly + "\npolicy: { mode: shadow }\n", purpose: .storeClient)?
                .contains("policy.subscriber_ranges: required key is missing") == true)
        #expect(
            Self.error(Self.storeOnly + "\nqueue: { numbrs: [0] }\n", purpose: .storeClient)?
                .contains("unknown key \"numbrs\"") == true)
    }

    @Test("the commented store: block of deploy/egress25.yaml parses once uncommented")
    func referenceStoreBlock() throws {
        let text = try readTextFile(packageRoot + "/deploy/egress25.yaml")
        var block: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if block.isEmpty {
                if line == "# store:" { block.append("store:") }
            } else if line.hasPrefix("#   ") {
                block.append(String(line.dropFirst(2)))
            } else {
                break
            }
        }
        #expect(block.count > 4, "deploy/egress25.yaml has no commented `# store:` block")
        let store = try Self.store(Self.policy + block.joined(separator: "\n") + "\n")
        guard case .postgresql(let location) = store.location else {
            Issue.record("expected PostgreSQL")
            return
        }
        #expect(location.passwordFile?.hasPrefix("/") == true)
        #expect(store.maxStalenessSeconds == 3600)
        // The file as shipped keeps the SQLite default.
        let shipped = try ConfigurationLoader.load(path: packageRoot + "/deploy/egress25.yaml")
        #expect(shipped.store.location == .sqlite(path: "/var/lib/egress25/exceptions.sqlite"))
        #expect(shipped.store.nodeName == "edge-1")
    }
}
