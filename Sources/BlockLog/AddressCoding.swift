import Egress25Core

/// How addresses are stored in segment columns (`source`, `destination`): a `BLOB` of a family byte followed
/// by the address in network byte order: `04 a b c d` (5 bytes) for IPv4, `06` + 16 bytes for IPv6.
///
/// The family byte keeps the two families apart under SQLite's `memcmp` blob ordering, so that a CIDR prefix
/// is exactly the blob range `[network, last address]` and an index range scan answers it.
enum AddressCoding {
    static let ipv4Tag: UInt8 = 4
    static let ipv6Tag: UInt8 = 6

    static func encode(_ address: IPAddress) -> [UInt8] {
        var bytes: [UInt8] = []
        encode(address, into: &bytes)
        return bytes
    }

    /// Writes the encoding into `bytes` (cleared first); reuses its capacity.
    static func encode(_ address: IPAddress, into bytes: inout [UInt8]) {
        bytes.removeAll(keepingCapacity: true)
        switch address {
        case .v4(let v4):
            bytes.append(ipv4Tag)
            appendBigEndian(UInt64(v4.value), byteCount: 4, to: &bytes)
        case .v6(let v6):
            bytes.append(ipv6Tag)
            appendBigEndian(v6.high, byteCount: 8, to: &bytes)
            appendBigEndian(v6.low, byteCount: 8, to: &bytes)
        }
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) -> IPAddress? {
        if bytes.count == 5 && bytes[0] == ipv4Tag {
            return .v4(IPv4Address(UInt32(readBigEndian(bytes, from: 1, count: 4))))
        }
        if bytes.count == 17 && bytes[0] == ipv6Tag {
            return .v6(
                IPv6Address(high: readBigEndian(bytes, from: 1, count: 8), low: readBigEndian(bytes, from: 9, count: 8))
            )
        }
        return nil
    }

    static func decode(_ bytes: [UInt8]) -> IPAddress? {
        bytes.withUnsafeBytes { decode($0) }
    }

    /// The inclusive blob range of every address in `prefix`.
    static func range(of prefix: IPPrefix) -> (low: [UInt8], high: [UInt8]) {
        (encode(prefix.address), encode(prefix.lastAddress))
    }

    private static func appendBigEndian(_ value: UInt64, byteCount: Int, to bytes: inout [UInt8]) {
        for index in stride(from: byteCount - 1, through: 0, by: -1) {
            bytes.append(UInt8(truncatingIfNeeded: value >> (UInt64(index) * 8)))
        }
    }

    private static func readBigEndian(_ bytes: UnsafeRawBufferPointer, from start: Int, count: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in start..<(start + count) {
            value = value << 8 | UInt64(bytes[index])
        }
        return value
    }
}

/// An address as two words, for the reader's hash sets and dictionaries (one hash combine instead of the
/// enum's several): IPv4 in `low` with `isIPv4` set, IPv6 as `high`/`low`.
struct PackedAddress: Hashable {
    var high: UInt64
    var low: UInt64
    var isIPv4: Bool

    init(_ address: IPAddress) {
        switch address {
        case .v4(let v4): (high, low, isIPv4) = (0, UInt64(v4.value), true)
        case .v6(let v6): (high, low, isIPv4) = (v6.high, v6.low, false)
        }
    }

    /// Decodes the column encoding of ``AddressCoding`` directly.
    init?(encoded bytes: UnsafeRawBufferPointer) {
        var value: UInt64 = 0
        if bytes.count == 5 && bytes[0] == AddressCoding.ipv4Tag {
            for index in 1..<5 { value = value << 8 | UInt64(bytes[index]) }
            (high, low, isIPv4) = (0, value, true)
        } else if bytes.count == 17 && bytes[0] == AddressCoding.ipv6Tag {
            var second: UInt64 = 0
            for index in 1..<9 { value = value << 8 | UInt64(bytes[index]) }
            for index in 9..<17 { second = second << 8 | UInt64(bytes[index]) }
            (high, low, isIPv4) = (value, second, false)
        } else {
            return nil
        }
    }

    var address: IPAddress {
        isIPv4 ? .v4(IPv4Address(UInt32(truncatingIfNeeded: low))) : .v6(IPv6Address(high: high, low: low))
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(high &* 0x9E37_79B9_7F4A_7C15 ^ low)
    }
}
