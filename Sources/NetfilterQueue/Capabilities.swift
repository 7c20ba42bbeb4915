#if canImport(Glibc)
import Glibc
#endif

/// Linux capability checks for the calling process.
public enum Capabilities {
    /// `CAP_NET_ADMIN` from `include/uapi/linux/capability.h`.
    static let netAdmin = 12

    /// Whether the process has `capability` in its effective set, read from the `CapEff:` line of
    /// `/proc/self/status` (see proc(5)). Returns `false` if the file cannot be read.
    static func effectiveSetContains(_ capability: Int) -> Bool {
        guard let file = fopen("/proc/self/status", "r") else { return false }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard text.hasPrefix("CapEff:") else { continue }
            let hex = text.dropFirst("CapEff:".count).filter { $0.isHexDigit }
            guard let mask = UInt64(hex, radix: 16) else { return false }
            return mask & (1 << UInt64(capability)) != 0
        }
        return false
    }

    /// Whether the process may bind NFQUEUE queues (`CAP_NET_ADMIN`).
    public static var hasNetAdmin: Bool { effectiveSetContains(netAdmin) }
}
