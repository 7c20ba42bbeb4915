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
            case unreachable, authentication, tls, permissionDenied, connectionLost
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
        /// A read-only open found a store that still needs a migration (run any write command first); on
        /// PostgreSQL, a database whose schema is missing or older than this build (run `egress25ctl store migrate`).
        public static let olderSchema = Code(.olderSchema)
        /// A read-only open found no store file; on PostgreSQL, the database named by `store.url` does not exist.
        public static let notFound = Code(.notFound)
        /// Another process held the write lock for longer than the busy timeout (on PostgreSQL: a lock wait longer
        /// than the lock timeout, a serialization failure or a deadlock). Nothing was written; try again.
        public static let locked = Code(.locked)
        /// PostgreSQL: the server could not be reached (connection refused, timeout, unknown host name, no socket
        /// file) or is starting up or shutting down. Nothing was written.
        public static let unreachable = Code(.unreachable)
        /// PostgreSQL: the server refused the login (wrong password, unknown role, no `pg_hba.conf` entry, a
        /// password it wants but `store.password_file` does not give).
        public static let authentication = Code(.authentication)
        /// PostgreSQL: TLS failed (the certificate does not verify, the host name does not match, or the server
        /// does not offer the TLS that `sslmode` requires).
        public static let tls = Code(.tls)
        /// PostgreSQL: the role may not do this (e.g. a router's credentials cannot change policy). Nothing was
        /// written.
        public static let permissionDenied = Code(.permissionDenied)
        /// PostgreSQL: the connection was lost during a transaction. Before `COMMIT` was sent nothing was
        /// applied; the message says when it was lost while committing (the change may then have been applied).
        public static let connectionLost = Code(.connectionLost)
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
