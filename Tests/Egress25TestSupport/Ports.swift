#if canImport(Glibc)
import Glibc
#endif

/// A UDP port on 127.0.0.1 that was free a moment ago (bound to port 0, read, closed).
/// - Throws: ``TestFailure`` when no socket can be bound.
package func freeLoopbackUDPPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else { throw TestFailure("bind 127.0.0.1:0 (UDP): errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}
