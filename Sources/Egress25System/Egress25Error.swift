/// The one shape of egress25's errors, as in swift-service-lifecycle: what kind of failure (an extensible
/// `Code`: a struct of static constants, so a new kind is not a breaking change; switch with a `default`), the
/// operation that failed, and one line for the operator (`message`; the `description` each type declares,
/// so that it needs no import of this module).
///
/// ``SystemCallError`` is the exception: its code is the `errno` itself (an open set the kernel defines).
public protocol Egress25Error: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    associatedtype Code: Hashable, Sendable, CustomStringConvertible
    /// The kind of failure.
    var code: Code { get }
    /// The operation that failed, e.g. `bind` or `grantException(_:now:)`.
    var operation: String { get }
    /// One line naming what failed and why.
    var message: String { get }
}
