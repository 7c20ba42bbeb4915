/// What happens to a packet: the NFQUEUE verdict the daemon issues (block = drop, or accept + reject mark).
public enum Verdict: UInt8, Sendable {
    case accept
    case block
}

/// Why a decision was taken. `Int32` payloads index the snapshot's relays (`PolicySnapshot.relay(at:)`) or
/// exceptions (`PolicySnapshot.exception(at:)`).
public enum DecisionReason: Hashable, Sendable {
    /// Destination is relay `index` (and the port is one it serves).
    case relay(Int32)
    /// Exception `index` is active and covers the destination.
    case exception(Int32)
    /// No exception covers the source.
    case blockedNoException
    /// Exception `index` covers the source but is expired or not yet valid.
    case blockedExceptionExpired(Int32)
    /// Exception `index` is active for the source but its destination scope excludes the destination.
    case blockedOutsideScope(Int32)
    /// Source is outside every subscriber range.
    case notSubscriber
    /// Not TCP, or destination port not policed.
    case notPolicedPort
    /// Not a SYN without ACK.
    case notInitialSYN
    /// Malformed headers or a non-first fragment.
    case malformed

    /// `true` for the reasons that block in enforce mode.
    @inlinable
    public var blocks: Bool {
        switch self {
        case .blockedNoException, .blockedExceptionExpired, .blockedOutsideScope, .malformed: return true
        default: return false
        }
    }

    /// A stable snake_case label for metrics and logs (no allocation): `"relay"`, `"exception"`,
    /// `"blocked_no_exception"`, `"blocked_exception_expired"`, `"blocked_outside_scope"`, `"not_subscriber"`,
    /// `"not_policed_port"`, `"not_initial_syn"`, `"malformed"`.
    public var label: StaticString {
        switch self {
        case .relay: return "relay"
        case .exception: return "exception"
        case .blockedNoException: return "blocked_no_exception"
        case .blockedExceptionExpired: return "blocked_exception_expired"
        case .blockedOutsideScope: return "blocked_outside_scope"
        case .notSubscriber: return "not_subscriber"
        case .notPolicedPort: return "not_policed_port"
        case .notInitialSYN: return "not_initial_syn"
        case .malformed: return "malformed"
        }
    }
}

/// The outcome of `PolicySnapshot.decide`.
public struct Decision: Hashable, Sendable {
    /// What is enforced.
    public var verdict: Verdict
    /// Why: the rule that decided (also set in shadow mode, where the verdict is accept).
    public var reason: DecisionReason
    /// `true`: the policy would have blocked, but accepted because the mode is `.shadow`.
    public var shadow: Bool

    /// Creates a decision; `shadow` is `true` only for a block accepted because the mode is `.shadow`.
    @inlinable
    public init(verdict: Verdict, reason: DecisionReason, shadow: Bool = false) {
        self.verdict = verdict
        self.reason = reason
        self.shadow = shadow
    }

    /// `true` when the policy blocks (enforced) or would block (shadow): what the block log records.
    @inlinable
    public var isBlockedAttempt: Bool {
        verdict == .block || shadow
    }
}

/// A policy that cannot be turned into a snapshot (e.g. duplicate exception ids).
public struct PolicyBuildError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Which part of the policy is wrong, e.g. the duplicate exception id.
    public var message: String

    /// Creates an error with a one-line message.
    public init(message: String) {
        self.message = message
    }

    /// The message.
    public var description: String {
        message
    }
}
