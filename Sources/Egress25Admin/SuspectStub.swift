// TEMPORARY: replaced by Egress25Operations/SuspectDetector.swift when the suspects branch lands.
import Egress25Configuration
import Egress25Operations

public struct Suspect: Sendable, Hashable {
    public enum Reason: String, Sendable { case distinctDestinations = "distinct_destinations", synsPerMinute = "syns_per_minute" }
    public var source: String
    public var customer: String?
    public var windowStart: Int64
    public var windowEnd: Int64
    public var attempts: Int64
    public var distinctDestinations: Int
    public var synsPerMinute: Double
    public var firstSeenMilliseconds: Int64
    public var lastSeenMilliseconds: Int64
    public var topDestinations: [String]
    public var nodes: [String]
    public var reasons: [Reason]
}

public enum SuspectDetector {
    public static func suspects(in source: BlockedAttemptSource, since: Int64, until: Int64, settings: AbuseSettings) throws -> [Suspect] { [] }
}
