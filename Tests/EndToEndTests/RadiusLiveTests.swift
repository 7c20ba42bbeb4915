import Egress25TestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Debian's radclient (freeradius-utils). With CI=true the suite runs (and fails) without it: `.ci/run` installs it.
enum RadiusTools {
    static let radclient = "/usr/bin/radclient"
    static var radclientRuns: Bool {
        FileManager.default.isExecutableFile(atPath: radclient) || ProcessInfo.processInfo.environment["CI"] == "true"
    }
}

/// Issue 15 "Show", end to end with the real client: Debian's `radclient` sends RADIUS accounting to the real
/// egress25-admin (`session_feed.radius` on a loopback port of the host), which commits the sessions to the store
/// the real egress25d reads; real SYNs from the subscriber namespace show what the router enforces. The same
/// scenario runs once on the embedded SQLite store (one router) and once on the fleet's PostgreSQL (egress25-admin
/// with an admin machine's configuration, the router as a fleet member):
///
/// a Start for a customer with an exception opens its Framed-IP-Address within 1 s; a Stop closes it; a Start for
/// another subscriber on the same address closes it (no leak); an Interim adds a delegated IPv6 prefix and an IPv6
/// SYN from inside it gets through; an Accounting-On from the NAS ends its sessions; a Start with a wrong secret
/// gets no answer and changes nothing.
@Suite(
    .serialized, .enabled(if: EndToEnd.enabled, EndToEnd.skipReason),
    .enabled(if: RadiusTools.radclientRuns, "radclient is missing (apt-get install freeradius-utils)"))
struct RadiusLiveTests {
    static let radclient = RadiusTools.radclient
    static let employerMX = "198.51.100.25"
    static let employerMX6 = "2001:db8:99::25"
    static let secret = "bng-shared-secret-1813"

    /// The NAS: radclient against egress25-admin's RADIUS port.
    struct NAS {
        let port: Int
        let log: String

        /// Sends one Accounting-Request with `attributes` (radclient's `Name = value` syntax); whether an
        /// Accounting-Response came back (radclient exits 0 only then), and what radclient printed.
        @discardableResult
        func send(_ attributes: [String], secret: String = RadiusLiveTests.secret) throws -> (Bool, String) {
            let list = attributes.joined(separator: ", ")
            let result = try run(
                [
                    "sh", "-c",
                    "printf '%s\\n' \"$1\" | \(RadiusLiveTests.radclient) -x -r 1 -t 2 127.0.0.1:\(port) acct \"$2\"",
                    "radclient", list, secret,
                ], timeout: 20)
            let output = result.output + result.error
            try? (((try? readTextFile(log)) ?? "") + output + "\n").write(
                toFile: log, atomically: true, encoding: .utf8)
            return (result.status == 0 && output.contains("Received Accounting-Response"), output)
        }

        func session(
            _ status: String, customer: String, session: String, address: String? = nil, prefix: String? = nil,
            nas: String = "bng-1"
        ) -> [String] {
            var attributes = [
                "Acct-Status-Type = \(status)", "NAS-Identifier = \"\(nas)\"", "Acct-Session-Id = \"\(session)\"",
                "User-Name = \"\(customer)\"", "Acct-Interim-Interval = 300",
            ]
            if let address { attributes.append("Framed-IP-Address = \(address)") }
            if let prefix { attributes.append("Delegated-IPv6-Prefix = \(prefix)") }
            return attributes
        }
    }

    /// The `session_feed:` and `admin:` sections, with the secret written to `directory`.
    static func feedConfiguration(directory: String, udpPort: Int, httpPort: Int) throws -> String {
        try (secret + "\n").write(toFile: directory + "/radius-secret", atomically: true, encoding: .utf8)
        return """
            admin: { listen: 127.0.0.1:\(httpPort) }
            session_feed:
              radius:
                listen: ["127.0.0.1:\(udpPort)"]
                clients:
                  - { address: 127.0.0.0/8, secret_file: \(directory)/radius-secret }
                subscriber_id: User-Name
            """
    }

