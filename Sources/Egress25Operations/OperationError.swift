import BlockLog
import ExceptionStore

/// Why an operation of egress25ctl or egress25-admin failed, in terms both can answer: egress25ctl exits 2 for
/// ``Kind/invalidInput`` and 1 otherwise; egress25-admin answers 400, 404, 409 or 503 with a problem document.
public struct OperationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: Hashable, Sendable {
        /// The caller sent something malformed or out of range; `field` names it (`source`, `duration`, …).
        case invalidInput(field: String)
        /// What the request names does not exist (a customer, an exception, a block log).
        case notFound
        /// The request conflicts with the state (a customer that exists, an exception revoked already).
        case conflict
        /// The store or block log cannot be reached or read now (unreachable database, lock held, I/O error);
        /// retrying later may succeed.
        case unavailable
        /// The request was well-formed but cannot be carried out in this setup (e.g. `check` without a policy).
        case failed
    }

    /// What went wrong.
    public var kind: Kind
    /// One line for the operator.
    public var message: String

    /// Creates an error.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// A malformed input named `field`.
    public static func invalid(_ field: String, _ message: String) -> OperationError {
        OperationError(.invalidInput(field: field), message)
    }

    /// The message.
    public var description: String { message }

    /// The field a ``Kind/invalidInput`` names, else `nil`.
    public var field: String? {
        if case .invalidInput(let field) = kind { return field }
        return nil
    }

    /// The store's error in these terms: unknown customer or exception → `notFound`; duplicate or revoked twice →
    /// `conflict`; invalid argument → `invalidInput` (field `field`); unreachable, locked, I/O → `unavailable`.
    public init(_ error: ExceptionStoreError, field: String = "body") {
        switch error.code {
        case .unknownCustomer, .unknownException, .unknownBinding, .notFound: self.init(.notFound, error.message)
        case .duplicateCustomer, .alreadyRevoked, .conflict: self.init(.conflict, error.message)
        case .invalidArgument: self.init(.invalidInput(field: field), error.message)
        default: self.init(.unavailable, error.message)
        }
    }

    /// A block-log error (a segment that cannot be read) as `unavailable`.
    public init(_ error: BlockLogError) {
        self.init(.unavailable, "\(error)")
    }
}

/// Runs a store call, mapping its ``ExceptionStoreError`` to ``OperationError`` (`field` for an invalid argument).
/// - Throws: ``OperationError``.
public func performStoreOperation<T>(
    field: String = "body", _ body: () throws(ExceptionStoreError) -> T
) throws(OperationError) -> T {
    do {
        return try body()
    } catch {
        throw OperationError(error, field: field)
    }
}
