/// The fields of one TCP segment that the policy looks at.
public struct Flow: Hashable, Sendable {
    /// Source address, as in the IP header (an IPv4-mapped IPv6 address stays `.v6`).
    public var source: IPAddress
    /// Destination address, as in the IP header.
    public var destination: IPAddress
    /// TCP source port, host byte order.
    public var sourcePort: UInt16
    /// TCP destination port, host byte order.
    public var destinationPort: UInt16
    /// The TCP flags byte (RFC 9293 section 3.1).
    public var flags: TCPFlags

    /// Creates a flow from already parsed header fields.
    @inlinable
    public init(
        source: IPAddress,
        destination: IPAddress,
        sourcePort: UInt16,
        destinationPort: UInt16,
        flags: TCPFlags
    ) {
        self.source = source
        self.destination = destination
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.flags = flags
    }
}
