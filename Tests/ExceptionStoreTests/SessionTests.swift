import Egress25Core
import ExceptionStore
import Foundation
import GRDB
import Testing

/// Sessions: the feed from RADIUS/DHCP, address moves, bulk import.
@Suite struct SessionTests {
    func storeWithCustomers(_ fixture: borrowing StoreFixture) throws -> ExceptionStore {
        let store = try fixture.open()
        for id in ["c-1001", "c-2002", "c-3003"] {
            try store.addCustomer(id: id, actor: "alice", now: t0)
        }
        return store
    }

    @Test(arguments: TestBackend.available) func addressMovesToAnotherCustomer(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try storeWithCustomers(fixture)
        let first = try store.startSession(customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "radius", now: t0)
        #expect(first.started.map(\.prefix) == [prefix("100.64.1.7/32")])
        #expect(first.ended.isEmpty)
        let granted = try store.grantException(
            ExceptionGrant(
                customer: "c-1001", destinations: .prefixes([prefix("198.51.100.25")]), expiresAt: t0 + 3600,
                reason: "telecommuter", ticket: "T-1", grantedBy: "alice"),
            now: t0 + 1)
        var inputs = try store.policyInputs(now: t0 + 2)
        #expect(inputs.exceptions.map(\.id) == [granted.exception.id])
        #expect(inputs.exceptions.first?.sources == [prefix("100.64.1.7/32")])

        // The address moves to c-2002 (stop + start, or just start).
        let move = try store.startSession(
            customer: "c-2002", prefix: prefix("100.64.1.7"), actor: "radius", now: t0 + 60)
        #expect(move.ended.map(\.customer) == ["c-1001"])
        #expect(move.ended.first?.validUntil == t0 + 60)
        #expect(move.started.map(\.customer) == ["c-2002"])

        inputs = try store.policyInputs(now: t0 + 61)
        #expect(inputs.exceptions.isEmpty, "c-1001's exception must not follow the address to c-2002")
        #expect(inputs.bindings == [CustomerBinding(customer: "c-2002", prefix: prefix("100.64.1.7/32"))])
        // Before the move the snapshot still had c-1001.
        #expect(try store.policyInputs(now: t0 + 59).bindings.map(\.customer) == ["c-1001"])

        let audit = try store.auditEntries(since: t0 + 60)
        #expect(audit.map(\.action) == ["session.end", "session.start"])
        #expect(audit[0].customer == "c-1001")
        #expect(audit[0].after?.contains("\"moved_to\":\"c-2002\"") == true)
        #expect(audit[1].customer == "c-2002")

        // c-1001 comes back on another address: the exception follows the customer.
        try store.startSession(customer: "c-1001", prefix: prefix("100.64.9.9"), actor: "radius", now: t0 + 120)
        inputs = try store.policyInputs(now: t0 + 121)
        #expect(inputs.exceptions.first?.sources == [prefix("100.64.9.9/32")])
    }

    @Test(arguments: TestBackend.available) func policyInputsAtAPastTimeIncludeBindingsEndedSinceInAddressOrder(
        backend: TestBackend
    ) throws {
        let fixture = try StoreFixture(backend)
        let store = try storeWithCustomers(fixture)
        try store.startSession(customer: "c-1001", prefix: prefix("100.64.0.1"), actor: "radius", now: t0)
        try store.startSession(customer: "c-2002", prefix: prefix("100.64.0.9"), actor: "radius", now: t0)
        try store.startSession(customer: "c-3003", prefix: prefix("2001:db8::/56"), actor: "radius", now: t0)
        try store.stopSessions(customer: "c-1001", actor: "radius", now: t0 + 100)
        let past = try store.policyInputs(now: t0 + 50).bindings
        #expect(past.map(\.prefix) == [prefix("100.64.0.1/32"), prefix("100.64.0.9/32"), prefix("2001:db8::/56")])
        let now = try store.policyInputs(now: t0 + 100).bindings
        #expect(now.map(\.customer) == ["c-2002", "c-3003"])
        #expect(try store.policyInputs(now: t0 - 1).bindings.isEmpty)
    }

    @Test(arguments: TestBackend.available) func ipv6PrefixOverlapEndsTheOldSession(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try storeWithCustomers(fixture)
        try store.startSession(customer: "c-1001", prefix: prefix("2001:db8:1::/56"), actor: "dhcp", now: t0)
        try store.startSession(customer: "c-3003", prefix: prefix("2001:db8:2::/56"), actor: "dhcp", now: t0)
        let change = try store.startSession(
            customer: "c-2002", prefix: prefix("2001:db8:1:5::/64"), actor: "dhcp", now: t0 + 5)
        #expect(change.ended.map(\.prefix) == [prefix("2001:db8:1::/56")])
        let holders = try store.bindings(inForceAt: t0 + 5).map { "\($0.customer) \($0.prefix)" }
        #expect(holders == ["c-3003 2001:db8:2::/56", "c-2002 2001:db8:1:5::/64"])
    }

