import Testing

@testable import Egress25Core

/// The one per-packet judge: verdicts, marks, counter slots and blocked attempts, from packet bytes.
@Suite struct PacketJudgeTests {
    /// Judging time: 2026-11-15T00:00:00Z, in ms.
    static let nowMilliseconds: Int64 = 1_795_132_800_000
    static let now = nowMilliseconds / 1000

    /// Subscribers 100.64.0.0/10 and 2001:db8:10::/48; relay 192.0.2.25; exceptions: #0 `host` 100.64.7.7/32 to
    /// anywhere, #1 `scoped` 100.64.8.0/24 to 203.0.113.0/24 only, #2 `expired` 100.64.9.0/24 (expired a second
    /// ago); customer binding `alice` on 100.64.1.0/24.
    static func snapshot(mode: PolicyMode = .enforce) throws -> PolicySnapshot {
        let policy = Policy(
            subscriberRanges: [try IPPrefix(parsing: "100.64.0.0/10"), try IPPrefix(parsing: "2001:db8:10::/48")],
            relayHosts: [RelayHost(prefix: try IPPrefix(parsing: "192.0.2.25"))],
            mode: mode,
            exceptions: [
                ExceptionRule(id: "host", customer: "bob", sources: [try IPPrefix(parsing: "100.64.7.7/32")]),
                ExceptionRule(
                    id: "scoped", customer: "carol", sources: [try IPPrefix(parsing: "100.64.8.0/24")],
                    destinations: .prefixes([try IPPrefix(parsing: "203.0.113.0/24")])),
                ExceptionRule(
                    id: "expired", customer: "dave", sources: [try IPPrefix(parsing: "100.64.9.0/24")],
                    expiresAt: now - 1),
            ])
        return try PolicySnapshot(
            policy: policy, exceptions: [],
            bindings: [CustomerBinding(customer: "alice", prefix: try IPPrefix(parsing: "100.64.1.0/24"))],
            generation: 7)
    }

    /// An IPv4 TCP segment from `source` to `destination`.
    static func ipv4(_ source: [UInt8], _ destination: [UInt8], port: UInt16 = 25, flags: UInt8 = 0x02) -> [UInt8] {
        PacketBytes.ipv4(
            source: source, destination: destination,
            payload: PacketBytes.tcp(sourcePort: 40000, destinationPort: port, flags: flags))
    }

    static let reject = BlockVerdictPolicy(action: .reject, rejectMark: 0x4000_0000, rejectMask: 0xC000_0000)

    static func judge(
        _ bytes: [UInt8], mark: UInt32 = 0, ipv6: Bool = false, snapshot: PolicySnapshot,
        blockVerdict: BlockVerdictPolicy = reject, logsAttempts: Bool = true
    ) -> Judgement {
        bytes.withUnsafeBytes {
            PacketJudge.judge(
                payload: $0, mark: mark, hardwareProtocol: ipv6 ? 0x86DD : 0x0800, snapshot: snapshot,
                blockVerdict: blockVerdict, nowMilliseconds: nowMilliseconds, logsAttempts: logsAttempts)
        }
    }

    static func slot(_ reason: DecisionReason, ipv6: Bool = false) -> Int {
        ReasonCounter.index(reason: reason, ipv6: ipv6)
    }

    @Test("a SYN to a relay is accepted with the accept mark under the mask, foreign bits kept, nothing logged")
    func relay() throws {
        let judgement = Self.judge(
            Self.ipv4([100, 64, 1, 2], [192, 0, 2, 25]), mark: 0x0000_0123, snapshot: try Self.snapshot())
        #expect(judgement.verdict == .accept(mark: 0x8000_0123))
        #expect(judgement.decision == Decision(verdict: .accept, reason: .relay(0)))
        #expect(judgement.reasonSlot == Self.slot(.relay(0)))
        #expect(judgement.blockedAttempt == nil)
    }

    @Test("a SYN covered by an active exception in scope is accepted with the accept mark")
    func exception() throws {
        let snapshot = try Self.snapshot()
        let host = Self.judge(Self.ipv4([100, 64, 7, 7], [198, 51, 100, 7]), mark: 0x4000_0000, snapshot: snapshot)
        // The owned bits are overwritten: a stale reject mark does not survive an accept.
        #expect(host.verdict == .accept(mark: 0x8000_0000))
        #expect(host.decision.reason == .exception(0))
        #expect(host.reasonSlot == Self.slot(.exception(0)))
        #expect(host.blockedAttempt == nil)
        let scoped = Self.judge(Self.ipv4([100, 64, 8, 1], [203, 0, 113, 9]), snapshot: snapshot)
        #expect(scoped.decision.reason == .exception(1))
        #expect(scoped.verdict == .accept(mark: 0x8000_0000))
    }

