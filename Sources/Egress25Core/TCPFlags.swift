/// The TCP header flags byte (byte 13 of the TCP header, RFC 9293 section 3.1; ECE/CWR from RFC 3168).
/// The raw value is the byte as it is on the wire.
public struct TCPFlags: OptionSet, Hashable, Sendable {
    /// The flags byte as on the wire.
    public var rawValue: UInt8

    /// Wraps a flags byte as on the wire.
    @inlinable
    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// FIN (bit 0x01): no more data from the sender.
    public static let fin = TCPFlags(rawValue: 0x01)
    /// SYN (bit 0x02): synchronize sequence numbers: opens a connection.
    public static let syn = TCPFlags(rawValue: 0x02)
    /// RST (bit 0x04): reset the connection.
    public static let rst = TCPFlags(rawValue: 0x04)
    /// PSH (bit 0x08): push.
    public static let psh = TCPFlags(rawValue: 0x08)
    /// ACK (bit 0x10): the acknowledgment number is valid.
    public static let ack = TCPFlags(rawValue: 0x10)
    /// URG (bit 0x20): the urgent pointer is valid.
    public static let urg = TCPFlags(rawValue: 0x20)
    /// ECE (bit 0x40): ECN echo (RFC 3168).
    public static let ece = TCPFlags(rawValue: 0x40)
    /// CWR (bit 0x80): congestion window reduced (RFC 3168).
    public static let cwr = TCPFlags(rawValue: 0x80)

    /// `true` for a connection-opening segment: SYN set and ACK clear, whatever the other flags
    /// (a SYN+FIN still opens a connection on some stacks, so it is policed too; match it in the kernel rule
    /// with `tcp flags & (syn | ack) == syn`, not iptables' `--syn`, which lets SYN+FIN pass).
    @inlinable
    public var isInitialSYN: Bool {
        rawValue & (0x02 | 0x10) == 0x02
    }
}
