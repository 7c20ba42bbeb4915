import Testing

@testable import Egress25Core

func prefix(_ text: String) -> IPPrefix {
    try! IPPrefix(parsing: text)
}

func address(_ text: String) -> IPAddress {
    try! IPAddress(parsing: text)
}

func syn(_ source: String, _ destination: String, port: UInt16 = 25, flags: TCPFlags = .syn) -> Flow {
    Flow(
        source: address(source), destination: address(destination), sourcePort: 40000, destinationPort: port,
        flags: flags)
}

@Suite struct PolicySnapshotTests {
    static let now: Int64 = 1_795_938_300  // 2026-11-29T07:45:00Z
    static let expiry: Int64 = now + 3600

    static func basePolicy(mode: PolicyMode = .enforce) -> Policy {
        Policy(
            subscriberRanges: [prefix("100.64.0.0/10"), prefix("2001:db8:1000::/36"), prefix("::ffff:192.0.2.0/120")],
            relayHosts: [
                RelayHost(prefix: prefix("198.51.100.10")),  // 0: every policed port
                RelayHost(prefix: prefix("198.51.100.0/28"), ports: [587]),  // 1: submission only
                RelayHost(prefix: prefix("2001:db8:ffff::25/128"), ports: [25]),  // 2
            ],
            ports: [25, 587],
            mode: mode,
            exceptions: [
                // 0: static, a business customer's /29, any destination.
                ExceptionRule(id: "cfg-acme", customer: "acme", sources: [prefix("100.64.5.0/29")])
            ]
        )
    }

    static let storeExceptions: [ExceptionRule] = [
        // 1: telecommuter, scoped to the employer's mail hosts, expires.
        ExceptionRule(
            id: "ex-1", customer: "bob", sources: [prefix("100.64.9.7/32")],
            destinations: .prefixes([prefix("203.0.113.0/24"), prefix("2001:db8:aaaa::/48")]),
            expiresAt: expiry, ticket: "T-1"
        ),
        // 2: expired long ago.
        ExceptionRule(
            id: "ex-2", customer: "carol", sources: [prefix("100.64.10.0/24")], expiresAt: now - 86400
        ),
        // 3: not yet valid.
        ExceptionRule(
            id: "ex-3", customer: "dave", sources: [prefix("2001:db8:1000:1::/64")], notBefore: now + 60
        ),
        // 4: a session /32 inside acme's /29, scoped, active.
        ExceptionRule(
            id: "ex-4", customer: "acme", sources: [prefix("100.64.5.3/32")],
            destinations: .prefixes([prefix("203.0.113.25/32")]), notBefore: now - 10, expiresAt: expiry
        ),
        // 5: IPv6, empty scope: nothing allowed.
        ExceptionRule(
            id: "ex-5", customer: "erin", sources: [prefix("2001:db8:1000:2::/64")], destinations: .prefixes([])
        ),
    ]

    static func snapshot(mode: PolicyMode = .enforce, bindings: [CustomerBinding] = []) throws -> PolicySnapshot {
        try PolicySnapshot(
            policy: basePolicy(mode: mode), exceptions: storeExceptions, bindings: bindings, generation: 7
        )
    }