    @Test(arguments: TestBackend.available) func repeatedStartRenewsAndStopEndsSessions(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try storeWithCustomers(fixture)
        try store.startSession(customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "radius", now: t0)
        let token = try store.changeToken()
        let audit = try store.auditEntries().count
        let repeated = try store.startSession(
            customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "radius", now: t0 + 1, leaseSeconds: 600)
        #expect(repeated.started.isEmpty && repeated.ended.isEmpty)
        #expect(repeated.renewed.map(\.leaseUntil) == [t0 + 601])
        // A renewal is not audited, but the daemon must see the new lease end.
        #expect(try store.auditEntries().count == audit)
        #expect(try store.changeToken() > token)
        // The same renewal again (same second, same lease) writes nothing.
        let tokenAfterRenewal = try store.changeToken()
        try store.startSession(
            customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "radius", now: t0 + 1, leaseSeconds: 600)
        #expect(try store.changeToken() == tokenAfterRenewal)

        try store.startSession(customer: "c-1001", prefix: prefix("2001:db8:7::/56"), actor: "radius", now: t0 + 2)
        try store.startSession(customer: "c-2002", prefix: prefix("100.64.2.2"), actor: "radius", now: t0 + 2)
        let one = try store.stopSessions(customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "radius", now: t0 + 3)
        #expect(one.map(\.prefix) == [prefix("100.64.1.7/32")])
        // Stopping again: nothing to do, nothing written.
        let tokenAfterStop = try store.changeToken()
        #expect(
            try store.stopSessions(customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "r", now: t0 + 4).isEmpty)
        #expect(try store.changeToken() == tokenAfterStop)

        let all = try store.stopSessions(customer: "c-1001", actor: "radius", now: t0 + 5)
        #expect(all.map(\.prefix) == [prefix("2001:db8:7::/56")])
        #expect(try store.bindings(inForceAt: t0 + 5).map(\.customer) == ["c-2002"])
        // A stop for an id the store has never seen: nothing to end, nothing written, no error.
        let tokenBeforeUnknownStop = try store.changeToken()
        #expect(try store.stopSessions(customer: "c-9", actor: "radius", now: t0 + 6).isEmpty)
        #expect(try store.changeToken() == tokenBeforeUnknownStop)
        #expect(try store.customer(id: "c-9") == nil)
    }

    @Test(arguments: TestBackend.available) func sessionNeverTakesOverAStaticAddress(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try storeWithCustomers(fixture)
        try store.bind(customer: "c-1001", prefix: prefix("192.0.2.0/29"), actor: "alice", now: t0)
        try expectNothingWritten(store, code: .conflict, messageContains: "holds 192.0.2.0/29 statically") {
            try store.startSession(customer: "c-2002", prefix: prefix("192.0.2.3"), actor: "radius", now: t0 + 1)
        }
        // The static holder's own session on it is fine.
        try store.startSession(customer: "c-1001", prefix: prefix("192.0.2.3"), actor: "radius", now: t0 + 1)
        // An unknown id does not take over a static address either (and is not created).
        try expectNothingWritten(store, code: .conflict, messageContains: "holds 192.0.2.0/29 statically") {
            try store.startSession(customer: "c-404", prefix: prefix("192.0.2.4"), actor: "radius", now: t0 + 1)
        }
    }

    @Test(arguments: TestBackend.available) func importIsOneTransaction(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try storeWithCustomers(fixture)
        try store.startSession(customer: "c-3003", prefix: prefix("100.64.0.3"), actor: "radius", now: t0)
        try store.startSession(customer: "c-2002", prefix: prefix("100.64.0.9"), actor: "radius", now: t0)

        // A static conflict on the third line: nothing of the first two is written.
        try store.bind(customer: "c-3003", prefix: prefix("100.64.0.64/29"), actor: "alice", now: t0)
        try expectNothingWritten(store, code: .conflict, messageContains: "leases.csv:3: cannot start a session") {
            try store.importSessions(
                [
                    SessionLease(customer: "c-1001", prefix: prefix("100.64.0.1"), origin: "leases.csv:1"),
                    SessionLease(customer: "c-2002", prefix: prefix("100.64.0.3"), origin: "leases.csv:2"),
                    SessionLease(customer: "c-404", prefix: prefix("100.64.0.65"), origin: "leases.csv:3"),
                ], actor: "import", now: t0 + 10)
        }
        // Two customers on overlapping addresses in one file.
        try expectNothingWritten(
            store, code: .invalidArgument,
            messageContains: "leases.csv:7: 100.64.0.4/32 for c-2002 overlaps 100.64.0.0/29 for c-1001 (leases.csv:2)"
        ) {
            try store.importSessions(
                [
                    SessionLease(customer: "c-1001", prefix: prefix("100.64.0.0/29"), origin: "leases.csv:2"),
                    SessionLease(customer: "c-2002", prefix: prefix("100.64.0.4"), origin: "leases.csv:7"),
                ], actor: "import", now: t0 + 10)
        }

        let change = try store.importSessions(
            [
                SessionLease(customer: "c-1001", prefix: prefix("100.64.0.1"), origin: "leases.csv:1"),
                SessionLease(customer: "c-2002", prefix: prefix("100.64.0.3"), origin: "leases.csv:2"),
                SessionLease(customer: "c-2002", prefix: prefix("100.64.0.3"), origin: "leases.csv:3"),  // duplicate
            ], actor: "import", now: t0 + 10)
        #expect(Set(change.started.map(\.prefix)) == [prefix("100.64.0.1/32"), prefix("100.64.0.3/32")])
        #expect(change.ended.map(\.customer) == ["c-3003"])  // 100.64.0.3 moved from c-3003 to c-2002
        #expect(try store.bindings(inForceAt: t0 + 10).count == 4)  // c-2002 keeps 100.64.0.9 (not --replace)

        // --replace: the file is the complete set; c-2002's 100.64.0.9 ends, 100.64.0.3 is kept as is.
        let replaced = try store.importSessions(
            [
                SessionLease(customer: "c-1001", prefix: prefix("100.64.0.1")),
                SessionLease(customer: "c-2002", prefix: prefix("100.64.0.3")),
            ], replace: true, actor: "import", now: t0 + 20)
        #expect(replaced.started.isEmpty)
        #expect(replaced.renewed.count == 2)
        #expect(replaced.ended.map(\.prefix) == [prefix("100.64.0.9/32")])
        let holders = try store.bindings(inForceAt: t0 + 20).map { "\($0.customer) \($0.prefix)" }.sorted()
        #expect(holders == ["c-1001 100.64.0.1/32", "c-2002 100.64.0.3/32", "c-3003 100.64.0.64/29"])
    }
}

