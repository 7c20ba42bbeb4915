import Egress25Core
import Egress25TestSupport
import ExceptionStore
import Foundation
import Testing

/// Issue 15: RADIUS accounting as the session feed (`applyAccounting`), on both stores.
@Suite struct AccountingTests {
    static let policy = Policy(
        subscriberRanges: [prefix("100.64.0.0/10"), prefix("2001:db8:6400::/40")], relayHosts: [])

    static func session(
        _ id: String, _ customer: String, _ prefixes: [String], nas: String = "bng-1", lease: Int64 = 600
    ) -> AccountingSession {
        AccountingSession(
            nas: nas, sessionID: id, customer: customer, prefixes: prefixes.map(prefix), leaseSeconds: lease)
    }

    static func start(
        _ id: String, _ customer: String, _ prefixes: [String], nas: String = "bng-1", lease: Int64 = 600
    ) -> AccountingEvent {
        .start(session(id, customer, prefixes, nas: nas, lease: lease))
    }

    static func interim(
        _ id: String, _ customer: String, _ prefixes: [String], nas: String = "bng-1", lease: Int64 = 600
    ) -> AccountingEvent {
        .interim(session(id, customer, prefixes, nas: nas, lease: lease))
    }

    /// Who holds what now: `customer prefix nas/session`, in binding order.
    static func holders(_ store: ExceptionStore, at now: Int64) throws -> [String] {
        try store.bindings(inForceAt: now).map {
            "\($0.customer) \($0.prefix) \($0.nas ?? "-")/\($0.accountingSessionID ?? "-")"
        }
    }

    func syn(_ source: String) -> Flow {
        Flow(
            source: address(source), destination: address("198.51.100.9"), sourcePort: 40000, destinationPort: 25,
            flags: .syn)
    }

    @Test(arguments: TestBackend.available) func aStartOpensTheSessionAndCreatesTheCustomer(backend: TestBackend) throws
    {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        let outcomes = try store.applyAccounting(
            [Self.start("s1", "c-1001", ["100.64.1.7", "2001:db8:6400:100::/56"])], actor: "radius", now: t0)
        #expect(outcomes == [.applied(started: 2, renewed: 0, ended: 0)])
        let bindings = try store.bindings(inForceAt: t0)
        #expect(bindings.map(\.prefix) == [prefix("100.64.1.7/32"), prefix("2001:db8:6400:100::/56")])
        #expect(bindings.allSatisfy { $0.nas == "bng-1" && $0.accountingSessionID == "s1" })
        #expect(bindings.allSatisfy { $0.kind == .session && $0.leaseUntil == t0 + 600 && $0.validFrom == t0 })
        #expect(try store.customer(id: "c-1001")?.autoCreated == true)
        let audit = try store.auditEntries()
        #expect(audit.map(\.action) == ["customer.add", "session.start", "session.start"])
        #expect(audit[1].objectID == "binding-\(bindings[0].id)")
        #expect(audit[1].after?.contains("\"acct_session_id\":\"s1\"") == true)
        #expect(audit[1].after?.contains("\"nas\":\"bng-1\"") == true)
        #expect(audit[1].after?.contains("\"id\":\(bindings[0].id)") == true)
        #expect(try store.activeAccountingSessionCount(now: t0 + 1) == 1)
    }

