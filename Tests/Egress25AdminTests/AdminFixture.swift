import AsyncHTTPClient
import Egress25Admin
import Egress25Configuration
import Egress25Core
import Egress25TestSupport
import ExceptionStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging

/// A router's configuration, an SQLite store with a customer, an exception and one token per role, and
/// egress25-admin's router over them, for in-process tests.
struct AdminFixture {
    static let subscriber = "100.64.1.10"
    static let employerMX = "203.0.113.25"
    static let otherMX = "198.51.100.25"
    static let relay = "192.0.2.25"

    let directory: TemporaryDirectory
    let configuration: Egress25Configuration
    let store: ExceptionStore
    /// Token by role name, plus `"expired"` and `"revoked"`.
    let tokens: [String: String]
    let exceptionID: String
    /// The fleet store's database, when the fixture runs on PostgreSQL.
    let database: TestDatabase?

    /// - Parameter postgres: Run on a PostgreSQL database of its own (the fleet store) instead of SQLite.
    init(loginFailuresPerMinute: Int = 5, postgres: Bool = false, extraYAML: String = "") throws {
        let directory = TemporaryDirectory(prefix: "egress25-admin-test")
        let database = postgres ? try TestPostgres.makeDatabase(prefix: "admin") : nil
        let storeYAML = database.map { "store:\n  url: \($0.url)\n  node: edge-test-1" } ?? ""
        let path = directory.path + "/egress25.yaml"
        let yaml = """
            node_name: edge-test-1
            state_directory: \(directory.path)/state
            policy:
              subscriber_ranges: [100.64.0.0/10, "2001:db8:6400::/40"]
              relay_hosts: [\(Self.relay)]
            metrics:
              listen: 127.0.0.1:1
            admin:
              login_failures: \(loginFailuresPerMinute)
            \(storeYAML)
            \(extraYAML)
            """
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let configuration = try ConfigurationLoader.load(path: path)
        if database != nil { _ = try ExceptionStore.migrateSchema(at: configuration.store.location) }
        let store = try ExceptionStore(location: configuration.store.location, mode: .create)
        try store.addCustomer(id: "c-1001", name: "Telecommuter Ltd", actor: "setup")
        try store.addCustomer(id: "c-2002", name: "Other Home", actor: "setup")
        try store.bind(
            customer: "c-1001", prefix: try IPPrefix(parsing: Self.subscriber + "/32"), actor: "setup", plan: nil)
        let granted = try store.grantException(
            ExceptionGrant(
                customer: "c-1001", destinations: .prefixes([try IPPrefix(parsing: Self.employerMX + "/32")]),
                expiresAt: UTCTime.now() + 86400, reason: "employer mail server", ticket: "T-1",
                grantedBy: "setup"))
        var tokens: [String: String] = [:]
        for role in APIRole.allCases {
            tokens[role.rawValue] = try store.createAPIToken(
                name: "\(role.rawValue)-user", role: role, expiresAt: nil, actor: "setup"
            ).token
        }
        tokens["revoked"] = try store.createAPIToken(name: "gone", role: .admin, expiresAt: nil, actor: "setup").token
        try store.revokeAPIToken(name: "gone", actor: "setup")
        tokens["expired"] = try store.createAPIToken(
            name: "old", role: .admin, expiresAt: UTCTime.now() - 5, actor: "setup", now: UTCTime.now() - 10
        ).token
        self.directory = directory
        self.configuration = configuration
        self.store = store
        self.tokens = tokens
        self.exceptionID = granted.exception.id
        self.database = database
    }

    /// Runs `body` with a test client of the whole router.
    func withClient(_ body: @Sendable @escaping (any TestClientProtocol) async throws -> Void) async throws {
        let executor = StoreExecutor(stores: [store])
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        var logger = Logger(label: "egress25-admin-test")
        logger.logLevel = .warning
        // An hour's window for the failure limit: a starved test run must not slip past a minute's.
        let state = AdminState(
            configuration: configuration, executor: executor, httpClient: httpClient, logger: logger,
            failureWindowMilliseconds: 3_600_000)
        let router = try AdminServer.router(state: state)
        let application = Application(router: router, logger: logger)
        do {
            try await application.test(.router, body)
        } catch {
            try await httpClient.shutdown()
            try await executor.shutdown()
            throw error
        }
        try await httpClient.shutdown()
        try await executor.shutdown()
    }

    func cleanup() {
        directory.cleanup()
        try? database?.drop()
    }
}

extension TestClientProtocol {
    /// A request with `Authorization: Bearer token` (none when `token` is nil) and an optional JSON body.
    func call(
        _ method: HTTPRequest.Method, _ uri: String, token: String?, json: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil { headers[.contentType] = "application/json" }
        return try await execute(
            uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }
}

extension TestResponse {
    /// The body as a JSON object (empty when it is not one).
    var object: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(String(buffer: body).utf8))) as? [String: Any] ?? [:]
    }

    /// The body as text.
    var text: String { String(buffer: body) }
}