/// Retention of the session feed's history.
@Suite struct SessionPruneTests {
    @Test func prunesOnlyEndedSessionsAndTheirFeedEntries() throws {
        let fixture = StoreFixture()
        let store = try fixture.open()
        let day: Int64 = 86400
        for id in ["c-1001", "c-2002"] { try store.addCustomer(id: id, actor: "alice", now: t0) }
        try store.bind(customer: "c-1001", prefix: prefix("192.0.2.0/29"), actor: "alice", now: t0)
        try store.unbind(customer: "c-1001", prefix: prefix("192.0.2.0/29"), actor: "alice", now: t0 + 1)
        let grant = try store.grantException(
            ExceptionGrant(customer: "c-1001", destinations: .any, expiresAt: nil, reason: "r", grantedBy: "alice"),
            now: t0)
        // Old: c-1001's session moved to c-2002 on day 0; c-2002 still holds it (started on day 0).
        try store.startSession(customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "radius", now: t0)
        try store.startSession(customer: "c-2002", prefix: prefix("100.64.1.7"), actor: "radius", now: t0 + 10)
        // Recent: c-1001 on another address, stopped on day 100.
        try store.startSession(customer: "c-1001", prefix: prefix("100.64.9.9"), actor: "radius", now: t0 + 99 * day)
        try store.stopSessions(customer: "c-1001", actor: "radius", now: t0 + 100 * day)

        let now = t0 + 101 * day
        let inputsBefore = try store.policyInputs(now: now)
        let result = try store.pruneSessionHistory(endedBefore: now - 90 * day, actor: "cron", now: now)
        #expect(result.bindings == 1)  // c-1001's first session
        #expect(result.auditEntries == 2)  // its session.start and session.end

        let history = try store.bindings().map { "\($0.customer) \($0.prefix) \($0.kind.rawValue)" }
        #expect(
            history == ["c-1001 192.0.2.0/29 static", "c-2002 100.64.1.7/32 session", "c-1001 100.64.9.9/32 session"])
        let actions = try store.auditEntries().map(\.action)
        #expect(
            actions == [
                "customer.add", "customer.add", "binding.add", "binding.end", "exception.grant", "session.start",
                "session.start", "session.end", "session.prune",
            ])
        #expect(try store.auditEntries().last?.after?.contains("\"bindings\":1") == true)
        #expect(try store.exception(id: grant.exception.id) != nil)
        #expect(try store.policyInputs(now: now) == inputsBefore)

        // Support staff's entries cannot be deleted, even directly.
        let raw = try DatabaseQueue(path: fixture.path)
        #expect(throws: DatabaseError.self) {
            try raw.write { db in try db.execute(sql: "DELETE FROM audit WHERE action = 'exception.grant'") }
        }
        // Pruning again finds nothing: no audit entry, no change for the daemon.
        let token = try store.changeToken()
        #expect(try store.pruneSessionHistory(endedBefore: now - 90 * day, actor: "cron", now: now).bindings == 0)
        #expect(try store.changeToken() == token)
        try expectNothingWritten(store, code: .invalidArgument, messageContains: "in the future") {
            try store.pruneSessionHistory(endedBefore: now + 1, actor: "cron", now: now)
        }
    }
}