    @Test(arguments: TestBackend.available) func aRetransmittedStartIsIdempotent(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        let batch = [Self.start("s1", "c-1001", ["100.64.1.7"])]
        _ = try store.applyAccounting(batch, actor: "radius", now: t0)
        let before = try StoreContents(store)
        // The same second: nothing changes at all.
        #expect(try store.applyAccounting(batch, actor: "radius", now: t0) == [.duplicate])
        #expect(try StoreContents(store) == before)
        // Later: the lease moves (not audited, the change token grows); nothing else.
        #expect(
            try store.applyAccounting(batch, actor: "radius", now: t0 + 5) == [
                .applied(started: 0, renewed: 1, ended: 0)
            ])
        #expect(try store.auditEntries() == before.audit)
        #expect(try store.changeToken() > before.token)
        #expect(try store.bindings().map(\.leaseUntil) == [t0 + 605])
        // A retransmit naming a prefix the session does not hold yet adds it.
        #expect(
            try store.applyAccounting(
                [Self.start("s1", "c-1001", ["100.64.1.7", "2001:db8:6400:200::/56"])], actor: "radius", now: t0 + 5)
                == [.applied(started: 1, renewed: 0, ended: 0)])
        #expect(try store.bindings(inForceAt: t0 + 5).count == 2)
    }

    @Test(arguments: TestBackend.available) func aStartAfterTheStopOfItsSessionOpensNothing(backend: TestBackend) throws
    {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        // In one batch.
        let outcomes = try store.applyAccounting(
            [
                Self.start("s1", "c-1001", ["100.64.1.7"]), .stop(nas: "bng-1", sessionID: "s1"),
                Self.start("s1", "c-1001", ["100.64.1.7"]), Self.interim("s1", "c-1001", ["100.64.1.7"]),
            ],
            actor: "radius", now: t0)
        #expect(
            outcomes == [
                .applied(started: 1, renewed: 0, ended: 0), .applied(started: 0, renewed: 0, ended: 1), .duplicate,
                .duplicate,
            ])
        #expect(try store.bindings(inForceAt: t0).isEmpty)
        // In later batches: the late retransmit still opens nothing, a second Stop is a duplicate.
        let before = try StoreContents(store)
        #expect(
            try store.applyAccounting(
                [
                    Self.start("s1", "c-1001", ["100.64.1.7"]), .stop(nas: "bng-1", sessionID: "s1"),
                    .stop(nas: "bng-1", sessionID: "never-seen"),
                ],
                actor: "radius", now: t0 + 30) == [.duplicate, .duplicate, .duplicate])
        #expect(try StoreContents(store) == before)
    }

    @Test(arguments: TestBackend.available) func aStopEndsOnlyItsSession(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        _ = try store.applyAccounting([Self.start("s1", "c-1001", ["100.64.1.7"])], actor: "radius", now: t0)
        // The subscriber reconnects (a new session on the same address) before the old session's Stop arrives.
        #expect(
            try store.applyAccounting([Self.start("s2", "c-1001", ["100.64.1.7"])], actor: "radius", now: t0 + 10)
                == [.applied(started: 1, renewed: 0, ended: 1)])
        let reconnect = try store.auditEntries(since: t0 + 10)
        #expect(reconnect.map(\.action) == ["session.end", "session.start"])
        #expect(reconnect[0].after?.contains("moved_to") == false)
        #expect(
            try store.applyAccounting([.stop(nas: "bng-1", sessionID: "s1")], actor: "radius", now: t0 + 20)
                == [.duplicate])
        #expect(try Self.holders(store, at: t0 + 20) == ["c-1001 100.64.1.7/32 bng-1/s2"])
        // The same session id on another NAS is another session.
        #expect(
            try store.applyAccounting([.stop(nas: "bng-2", sessionID: "s2")], actor: "radius", now: t0 + 21)
                == [.duplicate])
        #expect(
            try store.applyAccounting([.stop(nas: "bng-1", sessionID: "s2")], actor: "radius", now: t0 + 22)
                == [.applied(started: 0, renewed: 0, ended: 1)])
        #expect(try store.bindings(inForceAt: t0 + 22).isEmpty)
        #expect(try store.activeAccountingSessionCount(now: t0 + 22) == 0)
    }

    @Test(arguments: TestBackend.available) func anotherSubscribersStartMovesTheAddress(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        try store.addCustomer(id: "c-1001", actor: "alice", now: t0)
        _ = try store.applyAccounting([Self.start("s1", "c-1001", ["100.64.1.7"])], actor: "radius", now: t0)
        let exception = try store.grantException(
            ExceptionGrant(
                customer: "c-1001", destinations: .any, expiresAt: nil, reason: "own MX", grantedBy: "alice"),
            now: t0 + 1)
        let builder = PolicySnapshotBuilder(store: store)
        var snapshot = try builder.build(policy: Self.policy, generation: 1, now: t0 + 2).snapshot
        #expect(snapshot.decide(syn("100.64.1.7"), now: t0 + 2).verdict == .accept)

        // c-1001's Stop is lost; the address goes to c-2002 (whom the store has never seen).
        #expect(
            try store.applyAccounting([Self.start("s2", "c-2002", ["100.64.1.7"])], actor: "radius", now: t0 + 60)
                == [.applied(started: 1, renewed: 0, ended: 1)])
        let audit = try store.auditEntries(since: t0 + 60)
        #expect(audit.map(\.action) == ["customer.add", "session.end", "session.start"])
        #expect(audit[1].customer == "c-1001")
        #expect(audit[1].after?.contains("\"moved_to\":\"c-2002\"") == true)
        snapshot = try builder.build(policy: Self.policy, generation: 2, now: t0 + 61).snapshot
        let decision = snapshot.decide(syn("100.64.1.7"), now: t0 + 61)
        #expect(decision.verdict == .block, "c-1001's exception must not follow the address to c-2002")
        #expect(decision.reason == .blockedNoException)

        // c-1001's late retransmitted Start and Interim take nothing back.
        #expect(
            try store.applyAccounting(
                [Self.start("s1", "c-1001", ["100.64.1.7"]), Self.interim("s1", "c-1001", ["100.64.1.7"])],
                actor: "radius", now: t0 + 70) == [.duplicate, .duplicate])
        #expect(try Self.holders(store, at: t0 + 70) == ["c-2002 100.64.1.7/32 bng-1/s2"])

        // The new holder's own exception applies; the previous holder's still does not.
        _ = try store.grantException(
            ExceptionGrant(
                customer: "c-2002", destinations: .prefixes([prefix("198.51.100.9")]), expiresAt: nil, reason: "MX",
                grantedBy: "alice"),
            now: t0 + 80)
        snapshot = try builder.build(policy: Self.policy, generation: 3, now: t0 + 81).snapshot
        let granted = snapshot.decide(syn("100.64.1.7"), now: t0 + 81)
        #expect(granted.verdict == .accept)
        let rules = try store.policyInputs(now: t0 + 81).exceptions
        #expect(rules.first { $0.id == exception.exception.id } == nil, "c-1001 holds no address any more")
    }

    @Test(arguments: TestBackend.available) func anInterimAddsADelegatedPrefix(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        _ = try store.applyAccounting([Self.start("s1", "c-1001", ["100.64.1.7"])], actor: "radius", now: t0)
        let outcomes = try store.applyAccounting(
            [Self.interim("s1", "c-1001", ["100.64.1.7", "2001:db8:6400:100::/56"])], actor: "radius", now: t0 + 300)
        #expect(outcomes == [.applied(started: 1, renewed: 1, ended: 0)])
        let bindings = try store.bindings(inForceAt: t0 + 300)
        #expect(bindings.map(\.leaseUntil) == [t0 + 900, t0 + 900])
        #expect(bindings.last?.prefix == prefix("2001:db8:6400:100::/56"))
        #expect(bindings.last?.accountingSessionID == "s1")
        // An Interim without prefixes renews the whole session.
        #expect(
            try store.applyAccounting([Self.interim("s1", "c-1001", [])], actor: "radius", now: t0 + 600)
                == [.applied(started: 0, renewed: 2, ended: 0)])
        #expect(try store.activeAccountingSessionCount(now: t0 + 601) == 1)
    }

    @Test(arguments: TestBackend.available) func anInterimDisputingAnotherCustomersSessionBindsNobody(
        backend: TestBackend
    ) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        _ = try store.applyAccounting([Self.start("s1", "c-1001", ["100.64.1.7"])], actor: "radius", now: t0)
        // c-2002's Start was lost; its Interim claims c-1001's address: nobody holds it.
        #expect(
            try store.applyAccounting([Self.interim("s2", "c-2002", ["100.64.1.7"])], actor: "radius", now: t0 + 10)
                == [.applied(started: 0, renewed: 0, ended: 1)])
        #expect(try store.bindings(inForceAt: t0 + 10).isEmpty)
        #expect(try store.auditEntries(since: t0 + 10).map(\.action) == ["customer.add", "session.end"])
        // The refused claim is recorded as a binding of s2 that never was in force.
        let refused = try #require(try store.bindings().last)
        #expect(refused.customer == "c-2002" && refused.accountingSessionID == "s2")
        #expect(refused.validFrom == t0 + 10 && refused.validUntil == t0 + 10)
        // Neither session takes the address by an Interim any more: not the retransmit of s2's (which would find
        // the address free), not a later one of s1 or s2.
        let before = try StoreContents(store)
        #expect(
            try store.applyAccounting(
                [
                    Self.interim("s2", "c-2002", ["100.64.1.7"]), Self.interim("s1", "c-1001", ["100.64.1.7"]),
                    Self.interim("s2", "c-2002", ["100.64.1.7"]),
                ], actor: "radius", now: t0 + 20) == [.duplicate, .duplicate, .duplicate])
        #expect(try StoreContents(store) == before)
        // A Start settles it.
        #expect(
            try store.applyAccounting([Self.start("s3", "c-2002", ["100.64.1.7"])], actor: "radius", now: t0 + 30)
                == [.applied(started: 1, renewed: 0, ended: 0)])
        #expect(try Self.holders(store, at: t0 + 30) == ["c-2002 100.64.1.7/32 bng-1/s3"])
    }

    @Test(arguments: TestBackend.available) func anInterimOfAnUnknownSessionStartsIt(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        #expect(
            try store.applyAccounting(
                [Self.interim("s9", "c-3003", ["100.64.3.3"]), Self.interim("s10", "c-3004", [])], actor: "radius",
                now: t0) == [.applied(started: 1, renewed: 0, ended: 0), .duplicate])
        #expect(try Self.holders(store, at: t0) == ["c-3003 100.64.3.3/32 bng-1/s9"])
        #expect(try store.customer(id: "c-3003")?.autoCreated == true)
        #expect(try store.customer(id: "c-3004") == nil)
    }

    @Test(arguments: TestBackend.available) func aNASRestartEndsOnlyThatNASsOlderSessions(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        _ = try store.applyAccounting(
            [Self.start("s1", "c-1", ["100.64.0.1"]), Self.start("s2", "c-2", ["100.64.0.2"], nas: "bng-2")],
            actor: "radius", now: t0)
        _ = try store.applyAccounting([Self.start("s3", "c-3", ["100.64.0.3"])], actor: "radius", now: t0 + 100)
        try store.startSession(customer: "c-4", prefix: prefix("100.64.0.4"), actor: "ops", now: t0)
        #expect(
            try store.applyAccounting([.nasRestart(nas: "bng-1", before: t0 + 50)], actor: "radius", now: t0 + 200)
                == [.applied(started: 0, renewed: 0, ended: 1)])
        #expect(
            try Self.holders(store, at: t0 + 200) == [
                "c-2 100.64.0.2/32 bng-2/s2", "c-3 100.64.0.3/32 bng-1/s3", "c-4 100.64.0.4/32 -/-",
            ])
        #expect(
            try store.applyAccounting([.nasRestart(nas: "bng-1", before: t0 + 50)], actor: "radius", now: t0 + 201)
                == [.duplicate])
        // The ended session's late Interim does not reopen it.
        #expect(
            try store.applyAccounting([Self.interim("s1", "c-1", ["100.64.0.1"])], actor: "radius", now: t0 + 202)
                == [.duplicate])
    }

    @Test(arguments: TestBackend.available) func aRejectedEventDoesNotStopTheOthers(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        try store.addCustomer(id: "c-static", actor: "alice", now: t0)
        try store.bind(customer: "c-static", prefix: prefix("100.64.9.0/29"), actor: "alice", now: t0)
        let plan = AddressPlan(subscriberRanges: [prefix("100.64.0.0/10")])
        let outcomes = try store.applyAccounting(
            [
                Self.start("s1", "c-1", ["100.64.0.1"]),
                Self.start("s2", "bad id!", ["100.64.0.2"]),
                Self.start("s3", "c-3", ["100.64.0.3", "198.51.100.7"]),
                Self.start("s4", "c-4", ["100.64.0.4", "100.64.9.3"]),
                Self.start("s5", "c-5", ["100.64.0.5"], lease: 0),
                Self.start("", "c-6", ["100.64.0.6"]),
                Self.start("s7", "c-7", ["100.64.0.7"]),
            ], actor: "radius", now: t0 + 1, plan: plan)
        #expect(outcomes.count == 7)
        #expect(outcomes[0] == .applied(started: 1, renewed: 0, ended: 0))
        #expect(outcomes[6] == .applied(started: 1, renewed: 0, ended: 0))
        for (index, code) in [
            (1, ExceptionStoreError.Code.invalidArgument), (2, .invalidArgument), (3, .conflict),
            (4, .invalidArgument), (5, .invalidArgument),
        ] {
            guard case .rejected(let error) = outcomes[index] else {
                Issue.record("event \(index): \(outcomes[index])")
                continue
            }
            #expect(error.code == code, "event \(index): \(error)")
        }
        if case .rejected(let error) = outcomes[3] { #expect(error.message.contains("holds 100.64.9.0/29 statically")) }
        if case .rejected(let error) = outcomes[2] { #expect(error.message.contains("198.51.100.7/32")) }
        #expect(
            try Self.holders(store, at: t0 + 1) == [
                "c-static 100.64.9.0/29 -/-", "c-1 100.64.0.1/32 bng-1/s1", "c-7 100.64.0.7/32 bng-1/s7",
            ])
        #expect(try store.customers().map(\.id).sorted() == ["c-1", "c-7", "c-static"])
        // A batch whose only event is rejected writes nothing.
        let before = try StoreContents(store)
        let rejected = try store.applyAccounting(
            [Self.start("s8", "c-8", ["100.64.9.1"])], actor: "radius", now: t0 + 2)
        #expect(rejected.count == 1)
        #expect(try StoreContents(store) == before)
    }

    @Test(arguments: TestBackend.available) func activeSessionsAreCountedByKeyWhileTheirLeaseRuns(
        backend: TestBackend
    ) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        _ = try store.applyAccounting(
            [
                Self.start("s1", "c-1", ["100.64.0.1", "2001:db8:6400:100::/56"], lease: 1000),
                Self.start("s2", "c-2", ["100.64.0.2"], lease: 100),
                Self.start("s1", "c-3", ["100.64.0.3"], nas: "bng-2", lease: 1000),
            ], actor: "radius", now: t0)
        try store.startSession(customer: "c-4", prefix: prefix("100.64.0.4"), actor: "ops", now: t0)
        #expect(try store.activeAccountingSessionCount(now: t0 + 1) == 3)
        #expect(try store.activeAccountingSessionCount(now: t0 + 100) == 2)
        _ = try store.applyAccounting([.stop(nas: "bng-1", sessionID: "s1")], actor: "radius", now: t0 + 200)
        #expect(try store.activeAccountingSessionCount(now: t0 + 200) == 1)
        #expect(try store.activeAccountingSessionCount(now: t0 + 1000) == 0)
    }

    @Test(arguments: TestBackend.available) func aSessionIdReusedForAnotherSubscriberEndsTheOldHoldersBindings(
        backend: TestBackend
    ) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        _ = try store.applyAccounting(
            [Self.start("s1", "c-1", ["100.64.0.1", "100.64.0.9"])], actor: "radius", now: t0)
        // An Interim naming another subscriber: the claims disagree, nobody holds the session's addresses.
        #expect(
            try store.applyAccounting([Self.interim("s1", "c-2", ["100.64.0.1"])], actor: "radius", now: t0 + 10)
                == [.applied(started: 0, renewed: 0, ended: 2)])
        #expect(try store.bindings(inForceAt: t0 + 10).isEmpty)
        // Its retransmit binds nobody either.
        #expect(
            try store.applyAccounting([Self.interim("s1", "c-2", ["100.64.0.1"])], actor: "radius", now: t0 + 11)
                == [.duplicate])
        #expect(try store.bindings(inForceAt: t0 + 11).isEmpty)
        // So does a Start naming another subscriber on a session in use.
        _ = try store.applyAccounting([Self.start("s5", "c-1", ["100.64.0.5"])], actor: "radius", now: t0 + 20)
        #expect(
            try store.applyAccounting([Self.start("s5", "c-2", ["100.64.0.5"])], actor: "radius", now: t0 + 30)
                == [.applied(started: 0, renewed: 0, ended: 1)])
        #expect(try store.bindings(inForceAt: t0 + 30).isEmpty)
        // A session id reused after its session ended opens nothing, whoever it names; a new id does.
        _ = try store.applyAccounting([.stop(nas: "bng-1", sessionID: "s5")], actor: "radius", now: t0 + 40)
        #expect(
            try store.applyAccounting(
                [Self.start("s5", "c-3", ["100.64.0.5"]), Self.start("s6", "c-3", ["100.64.0.5"])], actor: "radius",
                now: t0 + 50) == [.duplicate, .applied(started: 1, renewed: 0, ended: 0)])
    }

    /// A random feed of session lifecycles over few addresses (so sessions of different customers collide:
    /// take-overs, reconnects, disputes): each session (NAS, id) belongs to one customer and runs Start (sometimes
    /// lost), Interims (sometimes adding a delegated prefix), Stop; retransmits (also late ones, after the Stop),
    /// Accounting-Ons, and some invalid events. Stops never come before their session's first event (a Stop of a
    /// session the store does not know leaves no trace; its late Start would open it).
    static func randomFeed(count: Int, seed: UInt64, sessionsBase: Int = 0) -> [AccountingEvent] {
        enum State { case fresh, running, over }
        var random = SplitMix64(seed: seed)
        func pick(_ bound: Int) -> Int { Int(random.next() % UInt64(bound)) }
        func addresses() -> [String] {
            var list: [String] = []
            if pick(6) != 0 { list.append("100.64.0.\(pick(40))") }
            if pick(3) == 0 { list.append("2001:db8:6400:\(pick(12))00::/56") }
            if pick(10) == 0 { list.append("2001:db8:6400::/48") }
            if pick(25) == 0 { list.append("100.64.0.0/29") }
            return list
        }
        let keys = (0..<80).map { index in (nas: "bng-\(index % 2 + 1)", id: "s\(sessionsBase + index)") }
        var states = Array(repeating: State.fresh, count: keys.count)
        var held: [[String]] = Array(repeating: [], count: keys.count)
        var sent: [[AccountingEvent]] = Array(repeating: [], count: keys.count)
        var feed: [AccountingEvent] = []
        while feed.count < count {
            let index = pick(keys.count)
            let (nas, id) = keys[index]
            let customer = "c-\((index * 7) % 30)"
            func report(_ prefixes: [String]) -> AccountingSession {
                session(id, customer, prefixes, nas: nas, lease: Int64(pick(900) + 1))
            }
            var event: AccountingEvent
            switch (states[index], pick(100)) {
            case (_, 0..<2):
                event = .nasRestart(nas: nas, before: t0 - Int64(pick(3)))
                for other in keys.indices where keys[other].nas == nas && states[other] == .running {
                    states[other] = .over
                }
            case (_, 2..<4): event = .start(session(id, "bad id", ["100.64.0.1"], nas: nas))
            case (_, 4..<6): event = .start(session("x\(id)", customer, ["100.64.7.1"], nas: nas))  // the static one
            case (_, 6..<8): event = .interim(session(id, customer, ["100.64.0.2"], nas: nas, lease: 0))
            case (.over, _):
                guard let late = sent[index].randomElement(using: &random) else { continue }
                event = late
            case (.fresh, let roll):
                held[index] = addresses()
                event = roll < 80 ? .start(report(held[index])) : .interim(report(held[index]))
                states[index] = .running
            case (.running, let roll) where roll < 60:
                if pick(4) == 0 { held[index].append("2001:db8:6400:\(pick(12))00::/56") }
                event = .interim(report(held[index]))
            case (.running, let roll) where roll < 85:
                event = .stop(nas: nas, sessionID: id)
                states[index] = .over
            case (.running, _):
                event = sent[index].randomElement(using: &random) ?? .start(report(held[index]))
            }
            sent[index].append(event)
            feed.append(event)
        }
        return feed
    }

    /// The store's state without row ids (which differ between a batch and single events on PostgreSQL only in
    /// theory; compared by content).
    static func state(_ store: ExceptionStore) throws -> [String] {
        try store.customers().map { "customer \($0.id) \($0.autoCreated)" }
            + store.bindings().map {
                "binding \($0.customer) \($0.prefix) \($0.kind) \($0.validFrom) \($0.validUntil ?? -1) "
                    + "\($0.leaseUntil ?? -1) \($0.nas ?? "-") \($0.accountingSessionID ?? "-")"
            }.sorted()
            + store.auditEntries().map { "audit \($0.action) \($0.customer ?? "-")" }
    }

    @Test(arguments: TestBackend.available) func aBatchOfAThousandMixedEventsEqualsOneBatchPerEvent(
        backend: TestBackend
    ) throws {
        let batched = try StoreFixture(backend)
        let single = try StoreFixture(backend)
        let stores = [try batched.open(), try single.open()]
        for store in stores {
            try store.addCustomer(id: "c-static", actor: "alice", now: t0 - 10)
            try store.bind(customer: "c-static", prefix: prefix("100.64.7.0/29"), actor: "alice", now: t0 - 10)
            _ = try store.applyAccounting(
                Self.randomFeed(count: 300, seed: 1, sessionsBase: 1000), actor: "radius", now: t0 - 5)
        }
        let feed = Self.randomFeed(count: 1000, seed: 42)
        let outcomes = try stores[0].applyAccounting(feed, actor: "radius", now: t0)
        var one: [AccountingOutcome] = []
        for event in feed { one += try stores[1].applyAccounting([event], actor: "radius", now: t0) }
        #expect(outcomes == one)
        #expect(try Self.state(stores[0]) == Self.state(stores[1]))
        var kinds: [String: Int] = [:]
        for outcome in outcomes {
            switch outcome {
            case .applied(let started, _, let ended):
                kinds["applied", default: 0] += 1
                if started > 0 && ended > 0 { kinds["moved", default: 0] += 1 }
            case .duplicate: kinds["duplicate", default: 0] += 1
            case .rejected: kinds["rejected", default: 0] += 1
            }
        }
        #expect(kinds["applied", default: 0] > 100 && kinds["duplicate", default: 0] > 100, "\(kinds)")
        #expect(kinds["rejected", default: 0] > 5 && kinds["moved", default: 0] > 10, "\(kinds)")
        // Applying the batch again: the same state; only leases move (the feed renews one session with several
        // leases in the same second, the last wins both times).
        let before = try Self.state(stores[0])
        let again = try stores[0].applyAccounting(feed, actor: "radius", now: t0)
        for (index, outcome) in again.enumerated() {
            if case .applied(let started, _, let ended) = outcome, started > 0 || ended > 0 {
                Issue.record("again, event \(index) \(feed[index]): \(outcome)")
            }
        }
        let after = try Self.state(stores[0])
        #expect(after == before, "\(after.filter { !before.contains($0) }) \(before.filter { !after.contains($0) })")
        // The invariant: no two customers hold overlapping addresses.
        let open = try stores[0].bindings(inForceAt: t0)
        for (index, binding) in open.enumerated() {
            for other in open[(index + 1)...] where other.customer != binding.customer {
                #expect(
                    !(binding.prefix.contains(other.prefix) || other.prefix.contains(binding.prefix)),
                    "\(binding.customer) \(binding.prefix) overlaps \(other.customer) \(other.prefix)")
            }
        }
    }
}

