import AsyncHTTPClient
import Egress25Configuration
import Egress25Core
import ExceptionStore
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// One router as the operations page and `GET /api/v1/nodes` show it.
public struct NodeStatus: Hashable, Sendable {
    /// The router's node name.
    public var name: String
    /// Its database role (fleet), or `local` for the router this server runs beside.
    public var role: String
    /// Whether it is healthy: a heartbeat within 3 intervals (fleet), or `/healthz` answering 200 (local).
    public var healthy: Bool
    /// The last heartbeat (fleet) or the last successful `/healthz` (local), UTC seconds.
    public var lastHeartbeat: Int64?
    /// The policy generation in force.
    public var policyGeneration: Int64?
    /// When the policy data in force was read from the store, UTC seconds.
    public var policyDataAt: Int64?
    /// How far behind the store its policy is, seconds.
    public var lagSeconds: Double?
    /// When the daemon started, UTC seconds.
    public var startedAt: Int64?
    /// How old its oldest unshipped block-log row is, seconds (fleet).
    public var shippingLagSeconds: Double?
    /// Accepted and blocked SYNs per second since the previous look (local only: the fleet's routers expose
    /// their counters on their own `/metrics`).
    public var acceptedPerSecond: Double?
    /// Blocked SYNs per second since the previous look.
    public var blockedPerSecond: Double?
    /// One line on its state ("heartbeat 3 s ago", the `/healthz` text, the reason it is unhealthy).
    public var detail: String
}

/// Reads the routers' state: the fleet store's `node` rows, or the local egress25d's `/healthz` and `/metrics`
/// (`metrics.listen` of the same configuration).
public final class NodeMonitor: Sendable {
    /// A fleet router is unhealthy when its last heartbeat is older than this, seconds (3 heartbeats).
    public static let heartbeatStaleSeconds: Int64 = 15

    let configuration: Egress25Configuration
    let executor: StoreExecutor
    let httpClient: HTTPClient
    private let previousCounters = Mutex<(at: Int64, accepted: Double, blocked: Double)?>(nil)

    /// - Parameter httpClient: For the local daemon's metrics endpoint.
    public init(configuration: Egress25Configuration, executor: StoreExecutor, httpClient: HTTPClient) {
        self.configuration = configuration
        self.executor = executor
        self.httpClient = httpClient
    }

    /// Every router's status, ordered by name.
    /// - Throws: ``ExceptionStoreError`` when the fleet store cannot be read.
    public func nodes(now: Int64 = UTCTime.now()) async throws -> [NodeStatus] {
        if case .postgresql = configuration.store.location {
            let records = try await executor.run { store in try store.nodes() }
            return records.map { Self.status(of: $0, now: now) }
        }
        return [await localStatus(now: now)]
    }

    static func status(of record: NodeRecord, now: Int64) -> NodeStatus {
        let age = record.lastHeartbeat.map { now - $0 }
        let healthy = age.map { $0 <= heartbeatStaleSeconds } ?? false
        var detail: String
        if let age {
            detail = "heartbeat \(age) s ago"
            if !healthy { detail += ": no heartbeat for more than \(heartbeatStaleSeconds) s" }
        } else {
            detail = "no heartbeat yet"
        }
        return NodeStatus(
            name: record.name, role: record.databaseRole, healthy: healthy, lastHeartbeat: record.lastHeartbeat,
            policyGeneration: record.policyGeneration, policyDataAt: record.policyDataAt,
            lagSeconds: record.policyDataAt.map { Double(max(0, now - $0)) }, startedAt: record.startedAt,
            shippingLagSeconds: record.shippingLag.map(Double.init), acceptedPerSecond: nil, blockedPerSecond: nil,
            detail: detail)
    }

    func localStatus(now: Int64) async -> NodeStatus {
        let base = "http://\(configuration.metrics.listen)"
        var status = NodeStatus(
            name: configuration.nodeName, role: "local", healthy: false, lastHeartbeat: nil, policyGeneration: nil,
            policyDataAt: nil, lagSeconds: nil, startedAt: nil, shippingLagSeconds: nil, acceptedPerSecond: nil,
            blockedPerSecond: nil, detail: "")
        do {
            let (code, health) = try await get(base + "/healthz")
            status.healthy = code == 200
            status.lastHeartbeat = code == 200 ? now : nil
            status.detail = health.trimmingCharacters(in: .whitespacesAndNewlines)
            let (_, metrics) = try await get(base + "/metrics")
            let samples = Self.samples(metrics)
            status.policyGeneration = samples["egress25_policy_generation"].map { Int64($0) }
            status.lagSeconds = samples["egress25_policy_data_age_seconds"]
            let accepted = samples["egress25_verdicts_by_action_total{verdict=\"accept\"}"] ?? 0
            let blocked = samples["egress25_verdicts_by_action_total{verdict=\"block\"}"] ?? 0
            let nowMilliseconds = UTCTime.nowMilliseconds()
            let previous = previousCounters.withLock { previous in
                defer { previous = (nowMilliseconds, accepted, blocked) }
                return previous
            }
            if let previous, nowMilliseconds > previous.at, accepted >= previous.accepted, blocked >= previous.blocked {
                let seconds = Double(nowMilliseconds - previous.at) / 1000
                status.acceptedPerSecond = (accepted - previous.accepted) / seconds
                status.blockedPerSecond = (blocked - previous.blocked) / seconds
            }
        } catch {
            status.detail = "egress25d's metrics endpoint \(base) does not answer: \(error)"
        }
        return status
    }

    func get(_ url: String) async throws -> (Int, String) {
        let response = try await httpClient.execute(HTTPClientRequest(url: url), timeout: .seconds(2))
        let body = try await response.body.collect(upTo: 4 * 1024 * 1024)
        return (Int(response.status.code), String(buffer: body))
    }

    /// The samples of a Prometheus text exposition: `name{labels}` → value (labels as written).
    static func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }
}
