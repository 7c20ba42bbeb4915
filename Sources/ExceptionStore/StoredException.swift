import Egress25Core

/// A per-customer exception as stored: the customer may open TCP/25 connections to `destinations` until
/// `expiresAt`, from whatever addresses the customer holds at the time.
public struct StoredException: Hashable, Sendable, Encodable {
    /// `exc-` and 8 characters from `23456789abcdefghjkmnpqrstuvwxyz` (no 0/1/i/l/o), e.g. `exc-7k2mq9tz`.
    public var id: String
    /// The customer id.
    public var customer: String
    /// Where the customer may connect: any destination, or these prefixes.
    public var destinations: DestinationScope
    /// End, UTC seconds, exclusive (blocked again at `t >= expiresAt`); `nil` for a permanent exception.
    public var expiresAt: Int64?
    /// Why it was granted (required).
    public var reason: String
    /// The support ticket, if any.
    public var ticket: String?
    /// Who granted it.
    public var grantedBy: String
    /// When it was granted, UTC seconds; it applies from then on (`notBefore`).
    public var createdAt: Int64
    /// Set once it was revoked.
    public var revocation: Revocation?

    /// When, by whom and why an exception was revoked.
    public struct Revocation: Hashable, Sendable, Encodable {
        /// UTC seconds.
        public var at: Int64
        /// Who revoked it (`--by`).
        public var by: String
        /// Why it was revoked.
        public var reason: String

        /// Creates a revocation; `at` is UTC seconds.
        public init(at: Int64, by: String, reason: String) {
            self.at = at
            self.by = by
            self.reason = reason
        }

        private enum CodingKeys: String, CodingKey { case at, by, reason }

        /// Encodes `at` as RFC 3339 UTC text.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(UTCTime.format(at), forKey: .at)
            try container.encode(by, forKey: .by)
            try container.encode(reason, forKey: .reason)
        }
    }

    /// Creates an exception as stored; times are UTC seconds.
    public init(
        id: String,
        customer: String,
        destinations: DestinationScope,
        expiresAt: Int64?,
        reason: String,
        ticket: String?,
        grantedBy: String,
        createdAt: Int64,
        revocation: Revocation? = nil
    ) {
        self.id = id
        self.customer = customer
        self.destinations = destinations
        self.expiresAt = expiresAt
        self.reason = reason
        self.ticket = ticket
        self.grantedBy = grantedBy
        self.createdAt = createdAt
        self.revocation = revocation
    }

    /// The state of an exception at one instant.
    public enum Status: String, Hashable, Sendable, CaseIterable, Encodable {
        /// Not revoked, not expired.
        case active
        /// Not revoked, `now >= expiresAt`.
        case expired
        /// Revoked (whatever its expiry).
        case revoked
    }

    /// The status at `now` (UTC seconds).
    public func status(at now: Int64) -> Status {
        if revocation != nil { return .revoked }
        if let expiresAt, now >= expiresAt { return .expired }
        return .active
    }

    /// `any`, or the destination prefixes joined by `,` (the stored form).
    public var destinationsText: String {
        switch destinations {
        case .any: return "any"
        case .prefixes(let prefixes): return prefixes.map(\.description).joined(separator: ",")
        }
    }

    private enum CodingKeys: String, CodingKey {
        case id, customer, destinations, reason, ticket, revocation
        case expiresAt = "expires_at"
        case grantedBy = "granted_by"
        case createdAt = "created_at"
    }

    /// Encodes destinations as `"any"` or an array of CIDR strings, times as RFC 3339 UTC text
    /// (`expires_at` null when permanent).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(customer, forKey: .customer)
        switch destinations {
        case .any: try container.encode("any", forKey: .destinations)
        case .prefixes(let prefixes): try container.encode(prefixes.map(\.description), forKey: .destinations)
        }
        try container.encode(expiresAt.map(UTCTime.format), forKey: .expiresAt)
        try container.encode(reason, forKey: .reason)
        try container.encode(ticket, forKey: .ticket)
        try container.encode(grantedBy, forKey: .grantedBy)
        try container.encode(UTCTime.format(createdAt), forKey: .createdAt)
        try container.encode(revocation, forKey: .revocation)
    }
}

/// A request to grant an exception (see ``ExceptionStore/grantException(_:now:)``).
public struct ExceptionGrant: Hashable, Sendable {
    /// The customer id the exception is granted to.
    public var customer: String
    /// `.any`, or a non-empty list of destination prefixes.
    public var destinations: DestinationScope
    /// UTC seconds, must be later than the grant time; `nil` for permanent.
    public var expiresAt: Int64?
    /// Required, non-empty.
    public var reason: String
    /// The support ticket, if any.
    public var ticket: String?
    /// Required, non-empty: who grants it.
    public var grantedBy: String

    /// Creates a grant request; `expiresAt` is UTC seconds.
    public init(
        customer: String,
        destinations: DestinationScope,
        expiresAt: Int64?,
        reason: String,
        ticket: String? = nil,
        grantedBy: String
    ) {
        self.customer = customer
        self.destinations = destinations
        self.expiresAt = expiresAt
        self.reason = reason
        self.ticket = ticket
        self.grantedBy = grantedBy
    }
}

/// The result of ``ExceptionStore/grantException(_:now:)``.
public struct GrantedException: Hashable, Sendable {
    /// The stored exception, with its new id.
    public var exception: StoredException
    /// Bindings the customer holds at grant time. When empty the exception has no effect until a binding
    /// exists; `egress25ctl` warns about it.
    public var bindingsInForce: [AddressBinding]
}

/// Which exceptions ``ExceptionStore/exceptions(customer:status:now:)`` lists.
public enum ExceptionStatusFilter: String, Hashable, Sendable, CaseIterable {
    case active, expired, revoked, all
}
