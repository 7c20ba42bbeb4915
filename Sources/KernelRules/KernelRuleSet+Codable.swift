import Egress25Configuration
import Egress25Core

/// JSON form of a ``KernelRuleSet`` (prefixes as text), for the last-applied rules file
/// (`<state_directory>/kernel-rules.last.json`).
extension KernelRuleSet: Codable {
    enum CodingKeys: String, CodingKey {
        case subscribersV4 = "subscribers_v4", subscribersV6 = "subscribers_v6", relaysV4 = "relays_v4"
        case relaysV6 = "relays_v6", ports, queueFirst = "queue_first", queueLast = "queue_last"
        case failOpen = "fail_open", rejectMark = "reject_mark", acceptMark = "accept_mark"
        case rejectMask = "reject_mask", guardNonSYN = "guard_non_syn"
    }

    /// Decodes the JSON form.
    ///
    /// - Throws: `DecodingError` for a missing key, a prefix that is not CIDR text, or `queue_last` below
    ///   `queue_first`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func prefixes(_ key: CodingKeys) throws -> [IPPrefix] {
            try container.decode([String].self, forKey: key).map { text in
                guard let prefix = IPPrefix(text) else {
                    throw DecodingError.dataCorruptedError(
                        forKey: key, in: container, debugDescription: "\(text) is not a CIDR prefix")
                }
                return prefix
            }
        }
        let first = try container.decode(UInt16.self, forKey: .queueFirst)
        let last = try container.decode(UInt16.self, forKey: .queueLast)
        guard first <= last else {
            throw DecodingError.dataCorruptedError(
                forKey: .queueLast, in: container, debugDescription: "queue_last is below queue_first")
        }
        self.init(
            subscribersV4: try prefixes(.subscribersV4), subscribersV6: try prefixes(.subscribersV6),
            relaysV4: try prefixes(.relaysV4), relaysV6: try prefixes(.relaysV6),
            ports: try container.decode([UInt16].self, forKey: .ports), queueNumbers: first...last,
            failOpen: try container.decode(Bool.self, forKey: .failOpen),
            rejectMark: try container.decode(UInt32.self, forKey: .rejectMark),
            acceptMark: try container.decode(UInt32.self, forKey: .acceptMark),
            rejectMask: try container.decode(UInt32.self, forKey: .rejectMask),
            guardNonSYN: try container.decodeIfPresent(Bool.self, forKey: .guardNonSYN) ?? false)
    }

    /// Encodes prefixes as CIDR text and the queue range as `queue_first`/`queue_last`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(subscribersV4.map(\.description), forKey: .subscribersV4)
        try container.encode(subscribersV6.map(\.description), forKey: .subscribersV6)
        try container.encode(relaysV4.map(\.description), forKey: .relaysV4)
        try container.encode(relaysV6.map(\.description), forKey: .relaysV6)
        try container.encode(ports, forKey: .ports)
        try container.encode(queueNumbers.lowerBound, forKey: .queueFirst)
        try container.encode(queueNumbers.upperBound, forKey: .queueLast)
        try container.encode(failOpen, forKey: .failOpen)
        try container.encode(rejectMark, forKey: .rejectMark)
        try container.encode(acceptMark, forKey: .acceptMark)
        try container.encode(rejectMask, forKey: .rejectMask)
        try container.encode(guardNonSYN, forKey: .guardNonSYN)
    }

    /// Port 25 closed to everyone: every forwarded TCP SYN to port 25 is queued to queue 0 without bypass, and
    /// no daemon judges it (egress25d does not start with an invalid configuration), so the kernel drops it.
    /// Installed by `egress25ctl rules apply` when the configuration is invalid, no egress25 rules are in
    /// place, and no last-applied rules were saved: the first boot with a broken file.
    public static let lockdown = KernelRuleSet(
        subscribersV4: [IPPrefix(truncating: .v4(IPv4Address(0)), length: 0)],
        subscribersV6: [IPPrefix(truncating: .v6(IPv6Address(high: 0, low: 0)), length: 0)],
        relaysV4: [], relaysV6: [], ports: [25], queueNumbers: 0...0, failOpen: false, rejectMark: 0x25)
}

/// The kernel-facing settings the running egress25d started with (`<state_directory>/egress25d.kernel.json`).
/// `egress25ctl rules apply` refuses rules whose queues, fail policy or mark differ while that daemon runs:
/// the daemon would keep writing the old mark (every blocked SYN forwarded) or leave the new queues unserved.
public struct RunningDaemonKernelSettings: Codable, Sendable, Hashable {
    /// The daemon's process id.
    public var pid: Int32
    /// First NFQUEUE queue number the daemon serves.
    public var queueFirst: UInt16
    /// Last NFQUEUE queue number the daemon serves (inclusive).
    public var queueLast: UInt16
    /// Whether the queues were bound with the NFQUEUE bypass flag (`fail_policy: open`).
    public var failOpen: Bool
    /// The reject mark the daemon writes (see ``KernelRuleSet/rejectMark``).
    public var rejectMark: UInt32
    /// The accept mark the daemon writes (see ``KernelRuleSet/acceptMark``).
    public var acceptMark: UInt32
    /// The mark bits the daemon owns (see ``KernelRuleSet/rejectMask``).
    public var rejectMask: UInt32

    enum CodingKeys: String, CodingKey {
        case pid, queueFirst = "queue_first", queueLast = "queue_last", failOpen = "fail_open"
        case rejectMark = "reject_mark", acceptMark = "accept_mark", rejectMask = "reject_mask"
    }

    /// The settings of `rules` for the daemon with process id `pid`.
    public init(pid: Int32, rules: KernelRuleSet) {
        self.pid = pid
        queueFirst = rules.queueNumbers.lowerBound
        queueLast = rules.queueNumbers.upperBound
        failOpen = rules.failOpen
        rejectMark = rules.rejectMark
        acceptMark = rules.acceptMark
        rejectMask = rules.rejectMask
    }

    /// One line describing the settings, e.g. `queues 0-3, fail_policy closed, reject_mark 0x25/0x25`.
    public var summary: String {
        "queues \(queueFirst)-\(queueLast), fail_policy \(failOpen ? "open" : "closed"), "
            + "reject_mark 0x\(String(rejectMark, radix: 16))/0x\(String(rejectMask, radix: 16)), "
            + "accept_mark 0x\(String(acceptMark, radix: 16))"
    }

    /// Whether `rules` carry the same queues, fail policy, mark and mask.
    public func matches(_ rules: KernelRuleSet) -> Bool {
        var other = RunningDaemonKernelSettings(pid: pid, rules: rules)
        other.pid = pid
        return other == self
    }
}
