import BlockLog
import Egress25AdminAPI
import Egress25Configuration
import Egress25Core
import Egress25Operations
import ExceptionStore
import Foundation
import HTTPTypes
import OpenAPIRuntime

/// The handlers of `/api/v1`, generated from `openapi.yaml` (``APIProtocol``). Each one checks the caller's role
/// (``Principal/current``, set by ``APIAuthenticationMiddleware``), runs the same code egress25ctl runs
/// (Egress25Operations, ExceptionStore) on the store's threads, and maps the answer to the generated types. Errors
/// are thrown as ``APIProblem`` or ``OperationError`` and become problem documents in ``ProblemMiddleware``.
public struct AdminAPI: APIProtocol {
    let state: AdminState

    /// The handlers over `state`.
    public init(state: AdminState) {
        self.state = state
    }

    /// The most rows `blocked/export` returns; a larger export gets 422 (narrow the window, or use `egress25ctl
    /// blocked export`, which streams).
    public static let maximumExportRows = 200_000

    // MARK: - Me, check

    /// `GET /me`: the caller's token name, role and expiry. Any role.
    public func getMe(_ input: Operations.GetMe.Input) async throws -> Operations.GetMe.Output {
        let principal = try require(Permission.anyone)
        return .ok(
            .init(
                body: .json(
                    .init(
                        name: principal.name, role: .init(rawValue: principal.role.rawValue) ?? .support,
                        expiresAt: principal.expiresAt.map(date)))))
    }

    /// `GET /check`: the verdict egress25d gives a SYN, explained as `egress25ctl check` does. Support, abuse, ops.
    public func checkFlow(_ input: Operations.CheckFlow.Input) async throws -> Operations.CheckFlow.Output {
        try require(Permission.explain)
        try APIConstraints.check(input.query.source, "source", .address)
        try APIConstraints.check(input.query.destination, "destination", .address)
        try APIConstraints.check(input.query.at, "at", .instant)
        let explanation = try await state.check.explain(
            source: input.query.source, destination: input.query.destination, port: input.query.port ?? 25,
            at: input.query.at)
        return .ok(.init(body: .json(Self.checkResult(explanation))))
    }

    static func checkResult(_ explanation: PolicyExplanation) -> Components.Schemas.CheckResult {
        let decision = explanation.decision
        var exception: Components.Schemas.CheckException?
        if let rule = explanation.exception {
            let lease = explanation.lease(of: rule).map {
                Components.Schemas.Lease(
                    prefix: $0.prefix.description, until: date($0.end), expired: $0.end <= explanation.time)
            }
            exception = .init(
                id: rule.id, customer: rule.customer, sources: rule.sources.map(\.description),
                destinations: destinations(rule.destinations), expiresAt: rule.expiresAt.map(date), lease: lease,
                ticket: rule.ticket, reason: rule.reason)
        }
        let relay = explanation.relay.map { relay in
            Components.Schemas.Relay(host: relay.prefix.description, ports: relay.ports.map { $0.map(Int.init) } ?? [])
        }
        return .init(
            verdict: decision.verdict == .accept ? .accept : .block, shadow: decision.shadow,
            reason: "\(decision.reason.label)", explanation: explanation.reasonText,
            source: explanation.flow.source.description, destination: explanation.flow.destination.description,
            port: Int(explanation.flow.destinationPort), at: date(explanation.time),
            mode: explanation.snapshot.policy.mode.rawValue,
            blockAction: explanation.configuration.policy.blockAction == .drop ? .drop : .reject,
            customer: explanation.customer, exception: exception, relay: relay)
    }

    // MARK: - Customers and exceptions

