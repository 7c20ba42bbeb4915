import Egress25Core
import ExceptionStore

/// The whole egress25 configuration, read once from `/etc/egress25/egress25.yaml` (or `--config`).
///
/// Built by ``ConfigurationLoader``; every field has a default except `policy.subscriber_ranges`.
/// The same value drives the daemon (queues, policy, block log, metrics) and the kernel rules
/// (`egress25ctl rules`), so the kernel's sets and the daemon's policy never drift apart.
public struct Egress25Configuration: Sendable {
    /// The file this configuration was read from (as given), used in messages.
    public var sourcePath: String
    /// Key `node_name`: this router's name in logs and metrics. Default: the host name.
    public var nodeName: String
    /// Key `state_directory`: absolute path holding `exceptions.sqlite` and `blocklog/`.
    /// Default `/var/lib/egress25`.
    public var stateDirectory: String
    /// Key `queue`: the NFQUEUE queues the kernel hands SYNs to.
    public var queue: QueueSettings
    /// Key `policy`: who is policed and what is allowed.
    public var policy: PolicySettings
    /// Key `block_log`: the rotating store of blocked attempts.
    public var blockLog: BlockLogSettings
    /// Key `metrics`: the metrics listener.
    public var metrics: MetricsSettings
    /// Key `rules`: how egress25d watches the kernel rules it depends on.
    public var rules: RulesSettings = RulesSettings()
    /// Key `sessions`: leases and prefix bounds of the session feed and of bindings. Default: see
    /// ``SessionSettings``.
    public var sessions = SessionSettings()
    /// Key `store`: the exception store (the embedded SQLite file, or the fleet's PostgreSQL database), the
    /// staleness limit of the router's policy data and its node name. Default (and when built in code): SQLite at
    /// `<stateDirectory>/exceptions.sqlite` as given to the initializer, 1 h, `nodeName`.
    public var store: StoreConfiguration
    /// Key `admin`: egress25-admin's listener, TLS, console sessions and request limits.
    public var admin = AdminSettings()
    /// Key `abuse`: suspect thresholds and the webhook egress25-admin announces suspects to.
    public var abuse = AbuseSettings()
    /// Key `session_feed`: the RADIUS accounting listener of egress25-admin. Default: none.
    public var sessionFeed = SessionFeedSettings()
    /// What the file was read for: `.router` (every router key checked) or `.storeClient` (a configuration that
    /// may hold only `store:`, for egress25ctl on an admin machine). `.router` when built in code.
    public var purpose: ConfigurationPurpose = .router
    /// Valid but suspicious settings found while loading (for `--check-config` to print); empty when built
    /// in code.
    public var warnings: [ConfigurationWarning] = []

    /// Creates a configuration in code (tests, tools); the defaults are those of an empty file. `warnings` is
    /// empty, `rules`, `sessions` and `store` take their defaults.
    public init(
        sourcePath: String,
        nodeName: String,
        stateDirectory: String = Egress25Configuration.defaultStateDirectory,
        queue: QueueSettings = QueueSettings(),
        policy: PolicySettings,
        blockLog: BlockLogSettings = BlockLogSettings(),
        metrics: MetricsSettings = MetricsSettings()
    ) {
        self.sourcePath = sourcePath
        self.nodeName = nodeName
        self.stateDirectory = stateDirectory
        self.queue = queue
        self.policy = policy
        self.blockLog = blockLog
        self.metrics = metrics
        self.store = StoreConfiguration(
            location: .sqlite(path: StateDirectory(stateDirectory).exceptionStore), nodeName: nodeName)
    }

    /// `/var/lib/egress25`.
    public static let defaultStateDirectory = "/var/lib/egress25"
    /// `/etc/egress25/egress25.yaml`.
    public static let defaultPath = "/etc/egress25/egress25.yaml"

    /// The files under `state_directory`.
    public var state: StateDirectory { StateDirectory(stateDirectory) }
}

/// The files egress25 keeps under `state_directory` (default `/var/lib/egress25`): one place that spells
/// them, for the daemon and for `egress25ctl`.
public struct StateDirectory: Sendable, Hashable {
    /// The directory (absolute path).
    public var path: String

    /// Wraps the directory at `path` (absolute).
    public init(_ path: String) {
        self.path = path
    }