    @Test func everyDecisionReason() throws {
        let s = try Self.snapshot()
        let now = Self.now
        #expect(s.generation == 7)
        #expect(s.exceptionCount == 6)
        #expect(
            s.decide(syn("100.64.1.1", "192.0.2.99", port: 80), now: now)
                == Decision(verdict: .accept, reason: .notPolicedPort))
        #expect(
            s.decide(syn("100.64.1.1", "192.0.2.99", flags: [.syn, .ack]), now: now)
                == Decision(verdict: .accept, reason: .notInitialSYN))
        #expect(
            s.decide(syn("100.64.1.1", "192.0.2.99", flags: .ack), now: now)
                == Decision(verdict: .accept, reason: .notInitialSYN))
        #expect(s.decide(syn("8.8.8.8", "192.0.2.99"), now: now) == Decision(verdict: .accept, reason: .notSubscriber))
        #expect(s.decide(syn("100.64.1.1", "198.51.100.10"), now: now) == Decision(verdict: .accept, reason: .relay(0)))
        #expect(
            s.decide(syn("100.64.1.1", "198.51.100.10", port: 587), now: now)
                == Decision(verdict: .accept, reason: .relay(0)))
        #expect(
            s.decide(syn("100.64.1.1", "198.51.100.11", port: 587), now: now)
                == Decision(verdict: .accept, reason: .relay(1)))
        #expect(
            s.decide(syn("100.64.1.1", "198.51.100.11"), now: now)
                == Decision(verdict: .block, reason: .blockedNoException))
        #expect(
            s.decide(syn("2001:db8:1000::5", "2001:db8:ffff::25"), now: now)
                == Decision(verdict: .accept, reason: .relay(2)))
        #expect(
            s.decide(syn("2001:db8:1000::5", "2001:db8:ffff::25", port: 587), now: now)
                == Decision(verdict: .block, reason: .blockedNoException))
        #expect(
            s.decide(syn("100.64.5.1", "192.0.2.99"), now: now) == Decision(verdict: .accept, reason: .exception(0)))
        #expect(
            s.decide(syn("100.64.9.7", "203.0.113.9"), now: now) == Decision(verdict: .accept, reason: .exception(1)))
        #expect(
            s.decide(syn("100.64.9.7", "192.0.2.99"), now: now)
                == Decision(verdict: .block, reason: .blockedOutsideScope(1)))
        #expect(
            s.decide(syn("100.64.10.200", "192.0.2.99"), now: now)
                == Decision(verdict: .block, reason: .blockedExceptionExpired(2)))
        #expect(
            s.decide(syn("2001:db8:1000:1::9", "192.0.2.99"), now: now)
                == Decision(verdict: .block, reason: .blockedExceptionExpired(3)))
        #expect(
            s.decide(syn("2001:db8:1000:2::9", "2001:db8:aaaa::1"), now: now)
                == Decision(verdict: .block, reason: .blockedOutsideScope(5)))
        #expect(
            s.decide(syn("100.64.1.1", "192.0.2.99"), now: now)
                == Decision(verdict: .block, reason: .blockedNoException))
        #expect(s.decide(.malformed(.badIHL), now: now) == Decision(verdict: .block, reason: .malformed))
        #expect(s.decide(.nonFirstFragment, now: now) == Decision(verdict: .block, reason: .malformed))
        #expect(s.decide(.notTCP(protocol: 17), now: now) == Decision(verdict: .accept, reason: .notPolicedPort))
        #expect(
            s.decide(.tcp(syn("100.64.5.1", "192.0.2.99")), now: now)
                == Decision(verdict: .accept, reason: .exception(0)))
        #expect(s.relay(at: 1).ports == [587])
        #expect(s.exception(at: 1).id == "ex-1")
        #expect(s.exception(at: 0).id == "cfg-acme")
    }

    @Test func synWithFinIsStillPoliced() throws {
        let s = try Self.snapshot()
        #expect(s.decide(syn("100.64.1.1", "192.0.2.99", flags: [.syn, .fin]), now: Self.now).verdict == .block)
        #expect(s.decide(syn("100.64.1.1", "192.0.2.99", flags: [.syn, .ece, .cwr]), now: Self.now).verdict == .block)
    }

    @Test func expiryIsExactToTheSecond() throws {
        let s = try Self.snapshot()
        let flow = syn("100.64.9.7", "203.0.113.9")
        #expect(s.decide(flow, now: Self.expiry - 1).reason == .exception(1))
        #expect(s.decide(flow, now: Self.expiry) == Decision(verdict: .block, reason: .blockedExceptionExpired(1)))
        #expect(s.decide(flow, now: Self.expiry + 1).reason == .blockedExceptionExpired(1))
        let notYet = syn("2001:db8:1000:1::9", "192.0.2.99")
        #expect(s.decide(notYet, now: Self.now + 59).reason == .blockedExceptionExpired(3))
        #expect(s.decide(notYet, now: Self.now + 60).reason == .exception(3))
    }

    @Test func timesOutsideUInt32SecondsAreClamped() throws {
        let policy = Policy(subscriberRanges: [prefix("10.0.0.0/8")], relayHosts: [])
        let rules = [
            // Valid since before 1970, until after 2106: always active.
            ExceptionRule(
                id: "wide", customer: "x", sources: [prefix("10.0.0.1")], notBefore: -1_000, expiresAt: 1 << 40),
            // Expired before 1970.
            ExceptionRule(id: "old", customer: "x", sources: [prefix("10.0.0.2")], expiresAt: -5),
            // Not valid until after 2106.
            ExceptionRule(id: "far", customer: "x", sources: [prefix("10.0.0.3")], notBefore: 1 << 40),
        ]
        let s = try PolicySnapshot(policy: policy, exceptions: rules, bindings: [], generation: 1)
        for now: Int64 in [0, Self.now, Int64(UInt32.max) - 1] {
            #expect(s.decide(syn("10.0.0.1", "1.1.1.1"), now: now).reason == .exception(0))
            #expect(s.decide(syn("10.0.0.2", "1.1.1.1"), now: now).reason == .blockedExceptionExpired(1))
            #expect(s.decide(syn("10.0.0.3", "1.1.1.1"), now: now).reason == .blockedExceptionExpired(2))
        }
    }

    @Test func mostSpecificExceptionFirst() throws {
        let s = try Self.snapshot()
        let now = Self.now
        // 100.64.5.3 is covered by acme's static /29 (any destination) and the scoped session /32.
        #expect(s.decide(syn("100.64.5.3", "203.0.113.25"), now: now).reason == .exception(4))
        #expect(s.decide(syn("100.64.5.3", "192.0.2.99"), now: now).reason == .exception(0))
        #expect(s.exceptionIndices(coveringSource: address("100.64.5.3")) == [4, 0])
        #expect(s.exceptionIndices(coveringSource: address("100.64.5.4")) == [0])
        #expect(s.exceptionIndices(coveringSource: address("100.64.1.1")) == [])
        // When the /32 has expired, the /29 still applies.
        #expect(s.decide(syn("100.64.5.3", "203.0.113.25"), now: Self.expiry).reason == .exception(0))
    }

    @Test func activeOutOfScopeBeatsExpired() throws {
        let policy = Policy(subscriberRanges: [prefix("10.0.0.0/8")], relayHosts: [])
        let rules = [
            ExceptionRule(id: "a", customer: "x", sources: [prefix("10.1.0.0/16")], expiresAt: 100),
            ExceptionRule(
                id: "b", customer: "x", sources: [prefix("10.0.0.0/8")], destinations: .prefixes([prefix("1.1.1.1")])),
        ]
        let s = try PolicySnapshot(policy: policy, exceptions: rules, bindings: [], generation: 1)
        #expect(s.decide(syn("10.1.2.3", "9.9.9.9"), now: 200).reason == .blockedOutsideScope(1))
        #expect(s.decide(syn("10.1.2.3", "1.1.1.1"), now: 200).reason == .exception(1))
        #expect(s.decide(syn("10.1.2.3", "9.9.9.9"), now: 50).reason == .exception(0))
    }

    @Test func scopeMatching() throws {
        let policy = Policy(subscriberRanges: [prefix("10.0.0.0/8"), prefix("2001:db8::/32")], relayHosts: [])
        let scoped = ExceptionRule(
            id: "s", customer: "x", sources: [prefix("10.0.0.1"), prefix("2001:db8::1")],
            destinations: .prefixes([
                prefix("203.0.113.0/25"), prefix("203.0.113.128/25"), prefix("198.51.100.7"),
                prefix("2001:db8:aaaa::/48"), prefix("::ffff:192.0.2.0/120"), prefix("203.0.113.64/26"),
            ])
        )
        let s = try PolicySnapshot(policy: policy, exceptions: [scoped], bindings: [], generation: 1)
        let inScope = [
            "203.0.113.0", "203.0.113.255", "198.51.100.7", "2001:db8:aaaa:ffff::1", "192.0.2.77", "::ffff:203.0.113.1",
        ]
        let outOfScope = [
            "203.0.112.255", "203.0.114.0", "198.51.100.6", "198.51.100.8", "2001:db8:aaab::", "192.0.3.0", "::",
        ]
        for source in ["10.0.0.1", "2001:db8::1", "::ffff:10.0.0.1"] {
            for destination in inScope {
                #expect(
                    s.decide(syn(source, destination), now: 0).reason == .exception(0), "\(source) -> \(destination)")
            }
            for destination in outOfScope {
                #expect(
                    s.decide(syn(source, destination), now: 0).reason == .blockedOutsideScope(0),
                    "\(source) -> \(destination)")
            }
        }
    }

    @Test func ipv4OnlyScopesAreStoredInline() throws {
        // Up to 15 IPv4 ranges and no IPv6 prefix: the scope lives in the exception record itself.
        let policy = Policy(subscriberRanges: [prefix("10.0.0.0/8"), prefix("2001:db8::/32")], relayHosts: [])
        let small = ExceptionRule(
            id: "small", customer: "x", sources: [prefix("10.0.0.2"), prefix("2001:db8::2")],
            destinations: .prefixes((0..<15).map { prefix("198.51.100.\($0 * 16)/29") }))
        let large = ExceptionRule(
            id: "large", customer: "x", sources: [prefix("10.0.0.3")],
            destinations: .prefixes((0..<16).map { prefix("198.51.100.\($0 * 16)/29") }))
        let s = try PolicySnapshot(policy: policy, exceptions: [small, large], bindings: [], generation: 1)
        #expect(s.tables.exceptions.allPayloads(address("10.0.0.2")).first?.payload.scope ?? 0 < -1)
        #expect(s.tables.exceptions.allPayloads(address("10.0.0.3")).first?.payload.scope ?? -1 >= 0)
        for (source, index) in [("10.0.0.2", Int32(0)), ("2001:db8::2", 0), ("10.0.0.3", 1)] {
            #expect(s.decide(syn(source, "198.51.100.0"), now: 0).reason == .exception(index))
            #expect(s.decide(syn(source, "198.51.100.231"), now: 0).reason == .exception(index))
            #expect(s.decide(syn(source, "198.51.100.8"), now: 0).reason == .blockedOutsideScope(index))
            #expect(s.decide(syn(source, "198.51.100.255"), now: 0).reason == .blockedOutsideScope(index))
            #expect(s.decide(syn(source, "2001:db8::25"), now: 0).reason == .blockedOutsideScope(index))
            #expect(s.decide(syn(source, "::ffff:198.51.100.17"), now: 0).reason == .exception(index))
        }
    }

    @Test func shadowModeAcceptsWouldBeBlocks() throws {
        let enforce = try Self.snapshot(mode: .enforce)
        let shadow = try Self.snapshot(mode: .shadow)
        let flows = [
            syn("100.64.1.1", "192.0.2.99"), syn("100.64.9.7", "192.0.2.99"), syn("100.64.10.200", "192.0.2.99"),
            syn("100.64.9.7", "203.0.113.9"), syn("100.64.1.1", "198.51.100.10"), syn("8.8.8.8", "1.1.1.1"),
            syn("100.64.1.1", "192.0.2.99", port: 443), syn("100.64.1.1", "192.0.2.99", flags: [.syn, .ack]),
        ]
        for flow in flows {
            let enforced = enforce.decide(flow, now: Self.now)
            let shadowed = shadow.decide(flow, now: Self.now)
            #expect(shadowed.reason == enforced.reason)
            #expect(shadowed.verdict == .accept)
            #expect(shadowed.shadow == (enforced.verdict == .block))
            #expect(shadowed.isBlockedAttempt == enforced.isBlockedAttempt)
            #expect(!enforced.shadow)
        }
        #expect(
            shadow.decide(.malformed(.empty), now: 0) == Decision(verdict: .accept, reason: .malformed, shadow: true))
    }

    @Test func ipv4MappedAddressesUseIPv4Tables() throws {
        let s = try Self.snapshot()
        let now = Self.now
        // A mapped source inside an IPv4 subscriber range and exception.
        #expect(s.decide(syn("::ffff:100.64.5.1", "192.0.2.99"), now: now).reason == .exception(0))
        #expect(s.decide(syn("::ffff:100.64.1.1", "::ffff:198.51.100.10"), now: now).reason == .relay(0))
        // The subscriber range given as ::ffff:192.0.2.0/120 is stored as 192.0.2.0/24.
        #expect(s.decide(syn("192.0.2.5", "203.0.113.1"), now: now).reason == .blockedNoException)
        #expect(s.decide(syn("::ffff:8.8.8.8", "203.0.113.1"), now: now).reason == .notSubscriber)
    }

    @Test func duplicateExceptionIDsAreRejected() {
        var rules = Self.storeExceptions
        rules.append(ExceptionRule(id: "ex-2", customer: "zed", sources: [prefix("100.64.11.0/24")]))
        #expect(
            throws: PolicyBuildError(
                message: "duplicate exception id \"ex-2\": exception store entry #2 and exception store entry #6"
            )
        ) {
            try PolicySnapshot(policy: Self.basePolicy(), exceptions: rules, bindings: [], generation: 1)
        }
        let clash = [ExceptionRule(id: "cfg-acme", customer: "acme", sources: [])]
        #expect(
            throws: PolicyBuildError(
                message:
                    "duplicate exception id \"cfg-acme\": configuration policy exception #1 "
                    + "and exception store entry #1"
            )
        ) {
            try PolicySnapshot(policy: Self.basePolicy(), exceptions: clash, bindings: [], generation: 1)
        }
    }

    @Test func customerIndexUsesBindingsThenExceptions() throws {
        let bindings = [
            CustomerBinding(customer: "isp-pool", prefix: prefix("100.64.0.0/10")),
            CustomerBinding(customer: "frank", prefix: prefix("100.64.20.17")),
            CustomerBinding(customer: "grace", prefix: prefix("2001:db8:1000:3::/64")),
        ]
        let s = try Self.snapshot(bindings: bindings)
        func name(_ text: String) -> String? {
            let index = s.customerIndex(for: address(text))
            return index < 0 ? nil : s.customer(at: index)
        }
        #expect(name("100.64.20.17") == "frank")
        #expect(name("::ffff:100.64.20.17") == "frank")
        #expect(name("100.64.20.18") == "isp-pool")
        #expect(name("2001:db8:1000:3::1") == "grace")
        #expect(name("2001:db8:1000:1::1") == "dave")  // from exception ex-3
        #expect(name("2001:db8:1000:4::1") == nil)
        #expect(name("8.8.8.8") == nil)
        #expect(s.customerCount == 8)  // isp-pool, frank, grace, acme, bob, carol, dave, erin

        let noBindings = try Self.snapshot()
        #expect(noBindings.customer(at: noBindings.customerIndex(for: address("100.64.5.3"))) == "acme")
        #expect(noBindings.customer(at: noBindings.customerIndex(for: address("100.64.9.7"))) == "bob")
    }

    @Test func manyCustomersAndIDs() throws {
        // Enough distinct ids and customers to make the build's string tables grow and collide.
        let rules = (0..<20_000).map { i in
            ExceptionRule(
                id: "exception-\(i)", customer: "customer number \(i % 7_001)",
                sources: [IPPrefix(host: .v4(IPv4Address(0x0A00_0000 | UInt32(i))))]
            )
        }
        let policy = Policy(subscriberRanges: [prefix("10.0.0.0/8")], relayHosts: [])
        let s = try PolicySnapshot(policy: policy, exceptions: rules, bindings: [], generation: 1)
        #expect(s.customerCount == 7_001)
        for i in stride(from: 0, to: 20_000, by: 37) {
            let source = IPAddress.v4(IPv4Address(0x0A00_0000 | UInt32(i)))
            #expect(s.customer(at: s.customerIndex(for: source)) == "customer number \(i % 7_001)")
            #expect(
                s.decide(
                    Flow(
                        source: source, destination: address("1.1.1.1"), sourcePort: 1, destinationPort: 25, flags: .syn
                    ), now: 0
                ).reason == .exception(Int32(i)))
        }
        var duplicated = rules
        duplicated.append(ExceptionRule(id: "exception-12345", customer: "x", sources: []))
        #expect(
            throws: PolicyBuildError(
                message:
                    "duplicate exception id \"exception-12345\": exception store entry #12346 "
                    + "and exception store entry #20001"
            )
        ) {
            try PolicySnapshot(policy: policy, exceptions: duplicated, bindings: [], generation: 1)
        }
    }

    @Test func emptyPolicy() throws {
        let s = try PolicySnapshot(
            policy: Policy(subscriberRanges: [], relayHosts: [], ports: []), exceptions: [], bindings: [], generation: 0
        )
        #expect(s.decide(syn("100.64.1.1", "192.0.2.99"), now: 0).reason == .notPolicedPort)
        #expect(s.customerIndex(for: address("::1")) == -1)
        let everyone = try PolicySnapshot(
            policy: Policy(subscriberRanges: [prefix("0.0.0.0/0"), prefix("::/0")], relayHosts: []),
            exceptions: [], bindings: [], generation: 0
        )
        #expect(everyone.decide(syn("1.2.3.4", "5.6.7.8"), now: 0).reason == .blockedNoException)
        #expect(everyone.decide(syn("::1", "::2"), now: 0).reason == .blockedNoException)
        #expect(everyone.decide(syn("1.2.3.4", "5.6.7.8", port: 24), now: 0).reason == .notPolicedPort)
    }
}

