import ExceptionStore

/// What a configuration file is read for: which sections it must hold.
public enum ConfigurationPurpose: Sendable, Hashable {
    /// A router (egress25d, and egress25ctl on a router): `policy.subscriber_ranges` is required; `store:` is
    /// optional (absent: the embedded SQLite store under `state_directory`).
    case router
    /// egress25ctl on an admin machine, working on the fleet's PostgreSQL store: `store.url` is required, and the
    /// router sections (`policy`, `queue`, `block_log`, `metrics`, `rules`, ...) are optional but validated when
    /// present. A file holding only `store:` is enough.
    case storeClient
}

/// Key `store`: where customers, bindings, sessions, exceptions and the audit log live, and how this router
/// appears in the fleet.
///
/// ```yaml
/// store:
///   url: postgresql://egress25_edge1@db.example.net:5432/egress25?sslmode=verify-full&sslrootcert=/etc/egress25/db-ca.pem
///   password_file: /etc/egress25/db-password
///   max_staleness: 1h
///   node: edge-fra-1
/// ```
public struct StoreConfiguration: Sendable, Hashable {
    /// Keys `url` and `password_file`: `.postgresql` (the fleet's database) when `url` is given, else
    /// `.sqlite(path:)` with `<state_directory>/exceptions.sqlite` (``StateDirectory/exceptionStore``).
    public var location: StoreLocation
    /// Key `max_staleness`: `/healthz` turns unhealthy when the policy data the router enforces (from the
    /// database, or its local cache while the database is unreachable) is older than this many seconds.
    /// A duration, `10s` ... `30d`. Default 3600 s (1 h).
    public var maxStalenessSeconds: Int64
    /// Key `node`: this router's name in the fleet store (the `nodes` table, the node column of shipped blocked
    /// attempts): 1-64 characters of `A-Z a-z 0-9 . _ -`. Default: `node_name` (which defaults to the host name).
    public var nodeName: String

    /// The default `max_staleness`: 3600 s (1 h).
    public static let defaultMaxStalenessSeconds: Int64 = 3600
    /// The bounds of `max_staleness`, in seconds: 10 s ... 30 d.
    public static let maxStalenessRange: ClosedRange<Int64> = 10...(30 * 86400)
    /// The longest `node`, in characters.
    public static let maximumNodeNameLength = 64

    /// Creates the section; `maxStalenessSeconds` defaults to 3600 s.
    public init(location: StoreLocation, maxStalenessSeconds: Int64 = defaultMaxStalenessSeconds, nodeName: String) {
        self.location = location
        self.maxStalenessSeconds = maxStalenessSeconds
        self.nodeName = nodeName
    }

    /// Whether `name` is a valid `node`: 1-64 characters of `A-Z a-z 0-9 . _ -`.
    public static func isValidNodeName(_ name: String) -> Bool {
        !name.isEmpty && name.unicodeScalars.count <= maximumNodeNameLength
            && name.unicodeScalars.allSatisfy { scalar in
                switch scalar {
                case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-": return true
                default: return false
                }
            }
    }
}
