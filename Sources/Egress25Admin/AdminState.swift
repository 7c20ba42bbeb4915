import AsyncHTTPClient
import BlockLog
import Egress25Configuration
import Egress25Core
import Egress25Operations
import ExceptionStore
import Foundation
import HTTPTypes
import Logging

/// What egress25-admin's handlers share: the configuration, the store (on threads of its own), the token and
/// session checks, the explanation cache and the routers' monitor. The API and the console call the same
/// operations here, so the two answer alike.
public final class AdminState: Sendable {
    /// The configuration the server was started with.
    public let configuration: Egress25Configuration
    /// Runs the store's blocking calls.
    public let executor: StoreExecutor
    /// Checks bearer tokens.
    public let authenticator: TokenAuthenticator
    /// Console logins.
    public let sessions: ConsoleSessions
    /// Explains verdicts.
    public let check: CheckService
    /// The routers' state.
    public let nodes: NodeMonitor
    /// The server's logger.
    public let logger: Logger
    /// The RADIUS feed's counters (`GET /metrics`); they stay at 0 without `session_feed.radius`.
    public let radiusMetrics = RadiusMetrics()

    /// Assembles the state over open stores.
    /// - Parameter failureWindowMilliseconds: The window of the authentication failure limit (a minute).
    public init(
        configuration: Egress25Configuration, executor: StoreExecutor, httpClient: HTTPClient, logger: Logger,
        failureWindowMilliseconds: Int64 = 60_000
    ) {
        self.configuration = configuration
        self.executor = executor
        self.logger = logger
        authenticator = TokenAuthenticator(
            executor: executor, failuresPerMinute: configuration.admin.loginFailuresPerMinute,
            failureWindowMilliseconds: failureWindowMilliseconds, logger: logger)
        sessions = ConsoleSessions(lifetimeSeconds: configuration.admin.sessionLifetimeSeconds)
        check = CheckService(configuration: configuration, executor: executor)
        nodes = NodeMonitor(configuration: configuration, executor: executor, httpClient: httpClient)
    }

    // MARK: - Store access

    /// Runs a read on the store's threads.
    /// - Throws: ``OperationError`` for the store's errors; what `body` throws otherwise.
    public func read<T: Sendable>(_ body: @Sendable @escaping (ExceptionStore) throws -> T) async throws -> T {
        try await executor.run { store in try Self.mappingStoreErrors(field: "body") { try body(store) } }
    }

    /// Runs a change on the store's threads, audited under `principal`'s name and role; `field` names the input
    /// an invalid-argument error is about.
    /// - Throws: ``OperationError`` for the store's errors; what `body` throws otherwise.
    public func write<T: Sendable>(
        _ principal: Principal, field: String, _ body: @Sendable @escaping (ExceptionStore) throws -> T
    ) async throws -> T {
        let identity = principal.auditIdentity()
        let result = try await executor.run { store in
            try Self.mappingStoreErrors(field: field) { try body(store.recording(identity)) }
        }
        check.invalidate()
        return result
    }

    static func mappingStoreErrors<T>(field: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as ExceptionStoreError {
            throw OperationError(error, field: field)
        }
    }

    // MARK: - Customers

    /// A customer with what it holds, for the search results.
    public struct CustomerSummary: Sendable {
        /// The customer.
        public var customer: Customer
        /// The prefixes it holds now.
        public var addresses: [String]
        /// Its active exceptions' ids.
        public var activeExceptions: [String]
    }

    /// Customers matching `query`: an address (the customers holding it now), else a case-insensitive substring
    /// of the id or name; every customer when `query` is empty. At most `limit`, ordered by id.
    /// - Throws: ``OperationError``.
    public func searchCustomers(
        query: String?, limit: Int
    ) async throws -> (customers: [CustomerSummary], truncated: Bool) {
        let now = UTCTime.now()
        let text = (query ?? "").trimmingCharacters(in: .whitespaces)
        let address = try? IPPrefix(parsing: text)
        return try await read { store in
            let bindings = try store.bindings(inForceAt: now)
            let byCustomer = Dictionary(grouping: bindings, by: \.customer)
            var customers = try store.customers()
            if let address {
                let holders = Set(
                    bindings.filter { $0.prefix.contains(address) || address.contains($0.prefix) }.map(\.customer))
                customers = customers.filter { holders.contains($0.id) }
            } else if !text.isEmpty {
                let needle = text.lowercased()
                customers = customers.filter {
                    $0.id.lowercased().contains(needle) || ($0.name?.lowercased().contains(needle) ?? false)
                }
            }
            let truncated = customers.count > limit
            let page = Array(customers.prefix(limit))
            let pageIDs = Set(page.map(\.id))
            let active = try store.exceptions(status: .active, now: now).filter { pageIDs.contains($0.customer) }
            let activeByCustomer = Dictionary(grouping: active, by: \.customer)
            return (
                page.map { customer in
                    CustomerSummary(
                        customer: customer,
                        addresses: (byCustomer[customer.id] ?? []).map(\.prefix.description),
                        activeExceptions: (activeByCustomer[customer.id] ?? []).map(\.id))
                }, truncated
            )
        }
    }