    /// `GET /customers?query=`: customers by id, name (substring) or an address they hold. Support.
    public func searchCustomers(
        _ input: Operations.SearchCustomers.Input
    ) async throws -> Operations.SearchCustomers.Output {
        try require(Permission.customers)
        try APIConstraints.check(input.query.query, "query", .searchQuery)
        let limit = input.query.limit ?? 100
        guard (1...1000).contains(limit) else {
            throw APIProblem.badRequest("limit \(limit) is outside 1...1000", field: "limit")
        }
        let result = try await state.searchCustomers(query: input.query.query, limit: limit)
        return .ok(
            .init(
                body: .json(
                    .init(
                        customers: result.customers.map { summary in
                            .init(
                                id: summary.customer.id, name: summary.customer.name, note: summary.customer.note,
                                createdAt: date(summary.customer.createdAt),
                                autoCreated: summary.customer.autoCreated, addresses: summary.addresses,
                                activeExceptions: summary.activeExceptions)
                        }, truncated: result.truncated))))
    }

    /// `POST /customers`: adds a customer (201); 409 when it exists. Support.
    public func createCustomer(
        _ input: Operations.CreateCustomer.Input
    ) async throws -> Operations.CreateCustomer.Output {
        let principal = try require(Permission.customers)
        guard case .json(let body) = input.body else {
            throw APIProblem.badRequest("a JSON body is required", field: "body")
        }
        try APIConstraints.check(body.id, "body.id", .customerID)
        try APIConstraints.check(body.name, "body.name", .text(0...200))
        try APIConstraints.check(body.note, "body.note", .text(0...1000))
        let customer = try await state.write(principal, field: "body") { store in
            try store.addCustomer(id: body.id, name: body.name, note: body.note, actor: principal.name)
        }
        return .created(
            .init(
                body: .json(
                    .init(
                        id: customer.id, name: customer.name, note: customer.note, createdAt: date(customer.createdAt),
                        autoCreated: customer.autoCreated))))
    }

    /// `GET /customers/{id}`: bindings, sessions and every exception with its status; 404 when unknown. Support.
    public func getCustomer(_ input: Operations.GetCustomer.Input) async throws -> Operations.GetCustomer.Output {
        try require(Permission.customers)
        let detail = try await state.customerDetail(id: try Self.pathID(input.path.id))
        let now = detail.now
        return .ok(
            .init(
                body: .json(
                    .init(
                        id: detail.customer.id, name: detail.customer.name, note: detail.customer.note,
                        createdAt: date(detail.customer.createdAt), autoCreated: detail.customer.autoCreated,
                        bindings: detail.bindings.filter { $0.kind == .static }.map { Self.binding($0, now: now) },
                        sessions: detail.bindings.filter { $0.kind == .session }.map { Self.binding($0, now: now) },
                        exceptions: detail.exceptions.map { Self.exception($0, now: now) }))))
    }

    /// `POST /customers/{id}/exceptions`: grants an exception (201 with its id), audited under the token. Support.
    public func grantException(
        _ input: Operations.GrantException.Input
    ) async throws -> Operations.GrantException.Output {
        let principal = try require(Permission.customers)
        guard case .json(let body) = input.body else {
            throw APIProblem.badRequest("a JSON body is required", field: "body")
        }
        var destinations: [String] = []
        switch body.destinations {
        case .AnyDestination: destinations = []
        case .DestinationPrefixes(let prefixes):
            guard !prefixes.isEmpty else {
                throw APIProblem.badRequest(
                    "destinations is empty: give \"any\" or at least one address or CIDR prefix",
                    field: "body.destinations")
            }
            guard prefixes.count <= 100 else {
                throw APIProblem.badRequest(
                    "destinations has \(prefixes.count) entries; at most 100", field: "body.destinations")
            }
            for prefix in prefixes { try APIConstraints.check(prefix, "body.destinations", .addressOrPrefix) }
            destinations = prefixes
        }
        try APIConstraints.check(body.duration, "body.duration", .duration)
        try APIConstraints.check(body.expiresAt, "body.expires_at", .expiresAt)
        try APIConstraints.check(body.reason, "body.reason", .text(1...500))
        try APIConstraints.check(body.ticket, "body.ticket", .text(0...100))
        let granted = try await state.grant(
            principal: principal, customer: try Self.pathID(input.path.id), destinations: destinations,
            duration: body.duration,
            expires: body.expiresAt, reason: body.reason, ticket: body.ticket)
        return .created(
            .init(
                body: .json(
                    .init(
                        id: granted.exception.id, customer: granted.exception.customer,
                        expiresAt: granted.exception.expiresAt.map(date),
                        holdsAddress: !granted.bindingsInForce.isEmpty))))
    }

