import Egress25Core
import ExceptionStore
import Foundation
import Testing

/// Granting, revoking, listing exceptions; their audit history; policy inputs.
@Suite struct StoredExceptionTests {
    func store(_ fixture: borrowing StoreFixture) throws -> ExceptionStore {
        let store = try fixture.open()
        try store.addCustomer(id: "c-1001", actor: "alice", now: t0)
        try store.addCustomer(id: "c-2002", actor: "alice", now: t0)
        try store.startSession(customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "radius", now: t0)
        try store.bind(customer: "c-1001", prefix: prefix("2001:db8:aa::/48"), actor: "alice", now: t0)
        return store
    }

    func grant(
        _ customer: String = "c-1001", to destinations: DestinationScope = .any, expiresAt: Int64? = nil,
        reason: String = "telecommuter", ticket: String? = "T-1", by: String = "alice"
    ) -> ExceptionGrant {
        ExceptionGrant(
            customer: customer, destinations: destinations, expiresAt: expiresAt, reason: reason, ticket: ticket,
            grantedBy: by)
    }

    @Test(arguments: TestBackend.available) func grantStoresAndAudits(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try store(fixture)
        let result = try store.grantException(
            grant(
                to: .prefixes([prefix("198.51.100.26"), prefix("198.51.100.25"), prefix("198.51.100.25")]),
                expiresAt: t0 + 3600),
            now: t0 + 100)
        let exception = result.exception
        #expect(exception.id.wholeMatch(of: /exc-[23456789abcdefghjkmnpqrstuvwxyz]{8}/) != nil)
        #expect(exception.destinations == .prefixes([prefix("198.51.100.25/32"), prefix("198.51.100.26/32")]))
        #expect(exception.createdAt == t0 + 100)
        #expect(exception.expiresAt == t0 + 3600)
        #expect(exception.grantedBy == "alice")
        #expect(exception.ticket == "T-1")
        #expect(exception.status(at: t0 + 3599) == .active)
        #expect(exception.status(at: t0 + 3600) == .expired)
        #expect(result.bindingsInForce.count == 2)
        #expect(try store.exception(id: exception.id) == exception)

        let history = try store.auditEntries(objectID: exception.id)
        #expect(history.map(\.action) == ["exception.grant"])
        #expect(history[0].actor == "alice")
        #expect(history[0].customer == "c-1001")
        #expect(history[0].after?.contains("\"destinations\":[\"198.51.100.25/32\",\"198.51.100.26/32\"]") == true)
        #expect(history[0].after?.contains("\"expires_at\":\"2026-11-29T09:00:00Z\"") == true)

        // Ids are unique.
        var ids: Set<String> = [exception.id]
        for _ in 0..<50 { ids.insert(try store.grantException(grant(), now: t0 + 200).exception.id) }
        #expect(ids.count == 51)
    }

    @Test(arguments: TestBackend.available) func grantWithoutBindingIsAllowedButReported(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try store(fixture)
        let result = try store.grantException(grant("c-2002", expiresAt: t0 + 60), now: t0)
        #expect(result.bindingsInForce.isEmpty)
        #expect(try store.exceptions(customer: "c-2002", now: t0).map(\.id) == [result.exception.id])
        // It has no effect until c-2002 holds an address ...
        #expect(try store.policyInputs(now: t0 + 1).exceptions.isEmpty)
        try store.startSession(customer: "c-2002", prefix: prefix("100.64.2.2"), actor: "radius", now: t0 + 2)
        // ... and then it does.
        #expect(try store.policyInputs(now: t0 + 3).exceptions.map(\.id) == [result.exception.id])
    }

    @Test(arguments: TestBackend.available) func badGrantsWriteNothing(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try store(fixture)
        try expectNothingWritten(store, code: .unknownCustomer, messageContains: "unknown customer c-404") {
            _ = try store.grantException(grant("c-404", expiresAt: t0 + 60), now: t0)
        }
        try expectNothingWritten(store, code: .invalidArgument, messageContains: "is not in the future") {
            _ = try store.grantException(grant(expiresAt: t0 - 1), now: t0)
        }
        try expectNothingWritten(store, code: .invalidArgument, messageContains: "is not in the future") {
            _ = try store.grantException(grant(expiresAt: t0), now: t0)
        }
        try expectNothingWritten(store, code: .invalidArgument, messageContains: "reason") {
            _ = try store.grantException(grant(reason: "  "), now: t0)
        }
        try expectNothingWritten(store, code: .invalidArgument, messageContains: "--by") {
            _ = try store.grantException(grant(by: ""), now: t0)
        }
        try expectNothingWritten(store, code: .invalidArgument, messageContains: "destination list is empty") {
            _ = try store.grantException(grant(to: .prefixes([])), now: t0)
        }
    }

