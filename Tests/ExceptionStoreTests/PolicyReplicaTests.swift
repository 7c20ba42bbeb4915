import Egress25Core
import Egress25TestSupport
import ExceptionStore
import Foundation
import Synchronization
import Testing

/// The fleet router's replica of the policy data, against a real PostgreSQL: applied incrementally from the change
/// log it must always equal what the store itself hands out, and its cache must give it back unchanged.
@Suite(.enabled(if: TestPostgres.isAvailable, "needs EGRESS25_TEST_PG_URL (scripts/test-postgres.sh start)"))
struct PolicyReplicaTests {
    static func expectSame(
        _ replica: PolicyReplica, _ store: ExceptionStore, now: Int64, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let expected = try store.policyInputs(now: now)
        let actual = replica.policyInputs(now: now)
        #expect(actual.bindings == expected.bindings, sourceLocation: sourceLocation)
        #expect(actual.exceptions == expected.exceptions, sourceLocation: sourceLocation)
    }

    @Test func incrementalSyncAlwaysEqualsTheStore() throws {
        let fixture = try StoreFixture(.postgresql)
        let store = try fixture.open()
        var replica = PolicyReplica()
        #expect(try store.syncPolicyReplica(&replica, now: t0) == .reloaded)
        #expect(try store.syncPolicyReplica(&replica, now: t0 + 1) == .unchanged)
        #expect(replica.fetchedAt == t0 + 1)
        try Self.expectSame(replica, store, now: t0)

        try store.addCustomer(id: "alice", actor: "t", now: t0)
        try store.addCustomer(id: "bob", actor: "t", now: t0)
        try store.bind(customer: "alice", prefix: prefix("100.64.0.8/29"), actor: "t", now: t0)
        let grant = try store.grantException(
            ExceptionGrant(
                customer: "alice", destinations: .prefixes([prefix("192.0.2.25/32")]), expiresAt: t0 + 86_400,
                reason: "telecommuter", ticket: "T-1", grantedBy: "support"),
            now: t0)
        try store.startSession(customer: "alice", prefix: prefix("100.64.1.1/32"), actor: "radius", now: t0)
        let before = replica.changeSequence
        guard case .applied(let changes) = try store.syncPolicyReplica(&replica, now: t0 + 2) else {
            Issue.record("expected an incremental apply")
            return
        }
        #expect(changes >= 3 && replica.changeSequence > before)
        try Self.expectSame(replica, store, now: t0 + 2)

        // The address moves to bob: alice's exception must no longer reach it; a renewal and a revoke follow.
        try store.startSession(customer: "bob", prefix: prefix("100.64.1.1/32"), actor: "radius", now: t0 + 10)
        try store.startSession(customer: "alice", prefix: prefix("100.64.1.2/32"), actor: "radius", now: t0 + 10)
        try Self.sync(store, &replica, now: t0 + 11)
        try Self.expectSame(replica, store, now: t0 + 11)
        #expect(replica.policyInputs(now: t0 + 11).exceptions.first?.sources.contains(prefix("100.64.1.1/32")) == false)
        try store.startSession(customer: "alice", prefix: prefix("100.64.1.2/32"), actor: "radius", now: t0 + 20)
        try Self.sync(store, &replica, now: t0 + 21)
        try Self.expectSame(replica, store, now: t0 + 21)
        try store.revokeException(id: grant.exception.id, reason: "done", by: "support", now: t0 + 30)
        try store.stopSessions(customer: "alice", actor: "radius", now: t0 + 30)
        try Self.sync(store, &replica, now: t0 + 31)
        try Self.expectSame(replica, store, now: t0 + 31)
        #expect(replica.exceptions.isEmpty)
    }

    static func sync(_ store: ExceptionStore, _ replica: inout PolicyReplica, now: Int64) throws {
        let result = try store.syncPolicyReplica(&replica, now: now)
        guard case .applied = result else {
            Issue.record("expected an incremental apply, got \(result)")
            return
        }
    }

