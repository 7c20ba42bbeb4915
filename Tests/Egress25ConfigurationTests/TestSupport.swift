import Egress25Configuration
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The package root, found from this file's path (Tests/Egress25ConfigurationTests/TestSupport.swift).
let packageRoot: String = {
    var components = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    components.removeLast(3)
    return components.joined(separator: "/")
}()

func readTextFile(_ path: String) throws -> String {
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

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Parses `yaml` expecting an error, and returns its description (`FILE:LINE:COL: MESSAGE`).
func configurationError(_ yaml: String, path: String = "/etc/egress25/egress25.yaml") -> String? {
    do {
        _ = try ConfigurationLoader.parse(yaml: yaml, path: path)
        return nil
    } catch {
        return error.description
    }
}

let isRoot = geteuid() == 0
