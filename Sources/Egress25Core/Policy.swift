/// Whether blocks are enforced or only reported.
public enum PolicyMode: String, Sendable, CaseIterable {
    /// Blocked SYNs get verdict `.block`.
    case enforce
    /// Blocked SYNs get verdict `.accept` with `Decision.shadow == true` (a dry run for roll-out).
    case shadow
}

/// One of the ISP's SMTP relay hosts (or relay networks): SYNs to it are always allowed.
public struct RelayHost: Hashable, Sendable {
    /// The relay's address as a CIDR prefix (a host prefix for one relay).
    public var prefix: IPPrefix
    /// Destination ports allowed to this relay; `nil` means every policed port.
    public var ports: [UInt16]?

    /// Creates a relay host; `ports` `nil` allows every policed port.
    public init(prefix: IPPrefix, ports: [UInt16]? = nil) {
        self.prefix = prefix
        self.ports = ports
    }
}

/// Which destinations an exception lets a customer reach.
public enum DestinationScope: Hashable, Sendable {
    /// Every destination.
    case any
    /// Only destinations inside one of these CIDR prefixes (e.g. the customer's hosted mail provider).
    case prefixes([IPPrefix])
}

/// A per-customer exception: SYNs from `sources` to `destinations` are allowed between `notBefore` and `expiresAt`.
public struct ExceptionRule: Hashable, Sendable {
    /// Unique id (within one snapshot: static config exceptions and store exceptions together).
    public var id: String
    /// The customer the exception was granted to.
    public var customer: String
    /// Source CIDR prefixes the exception covers.
    public var sources: [IPPrefix]
    /// Destinations it allows.
    public var destinations: DestinationScope
    /// First second it is valid (UTC seconds, inclusive); `nil` = valid from the start.
    public var notBefore: Int64?
    /// First second it is no longer valid (UTC seconds, exclusive: blocked at `t >= expiresAt`); `nil` = never.
    public var expiresAt: Int64?
    /// Free-text reason it was granted.
    public var reason: String?
    /// Support ticket reference.
    public var ticket: String?
    /// Sources held through a session lease: each listed source stops being covered at its lease end (UTC seconds,
    /// exclusive), even when `expiresAt` is later; the effective end for that source is `min(expiresAt, lease end)`.
    /// Sources not listed here (static bindings, configuration sources) end at `expiresAt`. Default: empty.
    public var sourceLeaseEnds: [IPPrefix: Int64] = [:]

    /// Creates an exception rule; times are UTC seconds, `nil` for no bound.
    public init(
        id: String,
        customer: String,
        sources: [IPPrefix],
        destinations: DestinationScope = .any,
        notBefore: Int64? = nil,
        expiresAt: Int64? = nil,
        reason: String? = nil,
        ticket: String? = nil,
        sourceLeaseEnds: [IPPrefix: Int64] = [:]
    ) {
        self.sourceLeaseEnds = sourceLeaseEnds
        self.id = id
        self.customer = customer
        self.sources = sources
        self.destinations = destinations
        self.notBefore = notBefore
        self.expiresAt = expiresAt
        self.reason = reason
        self.ticket = ticket
    }

    /// Whether the exception is valid at `now` (UTC seconds): `notBefore <= now < expiresAt`.
    @inlinable
    public func isActive(at now: Int64) -> Bool {
        (notBefore.map { $0 <= now } ?? true) && (expiresAt.map { now < $0 } ?? true)
    }
}

/// Who holds a source address now (static assignment or a session feed, e.g. RADIUS accounting).
public struct CustomerBinding: Hashable, Sendable {
    /// The customer id holding the prefix.
    public var customer: String
    /// The address (host prefix) or prefix held.
    public var prefix: IPPrefix

    /// Creates a binding of `prefix` to `customer`.
    public init(customer: String, prefix: IPPrefix) {
        self.customer = customer
        self.prefix = prefix
    }
}

/// The egress policy as configured.
public struct Policy: Sendable {
    /// Source CIDR prefixes of subscribers: only SYNs from these are policed.
    public var subscriberRanges: [IPPrefix]
    /// The ISP's relays: always allowed.
    public var relayHosts: [RelayHost]
    /// Policed destination ports (usually `[25]`).
    public var ports: [UInt16]
    /// Enforce or shadow (report only).
    public var mode: PolicyMode
    /// Static exceptions from the configuration file.
    public var exceptions: [ExceptionRule]

    /// Creates a policy; ports default to `[25]` and the mode to `.enforce`.
    public init(
        subscriberRanges: [IPPrefix],
        relayHosts: [RelayHost],
        ports: [UInt16] = [25],
        mode: PolicyMode = .enforce,
        exceptions: [ExceptionRule] = []
    ) {
        self.subscriberRanges = subscriberRanges
        self.relayHosts = relayHosts
        self.ports = ports
        self.mode = mode
        self.exceptions = exceptions
    }
}