    /// `exceptions.sqlite`: customers, bindings, sessions, exceptions and the audit log (ExceptionStore).
    public var exceptionStore: String { path.joinedPath("exceptions.sqlite") }
    /// `policy-cache`: a fleet router's copy of the policy data it last applied (``PolicyReplicaCache``), which it
    /// starts from when the fleet store is unreachable.
    public var policyCache: String { path.joinedPath("policy-cache") }
    /// `blocklog/`: the block log's hourly or daily SQLite segments.
    public var blockLog: String { path.joinedPath("blocklog") }
    /// `egress25d.pid`: the running daemon's process id (`egress25ctl reload`).
    public var pidFile: String { path.joinedPath("egress25d.pid") }
    /// `egress25d.kernel.json`: the queues, fail policy and marks the running daemon started with, which the
    /// kernel rules must match (`egress25ctl rules apply` compares them).
    public var runningKernelSettings: String { path.joinedPath("egress25d.kernel.json") }
    /// `kernel-rules.last.json`: the rules last applied successfully; `rules apply --fail-closed` installs them
    /// again at a boot with an invalid configuration.
    public var lastAppliedRules: String { path.joinedPath("kernel-rules.last.json") }

    /// `kernel-rules.applied.txt`: the installed rules as listed right after the last apply (rule order and set
    /// members); egress25d compares the kernel's listing with it to notice edits by other tools.
    public var appliedRulesListing: String { path.joinedPath("kernel-rules.applied.txt") }

    /// `/var/lib/egress25/kernel-rules.last.json`: where the last applied rules are looked for when the
    /// configuration cannot be read (its `state_directory` is then unknown).
    public static let defaultLastAppliedRules = "/var/lib/egress25/kernel-rules.last.json"
}

/// What the kernel does with queued SYNs while no daemon listens on the queue, or the queue is full.
///
/// Maps to the NFQUEUE bypass flag (`queue ... bypass` in nftables, `--queue-bypass` in iptables) and to
/// `NFQA_CFG_F_FAIL_OPEN` on the queue (linux/netfilter/nfnetlink_queue.h).
public enum FailPolicy: String, Sendable, CaseIterable {
    /// Drop SYNs that cannot be judged: port 25 is closed except to relays (kernel fast path) while the
    /// daemon is down or overwhelmed. The default.
    case closed
    /// Accept SYNs that cannot be judged: port 25 is open to the world while the daemon is down or overwhelmed.
    case open
}

/// How a blocked SYN is refused (key `policy.block_action`): the core's `Egress25Core.BlockAction`, which the
/// packet judge reads, under the name this module has always exported.
public typealias BlockAction = Egress25Core.BlockAction

/// Key `queue`.
public struct QueueSettings: Sendable, Hashable {
    /// Key `numbers`: NFQUEUE queue numbers (0...65535), ascending and contiguous, because the kernel
    /// balances over a range (`queue num 0-3`, `--queue-balance 0:3`). YAML: a list, one number, or `"0-3"`.
    /// Default `[0]`.
    public var numbers: [UInt16]
    /// Key `fail_policy`: `closed` (default) or `open`.
    public var failPolicy: FailPolicy
    /// Key `max_length`: packets the kernel holds per queue before applying `fail_policy`, >= 1.
    /// Default 4096.
    public var maxLength: UInt32
    /// Key `receive_buffer`: netlink socket receive buffer in bytes (`SO_RCVBUFFORCE`). YAML: a size such as
    /// `64MiB` (4 KiB ... 2 GiB - 1). Default 64 MiB.
    public var receiveBufferBytes: Int
    /// Key `batch_size`: packets received and verdicts sent per batch, 1...1024. Default 64.
    public var batchSize: Int

    /// Creates the section; the defaults are those of a file without `queue:` (queue 0, fail closed, 4096
    /// packets, 64 MiB receive buffer, batches of 64).
    public init(
        numbers: [UInt16] = [0],
        failPolicy: FailPolicy = .closed,
        maxLength: UInt32 = 4096,
        receiveBufferBytes: Int = 64 << 20,
        batchSize: Int = 64
    ) {
        self.numbers = numbers
        self.failPolicy = failPolicy
        self.maxLength = maxLength
        self.receiveBufferBytes = receiveBufferBytes
        self.batchSize = batchSize
    }
}

