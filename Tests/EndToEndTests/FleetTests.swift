import Egress25TestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 13 "Show", end to end: three router namespaces, each with its own subscriber range and its own egress25d,
/// all reading their policy from one PostgreSQL (a private cluster of the test's own, which it stops and starts):
/// a grant made from a fourth place is live within a second and opens nothing else, a session that moves carries its
/// customer's exception and leaks to no one, the routers keep enforcing while the database is down (one of them
/// restarted from its cache), a router's credentials cannot grant an exception, and `node list` shows the routers.
/// The central block log: what the three routers block appears in `blocked query` / `blocked top` with its node, and
/// after a kill -9 of a router and a PostgreSQL restart mid-traffic the store holds each router's own segment rows
/// exactly once (no duplicate, no loss), with a shipping lag of 0 s in `node list`.
///
/// The routers reach PostgreSQL over its unix socket (a file: it works across network namespaces), each as a login
/// role of its own in `egress25_router`; the "fourth place" is `egress25ctl` in the test's own namespace with a
/// store-only configuration naming a login role in `egress25_admin`.
@Suite(
    .serialized, .enabled(if: EndToEnd.enabled, EndToEnd.skipReason),
    .enabled(
        if: TestPostgres.hasServerBinaries,
        "fleet tests need PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt-get install postgresql)"))
struct FleetTests {
    static let employerMX = "198.51.100.25"
    static let otherMX = "198.51.100.26"
    static let relay = "192.0.2.25"

    // MARK: - 1. Three routers, one store