    @Test(arguments: TestBackend.available) func revokeOnceThenRefuse(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try store(fixture)
        let id = try store.grantException(grant(expiresAt: t0 + 3600), now: t0).exception.id
        let revoked = try store.revokeException(
            id: id, reason: "customer moved to business plan", by: "bob", now: t0 + 10)
        #expect(revoked.revocation == .init(at: t0 + 10, by: "bob", reason: "customer moved to business plan"))
        #expect(revoked.status(at: t0 + 10) == .revoked)
        #expect(try store.exception(id: id)?.revocation?.by == "bob")

        let history = try store.auditEntries(objectID: id)
        #expect(history.map(\.action) == ["exception.grant", "exception.revoke"])
        #expect(history[1].actor == "bob")
        #expect(history[1].before?.contains("\"revocation\":null") == true)
        #expect(history[1].after?.contains("\"by\":\"bob\"") == true)

        try expectNothingWritten(
            store, code: .alreadyRevoked, messageContains: "already revoked at 2026-11-29T08:00:10Z by bob"
        ) {
            try store.revokeException(id: id, reason: "again", by: "carol", now: t0 + 20)
        }
        try expectNothingWritten(store, code: .unknownException, messageContains: "exc-nothere") {
            try store.revokeException(id: "exc-nothere", reason: "x", by: "carol", now: t0 + 20)
        }
        let other = try store.grantException(grant(), now: t0).exception.id
        try expectNothingWritten(store, code: .invalidArgument, messageContains: "reason") {
            try store.revokeException(id: other, reason: "", by: "carol", now: t0 + 20)
        }
    }

    @Test(arguments: TestBackend.available) func listFiltersByStatusAndCustomer(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try store(fixture)
        try store.startSession(customer: "c-2002", prefix: prefix("100.64.2.2"), actor: "radius", now: t0)
        let active = try store.grantException(grant(expiresAt: t0 + 3600), now: t0).exception.id
        let permanent = try store.grantException(grant("c-2002"), now: t0 + 1).exception.id
        let expired = try store.grantException(grant(expiresAt: t0 + 60), now: t0 + 2).exception.id
        let revoked = try store.grantException(grant(expiresAt: t0 + 3600), now: t0 + 3).exception.id
        try store.revokeException(id: revoked, reason: "abuse", by: "bob", now: t0 + 4)
        let now = t0 + 600
        #expect(try store.exceptions(status: .active, now: now).map(\.id) == [active, permanent])
        #expect(try store.exceptions(status: .expired, now: now).map(\.id) == [expired])
        #expect(try store.exceptions(status: .revoked, now: now).map(\.id) == [revoked])
        #expect(try store.exceptions(status: .all, now: now).map(\.id) == [active, permanent, expired, revoked])
        #expect(try store.exceptions(customer: "c-2002", status: .all, now: now).map(\.id) == [permanent])
        try expectNothingWritten(store, code: .unknownCustomer) {
            _ = try store.exceptions(customer: "c-404", status: .all, now: now)
        }
    }

