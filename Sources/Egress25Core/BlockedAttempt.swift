/// Why a SYN was blocked, as stored in the `reason` column of a segment (an `INTEGER`, the raw value).
public enum BlockReason: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// No relay and no exception covers the flow.
    case noException = 0
    /// An exception covered the source, but it had expired (or was not yet valid) at block time.
    case exceptionExpired = 1
    /// An exception covered the source, but not this destination.
    case outsideScope = 2
    /// The packet could not be parsed as an initial TCP SYN (truncated header, non-first fragment).
    case malformed = 3

    /// The name used in every output format: `no_exception`, `exception_expired`, `outside_scope`, `malformed`.
    public var description: String {
        switch self {
        case .noException: return "no_exception"
        case .exceptionExpired: return "exception_expired"
        case .outsideScope: return "outside_scope"
        case .malformed: return "malformed"
        }
    }

    /// Parses the name given by `description`.
    public init?(name: String) {
        guard let reason = BlockReason.allCases.first(where: { $0.description == name }) else { return nil }
        self = reason
    }
}

/// One blocked SYN, as the packet judge (`PacketJudge`) builds it and a queue worker hands it to the block log.
///
/// A plain value with no references (no `String`, no class), so that copying it into the block log's
/// `BlockLogRing` never retains, releases or allocates.
public struct BlockedAttempt: Sendable, Hashable {
    /// When the SYN was judged: Unix time in milliseconds, UTC.
    public var timeMilliseconds: Int64
    /// The subscriber's address (IPv4 source, or IPv6 source).
    public var source: IPAddress
    /// The mail server the subscriber tried to reach.
    public var destination: IPAddress
    /// TCP source port: a new port is a new connection, the same port again is a retransmission.
    public var sourcePort: UInt16
    /// TCP destination port (25, or another policed port).
    public var destinationPort: UInt16
    /// Why the SYN was blocked.
    public var reason: BlockReason
    /// Index of the exception that did not apply (expired, out of scope) in the snapshot of
    /// `policyGeneration`; -1 for none.
    public var exceptionIndex: Int32
    /// Index of the customer holding `source` in the snapshot of `policyGeneration`; -1 for none.
    public var customerIndex: Int32
    /// Generation of the policy snapshot that judged the SYN; resolves the two indices to ids.
    public var policyGeneration: UInt64

    /// Every field as given; `exceptionIndex` and `customerIndex` default to -1 (none).
    public init(
        timeMilliseconds: Int64,
        source: IPAddress,
        destination: IPAddress,
        sourcePort: UInt16,
        destinationPort: UInt16,
        reason: BlockReason,
        exceptionIndex: Int32 = -1,
        customerIndex: Int32 = -1,
        policyGeneration: UInt64 = 0
    ) {
        self.timeMilliseconds = timeMilliseconds
        self.source = source
        self.destination = destination
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.reason = reason
        self.exceptionIndex = exceptionIndex
        self.customerIndex = customerIndex
        self.policyGeneration = policyGeneration
    }
}

extension BlockedAttempt {
    /// The block-log event for a TCP flow the policy blocks (or, in shadow mode, would block): the one place
    /// where a ``DecisionReason`` becomes a ``BlockReason``. `.blockedExceptionExpired(i)` and
    /// `.blockedOutsideScope(i)` keep the exception index `i`; every other reason is `.noException` (only
    /// `.blockedNoException` reaches here: `PolicySnapshot.decide(_:now:)` never blocks a parsed TCP flow
    /// as malformed).
    /// - Parameters:
    ///   - flow: the parsed SYN; its addresses are stored as in the IP header.
    ///   - customerIndex: `PolicySnapshot.customerIndex(for:)` of the source, -1 for none.
    ///   - policyGeneration: `PolicySnapshot.generation` of the snapshot that judged it.
    ///   - timeMilliseconds: judging time, Unix ms UTC.
    @inlinable
    public init(
        _ flow: Flow, blockedBy reason: DecisionReason, customerIndex: Int32, policyGeneration: UInt64,
        timeMilliseconds: Int64
    ) {
        let blockReason: BlockReason
        var exceptionIndex: Int32 = -1
        switch reason {
        case .blockedExceptionExpired(let index):
            blockReason = .exceptionExpired
            exceptionIndex = index
        case .blockedOutsideScope(let index):
            blockReason = .outsideScope
            exceptionIndex = index
        default:
            blockReason = .noException
        }
        self.init(
            timeMilliseconds: timeMilliseconds, source: flow.source, destination: flow.destination,
            sourcePort: flow.sourcePort, destinationPort: flow.destinationPort, reason: blockReason,
            exceptionIndex: exceptionIndex, customerIndex: customerIndex, policyGeneration: policyGeneration)
    }
}