    @Test func aGrantFromAFourthPlaceIsLiveOnTheRouterWithinOneSecondAndOpensNothingElse() throws {
        try Fleet.with { fleet in
            let (a, b, c) = (fleet.routers[0], fleet.routers[1], fleet.routers[2])
            try fleet.adminSucceeding(["customer", "add", "c-1001", "--name", "Jane Doe"])
            try fleet.adminSucceeding(["session", "start", "c-1001", a.address, "--by", "radius"])
            try fleet.waitUntilCurrent()
            #expect(try a.topology.probe(Self.employerMX, 25).outcome == .refused, "before the grant")

            var id = ""
            let live = try fleet.measure([a], Self.employerMX, from: .refused, to: .connected, limit: 5) {
                id = try fleet.grant("c-1001", to: Self.employerMX)
            }
            print("fleet grant: live on \(a.name) \(live[0].milliseconds) ms after `exception grant` started")
            #expect(live[0].outcome == .connected, "never live on \(a.name): \(live) \(a.topology.daemonOutput)")
            #expect(live[0].seconds < 1.0, "live on \(a.name) \(live[0].milliseconds) ms after the grant started")

            // Nothing else opens: every router has the exception in force, and only c-1001's address gets it,
            // only to the granted destination.
            try fleet.waitUntilCurrent()
            for router in fleet.routers {
                #expect(try router.topology.metric("egress25_active_exceptions") == 1, "\(router.name)")
            }
            let banner = try a.topology.probe(Self.employerMX, 25)
            #expect(banner.outcome == .connected && banner.banner.hasPrefix("220 198.51.100.25"), "\(banner)")
            #expect(try a.topology.probe(Self.otherMX, 25).outcome == .refused, "outside the exception's scope")
            #expect(
                try a.topology.probe(Self.employerMX, 25, source: a.spareAddress).outcome == .refused,
                "another address on \(a.name)")
            for router in [b, c] {
                #expect(
                    try router.topology.probe(Self.employerMX, 25).outcome == .refused,
                    "\(router.address) on \(router.name) has no exception")
                #expect(try router.topology.synsArrived(at: Self.employerMX) == 0, "\(router.name)")
                #expect(try router.topology.probe(Self.relay, 25).outcome == .connected, "the relay on \(router.name)")
            }
            let exceptions = try fleet.adminSucceeding(["exception", "list", "--customer", "c-1001"])
            #expect(exceptions.contains(id), "\(exceptions)")
        }
    }

    // MARK: - 2. A session that moves

    @Test func aSessionThatMovesBetweenRoutersCarriesTheExceptionAndLeaksToNoOne() throws {
        try Fleet.with { fleet in
            let (a, b, c) = (fleet.routers[0], fleet.routers[1], fleet.routers[2])
            try fleet.adminSucceeding(["customer", "add", "c-1001", "--name", "Jane Doe"])
            try fleet.adminSucceeding(["customer", "add", "c-2002", "--name", "John Roe"])
            try fleet.adminSucceeding(["session", "start", "c-1001", a.address, "--by", "radius"])
            let live = try fleet.measure([a], Self.employerMX, from: .refused, to: .connected, limit: 5) {
                _ = try fleet.grant("c-1001", to: Self.employerMX)
            }
            try #require(live[0].outcome == .connected, "the exception never went live on \(a.name): \(live)")

            // A -> B: a session start on B's address, a session stop on A's.
            let moved = try fleet.measure(
                [(a, .connected, .refused), (b, .refused, .connected)],
                Self.employerMX, limit: 5
            ) {
                try fleet.adminSucceeding(["session", "start", "c-1001", b.address, "--by", "radius"])
                try fleet.adminSucceeding(["session", "stop", "c-1001", a.address, "--by", "radius"])
            }
            print("session A -> B (start + stop): " + Fleet.Measured.text(moved))
            #expect(moved[0].outcome == .refused, "the old address on \(a.name) kept the exception: \(moved[0])")
            #expect(moved[1].outcome == .connected, "the exception did not follow to \(b.name): \(moved[1])")
            for result in moved { #expect(result.seconds < 1.0, "\(result)") }

            // Another customer takes A's old address over: it must not get c-1001's exception.
            try fleet.adminSucceeding(["session", "start", "c-2002", a.address, "--by", "radius"])
            try fleet.waitUntilCurrent()
            for _ in 0..<3 {
                #expect(try a.topology.probe(Self.employerMX, 25).outcome == .refused, "c-2002 on \(a.name)")
            }
            #expect(try b.topology.probe(Self.employerMX, 25).outcome == .connected, "c-1001 on \(b.name)")

            // B -> C, the old address taken over by another customer's session start (no stop for c-1001).
            let again = try fleet.measure(
                [(b, .connected, .refused), (c, .refused, .connected)],
                Self.employerMX, limit: 5
            ) {
                try fleet.adminSucceeding(["session", "start", "c-1001", c.address, "--by", "radius"])
                let output = try fleet.adminSucceeding(["session", "start", "c-2002", b.address, "--by", "radius"])
                #expect(output.contains("ended session c-1001"), "\(output)")
            }
            print("session B -> C (start + takeover): " + Fleet.Measured.text(again))
            #expect(again[0].outcome == .refused, "c-2002 got c-1001's exception on \(b.name): \(again[0])")
            #expect(again[1].outcome == .connected, "the exception did not follow to \(c.name): \(again[1])")
            for result in again { #expect(result.seconds < 1.0, "\(result)") }
            for _ in 0..<3 {
                #expect(try b.topology.probe(Self.employerMX, 25).outcome == .refused, "c-2002 on \(b.name)")
            }
            #expect(try a.topology.probe(Self.employerMX, 25).outcome == .refused, "c-2002 on \(a.name)")
        }
    }

    // MARK: - 3. Database outage

    @Test func routersKeepEnforcingWhileTheDatabaseIsDownOneRestartsFromItsCacheARevokeAfterItReturnsIsLive()
        throws
    {
        try Fleet.with { fleet in
            let c = fleet.routers[2]
            try fleet.adminSucceeding(["customer", "add", "c-1001", "--name", "Jane Doe"])
            for router in fleet.routers {
                try fleet.adminSucceeding(["session", "start", "c-1001", router.address, "--by", "radius"])
            }
            var id = ""
            let live = try fleet.measure(fleet.routers, Self.employerMX, from: .refused, to: .connected, limit: 5) {
                id = try fleet.grant("c-1001", to: Self.employerMX)
            }
            print("fleet grant: " + Fleet.Measured.text(live))
            for result in live { #expect(result.outcome == .connected && result.seconds < 1.0, "\(result)") }

            // C's cache holds the exception before the database goes.
            let cache = c.topology.directory + "/state/policy-cache"
            try eventually("\(c.name)'s policy cache names \(id)", timeout: 6) {
                ((try? String(contentsOfFile: cache, encoding: .utf8)) ?? "").contains(id)
            }

            try fleet.cluster.stopServer()
            let stopped = Date()
            for router in fleet.routers {
                try eventually("\(router.name) notices the outage", timeout: 10) {
                    try router.topology.metric("egress25_store_connected") == 0
                }
            }
            try fleet.expectEnforcing("database down")

            // C restarts while the database is down (killed: the cache it starts from is the one written while it
            // ran, not one written at a clean shutdown).
            c.topology.killDaemon(signal: SIGKILL)
            try c.topology.startDaemon()
            #expect(
                c.topology.daemonOutput.contains("enforcing the cached policy data"), "\(c.topology.daemonOutput)")
            try fleet.expectEnforcing("database down, \(c.name) restarted from its cache", only: [c])
            let health = try c.topology.http("healthz")
            #expect(health.status == 200, "\(c.name) /healthz while its cache is fresh: \(health)")
            #expect(try c.topology.metric("egress25_store_connected") == 0)
            let age = try #require(try c.topology.metric("egress25_policy_data_age_seconds"))
            #expect(age >= 0 && age < 600, "data age \(age) s")
            print(
                "\(c.name) restarted from its cache \(Int(Date().timeIntervalSince(stopped))) s into the outage, data age \(age) s"
            )

            // Down long enough for every router's retry backoff to reach its 5 s ceiling; then the database returns
            // and a revoke made right after is enforced on all three (each reconnects at its next attempt).
            sleep(untilWallClock: stopped.timeIntervalSince1970 + 12)
            try fleet.cluster.startServer()
            print("database down for \(String(format: "%.1f", Date().timeIntervalSince(stopped))) s")
            let revoked = try fleet.measure(fleet.routers, Self.employerMX, from: .connected, to: .refused, limit: 8) {
                try fleet.adminSucceeding(["exception", "revoke", id, "--reason", "employer moved", "--by", "bob"])
            }
            print("revoke right after the database returned: " + Fleet.Measured.text(revoked))
            for result in revoked {
                #expect(result.outcome == .refused, "\(result)")
                #expect(result.seconds < 8.0, "\(result)")
            }
            for router in fleet.routers {
                try eventually("\(router.name) reconnects", timeout: 10) {
                    try router.topology.metric("egress25_store_connected") == 1
                }
            }
            // Reconnected: a change is live everywhere within the second again.
            let regrant = try fleet.measure(fleet.routers, Self.employerMX, from: .refused, to: .connected, limit: 5) {
                _ = try fleet.grant("c-1001", to: Self.employerMX)
            }
            print("grant after the routers reconnected: " + Fleet.Measured.text(regrant))
            for result in regrant { #expect(result.outcome == .connected && result.seconds < 1.0, "\(result)") }
        }
    }

    // MARK: - 4. A router's credentials cannot grant an exception

    @Test func aRoutersCredentialsCannotGrantAnExceptionOrMoveASession() throws {
        try Fleet.with(routers: 0) { fleet in
            try fleet.adminSucceeding(["customer", "add", "c-1001", "--name", "Jane Doe"])
            let role = try fleet.database.createLoginRole(
                name: "router_x", password: TestPostgres.randomHex(), memberOf: ["egress25_router"])
            let config = try fleet.writeStoreConfiguration(role: role, name: "router-x.yaml")
            let before = try fleet.adminSucceeding(["exception", "list", "--format", "json"])
            let tables =
                "SELECT (SELECT count(*) FROM exception), (SELECT count(*) FROM binding), "
                + "(SELECT count(*) FROM audit), (SELECT count(*) FROM change_log), "
                + "(SELECT generation FROM store_state)"
            let rowsBefore = try fleet.database.psql(tables)

            let ctl = [EndToEnd.binaries + "/egress25ctl", "--config", config]
            let grant = try run(
                ctl + [
                    "exception", "grant", "c-1001", "--to", Self.employerMX, "--for", "1h", "--reason", "mallory",
                    "--by", "mallory",
                ])
            #expect(grant.status == 1, "exit \(grant.status): \(grant.error) \(grant.output)")
            let lines = grant.error.split(separator: "\n")
            #expect(lines.count == 1, "one line: \(grant.error)")
            #expect(grant.error.lowercased().contains("permission denied"), "\(grant.error)")
            #expect(grant.output.isEmpty, "\(grant.output)")
            print("router role's grant: \(grant.error.trimmingCharacters(in: .whitespacesAndNewlines))")

            let session = try run(ctl + ["session", "start", "c-1001", "100.64.1.10", "--by", "mallory"])
            #expect(session.status == 1, "exit \(session.status): \(session.error) \(session.output)")
            #expect(session.error.lowercased().contains("permission denied"), "\(session.error)")

            #expect(try fleet.adminSucceeding(["exception", "list", "--format", "json"]) == before, "nothing written")
            #expect(try fleet.database.psql(tables) == rowsBefore, "nothing written")
        }
    }

    // MARK: - 5. node list

    @Test func nodeListShowsTheThreeRoutersWithARecentHeartbeat() throws {
        try Fleet.with { fleet in
            var nodes: [[String: Any]] = []
            try eventually("three routers in node list", timeout: 10) {
                let output = try fleet.adminSucceeding(["node", "list", "--format", "json"])
                nodes = (try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [[String: Any]] ?? []
                return nodes.count == 3
            }
            let now = Int64(Date().timeIntervalSince1970)
            for router in fleet.routers {
                let node = try #require(nodes.first { $0["name"] as? String == router.name }, "\(nodes)")
                #expect(node["database_role"] as? String == router.role, "\(node)")
                let heartbeat = try #require((node["last_heartbeat"] as? NSNumber)?.int64Value, "\(node)")
                #expect(now - heartbeat <= 10, "\(router.name)'s heartbeat is \(now - heartbeat) s old")
            }
            let table = try fleet.adminSucceeding(["node", "list"])
            print(table)
            for router in fleet.routers { #expect(table.contains(router.name), "\(table)") }
        }
    }

    // MARK: - 6. The central block log

    @Test func blockedAttemptsFromAllThreeRoutersAppearInBlockedQueryWithTheirNode() throws {
        try Fleet.with(blockLog: Fleet.shortBlockLog) { fleet in
            // 2, 3 and 4 refused connects to a non-relay MX from the subscriber behind router-a, -b and -c.
            var expected: [String: Int] = [:]
            var expectedBySource: [String: Int] = [:]
            for (index, router) in fleet.routers.enumerated() {
                for _ in 0..<(index + 2) {
                    #expect(try router.topology.probe(Self.otherMX, 25).outcome == .refused, "\(router.name)")
                }
                expected[router.name] = index + 2
                expectedBySource[router.address] = index + 2
            }
            let blocked = Date()
            var rows: [Fleet.BlockedRow] = []
            try eventually("the blocked attempts of the three routers in the fleet store", timeout: 30, every: 0.5) {
                rows = try fleet.blockedRows()
                return Fleet.BlockedRow.synsByNode(rows) == expected
            }
            print(
                "blocked attempts of three routers in `blocked query` \(Int(Date().timeIntervalSince(blocked) * 1000)) ms "
                    + "after the last refused connect (final after \(Fleet.shortFinalitySeconds) s): "
                    + "\(Fleet.BlockedRow.synsByNode(rows).sorted { $0.key < $1.key })")
            for router in fleet.routers {
                let own = rows.filter { $0.node == router.name }
                #expect(!own.isEmpty && own.allSatisfy { $0.source == router.address }, "\(router.name): \(own)")
                #expect(own.allSatisfy { $0.destination == Self.otherMX && $0.attempts == $0.syns }, "\(own)")
                // The router counted the same: what it shipped is what the store holds.
                #expect(
                    try router.topology.metric("egress25_blocklog_shipped_rows_total") == Double(own.count),
                    "\(router.name)")
                #expect(
                    try router.topology.metric("egress25_blocklog_shipped_syns_total")
                        == Double(expected[router.name]!),
                    "\(router.name)")
            }

            // --node narrows to one router.
            let b = fleet.routers[1]
            let onlyB = try fleet.blockedRows(node: b.name)
            #expect(!onlyB.isEmpty && onlyB.allSatisfy { $0.node == b.name }, "\(onlyB)")
            #expect(Set(onlyB) == Set(rows.filter { $0.node == b.name }), "--node \(b.name): \(onlyB)")
            #expect(Fleet.BlockedRow.synsByNode(onlyB) == [b.name: expected[b.name]!])

            // top --by source: the same sums, across the fleet and on one router.
            let top = try fleet.topBySource()
            print("blocked top --by source: \(top.sorted { $0.key < $1.key })")
            #expect(top == expectedBySource, "\(top)")
            var bySource: [String: Int] = [:]
            for row in rows { bySource[row.source, default: 0] += row.syns }
            #expect(top == bySource, "top --by source vs query: \(top) \(bySource)")
            #expect(try fleet.topBySource(node: b.name) == [b.address: expected[b.name]!])
        }
    }

    @Test func afterKill9OfARouterAndAPostgreSQLRestartEachRoutersRowsAreInTheStoreExactlyOnce() throws {
        try Fleet.with(blockLog: Fleet.shortBlockLog) { fleet in
            let b = fleet.routers[1]
            // 20 connects/s behind each router (IPv4 and IPv6 non-relay MX hosts in turn), each attempt given up
            // after 0.5 s (no retransmission), at most 60 s.
            var probers: [ContinuousProber] = []
            defer { for prober in probers { prober.kill() } }
            for router in fleet.routers {
                probers.append(try ContinuousProber(router.topology, maxSeconds: 60, interval: 0.05, timeout: 0.5))
            }
            let started = Date()
            func elapsed() -> String { String(format: "%.1f s", Date().timeIntervalSince(started)) }

            // Shipping under way on B (its first rows final), then kill -9 and start again.
            try eventually("\(b.name) ships its first rows", timeout: 20, every: 0.25) {
                (try b.topology.metric("egress25_blocklog_shipped_rows_total") ?? 0) > 0
            }
            print("\(elapsed()): \(b.name) shipping; kill -9")
            b.topology.killDaemon(signal: SIGKILL)
            try b.topology.startDaemon()
            print("\(elapsed()): \(b.name) running again")

            // PostgreSQL down for 4 s while every router keeps blocking and shipping fails.
            sleep(untilWallClock: Date().timeIntervalSince1970 + 2)
            try fleet.cluster.stopServer()
            print("\(elapsed()): PostgreSQL stopped")
            sleep(untilWallClock: Date().timeIntervalSince1970 + 4)
            // Rows went final during the outage and none could ship: every router reports a lag.
            for router in fleet.routers {
                let lag = try router.topology.metric("egress25_blocklog_shipping_lag_seconds") ?? -1
                print("\(elapsed()): \(router.name)'s shipping lag with PostgreSQL down: \(lag) s")
                #expect(lag > 0, "\(router.name) reports a shipping lag of \(lag) s with PostgreSQL down")
            }
            try fleet.cluster.startServer()
            print("\(elapsed()): PostgreSQL started")
            sleep(untilWallClock: Date().timeIntervalSince1970 + 5)
            for (router, prober) in zip(fleet.routers, probers) {
                let result = try prober.stop()
                print("\(elapsed()): connects behind \(router.name): \(result)")
                #expect(result.refused > 100 && result.connected == 0, "\(router.name): \(result)")
            }
            let stopped = Date()

            // Caught up: every row is final, each router's lag is 0 and the fleet's totals stay the same for 3 s.
            sleep(untilWallClock: stopped.timeIntervalSince1970 + Fleet.shortFinalitySeconds + 1)
            var totals = try fleet.storeTotals()
            var unchangedSince = Date()
            try eventually("every router caught up", timeout: 60, every: 0.5) {
                let now = try fleet.storeTotals()
                if now != totals {
                    (totals, unchangedSince) = (now, Date())
                    return false
                }
                guard Date().timeIntervalSince(unchangedSince) >= 3 else { return false }
                return try fleet.routers.allSatisfy {
                    try $0.topology.metric("egress25_blocklog_shipping_lag_seconds") == 0
                }
            }
            print("caught up \(String(format: "%.1f", Date().timeIntervalSince(stopped))) s after the connects stopped")

            // Per router: the fleet store's rows and SYNs are its own segments' rows and SYNs, row for row.
            let marks = try fleet.shippingTotals()
            for router in fleet.routers {
                let local = try fleet.localRows(router)
                let shipped = try fleet.blockedRows(node: router.name)
                let store = totals[router.name] ?? Fleet.Totals(rows: 0, syns: 0)
                let segments = Fleet.Totals(rows: local.count, syns: local.reduce(0) { $0 + $1.syns })
                let rowsShipped = try router.topology.metric("egress25_blocklog_shipped_rows_total") ?? -1
                let failedPasses = try router.topology.metric("egress25_blocklog_shipping_errors_total") ?? -1
                print(
                    "\(router.name): PostgreSQL \(store), its segments \(segments), high-water marks "
                        + "\(marks[router.name].map(\.description) ?? "-"); this process shipped \(Int(rowsShipped)) "
                        + "rows, \(Int(failedPasses)) passes failed")
                #expect(failedPasses > 0, "\(router.name)'s shipping never saw PostgreSQL down")
                #expect(store.rows >= 20 && store.syns >= 200, "\(router.name) blocked and shipped: \(store)")
                #expect(store == segments, "\(router.name): PostgreSQL \(store) vs segments \(segments)")
                #expect(marks[router.name] == store, "\(router.name): marks \(String(describing: marks[router.name]))")
                let missing = Fleet.BlockedRow.difference(local, shipped)
                let extra = Fleet.BlockedRow.difference(shipped, local)
                #expect(missing.isEmpty, "\(router.name): \(missing.count) rows not shipped: \(missing.prefix(5))")
                #expect(
                    extra.isEmpty,
                    "\(router.name): \(extra.count) rows shipped twice or never logged: \(extra.prefix(5))")
            }
            let duplicates = try fleet.database.psql(
                "SELECT node, slice_start, id, count(*) FROM blocked_attempts GROUP BY 1, 2, 3 HAVING count(*) > 1")
            #expect(duplicates.isEmpty, "rows shipped twice: \(duplicates.prefix(500))")

            // node list: a shipping lag of 0 s for the three (written with the next heartbeat, every 5 s).
            var nodes: [[String: Any]] = []
            try eventually("node list shows a shipping lag of 0 s for the three routers", timeout: 15, every: 0.5) {
                let output = try fleet.adminSucceeding(["node", "list", "--format", "json"])
                nodes = (try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [[String: Any]] ?? []
                return nodes.count == 3
                    && nodes.allSatisfy { ($0["shipping_lag_seconds"] as? NSNumber)?.int64Value == 0 }
            }
            let table = try fleet.adminSucceeding(["node", "list"])
            print(table)
            for router in fleet.routers { #expect(table.contains(router.name), "\(table)") }
        }
    }
}

// MARK: - The fleet

/// One router of a ``Fleet``: a ``Topology`` (subscriber, router and internet namespaces) whose egress25d reads the
/// fleet store as a login role of its own.
struct FleetRouter {
    /// `node_name` / `store.node`: router-a, router-b, ...
    let name: String
    /// Its PostgreSQL login role (member of egress25_router).
    let role: String
    let topology: Topology
    /// The subscriber's address on this router, 100.64.N.10 (the default source of probes).
    var address: String { topology.subscriberAddress }
    /// A second subscriber address on this router, 100.64.N.11, that no customer holds.
    var spareAddress: String { "100.64.\(topology.namespaces.subnet).11" }
}

/// A PostgreSQL cluster of the test's own, a migrated database, an admin login role (egress25_admin) with a
/// store-only configuration, and up to three routers (subscriber ranges 100.64.1.0/24, 100.64.2.0/24, ...), each
/// with its own egress25d, state directory and node name. ``with(routers:_:)`` tears everything down.
final class Fleet {
    let cluster: TestPostgresCluster
    let database: TestDatabase
    let files: TemporaryDirectory
    private(set) var routers: [FleetRouter] = []
    private(set) var adminConfig = ""

    private init(cluster: TestPostgresCluster, database: TestDatabase, files: TemporaryDirectory) {
        self.cluster = cluster
        self.database = database
        self.files = files
    }

    /// Builds the fleet (`routers` routers, daemons running, each with `blockLog` as its `block_log:`), runs `body`,
    /// tears everything down even when it throws.
    static func with(
        routers count: Int = 3, blockLog: String = "{ flush_interval: 250ms }", _ body: (Fleet) throws -> Void
    ) throws {
        let cluster = try TestPostgresCluster()
        defer { cluster.tearDown() }
        let database = try cluster.makeDatabase(prefix: "egress25_fleet")
        let files = TemporaryDirectory(prefix: "egress25-fleet")
        defer { files.cleanup() }
        chmod(files.path, 0o755)
        let fleet = Fleet(cluster: cluster, database: database, files: files)
        defer { for router in fleet.routers { router.topology.tearDown() } }
        try fleet.setUp(routers: count, blockLog: blockLog)
        try body(fleet)
    }

    /// The unix-socket URL of the database for `role` (trusted on the socket: no password).
    func url(role: String) -> String {
        "postgresql://\(role)@/\(database.name)?host=\(cluster.directory)&port=\(cluster.port)"
    }

    /// Writes a configuration holding only `store:` (an admin machine's) for `role`; returns its path.
    func writeStoreConfiguration(role: String, name: String) throws -> String {
        let path = files.path + "/" + name
        try "store:\n  url: \"\(url(role: role))\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func setUp(routers count: Int, blockLog: String) throws {
        // The schema, migrated by the superuser (it creates the group roles egress25_router and egress25_admin).
        let superuser = try writeStoreConfiguration(role: "postgres", name: "superuser.yaml")
        let migrate = try run([EndToEnd.binaries + "/egress25ctl", "store", "migrate", "--config", superuser])
        try #require(migrate.status == 0, "store migrate: \(migrate.error) \(migrate.output)")
        let admin = try database.createLoginRole(
            name: "fleet_admin", password: TestPostgres.randomHex(), memberOf: ["egress25_admin"])
        adminConfig = try writeStoreConfiguration(role: admin, name: "admin.yaml")

        for index in 0..<count {
            let letter = String(UnicodeScalar(UInt8(ascii: "a") + UInt8(index)))
            let role = try database.createLoginRole(
                name: "router_\(letter)", password: TestPostgres.randomHex(), memberOf: ["egress25_router"])
            let topology = try Topology(subnet: index + 1)
            let router = FleetRouter(name: "router-\(letter)", role: role, topology: topology)
            routers.append(router)
            try topology.writeConfiguration(
                blockLog: blockLog,
                extra: """
                    store:
                      url: "\(url(role: role))"
                      node: \(router.name)
                      max_staleness: 10m
                    """)
            let rules = try topology.ctl(["rules", "apply"])
            try #require(rules.status == 0, "\(router.name): rules apply: \(rules.error) \(rules.output)")
            _ = try run([
                "ip", "-n", topology.sub, "addr", "add", router.spareAddress + "/24", "dev", topology.prefix + "s0",
            ])
            try topology.startDaemon()
        }
    }

    /// `egress25ctl ARGS --config <admin.yaml>` run in the test's own namespace (the "fourth place").
    @discardableResult
    func admin(_ arguments: [String]) throws -> CommandResult {
        try run([EndToEnd.binaries + "/egress25ctl"] + arguments + ["--config", adminConfig])
    }

    /// ``admin(_:)``, which must exit 0; its standard output.
    @discardableResult
    func adminSucceeding(_ arguments: [String]) throws -> String {
        let result = try admin(arguments)
        guard result.status == 0 else {
            throw TopologyError(
                "egress25ctl \(arguments.joined(separator: " ")) (admin) exited \(result.status): "
                    + "\(result.error) \(result.output)")
        }
        return result.output
    }

    /// `exception grant CUSTOMER --to DESTINATION --for 1h` as the admin; the exception's id.
    func grant(_ customer: String, to destination: String) throws -> String {
        let output = try adminSucceeding([
            "exception", "grant", customer, "--to", destination, "--for", "1h", "--reason",
            "telecommuter: employer's SMTP server", "--ticket", "T-13", "--by", "alice",
        ])
        let id = output.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(id.hasPrefix("exc-"), "grant printed \(output)")
        return id
    }

    /// Waits (at most 5 s) until every router enforces the store's current generation
    /// (`egress25_policy_store_generation`): a change that no probe can see (blocked before and after) has arrived.
    func waitUntilCurrent() throws {
        let generation = try #require(
            Double(
                try database.psql("SELECT generation FROM store_state").trimmingCharacters(in: .whitespacesAndNewlines))
        )
        for router in routers {
            try eventually("\(router.name) enforces store generation \(Int(generation))", timeout: 5) {
                (try router.topology.metric("egress25_policy_store_generation") ?? -1) >= generation
            }
        }
    }

    /// One measured change: the router, the last connect's outcome, and the seconds from the start of the change
    /// to the end of that connect.
    struct Measured: CustomStringConvertible {
        var router: String
        var outcome: ProbeResult.Outcome
        var seconds: Double
        var milliseconds: Int { Int(seconds * 1000) }
        var description: String { "\(router): \(outcome.rawValue) after \(milliseconds) ms" }

        /// "router-a 123 ms, router-b 98 ms".
        static func text(_ results: [Measured]) -> String {
            results.map { "\($0.router) \($0.milliseconds) ms" }.joined(separator: ", ")
        }
    }

    /// As ``measure(_:_:limit:_:)`` with the same `before` and `after` on every router.
    func measure(
        _ routers: [FleetRouter], _ host: String, from before: ProbeResult.Outcome, to after: ProbeResult.Outcome,
        limit: Double, _ change: () throws -> Void
    ) throws -> [Measured] {
        try measure(routers.map { ($0, before, after) }, host, limit: limit, change)
    }

    /// Runs `change` while one ``LiveProber`` per router connects from the router's subscriber address to
    /// `host`:25 every 20 ms. Each must see its `before` first; each stops at its `after` or `limit` s after the
    /// change started. The seconds are counted from the START of the change (before its first egress25ctl is
    /// started): an upper bound of the time from the commit to the router's kernel path.
    func measure(
        _ targets: [(FleetRouter, ProbeResult.Outcome, ProbeResult.Outcome)], _ host: String, limit: Double,
        _ change: () throws -> Void
    ) throws -> [Measured] {
        var probers: [LiveProber] = []
        for (router, before, after) in targets {
            let prober = try LiveProber(router.topology, host, 25, until: after)
            probers.append(prober)
            try #require(prober.first == before, "\(router.name) before the change: \(prober.first)")
        }
        let started = Date().timeIntervalSince1970
        try change()
        for prober in probers { prober.start(deadline: started + limit) }
        return try zip(targets, probers).map { target, prober in
            let result = try prober.result(deadline: started + limit)
            return Measured(router: target.0.name, outcome: result.outcome, seconds: result.end - started)
        }
    }

    /// What every router in `only` (default: all) must do whatever the database's state: c-1001's address gets
    /// the employer's MX, not another MX; the router's spare address gets neither; the relay is open.
    func expectEnforcing(_ when: String, only: [FleetRouter]? = nil) throws {
        for router in only ?? routers {
            let topology = router.topology
            #expect(
                try topology.probe(FleetTests.employerMX, 25).outcome == .connected, "\(when): \(router.name)")
            #expect(try topology.probe(FleetTests.otherMX, 25).outcome == .refused, "\(when): \(router.name)")
            #expect(
                try topology.probe(FleetTests.employerMX, 25, source: router.spareAddress).outcome == .refused,
                "\(when): \(router.spareAddress) on \(router.name)")
            #expect(try topology.probe(FleetTests.relay, 25).outcome == .connected, "\(when): \(router.name)")
        }
    }

    // MARK: The central block log

    /// `block_log:` for the block-log tests: 1 s aggregation window and 100 ms flushes, so a row is final
    /// (``shortFinalitySeconds``) 6.2 s after its first SYN.
    static let shortBlockLog = "{ flush_interval: 100ms, aggregation_window: 1s }"
    /// `BlockLogReader.finalityMilliseconds` of ``shortBlockLog``: 1 s + 2 × 100 ms + 5 s.
    static let shortFinalitySeconds = 6.2

    /// One row of `blocked query --format json`.
    struct BlockedRow: Hashable, CustomStringConvertible {
        var node: String
        var source: String
        var destination: String
        var attempts: Int
        var syns: Int
        /// Every field but the node, in key order: the same row in a router's segments and in the fleet store.
        var fields: String
        var description: String { "\(node) \(fields)" }

        init(_ object: [String: Any]) {
            node = object["node_name"] as? String ?? "?"
            source = object["source"] as? String ?? "?"
            destination = object["destination"] as? String ?? "?"
            attempts = object["attempts"] as? Int ?? -1
            syns = object["syns"] as? Int ?? -1
            fields = object.filter { $0.key != "node_name" }.sorted { $0.key < $1.key }
                .map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }

        static func parse(_ output: String, _ what: String) throws -> [BlockedRow] {
            guard let array = (try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [[String: Any]] else {
                throw TopologyError("\(what) printed no JSON array: \(output.prefix(500))")
            }
            return array.map(BlockedRow.init)
        }

        static func synsByNode(_ rows: [BlockedRow]) -> [String: Int] {
            var sums: [String: Int] = [:]
            for row in rows { sums[row.node, default: 0] += row.syns }
            return sums
        }

        /// The rows of `a` (as a multiset of ``fields``) that `b` lacks.
        static func difference(_ a: [BlockedRow], _ b: [BlockedRow]) -> [String] {
            var counts: [String: Int] = [:]
            for row in b { counts[row.fields, default: 0] += 1 }
            var result: [String] = []
            for row in a {
                if let count = counts[row.fields], count > 0 {
                    counts[row.fields] = count - 1
                } else {
                    result.append(row.fields)
                }
            }
            return result
        }
    }

    /// The fleet's block log as the admin reads it: `blocked query --format json --limit 0 [--node NODE]`.
    func blockedRows(node: String? = nil) throws -> [BlockedRow] {
        let arguments = ["blocked", "query", "--format", "json", "--limit", "0"] + (node.map { ["--node", $0] } ?? [])
        return try BlockedRow.parse(try adminSucceeding(arguments), "blocked query (admin)")
    }

    /// `blocked top --by source --limit 0 --format json [--node NODE]` as the admin: SYNs by source.
    func topBySource(node: String? = nil) throws -> [String: Int] {
        let arguments =
            ["blocked", "top", "--by", "source", "--limit", "0", "--format", "json"]
            + (node.map { ["--node", $0] } ?? [])
        let output = try adminSucceeding(arguments)
        guard let array = (try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [[String: Any]] else {
            throw TopologyError("blocked top printed no JSON array: \(output)")
        }
        var sums: [String: Int] = [:]
        for entry in array { sums[entry["source"] as? String ?? "?", default: 0] += entry["syns"] as? Int ?? -1 }
        return sums
    }

    /// A router's own block log: `blocked query --directory <state_directory>/blocklog --limit 0 --format json`.
    func localRows(_ router: FleetRouter) throws -> [BlockedRow] {
        let directory = router.topology.directory + "/state/blocklog"
        let result = try run([
            EndToEnd.binaries + "/egress25ctl", "blocked", "query", "--directory", directory, "--limit", "0",
            "--format", "json",
        ])
        guard result.status == 0 else {
            throw TopologyError("blocked query --directory \(directory) exited \(result.status): \(result.error)")
        }
        return try BlockedRow.parse(result.output, "blocked query --directory \(directory)")
    }

    struct Totals: Equatable, CustomStringConvertible {
        var rows: Int
        var syns: Int
        var description: String { "\(rows) rows / \(syns) SYNs" }
    }

    /// `count(*)` and `sum(syns)` of `blocked_attempts` per node (psql as the superuser).
    func storeTotals() throws -> [String: Totals] {
        try totals("SELECT node, count(*), coalesce(sum(syns), 0) FROM blocked_attempts GROUP BY node")
    }

    /// The rows and SYNs the high-water marks of `blocked_shipping` account for, per node.
    func shippingTotals() throws -> [String: Totals] {
        try totals("SELECT node, sum(rows), sum(syns) FROM blocked_shipping GROUP BY node")
    }

    private func totals(_ sql: String) throws -> [String: Totals] {
        var totals: [String: Totals] = [:]
        for line in try database.psql(sql).split(separator: "\n") {
            let fields = line.split(separator: "|").map(String.init)
            guard fields.count == 3, let rows = Int(fields[1]), let syns = Int(fields[2]) else {
                throw TopologyError("psql printed \(line)")
            }
            totals[fields[0]] = Totals(rows: rows, syns: syns)
        }
        return totals
    }

}

/// Polls `condition` every `every` s (default 50 ms) until it holds; throws after `timeout` s (at most
/// `timeout / every + 1` tries).
func eventually(_ what: String, timeout: Double, every: Double = 0.05, _ condition: () throws -> Bool) throws {
    let start = Date()
    for _ in 0...Int(timeout / every) {
        if try condition() { return }
        if Date().timeIntervalSince(start) >= timeout { break }
        usleep(useconds_t(every * 1_000_000))
    }
    throw TopologyError("\(what): not within \(timeout) s")
}
