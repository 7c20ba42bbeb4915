import Prometheus
import RadiusAccounting
import Synchronization

/// The RADIUS feed's Prometheus metrics, served on egress25-admin's `GET /metrics`:
/// `egress25_radius_requests_total{status,nas}` (valid Accounting-Requests by what became of them),
/// `egress25_radius_invalid_total{why}` (datagrams dropped unanswered, by ``RadiusInvalidReason``) and
/// `egress25_radius_sessions_active` (the feed's sessions in force, read from the store at scrape time).
public final class RadiusMetrics: Sendable {
    /// What became of a valid Accounting-Request: the label `status`.
    public enum Status: String, Sendable, CaseIterable {
        /// Committed to the store, then answered.
        case applied
        /// A retransmit or a repeat of something already committed (or stale: a Start from before the NAS's
        /// Accounting-On); answered, nothing written.
        case duplicate
        /// Refused by the store (a subscriber id that is no customer id, a prefix outside the address plan, an
        /// address another customer holds statically); answered, because a retransmit cannot fix it, and logged.
        case rejected
        /// The store could not commit the batch (database down, disk full): not answered, so the NAS retransmits.
        case storeError = "store_error"
        /// The commit queue was full (a storm beyond what the store commits): not answered, the NAS retransmits.
        case overload
    }

    /// The registry the series live in; ``render(activeSessions:)`` writes it out.
    let registry = PrometheusCollectorRegistry()
    private let invalidCounters: [RadiusInvalidReason: Counter]
    private let requests = Mutex<[String: Counter]>([:])

    /// Registers every `why` series at 0, so a dashboard sees them before the first bad datagram.
    public init() {
        var invalid: [RadiusInvalidReason: Counter] = [:]
        for reason in RadiusInvalidReason.allCases {
            invalid[reason] = registry.makeCounter(
                descriptor: Self.descriptor(
                    "egress25_radius_invalid_total", help: "RADIUS datagrams dropped unanswered, by reason."),
                labels: [("why", reason.rawValue)])
        }
        invalidCounters = invalid
    }

    /// Counts one dropped datagram.
    func invalid(_ reason: RadiusInvalidReason) {
        invalidCounters[reason]?.increment()
    }

    /// Adds `count` requests of `nas` with `status`.
    func requests(_ status: Status, nas: String, count: Int = 1) {
        guard count > 0 else { return }
        let key = status.rawValue + "\u{0}" + nas
        let counter = requests.withLock { counters -> Counter in
            if let counter = counters[key] { return counter }
            let counter = registry.makeCounter(
                descriptor: Self.descriptor(
                    "egress25_radius_requests_total",
                    help: "Valid RADIUS Accounting-Requests by outcome and NAS."),
                labels: [("status", status.rawValue), ("nas", nas)])
            counters[key] = counter
            return counter
        }
        counter.increment(by: Int64(count))
    }

    /// The exposition text (Prometheus text format 0.0.4), with the active-session gauge set first.
    /// - Parameter activeSessions: The feed's sessions in force, or `nil` when the store could not say (the gauge
    ///   keeps its last value).
    public func render(activeSessions: Int?) -> String {
        if let activeSessions {
            registry.makeGauge(
                descriptor: Self.descriptor(
                    "egress25_radius_sessions_active",
                    help: "Sessions from RADIUS accounting in force (open, lease not ended)."),
                labels: []
            ).set(Double(activeSessions))
        }
        return registry.emitToString()
    }

    private static func descriptor(_ name: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// The value of `egress25_radius_invalid_total{why}`.
    public func invalidCount(_ reason: RadiusInvalidReason) -> Int {
        Self.value(of: "egress25_radius_invalid_total{why=\"\(reason.rawValue)\"}", in: registry.emitToString())
    }

    /// The value of one series line `series` (name and labels as written) in the exposition `text`, 0 when
    /// absent.
    public static func value(of series: String, in text: String) -> Int {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Int(Double(line.dropFirst(series.count + 1)) ?? 0)
        }
        return 0
    }
}