    /// One customer's page: the customer, its bindings in force, all its exceptions, read in one go.
    public struct CustomerDetail: Sendable {
        /// The customer.
        public var customer: Customer
        /// Bindings in force at `now` (static and sessions).
        public var bindings: [AddressBinding]
        /// Every exception, with any status.
        public var exceptions: [StoredException]
        /// When it was read, UTC seconds.
        public var now: Int64
    }

    /// The customer `id` with its bindings in force and every exception.
    /// - Throws: ``OperationError`` (`notFound` for an unknown customer).
    public func customerDetail(id: String) async throws -> CustomerDetail {
        let now = UTCTime.now()
        return try await read { store in
            guard let customer = try store.customer(id: id) else {
                throw ExceptionStoreError(.unknownCustomer, "unknown customer \(id)")
            }
            return CustomerDetail(
                customer: customer, bindings: try store.bindings(customer: id, inForceAt: now),
                exceptions: try store.exceptions(customer: id, status: .all, now: now), now: now)
        }
    }

    /// Grants an exception as `principal` (the grantor and audit actor), from the API's or the console's input.
    /// - Throws: ``OperationError`` (invalid input naming the `body.` field, `notFound` for an unknown customer).
    public func grant(
        principal: Principal, customer: String, destinations: [String], duration: String?, expires: String?,
        reason: String, ticket: String?
    ) async throws -> GrantedException {
        let now = UTCTime.now()
        let input: (grant: ExceptionGrant, warnings: [String])
        do {
            input = try ExceptionGrantInput.grant(
                customer: customer, destinations: destinations, duration: duration, expires: expires,
                permanent: false, reason: reason, ticket: ticket, grantedBy: principal.name, now: now)
        } catch {
            throw APIProblem(error, fieldPrefix: "body.")
        }
        let grant = input.grant
        return try await write(principal, field: "body.reason") { store in
            try store.grantException(grant, now: now)
        }
    }

    // MARK: - Block log

    /// Runs `body` on the block log (the router's segments or the fleet's) on the store's threads.
    /// - Throws: ``OperationError`` (`notFound` without a block log, `unavailable`), or the block log's error.
    public func blocked<T: Sendable>(
        node: String?, _ body: @Sendable @escaping (BlockedAttemptSource) throws -> T
    ) async throws -> T {
        let configuration = self.configuration
        return try await executor.run { store in
            let source = try BlockedAttemptSource.open(configuration: configuration, node: node, store: store)
            return try body(source)
        }
    }

    /// An export's content.
    public enum Export: Sendable {
        /// CSV text with a header line.
        case csv(String)
        /// JSON objects, one per row (json) or per source (xarf).
        case json([String])
    }

    /// The attempts `filter` selects as `csv`, `json` rows or `xarf` reports (one per source).
    /// - Throws: ``APIProblem`` 422 when more than ``AdminAPI/maximumExportRows`` rows match; ``OperationError``.
    public func export(format: String, filter: BlockLogFilter, node: String?) async throws -> Export {
        let reporterContact = configuration.abuse.reporterContact ?? "abuse@\(configuration.nodeName)"
        let domain = String(reporterContact.split(separator: "@").last ?? "")
        let reporter = BlockLogExport.Reporter(organization: domain, contact: reporterContact, domain: domain)
        let limit = AdminAPI.maximumExportRows
        let tooMany = APIProblem(
            .unprocessableContent, title: "Export too large",
            detail:
                "more than \(limit) rows match: narrow since/until or the source, or use egress25ctl blocked export",
            field: "since")
        return try await blocked(node: node) { source in
            switch format {
            case "csv":
                var lines = [BlockLogExport.csvHeader]
                try source.forEach(filter) { record in
                    guard lines.count <= limit else { throw tooMany }
                    lines.append(BlockLogExport.csvLine(record))
                }
                return .csv(lines.joined(separator: "\n") + "\n")
            case "xarf":
                let reports = try source.sourceSummaries(filter).map {
                    BlockLogExport.xarfReport($0, reporter: reporter, nodeName: source.nodeName)
                }
                return .json(reports)
            default:
                var objects: [String] = []
                try source.forEach(filter) { record in
                    guard objects.count < limit else { throw tooMany }
                    objects.append(BlockLogExport.jsonObject(record))
                }
                return .json(objects)
            }
        }
    }

    /// Suspects whose windows overlap [`since`, `until`) (UTC seconds), by the configuration's thresholds.
    /// - Throws: ``OperationError``, or the block log's error.
    public func suspects(since: Int64, until: Int64) async throws -> [Suspect] {
        let settings = configuration.abuse
        return try await blocked(node: nil) { source in
            try SuspectDetector.suspects(in: source, since: since, until: until, settings: settings)
        }
    }
}
