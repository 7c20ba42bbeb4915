import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Facts about the machine the tests run on, spelled once.
package enum TestEnvironment {
    /// Whether the tests run as root (effective uid 0): network namespaces, netfilter rules, NFQUEUE, chown.
    package static let isRoot = geteuid() == 0
}

/// The package root, found from this file's path (Tests/Egress25TestSupport/TestEnvironment.swift).
package let packageRoot: String = {
    var components = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    components.removeLast(3)
    return components.joined(separator: "/")
}()

/// Tests/EndToEndTests/Scripts in the source tree: the topology script and the Python packet tools.
package let testScripts = packageRoot + "/Tests/EndToEndTests/Scripts"

/// The whole text of the file at `path` (UTF-8).
package func readTextFile(_ path: String) throws -> String {
    guard let file = fopen(path, "r") else {
        throw TestFailure("cannot open \(path): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count == 0 { break }
        bytes += buffer[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// An error a test helper throws, with what went wrong.
package struct TestFailure: Error, CustomStringConvertible {
    /// What failed, printed by the test runner.
    package var description: String
    /// Creates a failure with its message.
    package init(_ description: String) { self.description = description }
}
