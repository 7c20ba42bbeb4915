import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under /tmp (`mkdtemp`, mode 0700), removed with everything in it by ``cleanup()``.
package struct TemporaryDirectory: Sendable {
    /// The directory's absolute path.
    package let path: String

    /// Creates `/tmp/<prefix>-XXXXXX`.
    package init(prefix: String = "egress25-test") {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(result != nil, "mkdtemp failed: \(String(cString: strerror(errno)))")
        path = String(cString: result!)
    }

    /// Removes the directory and everything below it.
    package func cleanup() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