    @Test("a blocked SYN gets the reject mark under the mask and a blocked attempt with reason, indices and time")
    func blocked() throws {
        let snapshot = try Self.snapshot()
        let judgement = Self.judge(
            Self.ipv4([100, 64, 1, 2], [198, 51, 100, 7]), mark: 0x8000_0123, snapshot: snapshot)
        #expect(judgement.verdict == .accept(mark: 0x4000_0123))
        #expect(judgement.decision == Decision(verdict: .block, reason: .blockedNoException))
        #expect(judgement.reasonSlot == Self.slot(.blockedNoException))
        #expect(
            judgement.blockedAttempt
                == BlockedAttempt(
                    timeMilliseconds: Self.nowMilliseconds, source: .v4(IPv4Address(100, 64, 1, 2)),
                    destination: .v4(IPv4Address(198, 51, 100, 7)), sourcePort: 40000, destinationPort: 25,
                    reason: .noException, exceptionIndex: -1, customerIndex: 0, policyGeneration: 7))
        #expect(snapshot.customer(at: 0) == "alice")

        let outside = Self.judge(Self.ipv4([100, 64, 8, 1], [198, 51, 100, 7]), snapshot: snapshot)
        #expect(outside.decision.reason == .blockedOutsideScope(1))
        #expect(outside.reasonSlot == Self.slot(.blockedOutsideScope(0)))
        #expect(outside.blockedAttempt?.reason == .outsideScope)
        #expect(outside.blockedAttempt?.exceptionIndex == 1)
        #expect(outside.blockedAttempt.map { snapshot.customer(at: $0.customerIndex) } == "carol")