    /// `GET /exceptions/{id}`: one exception with its status; 404 when unknown. Support, abuse.
    public func getException(_ input: Operations.GetException.Input) async throws -> Operations.GetException.Output {
        try require(Permission.readException)
        let id = try Self.pathID(input.path.id)
        let now = UTCTime.now()
        let exception = try await state.read { store in try store.exception(id: id) }
        guard let exception else { throw APIProblem(.notFound, title: "Not found", detail: "unknown exception \(id)") }
        return .ok(.init(body: .json(Self.exception(exception, now: now))))
    }

    /// `POST /exceptions/{id}/revoke`: revokes (200); 404 unknown, 409 revoked already. Support.
    public func revokeException(
        _ input: Operations.RevokeException.Input
    ) async throws -> Operations.RevokeException.Output {
        let principal = try require(Permission.customers)
        guard case .json(let body) = input.body else {
            throw APIProblem.badRequest("a JSON body is required", field: "body")
        }
        try APIConstraints.check(body.reason, "body.reason", .text(1...500))
        let id = try Self.pathID(input.path.id)
        let revoked = try await state.write(principal, field: "body.reason") { store in
            try store.revokeException(id: id, reason: body.reason, by: principal.name)
        }
        return .ok(.init(body: .json(Self.exception(revoked, now: UTCTime.now()))))
    }

    // MARK: - Audit

    /// `GET /audit`: the newest audit entries (oldest first), by customer and time. Support, abuse.
    public func listAudit(_ input: Operations.ListAudit.Input) async throws -> Operations.ListAudit.Output {
        try require(Permission.audit)
        let limit = input.query.limit ?? 200
        guard (1...10_000).contains(limit) else {
            throw APIProblem.badRequest("limit \(limit) is outside 1...10000", field: "limit")
        }
        try APIConstraints.check(input.query.customer, "customer", .customerID)
        try APIConstraints.check(input.query.since, "since", .instant)
        let since = try input.query.since.map { text throws(OperationError) in
            try BlockedAttemptSource.instant(text, field: "since", now: UTCTime.now())
        }
        let customer = input.query.customer
        let entries = try await state.read { store in
            try store.auditEntries(since: since, customer: customer, limit: limit)
        }
        return .ok(.init(body: .json(.init(entries: entries.map(Self.auditEntry)))))
    }

    static func auditEntry(_ entry: AuditEntry) -> Components.Schemas.AuditEntry {
        .init(
            sequence: entry.sequence, at: date(entry.at), actor: entry.actor, role: entry.role, action: entry.action,
            customer: entry.customer, objectId: entry.objectID, before: object(entry.before),
            after: object(entry.after), osUser: entry.osUser, sudoUser: entry.sudoUser)
    }

    // MARK: - Block log

    /// `GET /blocked`: blocked attempts by source, customer, destination and time. Abuse.
    public func queryBlocked(_ input: Operations.QueryBlocked.Input) async throws -> Operations.QueryBlocked.Output {
        try require(Permission.abuseDesk)
        let query = input.query
        try APIConstraints.checkFilters(
            source: query.source, customer: query.customer, destination: query.destination, since: query.since,
            until: query.until, node: query.node)
        let limit = query.limit ?? 1000
        guard (1...10_000).contains(limit) else {
            throw APIProblem.badRequest("limit \(limit) is outside 1...10000", field: "limit")
        }
        let filter = try BlockedAttemptSource.filter(
            source: query.source, customer: query.customer, destination: query.destination, since: query.since,
            until: query.until, now: UTCTime.now())
        let records = try await state.blocked(node: query.node) { source in
            try source.query(filter, limit: limit + 1)
        }
        return .ok(
            .init(
                body: .json(
                    .init(attempts: records.prefix(limit).map(Self.blockedAttempt), truncated: records.count > limit))))
    }

