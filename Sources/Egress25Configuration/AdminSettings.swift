import Egress25Core

/// Key `admin`: egress25-admin, the control-plane server (HTTP API and web console).
public struct AdminSettings: Sendable, Hashable {
    /// Key `listen`: where the server listens. Default `127.0.0.1:8025` (loopback: put a reverse proxy or
    /// `tls:` in front before opening it to the network).
    public var listen = ListenAddress(address: .v4(IPv4Address(0x7F00_0001)), port: 8025)
    /// Key `tls`: the PEM certificate chain and key the server answers TLS with; `nil` for plain HTTP.
    public var tls: TLSFiles?
    /// Key `session_lifetime`: how long a console login lasts, seconds (default 8 h, 5 min ... 7 d).
    public var sessionLifetimeSeconds: Int64 = 8 * 3600
    /// Key `max_body`: the largest request body accepted, bytes (default 64 KiB, 1 KiB ... 16 MiB); larger gets 413.
    public var maxBodyBytes: Int64 = 64 * 1024
    /// Key `login_failures`: failed authentications per client address per minute before 429 (default 10,
    /// 1 ... 10,000).
    public var loginFailuresPerMinute: Int64 = 10

    /// The PEM files of `admin.tls`.
    public struct TLSFiles: Sendable, Hashable {
        /// Key `certificate_file`: absolute path of the PEM certificate chain.
        public var certificateFile: String
        /// Key `key_file`: absolute path of the PEM private key.
        public var keyFile: String

        /// Creates the section from two absolute paths.
        public init(certificateFile: String, keyFile: String) {
            self.certificateFile = certificateFile
            self.keyFile = keyFile
        }
    }

    /// The defaults: loopback port 8025, plain HTTP.
    public init() {}
}

/// Key `abuse`: what egress25-admin calls a suspect, and where it announces them.
public struct AbuseSettings: Sendable, Hashable {
    /// Key `suspects.distinct_destinations`: a source that tried this many distinct destinations in one window is
    /// a suspect (default 20).
    public var distinctDestinations: Int64 = 20
    /// Key `suspects.syns_per_minute`: a source whose blocked SYN rate in one window reached this many per minute
    /// is a suspect (default 100). The rate is the window's attempts over the minutes between its first and last
    /// attempt (at least one minute), so a one-minute burst counts in full.
    public var synsPerMinute: Int64 = 100
    /// Key `suspects.window`: the detection window, seconds (default 10 min, 1 min ... 1 d). Windows are aligned
    /// to multiples of it (UTC), and a source is listed once per window.
    public var windowSeconds: Int64 = 600
    /// Key `webhook.url`: where each new suspect is POSTed as one JSON document; `nil` for no notifications.
    public var webhookURL: String?
    /// Key `webhook.timeout`: how long one delivery may take, milliseconds (default 5 s).
    public var webhookTimeoutMilliseconds: Int64 = 5000
    /// Key `reporter_contact`: the abuse desk's e-mail address in X-ARF exports (default `abuse@` + node name).
    public var reporterContact: String?

    /// The defaults: 20 destinations or 100 SYNs/min in 10 min, no webhook.
    public init() {}
}
