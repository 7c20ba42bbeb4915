/// Maps a decision reason and address family to a verdict counter slot, without allocation: the slot the packet
/// judge returns and the daemon's `egress25_verdicts_total{reason, family}` counters are indexed by.
public enum ReasonCounter {
    /// One reason per slot pair, in slot order (payloads are irrelevant).
    public static let reasons: [DecisionReason] = [
        .relay(0), .exception(0), .blockedNoException, .blockedExceptionExpired(0), .blockedOutsideScope(0),
        .notSubscriber, .notPolicedPort, .notInitialSYN, .malformed,
    ]
    /// Reason labels, in slot order, as exported to metrics: `DecisionReason.label`, so they cannot drift.
    public static let labels = reasons.map { "\($0.label)" }
    /// Number of slots: two (IPv4, IPv6) per reason.
    public static let slots = labels.count * 2

    /// The slot of `reason` for an IPv4 (`ipv6 == false`) or IPv6 packet: `2 * position + (ipv6 ? 1 : 0)`,
    /// where `position` is the reason's place in ``reasons``.
    @inlinable @inline(__always)
    public static func index(reason: DecisionReason, ipv6: Bool) -> Int {
        let base: Int
        switch reason {
        case .relay: base = 0
        case .exception: base = 1
        case .blockedNoException: base = 2
        case .blockedExceptionExpired: base = 3
        case .blockedOutsideScope: base = 4
        case .notSubscriber: base = 5
        case .notPolicedPort: base = 6
        case .notInitialSYN: base = 7
        case .malformed: base = 8
        }
        return base * 2 + (ipv6 ? 1 : 0)
    }
}