/// The fleet store: a router's replica sees a batch's changes through the change log.
@Suite(.enabled(if: TestPostgres.isAvailable, "needs EGRESS25_TEST_PG_URL (scripts/test-postgres.sh start)"))
struct AccountingReplicaTests {
    @Test func aRoutersReplicaFollowsTheBatches() throws {
        let fixture = try StoreFixture(.postgresql)
        let store = try fixture.open()
        try store.addCustomer(id: "c-1001", actor: "alice", now: t0)
        _ = try store.grantException(
            ExceptionGrant(
                customer: "c-1001", destinations: .any, expiresAt: nil, reason: "own MX", grantedBy: "alice"),
            now: t0)
        var replica = PolicyReplica()
        #expect(try store.syncPolicyReplica(&replica, now: t0) == .reloaded)
        let sequence = replica.changeSequence

        _ = try store.applyAccounting(
            [
                AccountingTests.start("s1", "c-1001", ["100.64.1.7"]),
                AccountingTests.start("s2", "c-2", ["100.64.1.8"]),
            ],
            actor: "radius", now: t0 + 1)
        guard case .applied(let changes) = try store.syncPolicyReplica(&replica, now: t0 + 2) else {
            Issue.record("expected an incremental apply")
            return
        }
        #expect(changes == 2 && replica.changeSequence > sequence)
        try PolicyReplicaTests.expectSame(replica, store, now: t0 + 2)
        #expect(replica.policyInputs(now: t0 + 2).exceptions.first?.sources == [prefix("100.64.1.7/32")])

        // The address moves, a lease is renewed, a session stops: one batch, one transaction.
        let generation = try store.changeToken()
        _ = try store.applyAccounting(
            [
                AccountingTests.start("s3", "c-3", ["100.64.1.7"]),
                AccountingTests.interim("s2", "c-2", [], lease: 900), .stop(nas: "bng-1", sessionID: "s2"),
            ], actor: "radius", now: t0 + 10)
        #expect(try store.changeToken() > generation)
        guard case .applied = try store.syncPolicyReplica(&replica, now: t0 + 11) else {
            Issue.record("expected an incremental apply")
            return
        }
        try PolicyReplicaTests.expectSame(replica, store, now: t0 + 11)
        #expect(replica.policyInputs(now: t0 + 11).exceptions.isEmpty, "c-1001's exception must not follow 100.64.1.7")
        #expect(replica.bindings.values.map(\.customer) == ["c-3"])

        // A renewal alone (no audit entry) still reaches the replica and moves the change token.
        let renewedAt = try store.changeToken()
        _ = try store.applyAccounting(
            [AccountingTests.interim("s3", "c-3", [], lease: 5000)], actor: "radius", now: t0 + 20)
        #expect(try store.changeToken() > renewedAt)
        try PolicyReplicaTests.sync(store, &replica, now: t0 + 21)
        #expect(replica.bindings.values.map(\.leaseUntil) == [t0 + 5020])
    }
}

