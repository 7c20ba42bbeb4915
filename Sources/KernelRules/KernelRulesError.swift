import Egress25System

/// Installing, inspecting or removing kernel rules failed.
///
/// `description` is one line naming what failed and why, including the failing command and its stderr,
/// e.g. ``"`nft -f -` failed (exit status 1): /dev/stdin:40:3-7: Error: Could not process rule: No such file or
/// directory"``.
public struct KernelRulesError: Egress25Error, Hashable {
    /// The kind of failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: Sendable, Hashable { case toolMissing, commandFailed, notPermitted, unsupported }
        let base: Base

        /// A needed tool (`nft`, `iptables`, `ipset`, …) is not installed.
        public static let toolMissing = Code(base: .toolMissing)
        /// A command exited with a nonzero status or could not be started.
        public static let commandFailed = Code(base: .commandFailed)
        /// The caller lacks root / `CAP_NET_ADMIN`.
        public static let notPermitted = Code(base: .notPermitted)
        /// The kernel lacks something the chosen backend needs.
        public static let unsupported = Code(base: .unsupported)

        /// The code's name, e.g. `commandFailed`.
        public var description: String { "\(base)" }
    }

    /// The kind of failure.
    public var code: Code
    /// The operation that failed: the function that found the failure, e.g. `apply(_:backend:)`.
    public var operation: String
    /// One line naming what failed and why.
    public var message: String
    /// The command involved (argument vector), if any.
    public var command: [String]

    /// Creates an error with `code`, a one-line `message` and the command involved; `operation` defaults to the
    /// calling function.
    public init(_ code: Code, _ message: String, command: [String] = [], operation: String = #function) {
        self.code = code
        self.operation = operation
        self.message = message
        self.command = command
    }
    /// The message.
    public var description: String { message }
}
