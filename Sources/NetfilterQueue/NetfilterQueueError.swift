import Egress25System

#if canImport(Glibc)
import Glibc
#endif

/// An error from binding, configuring or using an NFQUEUE queue.
///
/// The `description` is one line an operator can act on, e.g.
/// `queue 0 is already bound by another process (is a second egress25d running?)`.
public struct NetfilterQueueError: Egress25Error, Hashable {
    /// What went wrong, independent of the queue and errno.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: Hashable, Sendable {
            case queueAlreadyBound
            case missingCapability
            case socketFailed
            case configurationRejected
            case receiveFailed
            case sendFailed
        }

        fileprivate let base: Base

        /// The kernel answered EPERM to the bind although the process has CAP_NET_ADMIN:
        /// another netlink socket (another process) owns the queue number.
        public static let queueAlreadyBound = Code(base: .queueAlreadyBound)
        /// The process lacks CAP_NET_ADMIN, which nfnetlink requires for every queue message.
        public static let missingCapability = Code(base: .missingCapability)
        /// Opening, binding or configuring the netlink socket failed.
        public static let socketFailed = Code(base: .socketFailed)
        /// The kernel rejected the queue configuration (copy range, max length, flags).
        public static let configurationRejected = Code(base: .configurationRejected)
        /// `recvmmsg(2)` failed with an error other than EINTR, EAGAIN or ENOBUFS.
        public static let receiveFailed = Code(base: .receiveFailed)
        /// Sending a batch of verdicts failed.
        public static let sendFailed = Code(base: .sendFailed)

        /// The code's name, e.g. `queueAlreadyBound`.
        public var description: String { "\(base)" }
    }

    /// The kind of failure.
    public var code: Code
    /// The NFQUEUE queue number concerned.
    public var queue: UInt16
    /// The operation that failed, e.g. `"bind"` or `"recvmmsg"`.
    public var operation: String
    /// The errno the kernel returned, 0 if none.
    public var errno: Int32

    /// Creates an error for `queue`; `errno` is 0 when the kernel returned none.
    public init(code: Code, queue: UInt16, operation: String, errno: Int32) {
        self.code = code
        self.queue = queue
        self.operation = operation
        self.errno = errno
    }

    /// The ``description``.
    public var message: String { description }

    /// One line an operator can act on, naming the queue and, for socket failures, the operation and errno.
    public var description: String {
        switch code.base {
        case .queueAlreadyBound:
            return "queue \(queue) is already bound by another process "
                + "(is another egress25d or NFQUEUE consumer running?)"
        case .missingCapability:
            return "queue \(queue): CAP_NET_ADMIN is required to bind an NFQUEUE queue; "
                + "run as root or grant the capability (systemd: AmbientCapabilities=CAP_NET_ADMIN)"
        case .socketFailed, .configurationRejected, .receiveFailed, .sendFailed:
            return "queue \(queue): \(operation) failed: \(Self.errnoText(errno))"
        }
    }

    static func errnoText(_ value: Int32) -> String {
        "\(SystemCallError.describe(value)) (errno \(value))"
    }
}