    /// `GET /blocked/top`: top sources, customers or destinations with their fan-out. Abuse.
    public func topBlocked(_ input: Operations.TopBlocked.Input) async throws -> Operations.TopBlocked.Output {
        try require(Permission.abuseDesk)
        let query = input.query
        try APIConstraints.checkFilters(
            source: nil, customer: nil, destination: nil, since: query.since, until: query.until, node: query.node)
        let limit = query.limit ?? 20
        guard (1...1000).contains(limit) else {
            throw APIProblem.badRequest("limit \(limit) is outside 1...1000", field: "limit")
        }
        let now = UTCTime.now()
        let filter = try BlockedAttemptSource.filter(since: query.since ?? "24h", until: query.until, now: now)
        let grouping = BlockLogGrouping(rawValue: (query.by ?? .source).rawValue) ?? .source
        let entries = try await state.blocked(node: query.node) { source in
            try source.top(by: grouping, filter: filter, limit: limit)
        }
        return .ok(
            .init(
                body: .json(
                    .init(
                        by: query.by ?? .source, since: dateMilliseconds(filter.sinceMilliseconds ?? 0),
                        until: dateMilliseconds(filter.untilMilliseconds ?? now * 1000),
                        entries: entries.map { entry in
                            .init(
                                key: entry.key, attempts: entry.attempts, syns: entry.syns,
                                destinations: entry.destinations, sources: entry.sources,
                                firstSeen: dateMilliseconds(entry.firstSeenMilliseconds),
                                lastSeen: dateMilliseconds(entry.lastSeenMilliseconds))
                        }))))
    }

    /// `GET /blocked/timeline`: attempts per time bucket. Abuse.
    public func blockedTimeline(
        _ input: Operations.BlockedTimeline.Input
    ) async throws -> Operations.BlockedTimeline.Output {
        try require(Permission.abuseDesk)
        let query = input.query
        try APIConstraints.checkFilters(
            source: query.source, customer: query.customer, destination: query.destination, since: query.since,
            until: query.until, node: query.node)
        let now = UTCTime.now()
        let filter = try BlockedAttemptSource.filter(
            source: query.source, customer: query.customer, destination: query.destination,
            since: query.since ?? "24h", until: query.until, now: now)
        let since = (filter.sinceMilliseconds ?? 0) / 1000
        let until = (filter.untilMilliseconds ?? now * 1000) / 1000
        let bucket = Int64(query.bucket ?? Self.defaultBucketSeconds(span: until - since))
        guard (60...86400).contains(bucket) else {
            throw APIProblem.badRequest("bucket \(bucket) is outside 60...86400 seconds", field: "bucket")
        }
        let buckets = try await state.blocked(node: query.node) { source in
            try source.timeline(filter, bucketSeconds: bucket)
        }
        return .ok(
            .init(
                body: .json(
                    .init(
                        bucketSeconds: Int(bucket), since: date(since), until: date(until),
                        buckets: buckets.map { bucket in
                            .init(
                                start: dateMilliseconds(bucket.startMilliseconds), attempts: bucket.attempts,
                                syns: bucket.syns, destinations: bucket.destinations)
                        }))))
    }

