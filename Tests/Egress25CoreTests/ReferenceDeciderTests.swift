import Egress25TestSupport
import Testing

@testable import Egress25Core

/// A naive linear-scan decider written straight from the rules, to check `PolicySnapshot.decide` against.
struct ReferenceDecider {
    var policy: Policy
    var exceptions: [ExceptionRule]

    init(policy: Policy, storeExceptions: [ExceptionRule]) {
        self.policy = policy
        self.exceptions = policy.exceptions + storeExceptions
    }

    func blocked(_ reason: DecisionReason) -> Decision {
        policy.mode == .shadow
            ? Decision(verdict: .accept, reason: reason, shadow: true) : Decision(verdict: .block, reason: reason)
    }

    func decide(_ flow: Flow, now: Int64) -> Decision {
        guard policy.ports.contains(flow.destinationPort) else {
            return Decision(verdict: .accept, reason: .notPolicedPort)
        }
        guard flow.flags.contains(.syn) && !flow.flags.contains(.ack) else {
            return Decision(verdict: .accept, reason: .notInitialSYN)
        }
        let source = flow.source.unmapped
        let destination = flow.destination.unmapped
        guard policy.subscriberRanges.contains(where: { $0.unmapped.contains(source) }) else {
            return Decision(verdict: .accept, reason: .notSubscriber)
        }
        var bestRelay: (length: Int, index: Int)? = nil
        for (index, relay) in policy.relayHosts.enumerated() {
            let prefix = relay.prefix.unmapped
            guard prefix.contains(destination), relay.ports?.contains(flow.destinationPort) ?? true else { continue }
            if bestRelay == nil || Int(prefix.length) > bestRelay!.length {
                bestRelay = (Int(prefix.length), index)
            }
        }
        if let bestRelay { return Decision(verdict: .accept, reason: .relay(Int32(bestRelay.index))) }

        // Covering exceptions ordered by longest matching source prefix, then index.
        var covering: [(length: Int, index: Int)] = []
        for (index, rule) in exceptions.enumerated() {
            let lengths = rule.sources.map(\.unmapped).filter { $0.contains(source) }.map { Int($0.length) }
            if let longest = lengths.max() { covering.append((longest, index)) }
        }
        covering.sort { $0.length != $1.length ? $0.length > $1.length : $0.index < $1.index }
        func inScope(_ rule: ExceptionRule) -> Bool {
            switch rule.destinations {
            case .any: return true
            case .prefixes(let prefixes): return prefixes.contains { $0.unmapped.contains(destination) }
            }
        }
        if let hit = covering.first(where: { exceptions[$0.index].isActive(at: now) && inScope(exceptions[$0.index]) })
        {
            return Decision(verdict: .accept, reason: .exception(Int32(hit.index)))
        }
        if let hit = covering.first(where: { exceptions[$0.index].isActive(at: now) }) {
            return blocked(.blockedOutsideScope(Int32(hit.index)))
        }
        if let hit = covering.first {
            return blocked(.blockedExceptionExpired(Int32(hit.index)))
        }
        return blocked(.blockedNoException)
    }
}

@Suite struct ReferenceDeciderTests {
    static func randomPolicy(seed: UInt64) -> (Policy, [ExceptionRule]) {
        var g = SplitMix64(seed: seed)
        func prefixes(_ count: ClosedRange<Int>) -> [IPPrefix] {
            (0..<Int.random(in: count, using: &g)).map { _ in
                let p = Clustered.prefix(g.next())
                // Sometimes give IPv4 prefixes in their IPv4-mapped IPv6 form.
                if case .v4(let v4) = p.address, g.next() % 5 == 0 {
                    return IPPrefix(truncating: .v6(IPv6Address(mapping: v4)), length: p.length + 96)
                }
                return p
            }
        }
        let relays = (0..<Int.random(in: 0...12, using: &g)).map { _ in
            RelayHost(
                prefix: prefixes(1...1)[0], ports: g.next() % 3 == 0 ? [25] : g.next() % 2 == 0 ? [587, 2525] : nil)
        }
        func rules(_ count: Int, _ tag: String) -> [ExceptionRule] {
            (0..<count).map { i in
                let base: Int64 = 1000
                let notBefore: Int64? = g.next() % 3 == 0 ? base + Int64(g.next() % 20) - 10 : nil
                let expiresAt: Int64? = g.next() % 2 == 0 ? base + Int64(g.next() % 20) - 10 : nil
                return ExceptionRule(
                    id: "\(tag)-\(i)", customer: "c\(g.next() % 10)", sources: prefixes(0...3),
                    destinations: g.next() % 2 == 0 ? .any : .prefixes(prefixes(0...4)),
                    notBefore: notBefore, expiresAt: expiresAt
                )
            }
        }
        let policy = Policy(
            subscriberRanges: prefixes(1...8) + [Clustered.prefix(g.next() & ~0x7C)],  // often short prefixes
            relayHosts: relays,
            ports: [25, 587],
            mode: g.next() % 4 == 0 ? .shadow : .enforce,
            exceptions: rules(Int(g.next() % 5), "cfg")
        )
        return (policy, rules(Int(g.next() % 60), "store"))
    }

    @Test(arguments: 0..<40)
    func matchesReferenceOnRandomFlows(seed: Int) throws {
        let (policy, storeExceptions) = Self.randomPolicy(seed: UInt64(seed) &* 0x1234_5678_9ABC)
        // Odd seeds force the prefix tables' direct index and the source tries on (seeds 4k+1 with the deepest
        // tries), even seeds off.
        let snapshot = try PolicySnapshot(
            policy: policy, exceptions: storeExceptions, bindings: [], generation: 1,
            indexThreshold: seed % 2 == 1 ? 0 : .max, maxBucket: seed % 4 == 1 ? 1 : PolicySnapshot.sourceTrieBucket
        )
        let reference = ReferenceDecider(policy: policy, storeExceptions: storeExceptions)
        var g = SplitMix64(seed: UInt64(seed) &+ 99)
        // Probe addresses: random, plus every prefix boundary in the policy.
        var pool: [IPAddress] = []
        for p in policy.subscriberRanges + policy.relayHosts.map(\.prefix) + reference.exceptions.flatMap(\.sources) {
            pool.append(p.address)
            pool.append(p.lastAddress)
        }
        for rule in reference.exceptions {
            if case .prefixes(let scope) = rule.destinations {
                for p in scope { pool.append(p.lastAddress) }
            }
        }
        func pick() -> IPAddress {
            if !pool.isEmpty && g.next() % 2 == 0 { return pool[Int(g.next() % UInt64(pool.count))] }
            return Clustered.address(g.next())
        }
        var disagreements = 0
        var reasons = Set<String>()
        for _ in 0..<2500 {
            let flags: TCPFlags = [.syn, .syn, .syn, [.syn, .ack], .ack, [.syn, .fin]][Int(g.next() % 6)]
            let port: UInt16 = [25, 25, 25, 587, 80][Int(g.next() % 5)]
            let flow = Flow(source: pick(), destination: pick(), sourcePort: 1234, destinationPort: port, flags: flags)
            let now = Int64(990 + g.next() % 20)
            let expected = reference.decide(flow, now: now)
            let actual = snapshot.decide(flow, now: now)
            reasons.insert("\(actual.reason.label)")
            if actual != expected {
                disagreements += 1
                if disagreements <= 5 {
                    Issue.record("\(flow) at \(now): snapshot \(actual), reference \(expected)")
                }
            }
        }
        #expect(disagreements == 0)
        #expect(reasons.count >= 3, "the random data should exercise several reasons: \(reasons)")
    }
}
