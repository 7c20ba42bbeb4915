#if canImport(Glibc)
import Egress25System
import Glibc
#endif

/// Sends service state to systemd over `$NOTIFY_SOCKET` (the `sd_notify(3)` protocol: one datagram of
/// `KEY=VALUE` lines on an AF_UNIX socket; a leading `@` means the abstract namespace).
/// Does nothing when the daemon was not started by systemd with `Type=notify`.
public struct SystemdNotifier: Sendable {
    private let path: String?

    /// Reads `NOTIFY_SOCKET` from `environment` (the process environment by default).
    public init(environment: [String: String] = Self.processEnvironment()) {
        let value = environment["NOTIFY_SOCKET"]
        self.path = (value?.isEmpty ?? true) ? nil : value
    }

    /// Whether a notify socket is configured.
    var isEnabled: Bool { path != nil }

    /// `WATCHDOG_USEC` in µs when systemd expects keep-alives (`WatchdogSec=`), else `nil`.
    static func watchdogInterval(environment: [String: String] = processEnvironment()) -> Int64? {
        guard let text = environment["WATCHDOG_USEC"], let value = Int64(text), value > 0 else { return nil }
        if let pid = environment["WATCHDOG_PID"], let owner = Int32(pid), owner != getpid() { return nil }
        return value
    }

    /// Sends `state`, e.g. `"READY=1"`, `"RELOADING=1\nMONOTONIC_USEC=..."`, `"STOPPING=1"`, `"WATCHDOG=1"`,
    /// `"STATUS=..."`. Errors are ignored: notification is best effort.
    public func notify(_ state: String) {
        guard let path else { return }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        var message = Array(state.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                sendto(descriptor, &message, message.count, Int32(MSG_NOSIGNAL), socketAddress, length)
            }
        }
    }

    /// `RELOADING=1` with the `MONOTONIC_USEC` systemd ≥ 253 requires for `Type=notify-reload`.
    func notifyReloading() {
        let microseconds = Int64(SystemClock.monotonicNanoseconds() / 1000)
        notify("RELOADING=1\nMONOTONIC_USEC=\(microseconds)")
    }

    /// The process environment (`environ`), as a dictionary.
    public static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(decoding: UnsafeRawBufferPointer(start: entry, count: strlen(entry)), as: UTF8.self)
            if let separator = text.firstIndex(of: "=") {
                result[String(text[..<separator])] = String(text[text.index(after: separator)...])
            }
            pointer += 1
        }
        return result
    }
}
