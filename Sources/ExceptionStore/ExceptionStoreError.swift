import Egress25System

/// An error from ``ExceptionStore``: what went wrong (``code``) and one line for the operator (``message``).
///
/// Every mutating call validates its input before it opens a write transaction, and runs all of its writes and
/// their audit entries in one transaction: when it throws, nothing was written.
public struct ExceptionStoreError: Egress25Error, Hashable {
    /// The kind of failure. Extensible: switch with a `default` case.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unknownCustomer, duplicateCustomer, unknownException, unknownBinding, alreadyRevoked
            case invalidArgument, conflict, newerSchema, olderSchema, notFound, locked, io
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// No customer has this id.
        public static let unknownCustomer = Code(.unknownCustomer)
        /// `addCustomer` with an id that exists already.
        public static let duplicateCustomer = Code(.duplicateCustomer)
        /// No exception has this id.
        public static let unknownException = Code(.unknownException)
        /// The customer holds no binding (of the requested kind) on this prefix.
        public static let unknownBinding = Code(.unknownBinding)
        /// The exception was revoked already.
        public static let alreadyRevoked = Code(.alreadyRevoked)
        /// A malformed or out-of-range argument (empty reason, expiry in the past, bad customer id, ...).
        /// `egress25ctl` reports it as a usage error (exit code 2).
        public static let invalidArgument = Code(.invalidArgument)
        /// The prefix overlaps another customer's binding that this operation may not end (a static binding).
        public static let conflict = Code(.conflict)
        /// The store was written by a newer egress25 (its schema version is higher than this build knows).
        public static let newerSchema = Code(.newerSchema)
        /// A read-only open found a store that still needs a migration (run any write command first).
        public static let olderSchema = Code(.olderSchema)
        /// A read-only open found no store file.
        public static let notFound = Code(.notFound)
        /// Another process held the write lock for longer than the busy timeout.
        public static let locked = Code(.locked)
        /// The store could not be opened, read or written (permissions, disk full, not a SQLite file, ...).
        public static let io = Code(.io)

        /// The code's name, e.g. `unknownCustomer`.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// The store operation that failed, e.g. `grantException(_:now:)`: the store method whose transaction failed,
    /// else the function that found the failure (an input check made before any transaction).
    public var operation: String
    /// One line for the operator, naming the object (customer id, exception id, prefix, path).
    public var message: String

    /// Creates an error with `code` and a one-line `message`; `operation` defaults to the calling function.
    public init(_ code: Code, _ message: String, operation: String = #function) {
        self.code = code
        self.operation = operation
        self.message = message
    }
    /// The message.
    public var description: String { message }
}
