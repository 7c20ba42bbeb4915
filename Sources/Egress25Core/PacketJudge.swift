/// The per-packet decision of egress25d, in one pure function: the queue workers, the benchmarks and the unit tests
/// all call ``judge(payload:mark:hardwareProtocol:snapshot:blockVerdict:nowMilliseconds:logsAttempts:)``.
///
/// Parse the IP and TCP headers (``PacketParser``), decide under the policy snapshot
/// (`PolicySnapshot.decide(_:now:)`), turn the decision into a verdict (``BlockVerdictPolicy``), pick the counter
/// slot (``ReasonCounter``) and, for a blocked (or shadow-blocked) TCP SYN, build the ``BlockedAttempt``.
/// No allocation, no lock, no I/O; inlinable, so a caller's loop compiles it in place.
public enum PacketJudge {
    /// The EtherType of IPv6 (`ETH_P_IPV6`, include/uapi/linux/if_ether.h), as NFQUEUE reports it in
    /// `NFQA_PACKET_HDR.hw_protocol`; every other value counts as IPv4.
    @inlinable
    public static var etherTypeIPv6: UInt16 { 0x86DD }

    /// Judges one queued packet.
    ///
    /// - malformed headers or a non-first fragment: `.drop` (`NF_DROP`) whatever the block action, never logged;
    /// - accepted (relay, exception, not policed, not a SYN, not a subscriber, or shadow mode): `.accept` with
    ///   `blockVerdict.acceptMark` under `blockVerdict.rejectMask`, the other mark bits kept;
    /// - blocked: `blockVerdict.rejectMark` under the mask by `.accept` (or `.repeat` when
    ///   `blockVerdict.repeatInJudgeChain`), or `.drop` for the action `drop`.
    ///
    /// - Parameters:
    ///   - payload: the packet from its IP header on (`NFQA_PAYLOAD`), possibly cut short by the copy range;
    ///     empty for a message the kernel truncated.
    ///   - mark: the packet's mark when it was queued (`NFQA_MARK`, 0 if none).
    ///   - hardwareProtocol: `NFQA_PACKET_HDR.hw_protocol`, host order (0x0800 IPv4, 0x86DD IPv6; 0 when
    ///     unknown); chooses the counter slot's family only.
    ///   - snapshot: the policy in force.
    ///   - blockVerdict: the block action, the marks and the verdict style.
    ///   - nowMilliseconds: Unix time in ms, UTC: exceptions are checked at `nowMilliseconds / 1000` s, and it is
    ///     the blocked attempt's time.
    ///   - logsAttempts: `false` when no block log takes the attempts: ``Judgement/blockedAttempt`` stays nil and
    ///     the customer lookup is skipped.
    @inlinable
    public static func judge(
        payload: UnsafeRawBufferPointer,
        mark: UInt32,
        hardwareProtocol: UInt16,
        snapshot: PolicySnapshot,
        blockVerdict: BlockVerdictPolicy,
        nowMilliseconds: Int64,
        logsAttempts: Bool = true
    ) -> Judgement {
        let parsed = PacketParser.parse(payload)
        let decision = snapshot.decide(parsed, now: nowMilliseconds / 1000)
        var attempt: BlockedAttempt?
        // Malformed packets are blocked and counted, but not logged: without parsed addresses they are no
        // evidence against a subscriber.
        if logsAttempts, decision.isBlockedAttempt, case .tcp(let flow) = parsed {
            attempt = BlockedAttempt(
                flow, blockedBy: decision.reason, customerIndex: snapshot.customerIndex(for: flow.source),
                policyGeneration: snapshot.generation, timeMilliseconds: nowMilliseconds)
        }
        return Judgement(
            verdict: blockVerdict.verdict(for: decision, existingMark: mark),
            decision: decision,
            reasonSlot: ReasonCounter.index(reason: decision.reason, ipv6: hardwareProtocol == etherTypeIPv6),
            blockedAttempt: attempt)
    }
}

/// What ``PacketJudge`` decided for one packet.
public struct Judgement: Hashable, Sendable {
    /// The verdict to send (`NF_ACCEPT`/`NF_REPEAT` with a mark, or `NF_DROP`).
    public var verdict: JudgeVerdict
    /// The policy's decision behind it: its reason, and whether shadow mode turned a block into an accept.
    public var decision: Decision
    /// The counter slot for the decision's reason and the packet's address family (``ReasonCounter``).
    public var reasonSlot: Int
    /// The block-log event, for a TCP SYN the policy blocks or (shadow mode) would block; nil otherwise, and
    /// nil when the caller passed `logsAttempts: false`.
    public var blockedAttempt: BlockedAttempt?

    /// Every field as given.
    @inlinable
    public init(verdict: JudgeVerdict, decision: Decision, reasonSlot: Int, blockedAttempt: BlockedAttempt?) {
        self.verdict = verdict
        self.decision = decision
        self.reasonSlot = reasonSlot
        self.blockedAttempt = blockedAttempt
    }
}