    @Test func aReplicaBehindThePrunedChangeLogOrTooFarBehindIsReadWhole() throws {
        let fixture = try StoreFixture(.postgresql)
        let store = try fixture.open()
        var replica = PolicyReplica()
        try store.syncPolicyReplica(&replica, now: t0)
        for index in 0..<5 {
            try store.addCustomer(id: "c\(index)", actor: "t", now: t0)
            try store.bind(customer: "c\(index)", prefix: prefix("100.64.2.\(index)/32"), actor: "t", now: t0)
        }
        var behind = replica
        #expect(try store.syncPolicyReplica(&behind, now: t0 + 1, maxChanges: 2) == .reloaded)
        try Self.expectSame(behind, store, now: t0 + 1)
        // Prune the change log (entries older than a day) as `session prune` does.
        let now = t0 + 100 * 86_400
        _ = try fixture.database!.psql("UPDATE change_log SET at = \(t0)")
        try store.pruneSessionHistory(endedBefore: now - 90 * 86_400, actor: "t", now: now)
        #expect(
            try fixture.database!.psql("SELECT count(*) FROM change_log").trimmingCharacters(
                in: .whitespacesAndNewlines) == "0")
        #expect(try store.syncPolicyReplica(&replica, now: now) == .reloaded)
        try Self.expectSame(replica, store, now: now)
    }

    @Test func theCacheGivesTheReplicaBackAndRefusesDamage() throws {
        let fixture = try StoreFixture(.postgresql)
        let store = try fixture.open()
        try store.addCustomer(id: "alice", actor: "t", now: t0)
        try store.startSession(customer: "alice", prefix: prefix("2001:db8:6400::/56"), actor: "radius", now: t0)
        try store.bind(customer: "alice", prefix: prefix("100.64.3.4/32"), actor: "t", now: t0)
        _ = try store.grantException(
            ExceptionGrant(
                customer: "alice", destinations: .any, expiresAt: nil, reason: "a \"quote\", a back\\slash and ü",
                ticket: nil, grantedBy: "support"),
            now: t0)
        var replica = PolicyReplica()
        try store.syncPolicyReplica(&replica, now: t0 + 5)
        let directory = TemporaryDirectory(prefix: "egress25-cache")
        defer { directory.cleanup() }
        let path = directory.path + "/policy-cache"
        #expect(try PolicyReplicaCache.load(from: path, store: "x") == nil)
        try PolicyReplicaCache.save(replica, store: store.backendDescription, to: path)
        #expect(try PolicyReplicaCache.load(from: path, store: store.backendDescription) == replica)
        let other = #expect(throws: ExceptionStoreError.self) { try PolicyReplicaCache.load(from: path, store: "y") }
        #expect(other?.message.contains("written from another store") == true)
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text.removeLast(5)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let damaged = #expect(throws: ExceptionStoreError.self) {
            try PolicyReplicaCache.load(from: path, store: store.backendDescription)
        }
        #expect(damaged?.message.hasPrefix("policy cache \(path):") == true, "\(String(describing: damaged))")
    }

    @Test func theDoorbellRingsAfterACommit() throws {
        let fixture = try StoreFixture(.postgresql)
        let store = try fixture.open()
        let rings = Atomic<Int>(0)
        let bell = try store.policyDoorbell { rings.add(1, ordering: .relaxed) }
        defer { bell.close() }
        #expect(bell.isOpen)
        Thread.sleep(forTimeInterval: 0.2)  // the LISTEN is sent asynchronously
        try store.addCustomer(id: "alice", actor: "t", now: t0)
        try store.bind(customer: "alice", prefix: prefix("100.64.3.5/32"), actor: "t", now: t0)
        var waited = 0
        while rings.load(ordering: .relaxed) == 0 && waited < 100 {
            Thread.sleep(forTimeInterval: 0.02)
            waited += 1
        }
        #expect(rings.load(ordering: .relaxed) >= 1, "no NOTIFY within 2 s")
    }

    @Test func aRouterRoleSyncsAndBeatsButCannotGrant() throws {
        let fixture = try StoreFixture(.postgresql)
        let admin = try fixture.open()
        try admin.addCustomer(id: "alice", actor: "t", now: t0)
        let database = fixture.database!
        let role = try database.createLoginRole(name: "edge", password: "secret-1", memberOf: ["egress25_router"])
        let directory = TemporaryDirectory(prefix: "egress25-role")
        defer { directory.cleanup() }
        let passwordFile = directory.path + "/password"
        _ = FileManager.default.createFile(
            atPath: passwordFile, contents: Data("secret-1\n".utf8), attributes: [.posixPermissions: 0o600])
        var location = try PostgresLocation.parse(url: database.tcpURL(user: role))
        location.passwordFile = passwordFile
        let router = try ExceptionStore(location: .postgresql(location), mode: .readWrite)
        var replica = PolicyReplica()
        #expect(try router.syncPolicyReplica(&replica, now: t0) == .reloaded)
        try router.recordNodeHeartbeat(NodeHeartbeat(node: "edge-1", at: t0, policyGeneration: 1, policyDataAt: t0))
        #expect(try admin.nodes().map(\.name) == ["edge-1"])
        let before = try StoreContents(admin)
        let error = #expect(throws: ExceptionStoreError.self) {
            try router.grantException(
                ExceptionGrant(
                    customer: "alice", destinations: .any, expiresAt: nil, reason: "r", ticket: nil, grantedBy: "x"),
                now: t0)
        }
        #expect(error?.code == .permissionDenied, "\(String(describing: error))")
        #expect(try StoreContents(admin) == before)
    }
}