/// Session leases: a leased source ends at min(expiresAt, lease end), judged by the clock like expiresAt.
@Suite struct PolicySnapshotLeaseTests {
    @Test func aLeasedSourceEndsAtItsLeaseEnd() throws {
        let policy = Policy(subscriberRanges: [prefix("10.0.0.0/8"), prefix("2001:db8::/32")], relayHosts: [])
        let rules = [
            ExceptionRule(
                id: "e", customer: "x", sources: [prefix("10.0.0.1"), prefix("10.0.0.2"), prefix("2001:db8::/56")],
                expiresAt: 1000, sourceLeaseEnds: [prefix("10.0.0.1"): 500, prefix("2001:db8::/56"): 2000])
        ]
        let s = try PolicySnapshot(policy: policy, exceptions: rules, bindings: [], generation: 1)
        #expect(s.decide(syn("10.0.0.1", "1.1.1.1"), now: 499).reason == .exception(0))
        #expect(s.decide(syn("10.0.0.1", "1.1.1.1"), now: 500).reason == .blockedExceptionExpired(0))
        // Not leased: the exception's own expiry.
        #expect(s.decide(syn("10.0.0.2", "1.1.1.1"), now: 999).reason == .exception(0))
        // A lease longer than the expiry does not extend it.
        #expect(s.decide(syn("2001:db8::5", "2001:db8:ff::1"), now: 999).reason == .exception(0))
        #expect(s.decide(syn("2001:db8::5", "2001:db8:ff::1"), now: 1000).reason == .blockedExceptionExpired(0))
        #expect(s.exceptionIndices(coveringSource: address("10.0.0.1")) == [0])
    }
}
