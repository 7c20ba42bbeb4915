import Egress25Core

/// How a customer came to hold an address.
public enum BindingKind: String, Hashable, Sendable, CaseIterable, Encodable {
    /// Assigned by the ISP's address plan (`egress25ctl customer bind`); ends only by `customer unbind`.
    case `static`
    /// A dynamic lease from RADIUS or DHCP (`egress25ctl session start`); a session on the same addresses for
    /// another customer ends it (the address moved).
    case session
}

/// One customer holding one IPv4 address or IPv6 prefix for a time interval `[validFrom, validUntil)`.
///
/// Ended bindings are kept (with `validUntil` set) so a subscriber's history across address changes stays
/// answerable.
public struct AddressBinding: Hashable, Sendable, Encodable {
    /// Row id, increasing.
    public var id: Int64
    /// The customer id.
    public var customer: String
    /// The address (host prefix) or prefix held. IPv4-mapped IPv6 prefixes are stored as IPv4.
    public var prefix: IPPrefix
    /// Static assignment or session.
    public var kind: BindingKind
    /// Start, UTC seconds (inclusive).
    public var validFrom: Int64
    /// End, UTC seconds (exclusive); `nil` while in force.
    public var validUntil: Int64?
    /// Sessions: the lease end, UTC seconds (exclusive). From then on no exception applies through this session
    /// until the feed renews it (`session start` of the same session, `session renew`); the binding itself stays
    /// open (it still names the last known holder) until a stop or another holder's start ends it. `nil` for static
    /// bindings (and sessions ended before leases existed).
    public var leaseUntil: Int64?
    /// Sessions from the RADIUS accounting feed: the NAS (BNG) the session is on (schema 4). `nil` for static
    /// bindings and for sessions started by `egress25ctl session start` or a lease import.
    public var nas: String?
    /// Sessions from the RADIUS accounting feed: the Acct-Session-Id, unique per ``nas`` (schema 4). `nil` as
    /// ``nas``.
    public var accountingSessionID: String?

    /// Creates a binding; times are UTC seconds. `nas` and `accountingSessionID` name the accounting feed's
    /// session, `nil` for other bindings.
    public init(
        id: Int64, customer: String, prefix: IPPrefix, kind: BindingKind, validFrom: Int64, validUntil: Int64?,
        leaseUntil: Int64? = nil, nas: String? = nil, accountingSessionID: String? = nil
    ) {
        self.leaseUntil = leaseUntil
        self.nas = nas
        self.accountingSessionID = accountingSessionID
        self.id = id
        self.customer = customer
        self.prefix = prefix
        self.kind = kind
        self.validFrom = validFrom
        self.validUntil = validUntil
    }

    /// Whether the binding is in force at `now` (UTC seconds): `validFrom <= now < validUntil`.
    public func isInForce(at now: Int64) -> Bool {
        validFrom <= now && (validUntil.map { now < $0 } ?? true)
    }

    /// Whether this is a session whose lease has ended at `now` (UTC seconds) while the binding is still open.
    public func leaseExpired(at now: Int64) -> Bool {
        guard kind == .session, let leaseUntil else { return false }
        return now >= leaseUntil
    }

    private enum CodingKeys: String, CodingKey {
        case id, customer, prefix, kind
        case validFrom = "valid_from"
        case validUntil = "valid_until"
        case leaseUntil = "lease_until"
        case nas
        case accountingSessionID = "acct_session_id"
    }

    /// Encodes the prefix as CIDR text and times as RFC 3339 UTC text; `lease_until`, `nas` and `acct_session_id`
    /// for sessions only (null when not known).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(customer, forKey: .customer)
        try container.encode(prefix.description, forKey: .prefix)
        try container.encode(kind, forKey: .kind)
        try container.encode(UTCTime.format(validFrom), forKey: .validFrom)
        try container.encode(validUntil.map(UTCTime.format), forKey: .validUntil)
        if kind == .session {
            try container.encode(leaseUntil.map(UTCTime.format), forKey: .leaseUntil)
            try container.encode(nas, forKey: .nas)
            try container.encode(accountingSessionID, forKey: .accountingSessionID)
        }
    }
}