    @Test func radclientDrivesTheRouterOnTheSQLiteStore() throws {
        let udpPort = try freeLoopbackUDPPort()
        let httpPort = try freeLoopbackPort()
        let topology = try Topology()
        defer { topology.tearDown() }
        let feed = try Self.feedConfiguration(directory: topology.directory, udpPort: udpPort, httpPort: httpPort)
        try topology.writeConfiguration(extra: feed)
        let rules = try topology.ctl(["rules", "apply"])
        try #require(rules.status == 0, "rules apply: \(rules.output) \(rules.error)")
        try topology.ctlSucceeding(["customer", "add", "c-1001", "--name", "Jane Doe"])
        try topology.ctlSucceeding([
            "exception", "grant", "c-1001", "--to", "\(Self.employerMX),\(Self.employerMX6)", "--for", "1h",
            "--reason", "telecommuter", "--by", "alice",
        ])
        try topology.startDaemon()
        let admin = try AdminServerProcess(
            config: topology.configPath, port: httpPort, logPath: topology.directory + "/egress25-admin.log")
        defer { admin.stop() }
        try eventually("egress25-admin answers /healthz", timeout: 30, every: 0.1) {
            guard admin.isRunning else { throw TopologyError("egress25-admin exited: \(admin.output)") }
            return loopbackGET(port: httpPort, path: "/healthz")?.status == 200
        }
        try scenario(
            topology, nas: NAS(port: udpPort, log: topology.directory + "/radclient.log"), admin: admin,
            sessions: { try topology.ctlJSON(["session", "list", "--history", "--format", "json"]) })
    }

    @Test func radclientDrivesAFleetRouterThroughPostgreSQL() throws {
        try #require(TestPostgres.hasServerBinaries, "PostgreSQL server binaries are missing")
        let udpPort = try freeLoopbackUDPPort()
        let httpPort = try freeLoopbackPort()
        try Fleet.with(routers: 1) { fleet in
            let router = fleet.routers[0]
            try fleet.adminSucceeding(["customer", "add", "c-1001", "--name", "Jane Doe"])
            try fleet.adminSucceeding([
                "exception", "grant", "c-1001", "--to", "\(Self.employerMX),\(Self.employerMX6)", "--for", "1h",
                "--reason", "telecommuter", "--by", "alice",
            ])
            // egress25-admin on an admin machine: the store-only configuration plus the feed, with the router's
            // subscriber ranges so the feed checks its addresses against them.
            let config = fleet.files.path + "/admin-radius.yaml"
            let feed = try Self.feedConfiguration(directory: fleet.files.path, udpPort: udpPort, httpPort: httpPort)
            try (try readTextFile(fleet.adminConfig) + feed + "\n").write(
                toFile: config, atomically: true, encoding: .utf8)
            let admin = try AdminServerProcess(
                config: config, port: httpPort, logPath: fleet.files.path + "/egress25-admin.log")
            defer { admin.stop() }
            try eventually("egress25-admin answers /healthz", timeout: 30, every: 0.1) {
                guard admin.isRunning else { throw TopologyError("egress25-admin exited: \(admin.output)") }
                return loopbackGET(port: httpPort, path: "/healthz")?.status == 200
            }
            try scenario(
                router.topology, nas: NAS(port: udpPort, log: fleet.files.path + "/radclient.log"), admin: admin,
                sessions: { try fleet.adminSucceeding(["session", "list", "--history", "--format", "json"]) })
        }
    }