    @Test(arguments: TestBackend.available) func auditFiltersBySinceAndCustomer(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try store(fixture)
        _ = try store.grantException(grant("c-2002", expiresAt: t0 + 3600), now: t0 + 500)
        #expect(try store.auditEntries(since: t0 + 1).map(\.action) == ["exception.grant"])
        #expect(try store.auditEntries(customer: "c-2002").map(\.action) == ["customer.add", "exception.grant"])
        #expect(
            try store.auditEntries(customer: "c-1001").map(\.action) == [
                "customer.add", "session.start", "binding.add",
            ])
        let all = try store.auditEntries()
        #expect(all.map(\.sequence) == all.map(\.sequence).sorted())
        #expect(try store.auditEntries(limit: 2) == Array(all.suffix(2)))
    }

    @Test(arguments: TestBackend.available) func policyInputsResolveToCurrentBindings(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try store(fixture)
        try store.startSession(customer: "c-2002", prefix: prefix("100.64.2.2"), actor: "radius", now: t0)
        let day: Int64 = 86400
        let scoped = try store.grantException(
            grant(to: .prefixes([prefix("198.51.100.25")]), expiresAt: t0 + 3600, ticket: nil), now: t0 + 10
        ).exception.id
        let permanent = try store.grantException(grant("c-2002"), now: t0 + 11).exception.id
        let recentlyExpired = try store.grantException(grant(expiresAt: t0 + 60), now: t0 + 12).exception.id
        let longExpired = try store.grantException(grant(expiresAt: t0 + 61), now: t0 + 13).exception.id
        let revoked = try store.grantException(grant(expiresAt: t0 + 3600), now: t0 + 14).exception.id
        try store.revokeException(id: revoked, reason: "abuse", by: "bob", now: t0 + 15)
        _ = longExpired

        // 30 days after t0 + 60 + 1 s: `recentlyExpired` (expired at t0 + 60) is out, `longExpired` (t0 + 61) is in.
        let now = t0 + 61 + 30 * day - 1
        let inputs = try store.policyInputs(now: now)
        #expect(inputs.exceptions.map(\.id) == [scoped, permanent, longExpired])
        _ = recentlyExpired
        let first = try #require(inputs.exceptions.first)
        #expect(first.customer == "c-1001")
        #expect(first.sources == [prefix("100.64.1.7/32"), prefix("2001:db8:aa::/48")])
        #expect(first.destinations == .prefixes([prefix("198.51.100.25/32")]))
        #expect(first.notBefore == t0 + 10)
        #expect(first.expiresAt == t0 + 3600)
        #expect(first.reason == "telecommuter")
        #expect(first.ticket == nil)
        #expect(inputs.exceptions[1].expiresAt == nil)
        #expect(inputs.exceptions[1].sources == [prefix("100.64.2.2/32")])
        #expect(
            Set(inputs.bindings) == [
                CustomerBinding(customer: "c-1001", prefix: prefix("100.64.1.7/32")),
                CustomerBinding(customer: "c-1001", prefix: prefix("2001:db8:aa::/48")),
                CustomerBinding(customer: "c-2002", prefix: prefix("100.64.2.2/32")),
            ])
        // Revoked ones never appear.
        #expect(try store.policyInputs(now: t0 + 16).exceptions.map(\.id).contains(revoked) == false)
        #expect(try store.policyInputs(now: t0 + 16).exceptions.count == 4)
    }

    @Test(arguments: TestBackend.available) func policyInputsBuildASnapshotThatJudgesByTheSecond(
        backend: TestBackend
    ) throws {
        let fixture = try StoreFixture(backend)
        let store = try store(fixture)
        let id = try store.grantException(
            grant(to: .prefixes([prefix("198.51.100.25")]), expiresAt: t0 + 3600), now: t0 + 10
        ).exception.id
        let inputs = try store.policyInputs(now: t0 + 20)
        let policy = Policy(
            subscriberRanges: [prefix("100.64.0.0/10")], relayHosts: [], ports: [25], mode: .enforce, exceptions: [])
        let snapshot = try PolicySnapshot(
            policy: policy, exceptions: inputs.exceptions, bindings: inputs.bindings, generation: 1)
        func flow(to destination: String) -> Flow {
            Flow(
                source: address("100.64.1.7"), destination: address(destination), sourcePort: 40000,
                destinationPort: 25, flags: .syn)
        }
        #expect(snapshot.decide(flow(to: "198.51.100.25"), now: t0 + 20).verdict == .accept)
        #expect(snapshot.decide(flow(to: "198.51.100.26"), now: t0 + 20).verdict == .block)
        #expect(snapshot.decide(flow(to: "198.51.100.25"), now: t0 + 3599).verdict == .accept)
        let atExpiry = snapshot.decide(flow(to: "198.51.100.25"), now: t0 + 3600)
        #expect(atExpiry.verdict == .block)
        if case .blockedExceptionExpired(let index) = atExpiry.reason {
            #expect(snapshot.exception(at: index).id == id)
        } else {
            Issue.record("expected blockedExceptionExpired, got \(atExpiry.reason)")
        }
    }
}