/// Key `policy`.
public struct PolicySettings: Sendable {
    /// Subscriber ranges, relay hosts, policed ports, mode and the static exceptions of the file.
    public var policy: Policy
    /// Key `block_action`: `reject` (default) or `drop`.
    public var blockAction: BlockAction
    /// Key `reject_mark`: the value the daemon writes under ``rejectMask`` into a blocked SYN's mark
    /// (`mark = mark & ~mask | reject_mark`) so that a kernel rule rejects it with a TCP reset. Nonzero 32-bit
    /// value, hex (`0x25`) or decimal. Default `0x25`.
    public var rejectMark: UInt32
    /// Key `accept_mark`: the value the daemon writes under ``rejectMask`` into a SYN it accepts. With
    /// `fail_policy: closed`, a subscriber's SYN to a policed port (not to a kernel relay) that reaches the
    /// enforce rules without exactly this value was not judged, or another chain rewrote its mark after the
    /// verdict: it is dropped. Must differ from `reject_mark` under the mask. Default: the highest bit of
    /// `reject_mark` when it has several (`0x25` -> `0x20`: the mask stays `0x25`), else the bit next to it
    /// (`0x40000000` -> `0x80000000`, mask `0xc0000000`).
    public var acceptMark: UInt32
    /// Key `reject_mask`: the mark bits egress25 owns and its rules compare (`meta mark & reject_mask ==
    /// reject_mark`); every other bit of a packet's mark is left as it was. Must cover `reject_mark` and
    /// `accept_mark`. Default: `reject_mark | accept_mark`. Two high bits nothing else on the router uses are
    /// recommended (`reject_mark: 0x40000000`, giving `accept_mark 0x80000000`, mask `0xc0000000`).
    public var rejectMask: UInt32
    /// Key `guard_non_syn`: where conntrack is available, drop TCP packets from subscribers to policed ports that
    /// are not a SYN and belong to no connection conntrack knows (`ct state invalid`, or `new` without SYN), so
    /// a flow whose SYN was never judged cannot carry data. Costs connection tracking on the router.
    /// Default `false`.
    public var guardNonSYN: Bool

    /// Creates the section. `acceptMark` defaults to ``defaultAcceptMark(rejectMark:)``, `rejectMask` to
    /// `rejectMark | acceptMark`.
    public init(
        policy: Policy, blockAction: BlockAction = .reject, rejectMark: UInt32 = 0x25, acceptMark: UInt32? = nil,
        rejectMask: UInt32? = nil, guardNonSYN: Bool = false
    ) {
        self.policy = policy
        self.blockAction = blockAction
        self.rejectMark = rejectMark
        (self.acceptMark, self.rejectMask) = BlockVerdictPolicy.marks(
            rejectMark: rejectMark, acceptMark: acceptMark, rejectMask: rejectMask)
        self.guardNonSYN = guardNonSYN
    }

    /// The default `accept_mark`: the highest bit of `rejectMark` when it has more than one (no new mark bit is
    /// taken), else the bit above it (below it for bit 31).
    public static func defaultAcceptMark(rejectMark: UInt32) -> UInt32 {
        BlockVerdictPolicy.defaultAcceptMark(rejectMark: rejectMark)
    }
}

/// Key `block_log`.
public struct BlockLogSettings: Sendable, Hashable {
    /// Key `enabled`. Default `true`.
    public var enabled: Bool
    /// Key `segment`: one segment file per `1h` (3600 s, default) or `1d` (86400 s).
    public var segmentSeconds: Int64
    /// Key `flush_interval`: longest time a blocked attempt waits in memory before commit, in ms
    /// (`500ms`, `1s`; 1 ms ... 60 s). Default 1000 ms.
    public var flushIntervalMilliseconds: Int64
    /// Key `aggregation_window`: repeats of the same source/destination within this many seconds are
    /// counted in one row (0 = no aggregation, at most 1 h). Default 60 s.
    public var aggregationWindowSeconds: Int64
    /// Key `retention`: segments older than this many seconds are deleted (at least one segment). Default 30 d.
    public var retentionSeconds: Int64
    /// Key `max_bytes`: oldest segments are deleted while all segments together exceed this many bytes
    /// (at least 1 MiB). Default 10 GiB.
    public var maxBytes: Int64
    /// Key `max_memory`: the most memory the block log holds in egress25d, in bytes (rings, rows in memory and
    /// the SQLite page cache; 4 MiB ... 64 GiB). Past it rows close early, then SYNs are counted per source
    /// without their destination, then counted as lost. Default 64 MiB.
    public var maxMemoryBytes: Int64
    /// Key `checkpoint_interval`: how often the counts of a row still open are rewritten, in ms (1 ms ... 1 h;
    /// never more often than `flush_interval`). New rows are written every flush interval. Default 10 s.
    public var checkpointIntervalMilliseconds: Int64

