import KernelRules
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A network namespace for one test. Nothing here touches the host's own (root namespace) interfaces or rules.
///
/// ``init()`` creates a new, empty namespace (only a loopback, down) that goes away with the value;
/// ``init(adopting:)`` names one that a ``NamespaceTopology`` made and removes.
package final class NetworkNamespace: Sendable {
    /// The namespace name, as `ip netns` lists it.
    package let name: String
    /// Runs commands inside the namespace (`ip netns exec NAME ...`).
    package let runner: CommandRunner
    private let owned: Bool

    /// Distinguishes the namespaces and topologies of tests that run in parallel in one test process.
    static let sequence = Mutex(0)

    static func nextNumber() -> Int {
        sequence.withLock { value -> Int in
            value += 1
            return value
        }
    }

    /// Creates a fresh namespace `e25cfg-<pid>-<n>`, deleted when this value goes away.
    package init() throws {
        name = "e25cfg-\(getpid())-\(Self.nextNumber())"
        try CommandRunner().check(["ip", "netns", "add", name])
        runner = CommandRunner(prefix: ["ip", "netns", "exec", name])
        owned = true
    }

    /// A namespace made (and removed) by someone else.
    package init(adopting name: String) {
        self.name = name
        runner = CommandRunner(prefix: ["ip", "netns", "exec", name])
        owned = false
    }

    deinit {
        if owned { _ = try? CommandRunner().run(["ip", "netns", "delete", name]) }
    }

    /// Runs a command inside the namespace; requires exit status 0.
    /// - Returns: its standard output.
    @discardableResult
    package func check(_ arguments: String..., input: String? = nil) throws -> String {
        try runner.check(arguments, input: input).standardOutput
    }
}

/// The three-namespace topology of Tests/EndToEndTests/Scripts/topology.sh (also used by scripts/demo.sh):
///
///     SUB  subscriber   100.64.0.10/24, 203.0.113.10/24 (not a subscriber), 2001:db8:6400::10/64
///      |  veth PREFIXs0 -- PREFIXr0
///     RTR  router       100.64.0.1, 203.0.113.1, 2001:db8:6400::1 | 10.255.0.1/30, 2001:db8:ffff::1/64; forwarding
///      |  veth PREFIXr1 -- PREFIXn0
///     NET  internet     10.255.0.2/30, 2001:db8:ffff::2; on lo: 192.0.2.25, 198.51.100.25, 198.51.100.26,
///                       2001:db8:25::25, 2001:db8:99::25; iptables chain E25COUNT counts SYNs to :25 per address
///
/// Built by ``init()``, removed (with every process still running in it) by ``tearDown()``.
package final class NamespaceTopology: Sendable {
    /// Namespace and interface name prefix; interface names are PREFIX + 2 characters (at most 15 in all).
    package let prefix: String
    /// The subscriber namespace (`PREFIX-sub`).
    package let subscriber: NetworkNamespace
    /// The router namespace (`PREFIX-rtr`), where egress25d and its kernel rules run.
    package let router: NetworkNamespace
    /// The internet namespace (`PREFIX-net`) with the SMTP destinations.
    package let internet: NetworkNamespace
    /// The third octet of the subscriber side: 100.64.SUBNET.0/24 and 2001:db8:64XX::/64 (XX: SUBNET in hex).
    package let subnet: Int

    /// Builds the topology with `Tests/EndToEndTests/Scripts/topology.sh up` (root only).
    ///
    /// - Parameter subnet: 0-255: the subscriber side is 100.64.SUBNET.0/24 and 2001:db8:64XX::/64 (the routers of
    ///   a fleet test hold different ranges); 0 (100.64.0.0/24, 2001:db8:6400::/64) unless given.
    /// - Throws: ``TestFailure`` when the script fails, or what ``run(_:timeout:)`` throws.
    package init(subnet: Int = 0) throws {
        prefix = "e25-\(getpid() % 10_000)-\(NetworkNamespace.nextNumber() % 100)"
        subscriber = NetworkNamespace(adopting: prefix + "-sub")
        router = NetworkNamespace(adopting: prefix + "-rtr")
        internet = NetworkNamespace(adopting: prefix + "-net")
        self.subnet = subnet
        let up = try run(["bash", testScripts + "/topology.sh", "up", prefix, "\(subnet)"])
        guard up.status == 0 else { throw TestFailure("topology up failed: \(up.error)") }
    }

    /// Kills what still runs in the three namespaces and deletes them.
    package func tearDown() {
        _ = try? run(["bash", testScripts + "/topology.sh", "down", prefix])
    }
}