    /// About 48-96 buckets over `span` seconds, in round sizes (1 min ... 1 d).
    public static func defaultBucketSeconds(span: Int64) -> Int {
        let sizes = [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
        return sizes.first { Int64($0) * 96 >= span } ?? 86400
    }

    /// `GET /blocked/export`: CSV, JSON rows or X-ARF reports (at most ``maximumExportRows`` rows). Abuse.
    public func exportBlocked(_ input: Operations.ExportBlocked.Input) async throws -> Operations.ExportBlocked.Output {
        try require(Permission.abuseDesk)
        let query = input.query
        try APIConstraints.checkFilters(
            source: query.source, customer: query.customer, destination: query.destination, since: query.since,
            until: query.until, node: query.node)
        let filter = try BlockedAttemptSource.filter(
            source: query.source, customer: query.customer, destination: query.destination, since: query.since,
            until: query.until, now: UTCTime.now())
        let export = try await state.export(format: query.format.rawValue, filter: filter, node: query.node)
        switch export {
        case .csv(let text):
            return .ok(.init(body: .csv(HTTPBody(text))))
        case .json(let objects):
            let containers = try objects.map { text in
                try JSONDecoder().decode(OpenAPIObjectContainer.self, from: Data(text.utf8))
            }
            return .ok(.init(body: .json(containers)))
        }
    }

    // MARK: - Suspects, nodes, the document

    /// `GET /suspects`: sources over the suspect thresholds, once per window, with the evidence. Abuse.
    public func listSuspects(_ input: Operations.ListSuspects.Input) async throws -> Operations.ListSuspects.Output {
        try require(Permission.abuseDesk)
        try APIConstraints.check(input.query.since, "since", .instant)
        let now = UTCTime.now()
        let since = try BlockedAttemptSource.instant(input.query.since ?? "24h", field: "since", now: now)
        let suspects = try await state.suspects(since: since, until: now)
        let settings = state.configuration.abuse
        return .ok(
            .init(
                body: .json(
                    .init(
                        windowSeconds: Int(settings.windowSeconds),
                        thresholds: .init(
                            distinctDestinations: Int(settings.distinctDestinations),
                            synsPerMinute: Int(settings.synsPerMinute)),
                        suspects: suspects.map { suspect in
                            .init(
                                source: suspect.source, customer: suspect.customer,
                                windowStart: date(suspect.windowStart), windowEnd: date(suspect.windowEnd),
                                attempts: suspect.attempts, distinctDestinations: suspect.distinctDestinations,
                                synsPerMinute: suspect.synsPerMinute,
                                firstSeen: dateMilliseconds(suspect.firstSeenMilliseconds),
                                lastSeen: dateMilliseconds(suspect.lastSeenMilliseconds),
                                topDestinations: suspect.topDestinations, nodes: suspect.nodes,
                                reasons: suspect.reasons.compactMap { .init(rawValue: $0.rawValue) })
                        }))))
    }

    /// `GET /nodes`: the routers, their health, policy generation and lag. Ops.
    public func listNodes(_ input: Operations.ListNodes.Input) async throws -> Operations.ListNodes.Output {
        try require(Permission.operations)
        let nodes = try await state.nodes.nodes()
        return .ok(
            .init(
                body: .json(
                    .init(
                        nodes: nodes.map { node in
                            .init(
                                name: node.name, role: node.role, healthy: node.healthy,
                                lastHeartbeat: node.lastHeartbeat.map(date), policyGeneration: node.policyGeneration,
                                policyDataAt: node.policyDataAt.map(date), lagSeconds: node.lagSeconds,
                                startedAt: node.startedAt.map(date), shippingLagSeconds: node.shippingLagSeconds,
                                detail: node.detail)
                        }))))
    }

    /// `GET /openapi.yaml`: this API's OpenAPI document, as committed. No token needed.
    public func getOpenAPIDocument(
        _ input: Operations.GetOpenAPIDocument.Input
    ) async throws -> Operations.GetOpenAPIDocument.Output {
        .ok(.init(body: .yaml(HTTPBody(OpenAPIDocument.yaml))))
    }

    // MARK: - Helpers

    /// A path id (customer or exception): 1-64 characters from `A-Z a-z 0-9 . _ : @ -`, as the store writes
    /// them. Anything else (a NUL, a slash, 5,000 characters) is a 400 naming `id` before the store is asked.
    /// - Throws: ``APIProblem`` (400).
    static func pathID(_ id: String) throws -> String {
        guard isValidID(id) else {
            throw APIProblem.badRequest(
                "id \(String(id.prefix(80)).debugDescription) must be 1-64 characters from A-Z a-z 0-9 . _ : @ -",
                field: "id")
        }
        return id
    }

    /// Whether `id` is 1-64 characters from `A-Z a-z 0-9 . _ : @ -`.
    static func isValidID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count)
            && id.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"),
                    UInt8(ascii: "@"), UInt8(ascii: "-"):
                    return true
                default: return false
                }
            }
    }

    /// The current principal when its role may do what `roles` allow.
    /// - Throws: ``APIProblem``: 401 without a principal, 403 for another role.
    @discardableResult
    func require(_ roles: Set<APIRole>) throws -> Principal {
        guard let principal = Principal.current else {
            throw APIProblem.unauthorized("a bearer token is required (Authorization: Bearer TOKEN)")
        }
        guard principal.may(roles) else {
            let allowed = roles.map(\.rawValue).sorted().joined(separator: ", ")
            throw APIProblem.forbidden(
                "role \(principal.role.rawValue) may not do this; it needs one of: \(allowed), admin")
        }
        return principal
    }

    static func binding(_ binding: AddressBinding, now: Int64) -> Components.Schemas.Binding {
        .init(
            id: binding.id, customer: binding.customer, prefix: binding.prefix.description,
            kind: binding.kind == .static ? ._static : .session, validFrom: date(binding.validFrom),
            validUntil: binding.validUntil.map(date), leaseUntil: binding.leaseUntil.map(date),
            inForce: binding.isInForce(at: now))
    }

    static func exception(_ exception: StoredException, now: Int64) -> Components.Schemas.Exception {
        let status: Components.Schemas.Exception.StatusPayload
        switch exception.status(at: now) {
        case .active: status = .active
        case .expired: status = .expired
        case .revoked: status = .revoked
        }
        return .init(
            id: exception.id, customer: exception.customer, destinations: destinations(exception.destinations),
            expiresAt: exception.expiresAt.map(date), reason: exception.reason, ticket: exception.ticket,
            grantedBy: exception.grantedBy, createdAt: date(exception.createdAt),
            revocation: exception.revocation.map { .init(at: date($0.at), by: $0.by, reason: $0.reason) },
            status: status)
    }

    static func blockedAttempt(_ record: BlockedRecord) -> Components.Schemas.BlockedAttempt {
        .init(
            firstSeen: dateMilliseconds(record.firstSeenMilliseconds),
            lastSeen: dateMilliseconds(record.lastSeenMilliseconds), source: record.source.description,
            destination: record.destination.description, destinationPort: Int(record.destinationPort),
            attempts: record.attempts, syns: record.syns, customer: record.customer,
            reason: record.reason.description, exceptionId: record.exceptionID, nodeName: record.nodeName)
    }

    static func destinations(_ scope: DestinationScope) -> Components.Schemas.Destinations {
        switch scope {
        case .any: return .AnyDestination(.any)
        case .prefixes(let prefixes): return .DestinationPrefixes(prefixes.map(\.description))
        }
    }

    static func object(_ json: String?) -> OpenAPIObjectContainer? {
        guard let json else { return nil }
        return try? JSONDecoder().decode(OpenAPIObjectContainer.self, from: Data(json.utf8))
    }
}

/// UTC seconds as a `Date`.
func date(_ seconds: Int64) -> Date {
    Date(timeIntervalSince1970: TimeInterval(seconds))
}

/// UTC milliseconds as a `Date`.
func dateMilliseconds(_ milliseconds: Int64) -> Date {
    Date(timeIntervalSince1970: TimeInterval(milliseconds) / 1000)
}