    /// Creates the section; the defaults are those of a file without `block_log:` (enabled, 1 h segments,
    /// 1000 ms flush, 60 s aggregation, 30 d retention, 10 GiB, 64 MiB of memory, 10 s checkpoints).
    public init(
        enabled: Bool = true,
        segmentSeconds: Int64 = 3600,
        flushIntervalMilliseconds: Int64 = 1000,
        aggregationWindowSeconds: Int64 = 60,
        retentionSeconds: Int64 = 30 * 86400,
        maxBytes: Int64 = 10 << 30,
        maxMemoryBytes: Int64 = 64 << 20,
        checkpointIntervalMilliseconds: Int64 = 10_000
    ) {
        self.enabled = enabled
        self.segmentSeconds = segmentSeconds
        self.flushIntervalMilliseconds = flushIntervalMilliseconds
        self.aggregationWindowSeconds = aggregationWindowSeconds
        self.retentionSeconds = retentionSeconds
        self.maxBytes = maxBytes
        self.maxMemoryBytes = maxMemoryBytes
        self.checkpointIntervalMilliseconds = checkpointIntervalMilliseconds
    }
}

/// Key `rules`: egress25d's check of the kernel rules it depends on (rules drift).
public struct RulesSettings: Sendable, Hashable {
    /// Key `reapply`: when the check finds egress25's kernel rules missing or different from this
    /// configuration, install them again (as `egress25ctl rules apply` would). Default `false`: report only
    /// (`/healthz` 503, `egress25_kernel_rules_ok 0`, one log line).
    public var reapply: Bool
    /// Key `check_interval`: how often the rules are checked, in ms (`500ms` ... `10m`). Default 5000 ms.
    public var checkIntervalMilliseconds: Int64

    /// Creates the section: `reapply` off and a 5000 ms check interval by default.
    public init(reapply: Bool = false, checkIntervalMilliseconds: Int64 = 5000) {
        self.reapply = reapply
        self.checkIntervalMilliseconds = checkIntervalMilliseconds
    }
}

/// Key `sessions`: how long a session holds its address without an update, and how large a block one binding
/// or session may cover.
public struct SessionSettings: Sendable, Hashable {
    /// Key `lease`: a session's lease in seconds (`26h`; `2s` ... `366d`). A session start or renewal extends the
    /// lease to now + this; an exception no longer applies through a session whose lease ended. Default 26 h
    /// (93600 s).
    public var leaseSeconds: Int64
    /// Key `max_prefix.ipv4`: the shortest IPv4 prefix length (largest block) a binding or session may have
    /// without `--force`, 0...32. Default 24.
    public var maxPrefixIPv4: UInt8
    /// Key `max_prefix.ipv6`: the same for IPv6, 0...128. Default 48.
    public var maxPrefixIPv6: UInt8

    /// Creates the section: a 93,600 s (26 h) lease, IPv4 /24 and IPv6 /48 by default.
    public init(leaseSeconds: Int64 = 93_600, maxPrefixIPv4: UInt8 = 24, maxPrefixIPv6: UInt8 = 48) {
        self.leaseSeconds = leaseSeconds
        self.maxPrefixIPv4 = maxPrefixIPv4
        self.maxPrefixIPv6 = maxPrefixIPv6
    }
}

/// Key `metrics`.
public struct MetricsSettings: Sendable, Hashable {
    /// Key `listen`: `ADDRESS:PORT` (`127.0.0.1:9325`, `[::1]:9325`) of the metrics endpoint, parsed once here.
    /// Default `127.0.0.1:9325`.
    public var listen: ListenAddress

    /// Creates the section: `127.0.0.1:9325` by default.
    public init(listen: ListenAddress = ListenAddress(address: .v4(IPv4Address(0x7F00_0001)), port: 9325)) {
        self.listen = listen
    }
}

/// A TCP listen address: an IP address and a port, as the configuration writes it (`127.0.0.1:9325`,
/// `[::1]:9325`).
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address to bind.
    public var address: IPAddress
    /// The TCP port, 1...65535.
    public var port: UInt16

    /// Creates a listen address from an address and a TCP port.
    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// `127.0.0.1:9325` or `[::1]:9325`.
    public var description: String { address.isIPv4 ? "\(address):\(port)" : "[\(address)]:\(port)" }
}

extension String {
    func joinedPath(_ component: String) -> String {
        hasSuffix("/") ? self + component : self + "/" + component
    }
}