    /// The scenario, on whichever store the router and egress25-admin share.
    func scenario(_ topology: Topology, nas: NAS, admin: AdminServerProcess, sessions: () throws -> Any) throws {
        let address = topology.subscriberAddress
        let delegated = topology.subscriberRanges[1]  // the subscriber side's IPv6 /64
        #expect(try topology.probe(Self.employerMX, 25).outcome == .refused, "before any session")

        // 1. Accounting-Start for c-1001 on the subscriber's address: the exception applies within 1 s.
        var answer = (false, "")
        let opened = try topology.measureChange(Self.employerMX, from: .refused, to: .connected) {
            answer = try nas.send(nas.session("Start", customer: "c-1001", session: "s-1", address: address))
        }
        #expect(answer.0, "no Accounting-Response to the Start: \(answer.1)\n\(admin.output.suffix(3000))")
        #expect(opened.outcome == .connected && opened.seconds < 1.0, "after the Start: \(opened)")

        // 2. Accounting-Stop: blocked again.
        let stopped = try topology.measureChange(Self.employerMX, from: .connected, to: .refused) {
            answer = try nas.send(nas.session("Stop", customer: "c-1001", session: "s-1", address: address))
        }
        #expect(answer.0, "no answer to the Stop: \(answer.1)")
        #expect(stopped.outcome == .refused && stopped.seconds < 1.0, "after the Stop: \(stopped)")

        // 3. c-1001 again (a new session), then another subscriber's Start on the same address: no leak.
        try #require(try nas.send(nas.session("Start", customer: "c-1001", session: "s-2", address: address)).0)
        try eventually("c-1001's new session is live", timeout: 3) {
            try topology.probe(Self.employerMX, 25).outcome == .connected
        }
        let moved = try topology.measureChange(Self.employerMX, from: .connected, to: .refused) {
            answer = try nas.send(nas.session("Start", customer: "c-7777", session: "s-3", address: address))
        }
        #expect(answer.0, "no answer to c-7777's Start: \(answer.1)")
        #expect(moved.outcome == .refused && moved.seconds < 1.0, "c-7777 inherited c-1001's exception: \(moved)")
        for _ in 0..<3 {
            #expect(try topology.probe(Self.employerMX, 25).outcome == .refused, "stays blocked for c-7777")
        }

        // 4. c-1001 takes the address back; an Interim adds its delegated IPv6 prefix: IPv6 gets through.
        try #require(try nas.send(nas.session("Start", customer: "c-1001", session: "s-4", address: address)).0)
        #expect(try topology.probe(Self.employerMX6, 25).outcome == .refused, "IPv6 before the Interim")
        let ipv6 = try topology.measureChange(Self.employerMX6, from: .refused, to: .connected) {
            answer = try nas.send(
                nas.session("Interim-Update", customer: "c-1001", session: "s-4", address: address, prefix: delegated))
        }
        #expect(answer.0, "no answer to the Interim: \(answer.1)")
        #expect(ipv6.outcome == .connected && ipv6.seconds < 1.0, "IPv6 after the Interim: \(ipv6)")

        // 5. A Start with the wrong secret: no answer, nothing changes (c-7777 does not take the address).
        let forged = try nas.send(
            nas.session("Start", customer: "c-7777", session: "s-5", address: address), secret: "not-the-secret")
        #expect(!forged.0, "a Start with the wrong secret was answered: \(forged.1)")
        #expect(try topology.probe(Self.employerMX, 25).outcome == .connected, "the forged Start changed the store")
        let metrics = loopbackGET(port: admin.port, path: "/metrics")?.body ?? ""
        #expect(metrics.contains("egress25_radius_invalid_total{why=\"bad_authenticator\"} 1"), "\(metrics)")

        // 6. Accounting-On from the NAS (it rebooted): every session it had ends, IPv4 and IPv6.
        let rebooted = try topology.measureChange(Self.employerMX, from: .connected, to: .refused) {
            answer = try nas.send(["Acct-Status-Type = Accounting-On", "NAS-Identifier = \"bng-1\""])
        }
        #expect(answer.0, "no answer to the Accounting-On: \(answer.1)")
        #expect(rebooted.outcome == .refused && rebooted.seconds < 1.0, "after Accounting-On: \(rebooted)")
        #expect(try topology.probe(Self.employerMX6, 25).outcome == .refused, "IPv6 after Accounting-On")

        // `session list` names the NAS and the Acct-Session-Id of what the feed recorded.
        let listed = "\(try sessions())"
        #expect(listed.contains("bng-1") && listed.contains("s-4"), "\(listed)")
        #expect(admin.isRunning, "egress25-admin exited: \(admin.output)")
    }

}
