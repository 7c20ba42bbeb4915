/// Parses the IP and TCP headers of one packet as NFQUEUE delivers it (`NFQA_PAYLOAD`: starting at the IP header,
/// possibly cut short by the queue's copy range). Reads at most the bytes it needs; no allocation.
///
/// - IPv4 (RFC 791): version 4, IHL >= 5, the IHL*4 header bytes present, total length >= IHL*4;
///   fragment offset != 0 is `.nonFirstFragment`; protocol 6 is TCP.
/// - IPv6 (RFC 8200): the 40-byte fixed header, then at most `maximumExtensionHeaders` extension headers:
///   hop-by-hop options (0), routing (43), fragment (44; offset != 0 is `.nonFirstFragment`),
///   destination options (60), and authentication header (51, RFC 4302: length in 4-byte units + 2).
///   Any other next-header value ends the walk: 6 is TCP, everything else `.notTCP(protocol:)`.
/// - TCP (RFC 9293): 20 bytes (ports, data offset >= 5, flags). Options are not read.
///
/// The packet may be truncated (copy range, e.g. 128 bytes): only the bytes read must be present. The IP length
/// field (IPv4 total length, IPv6 40 + payload length) must still cover every header read; the buffer may be
/// shorter than it, never used past it.
public enum PacketParser {
    /// The most IPv6 extension headers walked before giving up with `.tooManyExtensionHeaders`.
    public static var maximumExtensionHeaders: Int { 8 }

    /// IP protocol number of TCP.
    @usableFromInline
    static let tcpProtocol: UInt8 = 6

    /// Parses `bytes` (starting at the IP header). Inlinable, so the result is built in the caller's frame.
    @inlinable
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> ParsedPacket {
        guard bytes.count > 0, let base = bytes.baseAddress else { return .malformed(.empty) }
        switch base.load(as: UInt8.self) >> 4 {
        case 4: return parseIPv4(base, count: bytes.count)
        case 6: return parseIPv6(base, count: bytes.count)
        default: return .malformed(.badVersion)
        }
    }

    /// Parses `bytes` (starting at the IP header).
    public static func parse(_ bytes: [UInt8]) -> ParsedPacket {
        bytes.withUnsafeBytes { parse($0) }
    }

    @inlinable @inline(__always)
    static func load16(_ base: UnsafeRawPointer, _ offset: Int) -> UInt16 {
        UInt16(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inlinable @inline(__always)
    static func load32(_ base: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        UInt32(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inlinable @inline(__always)
    static func load64(_ base: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        UInt64(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inlinable @inline(__always)
    static func parseIPv4(_ base: UnsafeRawPointer, count: Int) -> ParsedPacket {
        let headerLength = Int(base.load(as: UInt8.self) & 0x0F) * 4
        guard headerLength >= 20 else { return .malformed(.badIHL) }
        guard count >= headerLength else { return .malformed(.truncatedIPHeader) }
        let totalLength = Int(load16(base, 2))
        guard totalLength >= headerLength else { return .malformed(.badTotalLength) }
        if load16(base, 6) & 0x1FFF != 0 { return .nonFirstFragment }
        let proto = base.load(fromByteOffset: 9, as: UInt8.self)
        guard proto == tcpProtocol else { return .notTCP(protocol: proto) }
        let source = IPAddress.v4(IPv4Address(load32(base, 12)))
        let destination = IPAddress.v4(IPv4Address(load32(base, 16)))
        return parseTCP(base, offset: headerLength, count: count, ipEnd: totalLength, source, destination)
    }

    @inlinable @inline(__always)
    static func parseIPv6(_ base: UnsafeRawPointer, count: Int) -> ParsedPacket {
        guard count >= 40 else { return .malformed(.truncatedIPHeader) }
        var next = base.load(fromByteOffset: 6, as: UInt8.self)
        let payloadLength = Int(load16(base, 4))
        // Payload length 0 with a hop-by-hop header may be a jumbogram (RFC 2675): bounded by the buffer only.
        let ipEnd = payloadLength == 0 && next == 0 ? count : 40 + payloadLength
        let end = min(count, ipEnd)
        var offset = 40
        var headers = 0
        walk: while true {
            let length: Int
            switch next {
            case 0, 43, 60:
                guard offset + 2 <= end else { return .malformed(.extensionHeaderTruncated) }
                length = (Int(base.load(fromByteOffset: offset + 1, as: UInt8.self)) + 1) * 8
            case 44:
                guard offset + 8 <= end else { return .malformed(.extensionHeaderTruncated) }
                if load16(base, offset + 2) & 0xFFF8 != 0 { return .nonFirstFragment }
                length = 8
            case 51:
                guard offset + 2 <= end else { return .malformed(.extensionHeaderTruncated) }
                length = (Int(base.load(fromByteOffset: offset + 1, as: UInt8.self)) + 2) * 4
            default:
                break walk
            }
            headers += 1
            if headers > maximumExtensionHeaders { return .malformed(.tooManyExtensionHeaders) }
            guard offset + length <= end else { return .malformed(.extensionHeaderTruncated) }
            next = base.load(fromByteOffset: offset, as: UInt8.self)
            offset += length
        }
        guard next == tcpProtocol else { return .notTCP(protocol: next) }
        let source = IPAddress.v6(IPv6Address(high: load64(base, 8), low: load64(base, 16)))
        let destination = IPAddress.v6(IPv6Address(high: load64(base, 24), low: load64(base, 32)))
        return parseTCP(base, offset: offset, count: count, ipEnd: ipEnd, source, destination)
    }

    @inlinable @inline(__always)
    static func parseTCP(
        _ base: UnsafeRawPointer,
        offset: Int,
        count: Int,
        ipEnd: Int,
        _ source: IPAddress,
        _ destination: IPAddress
    ) -> ParsedPacket {
        guard offset + 20 <= ipEnd else { return .malformed(.badTotalLength) }
        guard offset + 20 <= count else { return .malformed(.truncatedTCPHeader) }
        let dataOffset = Int(base.load(fromByteOffset: offset + 12, as: UInt8.self) >> 4) * 4
        guard dataOffset >= 20, offset + dataOffset <= ipEnd else { return .malformed(.badTCPDataOffset) }
        return .tcp(
            Flow(
                source: source,
                destination: destination,
                sourcePort: load16(base, offset),
                destinationPort: load16(base, offset + 2),
                flags: TCPFlags(rawValue: base.load(fromByteOffset: offset + 13, as: UInt8.self))
            )
        )
    }
}
