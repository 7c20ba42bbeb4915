import Egress25Core
import RadiusAccounting

/// Key `session_feed`: where egress25-admin learns who holds which address.
public struct SessionFeedSettings: Sendable, Hashable {
    /// Key `radius`: a copy of the BNGs' RADIUS accounting (RFC 2866); `nil` when absent.
    public var radius: RadiusFeedSettings?

    /// No feed: sessions come only from `egress25ctl session ...`.
    public init(radius: RadiusFeedSettings? = nil) {
        self.radius = radius
    }
}

/// Key `session_feed.radius`: egress25-admin's RADIUS accounting listener.
public struct RadiusFeedSettings: Sendable, Hashable {
    /// Key `listen`: the UDP addresses to receive Accounting-Requests on. Default `0.0.0.0:1813` and `[::]:1813`
    /// (the IPv6 socket is IPv6-only, so both bind).
    public var listen: [ListenAddress] = [
        ListenAddress(address: .v4(IPv4Address(0)), port: 1813),
        ListenAddress(address: .v6(IPv6Address(high: 0, low: 0)), port: 1813),
    ]
    /// Key `clients`: the NASes (BNGs, or the RADIUS server that replicates their accounting) allowed to send,
    /// each a CIDR prefix and the file holding its shared secret. A datagram from any other address is dropped
    /// unanswered (RFC 2866 §3) and counted (`why="unknown_client"`). The most specific prefix matches.
    public var clients: [Client] = []
    /// Key `subscriber_id`: the attribute whose value is the customer id (`User-Name`, `Class`,
    /// `Calling-Station-Id`, `NAS-Port-Id`, `Attr-N`, or a vendor attribute `Attr-26.VENDOR.TYPE`). Default
    /// `User-Name`.
    public var subscriberAttribute: SubscriberAttribute = .userName
    /// Key `lease`: how long a session holds its address without an Interim-Update, seconds. `nil` (the default):
    /// 2.5 × the Acct-Interim-Interval the NAS sends, or `sessions.lease` (26 h) when it sends none.
    public var leaseSeconds: Int64?

    /// One allowed RADIUS client.
    public struct Client: Sendable, Hashable {
        /// Key `address`: the client's address or CIDR prefix.
        public var prefix: IPPrefix
        /// Key `secret_file`: absolute path of the file holding the shared secret (its first line; read when
        /// egress25-admin starts, so the secret never sits in the configuration file).
        public var secretFile: String

        /// Creates a client entry.
        public init(prefix: IPPrefix, secretFile: String) {
            self.prefix = prefix
            self.secretFile = secretFile
        }
    }

    /// The defaults: both wildcard addresses on port 1813, no clients (set at least one), `User-Name`.
    public init() {}

    /// The longest lease an Acct-Interim-Interval can give: 7 days (604800 s).
    public static let maximumNASLeaseSeconds: Int64 = 7 * 86400

    /// The lease of a session whose NAS announced `interimInterval` seconds (Acct-Interim-Interval), or none:
    /// `lease` when set, else 2.5 × the interval (60 s ... 7 days), else `fallback` (`sessions.lease`). Seconds.
    public func lease(interimInterval: UInt32?, fallback: Int64) -> Int64 {
        if let leaseSeconds { return leaseSeconds }
        if let interimInterval, interimInterval > 0 {
            // At most 7 days: the lease is the safety net for a lost Stop, and the interval comes from the packet.
            return min(Self.maximumNASLeaseSeconds, max(60, Int64(interimInterval) * 5 / 2))
        }
        return fallback
    }
}