/// One line of a bulk session import: `customer` holds `prefix` now.
public struct SessionLease: Hashable, Sendable {
    /// The customer id.
    public var customer: String
    /// The address (host prefix) or prefix the customer holds.
    public var prefix: IPPrefix
    /// Where the lease came from, for error messages, e.g. `"leases.csv:12"`; `nil` for none.
    public var origin: String?

    /// Creates a lease line.
    public init(customer: String, prefix: IPPrefix, origin: String? = nil) {
        self.customer = customer
        self.prefix = prefix
        self.origin = origin
    }
}

/// What a session change did.
public struct SessionChange: Hashable, Sendable {
    /// Bindings that started (empty when the customer already held exactly this session).
    public var started: [AddressBinding]
    /// Session bindings that ended: the customer's own, or other customers' whose address moved.
    public var ended: [AddressBinding]
    /// Sessions the customer already held exactly, with their lease extended (`leaseUntil` is the new end).
    public var renewed: [AddressBinding]
    /// Customers the call created because the store had never seen their id (``Customer/autoCreated``).
    public var createdCustomers: [String]

    /// Creates a change; every list defaults to empty.
    public init(
        started: [AddressBinding] = [], ended: [AddressBinding] = [], renewed: [AddressBinding] = [],
        createdCustomers: [String] = []
    ) {
        self.started = started
        self.ended = ended
        self.renewed = renewed
        self.createdCustomers = createdCustomers
    }
}

/// Bounds on the prefixes of bindings and sessions, from the configuration (`policy.subscriber_ranges`,
/// `sessions.max_prefix`): a binding must lie inside one subscriber range and must not be a larger block than the
/// family's shortest allowed prefix length. `egress25ctl --force` passes `nil` instead (no bounds).
public struct AddressPlan: Hashable, Sendable {
    /// Subscriber ranges (`policy.subscriber_ranges`); empty when not known (an admin machine's store-only
    /// configuration): then only the largest block is checked.
    public var subscriberRanges: [IPPrefix]
    /// Shortest IPv4 prefix length allowed (e.g. 24: a /23 is refused).
    public var shortestIPv4: UInt8
    /// Shortest IPv6 prefix length allowed (e.g. 48).
    public var shortestIPv6: UInt8

    /// Creates a plan; IPv4 /24 and IPv6 /48 are the shortest prefixes by default.
    public init(subscriberRanges: [IPPrefix], shortestIPv4: UInt8 = 24, shortestIPv6: UInt8 = 48) {
        self.subscriberRanges = subscriberRanges
        self.shortestIPv4 = shortestIPv4
        self.shortestIPv6 = shortestIPv6
    }

    /// Why `prefix` is outside the plan, or `nil` when it fits.
    public func problem(with prefix: IPPrefix) -> String? {
        let prefix = prefix.unmapped
        let isIPv4: Bool
        if case .v4 = prefix.address { isIPv4 = true } else { isIPv4 = false }
        let shortest = isIPv4 ? shortestIPv4 : shortestIPv6
        if prefix.length < shortest {
            return "\(prefix) is larger than the largest block a binding or session may cover (/\(shortest) for "
                + "\(isIPv4 ? "IPv4" : "IPv6"), sessions.max_prefix); "
                + "use --force if one subscriber really holds all of it"
        }
        // No ranges: they are not known here (an admin machine's configuration holds only `store:`); the routers
        // police only their own subscriber ranges, so a binding outside them opens nothing.
        guard subscriberRanges.isEmpty || subscriberRanges.contains(where: { $0.unmapped.contains(prefix) }) else {
            let ranges = subscriberRanges.map(\.description).joined(separator: ", ")
            return "\(prefix) is not inside a subscriber range (policy.subscriber_ranges: "
                + "\(ranges.isEmpty ? "none" : ranges)); use --force to record it anyway"
        }
        return nil
    }
}
