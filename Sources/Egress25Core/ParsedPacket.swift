/// The result of parsing one packet's IP and TCP headers with `PacketParser.parse(_:)`.
public enum ParsedPacket: Hashable, Sendable {
    /// A TCP segment (first fragment or unfragmented).
    case tcp(Flow)
    /// Not TCP: `protocol` is the IPv4 protocol or the last IPv6 next-header value (e.g. 17 UDP,
    /// 59 No Next Header, 50 ESP, 58 ICMPv6).
    case notTCP(protocol: UInt8)
    /// A fragment with a non-zero fragment offset: it has no TCP header.
    case nonFirstFragment
    /// The headers are inconsistent or truncated.
    case malformed(MalformedReason)
}

/// Why a packet could not be parsed.
public enum MalformedReason: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Zero-length payload.
    case empty
    /// Fewer bytes than the fixed IPv4 (20) or IPv6 (40) header, or than the IPv4 IHL says.
    case truncatedIPHeader
    /// IP version nibble is neither 4 nor 6.
    case badVersion
    /// IPv4 IHL below 5 (RFC 791).
    case badIHL
    /// IPv4 total length below the header length, or an IP length that leaves no room for the headers read.
    case badTotalLength
    /// An IPv6 extension header runs past the end of the packet (RFC 8200 section 4).
    case extensionHeaderTruncated
    /// More than `PacketParser.maximumExtensionHeaders` IPv6 extension headers.
    case tooManyExtensionHeaders
    /// Fewer than 20 bytes of TCP header.
    case truncatedTCPHeader
    /// TCP data offset below 5 words, or past the IP payload (RFC 9293 section 3.1).
    case badTCPDataOffset

    /// A stable snake_case name for logs and metrics labels, e.g. `"truncated_tcp_header"`.
    public var description: String {
        switch self {
        case .empty: return "empty"
        case .truncatedIPHeader: return "truncated_ip_header"
        case .badVersion: return "bad_version"
        case .badIHL: return "bad_ihl"
        case .badTotalLength: return "bad_total_length"
        case .extensionHeaderTruncated: return "extension_header_truncated"
        case .tooManyExtensionHeaders: return "too_many_extension_headers"
        case .truncatedTCPHeader: return "truncated_tcp_header"
        case .badTCPDataOffset: return "bad_tcp_data_offset"
        }
    }
}
