import Egress25Core

/// A verified, decoded Accounting-Request (RFC 2866 §4.1): the attributes the session feed acts on.
///
/// A single-valued attribute that appears more than once counts once: the first occurrence is taken and the later
/// ones are ignored (they still count in ``contentDigest``).
public struct AccountingRequest: Hashable, Sendable {
    /// The Identifier octet (RFC 2866 §3); the response echoes it.
    public var identifier: UInt8
    /// The Request Authenticator; the Response Authenticator covers it.
    public var authenticator: RadiusAuthenticator
    /// Acct-Status-Type (40, RFC 2866 §5.1).
    public var statusType: AccountingStatusType
    /// Acct-Session-Id (44, RFC 2866 §5.5); present for every Start, Interim-Update and Stop.
    public var sessionID: String?
    /// The configured subscriber attribute, as text; present for every Start and Interim-Update. Its
    /// customer-id syntax is not checked here.
    public var subscriberID: String?
    /// NAS-IP-Address (4, RFC 2865 §5.4).
    public var nasIPv4: IPv4Address?
    /// NAS-IPv6-Address (95, RFC 3162 §2.1).
    public var nasIPv6: IPv6Address?
    /// NAS-Identifier (32, RFC 2865 §5.32).
    public var nasIdentifier: String?
    /// Framed-IP-Address (8, RFC 2865 §5.8); `nil` when absent or 255.255.255.255 / 255.255.255.254 ("NAS
    /// should select" / "user may select": not addresses).
    public var framedIPv4: IPv4Address?
    /// Framed-IPv6-Prefix (97, RFC 3162 §2.3), Delegated-IPv6-Prefix (123, RFC 4818) and Framed-IPv6-Address
    /// (168, RFC 6911, as a /128), in order of appearance, without duplicates; bits past a prefix's length are
    /// cleared.
    public var ipv6Prefixes: [IPPrefix]
    /// Acct-Delay-Time (41, RFC 2866 §5.2), seconds the NAS has been trying to send this request; 0 when absent.
    public var delaySeconds: UInt32
    /// Event-Timestamp (55, RFC 2869 §5.3), UTC seconds since 1970-01-01.
    public var eventTimestamp: UInt32?
    /// Acct-Interim-Interval (85, RFC 2869 §5.16), seconds between Interim-Updates.
    public var interimIntervalSeconds: UInt32?
    /// MD5 of the Code octet and every attribute (type, length, value, in order) except Acct-Delay-Time and
    /// Message-Authenticator: a retransmission with a new Identifier and a larger Acct-Delay-Time (RFC 2866 §5.2)
    /// has the same digest, any other change a different one.
    public var contentDigest: RadiusContentDigest

    /// Creates a request from its parts (for tests of the session feed; the codec builds them by decoding).
    public init(
        identifier: UInt8,
        authenticator: RadiusAuthenticator,
        statusType: AccountingStatusType,
        sessionID: String? = nil,
        subscriberID: String? = nil,
        nasIPv4: IPv4Address? = nil,
        nasIPv6: IPv6Address? = nil,
        nasIdentifier: String? = nil,
        framedIPv4: IPv4Address? = nil,
        ipv6Prefixes: [IPPrefix] = [],
        delaySeconds: UInt32 = 0,
        eventTimestamp: UInt32? = nil,
        interimIntervalSeconds: UInt32? = nil,
        contentDigest: RadiusContentDigest
    ) {
        self.identifier = identifier
        self.authenticator = authenticator
        self.statusType = statusType
        self.sessionID = sessionID
        self.subscriberID = subscriberID
        self.nasIPv4 = nasIPv4
        self.nasIPv6 = nasIPv6
        self.nasIdentifier = nasIdentifier
        self.framedIPv4 = framedIPv4
        self.ipv6Prefixes = ipv6Prefixes
        self.delaySeconds = delaySeconds
        self.eventTimestamp = eventTimestamp
        self.interimIntervalSeconds = interimIntervalSeconds
        self.contentDigest = contentDigest
    }

    /// The NAS this request speaks for: ``nasIdentifier`` if present, else ``nasIPv4``, else ``nasIPv6`` (as
    /// text), else `nil` (the listener then uses the UDP source address). Sessions are keyed by
    /// (NAS, Acct-Session-Id).
    public var nas: String? {
        if let nasIdentifier { return nasIdentifier }
        if let nasIPv4 { return nasIPv4.description }
        if let nasIPv6 { return nasIPv6.description }
        return nil
    }
}