extension AccountingReplicaTests {
    /// egress25-admin (which runs the accounting listener) logs in with a role of `egress25_admin`: the batch's
    /// statements and the schema's statement-level triggers must be within its rights.
    @Test func theAdminRoleAppliesABatch() throws {
        let fixture = try StoreFixture(.postgresql)
        let database = fixture.database!
        let role = try database.createLoginRole(name: "tools", password: "secret-2", memberOf: ["egress25_admin"])
        let directory = TemporaryDirectory(prefix: "egress25-role")
        defer { directory.cleanup() }
        let passwordFile = directory.path + "/password"
        _ = FileManager.default.createFile(
            atPath: passwordFile, contents: Data("secret-2\n".utf8), attributes: [.posixPermissions: 0o600])
        var location = try PostgresLocation.parse(url: database.tcpURL(user: role))
        location.passwordFile = passwordFile
        let admin = try ExceptionStore(location: .postgresql(location), mode: .readWrite)
        let outcomes = try admin.applyAccounting(
            [
                AccountingTests.start("s1", "c-1", ["100.64.0.1", "2001:db8:6400:100::/56"]),
                AccountingTests.start("s2", "c-2", ["100.64.0.1"]),
                AccountingTests.interim("s2", "c-2", [], lease: 900),
                .stop(nas: "bng-1", sessionID: "s1"),
            ], actor: "radius", now: t0)
        #expect(
            outcomes == [
                .applied(started: 2, renewed: 0, ended: 0), .applied(started: 1, renewed: 0, ended: 1),
                .applied(started: 0, renewed: 1, ended: 0), .applied(started: 0, renewed: 0, ended: 1),
            ])
        #expect(try AccountingTests.holders(admin, at: t0) == ["c-2 100.64.0.1/32 bng-1/s2"])
        #expect(try admin.activeAccountingSessionCount(now: t0) == 1)
        #expect(
            try database.psql("SELECT count(*) FROM change_log").trimmingCharacters(in: .whitespacesAndNewlines) == "3")
    }
}
