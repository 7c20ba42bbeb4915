import Egress25Core
import Foundation
import GRDB
import Testing

@testable import ExceptionStore

#if canImport(Glibc)
import Glibc
#endif

/// Issue 10: the session feed is the truth of who holds an address; leases bound exceptions.
@Suite struct SessionLeaseTests {
    static let policy = Policy(
        subscriberRanges: [prefix("100.64.0.0/10"), prefix("2001:db8:6400::/40")], relayHosts: [])

    /// The daemon's snapshot from the store at `now`.
    func snapshot(_ store: ExceptionStore, at now: Int64) throws -> PolicySnapshot {
        let inputs = try store.policyInputs(now: now)
        return try PolicySnapshot(
            policy: Self.policy, exceptions: inputs.exceptions, bindings: inputs.bindings, generation: 1)
    }

    func syn(_ source: String, _ destination: String) -> Flow {
        Flow(
            source: address(source), destination: address(destination), sourcePort: 40000, destinationPort: 25,
            flags: .syn)
    }

    func grantAny(_ store: ExceptionStore, _ customer: String, now: Int64, expiresAt: Int64? = nil) throws -> String {
        try store.grantException(
            ExceptionGrant(
                customer: customer, destinations: .any, expiresAt: expiresAt, reason: "own mail server",
                grantedBy: "alice"),
            now: now
        ).exception.id
    }

