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

    public init(id: Int64, customer: String, prefix: IPPrefix, kind: BindingKind, validFrom: Int64, validUntil: Int64?)
    {
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

    private enum CodingKeys: String, CodingKey {
        case id, customer, prefix, kind
        case validFrom = "valid_from"
        case validUntil = "valid_until"
    }

    /// Encodes the prefix as CIDR text and times as RFC 3339 UTC text.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(customer, forKey: .customer)
        try container.encode(prefix.description, forKey: .prefix)
        try container.encode(kind, forKey: .kind)
        try container.encode(UTCTime.format(validFrom), forKey: .validFrom)
        try container.encode(validUntil.map(UTCTime.format), forKey: .validUntil)
    }
}

/// One line of a bulk session import: `customer` holds `prefix` now.
public struct SessionLease: Hashable, Sendable {
    public var customer: String
    public var prefix: IPPrefix
    /// Where the lease came from, for error messages, e.g. `"leases.csv:12"`; `nil` for none.
    public var origin: String?

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

    public init(started: [AddressBinding] = [], ended: [AddressBinding] = []) {
        self.started = started
        self.ended = ended
    }
}
