#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call: the call and `errno`, in the shape of egress25's other errors.
package struct SystemCallError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The call that failed, e.g. `waitpid` or `open /var/lib/egress25/x`.
    package var operation: String
    /// `errno` after the call (`<errno.h>`).
    package var errno: Int32

    /// Creates an error for the `operation` that failed with `errno`.
    package init(operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    /// `operation: reason`, e.g. `waitpid: No child processes`.
    package var description: String { "\(operation): \(Self.describe(errno))" }

    /// `strerror(code)` as a String: the one place egress25 turns an errno into words.
    package static func describe(_ code: Int32) -> String {
        guard code != 0, let text = strerror(code) else { return "unknown error" }
        return String(cString: text)
    }
}

/// Calls `body` (a system call returning -1 and setting `errno` on failure) until it does not fail with EINTR,
/// in the manner of swift-nio's `syscall(blocking:where:_:)`.
/// - Returns: `body`'s result (>= 0).
/// - Throws: ``SystemCallError`` naming `operation` with the `errno` of the failure.
@inline(__always)
package func syscall<T: FixedWidthInteger>(
    _ operation: @autoclosure () -> String, _ body: () -> T
)
    throws(SystemCallError) -> T
{
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = errno
        if code == EINTR { continue }
        throw SystemCallError(operation: operation(), errno: code)
    }
}

/// Calls `body` until it does not fail with EINTR and returns its result, failures included (for calls whose
/// callers handle other errnos themselves, such as EAGAIN on a non-blocking descriptor).
@inline(__always)
package func retryingOnInterrupt<T: FixedWidthInteger>(_ body: () -> T) -> T {
    while true {
        let result = body()
        if result >= 0 || errno != EINTR { return result }
    }
}
