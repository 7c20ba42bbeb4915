/// The TCP header flags byte (byte 13 of the TCP header, RFC 9293 section 3.1; ECE/CWR from RFC 3168).
/// The raw value is the byte as it is on the wire.
public struct TCPFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8

    @inlinable
    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    public static let fin = TCPFlags(rawValue: 0x01)
    public static let syn = TCPFlags(rawValue: 0x02)
    public static let rst = TCPFlags(rawValue: 0x04)
    public static let psh = TCPFlags(rawValue: 0x08)
    public static let ack = TCPFlags(rawValue: 0x10)
    public static let urg = TCPFlags(rawValue: 0x20)
    public static let ece = TCPFlags(rawValue: 0x40)
    public static let cwr = TCPFlags(rawValue: 0x80)

    /// `true` for a connection-opening segment: SYN set and ACK clear, whatever the other flags
    /// (a SYN+FIN still opens a connection on some stacks, so it is policed too; match it in the kernel rule
    /// with `tcp flags & (syn | ack) == syn`, not iptables' `--syn`, which lets SYN+FIN pass).
    @inlinable
    public var isInitialSYN: Bool {
        rawValue & (0x02 | 0x10) == 0x02
    }
}