        let expired = Self.judge(Self.ipv4([100, 64, 9, 1], [198, 51, 100, 7]), snapshot: snapshot)
        #expect(expired.decision.reason == .blockedExceptionExpired(2))
        #expect(expired.reasonSlot == Self.slot(.blockedExceptionExpired(0)))
        #expect(expired.blockedAttempt?.reason == .exceptionExpired)
        #expect(expired.blockedAttempt?.exceptionIndex == 2)
        #expect(expired.verdict == .accept(mark: 0x4000_0000))
    }

    @Test("an IPv6 SYN is counted in the IPv6 slot of its reason; the family comes from the hardware protocol")
    func ipv6Slot() throws {
        let snapshot = try Self.snapshot()
        let packet = PacketBytes.ipv6(nextHeader: 6, payload: PacketBytes.tcp())
        let judgement = Self.judge(packet, ipv6: true, snapshot: snapshot)
        #expect(judgement.decision.reason == .blockedNoException)
        #expect(judgement.reasonSlot == Self.slot(.blockedNoException, ipv6: true))
        #expect(judgement.blockedAttempt?.source == .v6(IPv6Address(high: 0x2001_0db8_0010_0000, low: 0x42)))
        // A truncated message carries no hardware protocol (0): counted as IPv4.
        #expect(Self.judge([], ipv6: false, snapshot: snapshot).reasonSlot == Self.slot(.malformed))
    }

    @Test("malformed headers are dropped whatever the block action, counted as malformed, never logged")
    func malformed() throws {
        let snapshot = try Self.snapshot()
        let truncated = Array(Self.ipv4([100, 64, 1, 2], [198, 51, 100, 7]).prefix(30))
        for blockVerdict in [
            Self.reject, BlockVerdictPolicy(action: .reject, rejectMark: 0x25, repeatInJudgeChain: true),
            BlockVerdictPolicy(action: .drop, rejectMark: 0x25),
        ] {
            for bytes in [truncated, [], [0x45], [0x70, 0, 0, 0]] {
                let judgement = Self.judge(bytes, mark: 0x123, snapshot: snapshot, blockVerdict: blockVerdict)
                #expect(judgement.verdict == .drop, "\(bytes.count) bytes")
                #expect(judgement.decision == Decision(verdict: .block, reason: .malformed))
                #expect(judgement.reasonSlot == Self.slot(.malformed))
                #expect(judgement.blockedAttempt == nil)
            }
        }
    }

    @Test("a non-first fragment (no TCP header) is dropped as malformed")
    func nonFirstFragment() throws {
        let snapshot = try Self.snapshot()
        let v4 = PacketBytes.ipv4(fragmentField: 185, payload: [1, 2, 3, 4, 5, 6, 7, 8])
        let v6 = PacketBytes.ipv6(
            nextHeader: 44,
            payload: PacketBytes.fragment(next: 6, offset: 3, more: false) + [UInt8](repeating: 0, count: 8))
        for (bytes, ipv6) in [(v4, false), (v6, true)] {
            let judgement = Self.judge(bytes, ipv6: ipv6, snapshot: snapshot)
            #expect(judgement.verdict == .drop)
            #expect(judgement.decision.reason == .malformed)
            #expect(judgement.reasonSlot == Self.slot(.malformed, ipv6: ipv6))
            #expect(judgement.blockedAttempt == nil)
        }
    }

    @Test("shadow mode accepts what it would block, with the accept mark, and still logs the attempt")
    func shadowMode() throws {
        let snapshot = try Self.snapshot(mode: .shadow)
        let judgement = Self.judge(
            Self.ipv4([100, 64, 1, 2], [198, 51, 100, 7]), mark: 0x4000_0000, snapshot: snapshot)
        #expect(judgement.verdict == .accept(mark: 0x8000_0000))
        #expect(judgement.decision == Decision(verdict: .accept, reason: .blockedNoException, shadow: true))
        #expect(judgement.reasonSlot == Self.slot(.blockedNoException))
        #expect(judgement.blockedAttempt?.reason == .noException)
        // A malformed packet is accepted in shadow mode too (as before), but not logged.
        let malformed = Self.judge([0x45], snapshot: snapshot)
        #expect(malformed.verdict == .accept(mark: 0x8000_0000))
        #expect(malformed.decision == Decision(verdict: .accept, reason: .malformed, shadow: true))
        #expect(malformed.blockedAttempt == nil)
    }

    @Test("block_action drop drops a blocked SYN, leaves the mark alone, and still logs it")
    func dropAction() throws {
        let judgement = Self.judge(
            Self.ipv4([100, 64, 1, 2], [198, 51, 100, 7]), mark: 0x123, snapshot: try Self.snapshot(),
            blockVerdict: BlockVerdictPolicy(action: .drop, rejectMark: 0x25))
        #expect(judgement.verdict == .drop)
        #expect(judgement.blockedAttempt?.reason == .noException)
        // An accepted SYN still gets the accept mark under drop.
        let relay = Self.judge(
            Self.ipv4([100, 64, 1, 2], [192, 0, 2, 25]), mark: 0x100, snapshot: try Self.snapshot(),
            blockVerdict: BlockVerdictPolicy(action: .drop, rejectMark: 0x25))
        #expect(relay.verdict == .accept(mark: 0x120))
    }

    @Test("with nftables rules a blocked SYN is NF_REPEAT with the reject mark under the mask")
    func repeatInJudgeChain() throws {
        let blockVerdict = BlockVerdictPolicy(
            action: .reject, rejectMark: 0x4000_0000, rejectMask: 0xC000_0000, repeatInJudgeChain: true)
        let snapshot = try Self.snapshot()
        let blocked = Self.judge(
            Self.ipv4([100, 64, 1, 2], [198, 51, 100, 7]), mark: 0x8000_0005, snapshot: snapshot,
            blockVerdict: blockVerdict)
        #expect(blocked.verdict == .repeat(mark: 0x4000_0005))
        // Accepts are never repeated.
        let relay = Self.judge(
            Self.ipv4([100, 64, 1, 2], [192, 0, 2, 25]), snapshot: snapshot, blockVerdict: blockVerdict)
        #expect(relay.verdict == .accept(mark: 0x8000_0000))
    }

    @Test("not policed, not an initial SYN, not a subscriber: accepted with the accept mark")
    func notPoliced() throws {
        let snapshot = try Self.snapshot()
        let cases: [([UInt8], DecisionReason)] = [
            (Self.ipv4([100, 64, 1, 2], [198, 51, 100, 7], port: 80), .notPolicedPort),
            (Self.ipv4([100, 64, 1, 2], [198, 51, 100, 7], flags: 0x12), .notInitialSYN),
            (Self.ipv4([192, 0, 2, 1], [198, 51, 100, 7]), .notSubscriber),
            (PacketBytes.ipv4(protocol: 17, payload: [0, 53, 0, 53, 0, 8, 0, 0]), .notPolicedPort),
        ]
        for (bytes, reason) in cases {
            let judgement = Self.judge(bytes, snapshot: snapshot)
            #expect(judgement.verdict == .accept(mark: 0x8000_0000), "\(reason)")
            #expect(judgement.decision.reason == reason)
            #expect(judgement.reasonSlot == Self.slot(reason))
            #expect(judgement.blockedAttempt == nil)
        }
    }

    @Test("without a block log the attempt is not built; the verdict is the same")
    func withoutBlockLog() throws {
        let bytes = Self.ipv4([100, 64, 1, 2], [198, 51, 100, 7])
        let snapshot = try Self.snapshot()
        let logged = Self.judge(bytes, snapshot: snapshot)
        let unlogged = Self.judge(bytes, snapshot: snapshot, logsAttempts: false)
        #expect(unlogged.blockedAttempt == nil)
        #expect(unlogged.verdict == logged.verdict && unlogged.decision == logged.decision)
        #expect(unlogged.reasonSlot == logged.reasonSlot)
    }
}

@Suite struct ReasonCounterTests {
    /// Every slot's label is the core's label for the reason `index(reason:ipv6:)` maps to it.
    @Test func slotsAndLabelsAgree() {
        for (position, reason) in ReasonCounter.reasons.enumerated() {
            #expect(ReasonCounter.index(reason: reason, ipv6: false) == position * 2)
            #expect(ReasonCounter.index(reason: reason, ipv6: true) == position * 2 + 1)
            #expect(ReasonCounter.labels[position] == "\(reason.label)")
        }
        #expect(ReasonCounter.slots == 18)
    }
}
