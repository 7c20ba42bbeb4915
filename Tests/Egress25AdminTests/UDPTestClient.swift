import Egress25TestSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A blocking IPv4 UDP socket for talking to the RADIUS listener in tests: bound to `source` (any 127/8 address
/// works on loopback, so a test can be an unknown client), with a receive timeout.
final class UDPTestClient {
    let fd: Int32
    let destination: sockaddr_in

    /// - Throws: When the socket cannot be made or bound.
    init(source: String = "127.0.0.1", destinationPort: Int, receiveTimeoutMilliseconds: Int = 2000) throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        self.fd = fd
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_port = 0
        inet_pton(AF_INET, source, &local.sin_addr)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw TestFailure("bind \(source): errno \(errno)") }
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = in_port_t(UInt16(destinationPort).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr)
        destination = remote
        var buffer: Int32 = 8 << 20
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, socklen_t(MemoryLayout<Int32>.size))
        setTimeout(milliseconds: receiveTimeoutMilliseconds)
    }

    deinit { close(fd) }

    /// Sets the receive timeout.
    func setTimeout(milliseconds: Int) {
        var timeout = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends one datagram.
    func send(_ bytes: [UInt8]) {
        var destination = self.destination
        _ = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &destination) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    /// The next datagram, or `nil` when none arrives within the timeout.
    func receive() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 8192)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count >= 0 else { return nil }
        return Array(buffer.prefix(count))
    }

    /// Sends `request` and waits for its answer; `nil` when none comes within the timeout.
    func exchange(_ request: [UInt8]) -> [UInt8]? {
        send(request)
        return receive()
    }
}

extension UDPTestClient {
    /// ``exchange(_:)`` on a thread of its own: the wait for an answer (up to the receive timeout) never holds a
    /// thread of Swift concurrency's pool, which other suites running in parallel need (2 threads on 2 cores).
    func answer(_ request: [UInt8]) async -> [UInt8]? {
        await offPool { self.exchange(request) }
    }
}

/// Runs `body` on a new thread and returns its result, so blocking socket calls in a test do not hold a thread of
/// Swift concurrency's shared pool.
func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.start()
    }
}

extension UDPTestClient: @unchecked Sendable {}