    @Test(arguments: TestBackend.available) func aStartForAnUnknownIdEndsThePreviousHoldersSessionAndItsException(
        backend: TestBackend
    ) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        try store.addCustomer(id: "c-1001", actor: "alice", now: t0)
        try store.startSession(customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "radius", now: t0)
        let id = try grantAny(store, "c-1001", now: t0 + 1)
        #expect(
            try snapshot(store, at: t0 + 2).decide(syn("100.64.1.7", "198.51.100.9"), now: t0 + 2).verdict == .accept)

        // c-1001's Accounting-Stop is lost; the address goes to c-7777, whom the store has never seen.
        let change = try store.startSession(
            customer: "c-7777", prefix: prefix("100.64.1.7"), actor: "radius", now: t0 + 60)
        #expect(change.createdCustomers == ["c-7777"])
        #expect(change.ended.map(\.customer) == ["c-1001"])
        #expect(change.ended.first?.validUntil == t0 + 60)
        #expect(change.started.map(\.customer) == ["c-7777"])

        let created = try #require(try store.customer(id: "c-7777"))
        #expect(created.autoCreated)
        #expect(try store.customer(id: "c-1001")?.autoCreated == false)
        #expect(try store.exceptions(customer: "c-7777", status: .all, now: t0 + 60).isEmpty)
        let audit = try store.auditEntries(since: t0 + 60)
        #expect(audit.map(\.action) == ["customer.add", "session.end", "session.start"])
        #expect(audit[0].after?.contains("\"auto_created\":true") == true)
        #expect(audit[1].after?.contains("\"moved_to\":\"c-7777\"") == true)

        let inputs = try store.policyInputs(now: t0 + 61)
        #expect(inputs.exceptions.isEmpty, "c-1001's exception must not follow the address to c-7777")
        #expect(inputs.bindings == [CustomerBinding(customer: "c-7777", prefix: prefix("100.64.1.7/32"))])
        let decision = try snapshot(store, at: t0 + 61).decide(syn("100.64.1.7", "198.51.100.9"), now: t0 + 61)
        #expect(decision.verdict == .block)
        #expect(decision.reason == .blockedNoException)
        #expect(try store.exception(id: id)?.status(at: t0 + 61) == .active)  // the grant itself is untouched
    }

    @Test(arguments: TestBackend.available) func anExceptionDoesNotApplyThroughAnExpiredLeaseAndRenewalExtendsIt(
        backend: TestBackend
    ) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        try store.addCustomer(id: "c-1001", actor: "alice", now: t0)
        try store.startSession(
            customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "radius", now: t0, leaseSeconds: 3600)
        try store.bind(customer: "c-1001", prefix: prefix("100.64.200.0/29"), actor: "alice", now: t0)
        let id = try grantAny(store, "c-1001", now: t0)
        let rule = try #require(try store.policyInputs(now: t0 + 10).exceptions.first)
        #expect(rule.sourceLeaseEnds == [prefix("100.64.1.7/32"): t0 + 3600])

        // One snapshot, built before the lease end, judges the lease end by the clock: no store write, no rebuild.
        let built = try snapshot(store, at: t0 + 10)
        let flow = syn("100.64.1.7", "198.51.100.9")
        #expect(built.decide(flow, now: t0 + 3599).reason == .exception(0))
        let expired = built.decide(flow, now: t0 + 3600)
        #expect(expired.verdict == .block)
        #expect(expired.reason == .blockedExceptionExpired(0))
        #expect(built.exception(at: 0).id == id)
        // The customer's static prefix is not leased: the exception still applies there.
        #expect(built.decide(syn("100.64.200.3", "198.51.100.9"), now: t0 + 3600).verdict == .accept)
        // A snapshot built after the lease end blocks too, and still names the holder.
        let later = try snapshot(store, at: t0 + 7200)
        #expect(later.decide(flow, now: t0 + 7200).verdict == .block)
        #expect(later.customer(at: later.customerIndex(for: address("100.64.1.7"))) == "c-1001")

        // The feed renews (an Interim-Update): the lease runs from the renewal.
        let renewed = try store.startSession(
            customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "radius", now: t0 + 3000, leaseSeconds: 3600)
        #expect(renewed.renewed.map(\.leaseUntil) == [t0 + 6600])
        #expect(renewed.started.isEmpty && renewed.ended.isEmpty)
        let afterRenewal = try snapshot(store, at: t0 + 3001)
        #expect(afterRenewal.decide(flow, now: t0 + 6599).verdict == .accept)
        #expect(afterRenewal.decide(flow, now: t0 + 6600).verdict == .block)
        // A renewal after the lease ended revives the same session (same binding).
        let revived = try store.startSession(
            customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "radius", now: t0 + 9000, leaseSeconds: 3600)
        #expect(revived.renewed.map(\.id) == renewed.renewed.map(\.id))
        #expect(try snapshot(store, at: t0 + 9001).decide(flow, now: t0 + 9001).verdict == .accept)
    }

    @Test(arguments: TestBackend.available) func theEffectiveEndIsTheEarlierOfExpiryAndLease(
        backend: TestBackend
    ) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        try store.startSession(
            customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "radius", now: t0, leaseSeconds: 3600)
        _ = try grantAny(store, "c-1001", now: t0, expiresAt: t0 + 600)
        let built = try snapshot(store, at: t0 + 1)
        let flow = syn("100.64.1.7", "198.51.100.9")
        #expect(built.decide(flow, now: t0 + 599).verdict == .accept)
        #expect(built.decide(flow, now: t0 + 600).verdict == .block)
    }

    @Test(arguments: TestBackend.available) func aRenewalOfAnUnknownSessionStartsItAndTakesTheAddressOver(
        backend: TestBackend
    ) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        try store.startSession(customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "radius", now: t0)
        // c-2002's Accounting-Start was lost; its Interim-Update arrives.
        let change = try store.startSession(
            customer: "c-2002", prefix: prefix("100.64.1.7"), actor: "radius", now: t0 + 5)
        #expect(change.started.map(\.customer) == ["c-2002"])
        #expect(change.ended.map(\.customer) == ["c-1001"])
        #expect(change.started.first?.leaseUntil == t0 + 5 + ExceptionStore.defaultSessionLeaseSeconds)
        try expectNothingWritten(store, code: .invalidArgument, messageContains: "at least 1 second") {
            try store.startSession(
                customer: "c-2002", prefix: prefix("100.64.1.7"), actor: "radius", now: t0 + 6, leaseSeconds: 0)
        }
    }

    /// Found by a fresh tester: a late Interim-Update of the previous holder must not hand it the address back.
    @Test(arguments: TestBackend.available) func aRenewalThatContradictsTheHolderVoidsBothClaims(
        backend: TestBackend
    ) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        try store.addCustomer(id: "c-1001", actor: "alice", now: t0)
        try store.startSession(customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "radius", now: t0)
        _ = try grantAny(store, "c-1001", now: t0 + 1)
        try store.startSession(customer: "c-7777", prefix: prefix("100.64.1.7"), actor: "radius", now: t0 + 10)
        // c-1001's Interim-Update arrives late.
        let late = try store.startSession(
            customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "radius", now: t0 + 11, mayTakeOver: false)
        #expect(late.started.isEmpty, "the late renewal must not take the address back")
        #expect(late.ended.map(\.customer) == ["c-7777"])
        let decision = try snapshot(store, at: t0 + 12).decide(syn("100.64.1.7", "198.51.100.9"), now: t0 + 12)
        #expect(decision.verdict == .block, "c-1001's exception must not apply to the address: \(decision)")
        #expect(try store.policyInputs(now: t0 + 12).bindings.isEmpty)
        // The next update of the real holder (nobody holds it now) starts its session again.
        let next = try store.startSession(
            customer: "c-7777", prefix: prefix("100.64.1.7"), actor: "radius", now: t0 + 20, mayTakeOver: false)
        #expect(next.started.map(\.customer) == ["c-7777"])
        // A renewal of the holder itself just renews.
        let renewal = try store.startSession(
            customer: "c-7777", prefix: prefix("100.64.1.7"), actor: "radius", now: t0 + 30, mayTakeOver: false)
        #expect(renewal.renewed.map(\.customer) == ["c-7777"] && renewal.ended.isEmpty)
    }

    @Test(arguments: TestBackend.available) func importRecordsUnknownIdsAndSkipsNothing(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        try store.addCustomer(id: "c-1001", actor: "alice", now: t0)
        try store.startSession(customer: "c-1001", prefix: prefix("100.64.0.1"), actor: "radius", now: t0)
        try store.startSession(customer: "c-1001", prefix: prefix("100.64.0.2"), actor: "radius", now: t0)
        _ = try grantAny(store, "c-1001", now: t0)
        let leases = try SessionLeaseFile.parse(
            "customer,address\nc-404,100.64.0.1\nc-1001,100.64.0.2\nc-505,2001:db8:6400:100::/56\nc-404,100.64.0.9\n",
            file: "leases.csv")
        let change = try store.importSessions(
            leases, replace: true, actor: "import", now: t0 + 10, leaseSeconds: 600,
            plan: AddressPlan(subscriberRanges: Self.policy.subscriberRanges))
        #expect(change.createdCustomers == ["c-404", "c-505"])
        #expect(
            Set(change.started.map(\.prefix)) == [
                prefix("100.64.0.1"), prefix("2001:db8:6400:100::/56"), prefix("100.64.0.9"),
            ])
        #expect(change.renewed.map(\.prefix) == [prefix("100.64.0.2")])
        #expect(change.renewed.first?.leaseUntil == t0 + 610)
        #expect(change.ended.map(\.prefix) == [prefix("100.64.0.1")])
        #expect(try store.customers().filter(\.autoCreated).map(\.id) == ["c-404", "c-505"])
        let holders = try store.bindings(inForceAt: t0 + 10).map { "\($0.customer) \($0.prefix)" }.sorted()
        #expect(
            holders == [
                "c-1001 100.64.0.2/32", "c-404 100.64.0.1/32", "c-404 100.64.0.9/32", "c-505 2001:db8:6400:100::/56",
            ])
        // c-1001's exception now covers only the address it still holds.
        #expect(try store.policyInputs(now: t0 + 11).exceptions.first?.sources == [prefix("100.64.0.2/32")])

        // A malformed line still aborts with FILE:LINE, and nothing is written.
        let error = #expect(throws: ExceptionStoreError.self) {
            try SessionLeaseFile.parse("c-1,100.64.0.1\nc-2,100.64.0.300\n", file: "bad.csv")
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.hasPrefix("bad.csv:2: ") == true)
        // A prefix outside the plan aborts with FILE:LINE too.
        try expectNothingWritten(
            store, code: .invalidArgument, messageContains: "leases.csv:2: 198.51.100.7/32 is not inside"
        ) {
            try store.importSessions(
                [
                    SessionLease(customer: "c-606", prefix: prefix("100.64.0.50"), origin: "leases.csv:1"),
                    SessionLease(customer: "c-606", prefix: prefix("198.51.100.7"), origin: "leases.csv:2"),
                ], actor: "import", now: t0 + 20, plan: AddressPlan(subscriberRanges: Self.policy.subscriberRanges))
        }
    }

    @Test(arguments: TestBackend.available) func prefixesMustLieInsideTheSubscriberRangesAndNotBeTooLarge(
        backend: TestBackend
    ) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        try store.addCustomer(id: "c-1001", actor: "alice", now: t0)
        let plan = AddressPlan(subscriberRanges: Self.policy.subscriberRanges, shortestIPv4: 24, shortestIPv6: 48)
        try expectNothingWritten(
            store, code: .invalidArgument,
            messageContains: "198.51.100.7/32 is not inside a subscriber range (policy.subscriber_ranges: "
                + "100.64.0.0/10, 2001:db8:6400::/40)"
        ) {
            try store.startSession(customer: "c-1001", prefix: prefix("198.51.100.7"), actor: "r", now: t0, plan: plan)
        }
        try expectNothingWritten(
            store, code: .invalidArgument,
            messageContains:
                "100.64.0.0/23 is larger than the largest block a binding or session may cover (/24 for IPv4"
        ) {
            try store.startSession(customer: "c-1001", prefix: prefix("100.64.0.0/23"), actor: "r", now: t0, plan: plan)
        }
        try expectNothingWritten(store, code: .invalidArgument, messageContains: "(/48 for IPv6") {
            try store.bind(customer: "c-1001", prefix: prefix("2001:db8:6400::/47"), actor: "a", now: t0, plan: plan)
        }
        try expectNothingWritten(store, code: .invalidArgument, messageContains: "not inside a subscriber range") {
            try store.bind(customer: "c-1001", prefix: prefix("203.0.113.0/29"), actor: "a", now: t0, plan: plan)
        }
        // On the bounds: fine.
        try store.startSession(customer: "c-1001", prefix: prefix("100.64.0.0/24"), actor: "r", now: t0, plan: plan)
        try store.bind(customer: "c-1001", prefix: prefix("2001:db8:6400::/48"), actor: "a", now: t0, plan: plan)
        // Without a plan (--force): anything.
        try store.bind(customer: "c-1001", prefix: prefix("203.0.113.0/29"), actor: "a", now: t0)
        try store.startSession(customer: "c-1001", prefix: prefix("100.65.0.0/16"), actor: "r", now: t0)
        #expect(try store.bindings(inForceAt: t0).count == 4)
    }

    @Test(arguments: TestBackend.available) func pruneRefusesHistoryYoungerThan90DaysWithoutForce(
        backend: TestBackend
    ) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        let day: Int64 = 86400
        try store.startSession(customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "radius", now: t0)
        try store.stopSessions(customer: "c-1001", actor: "radius", now: t0 + day)
        let now = t0 + 30 * day
        try expectNothingWritten(store, code: .invalidArgument, messageContains: "younger than 90 days") {
            try store.pruneSessionHistory(endedBefore: now - 7 * day, actor: "cron", now: now)
        }
        #expect(try store.pruneSessionHistory(endedBefore: now - 90 * day, actor: "cron", now: now).bindings == 0)
        let forced = try store.pruneSessionHistory(endedBefore: now - 7 * day, actor: "cron", now: now, force: true)
        #expect(forced.bindings == 1)
    }

    @Test func theAuditLogRecordsTheOperatingSystemUser() throws {
        let fixture = StoreFixture()
        let store = try ExceptionStore(
            path: fixture.path, identity: OperatingSystemIdentity(user: "egress25", sudoUser: "alice"))
        try store.addCustomer(id: "c-1001", actor: "bob", now: t0)
        try store.startSession(customer: "c-7777", prefix: prefix("100.64.1.7"), actor: "radius", now: t0)
        let entries = try store.auditEntries()
        #expect(entries.count == 3)
        #expect(entries.allSatisfy { $0.osUser == "egress25" && $0.sudoUser == "alice" })
        #expect(entries.first?.actor == "bob")
        #expect(entries.first?.operatingSystemUserText == "egress25 (sudo by alice)")

        // The default identity is this process's effective user.
        let entry = try #require(getpwuid(geteuid()))
        let name = String(cString: try #require(entry.pointee.pw_name))
        let plain = try ExceptionStore(path: fixture.path)
        try plain.addCustomer(id: "c-2002", actor: "bob", now: t0)
        #expect(try plain.auditEntries().last?.osUser == name)
        #expect(OperatingSystemIdentity.current().user == name)
    }

    @Test func aSchema1StoreMigratesForward() throws {
        let fixture = StoreFixture()
        try FileManager.default.createDirectory(
            atPath: (fixture.path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        do {
            let queue = try DatabaseQueue(path: fixture.path)
            try ExceptionStore.migrator.migrate(queue, upTo: "v1-initial")
            try queue.write { db in
                try db.execute(sql: "INSERT INTO customer (id, created_at) VALUES ('c-1001', ?)", arguments: [t0])
                try db.execute(
                    sql: """
                        INSERT INTO binding (customer_id, prefix, family, first, last, kind, valid_from)
                        VALUES ('c-1001', '100.64.1.7/32', 4, '64400107', '64400107', 'session', ?)
                        """, arguments: [t0])
                try db.execute(
                    sql: """
                        INSERT INTO audit (at, actor, action, customer_id)
                        VALUES (?, 'alice', 'customer.add', 'c-1001')
                        """,
                    arguments: [t0])
                #expect(try Int.fetchOne(db, sql: "PRAGMA user_version") == 1)
            }
        }
        let store = try fixture.open()
        let now = UTCTime.now()
        let binding = try #require(try store.bindings().first)
        // Open sessions get one default lease from the upgrade: nobody is cut off by the upgrade itself.
        let lease = try #require(binding.leaseUntil)
        #expect(lease >= now + ExceptionStore.defaultSessionLeaseSeconds - 5)
        #expect(lease <= now + ExceptionStore.defaultSessionLeaseSeconds + 5)
        #expect(try store.customer(id: "c-1001")?.autoCreated == false)
        #expect(try store.auditEntries().first?.osUser == nil)
        let raw = try DatabaseQueue(path: fixture.path)
        #expect(try raw.read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") } == 2)
    }
}
