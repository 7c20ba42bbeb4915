/// An IPv6 address (RFC 4291), stored as two 64-bit halves in host byte order.
///
/// Parsing accepts the RFC 4291 section 2.2 text forms (full, `::`-compressed, and a trailing dotted IPv4 part).
/// Zone identifiers (`%eth0`) are rejected. `description` is the RFC 5952 canonical form: lowercase hex,
/// leading zeros dropped, the longest run of two or more zero groups compressed to `::` (the leftmost on a tie),
/// and IPv4-mapped addresses (`::ffff:0:0/96`) printed as `::ffff:192.0.2.1`.
public struct IPv6Address: Hashable, Comparable, Sendable, LosslessStringConvertible {
    /// Bits 127...64 of the address (the first eight bytes on the wire).
    public var high: UInt64
    /// Bits 63...0 of the address (the last eight bytes on the wire).
    public var low: UInt64

    /// Creates an address from its two 64-bit halves (host byte order).
    @inlinable
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Parses RFC 4291 text.
    /// - Throws: `AddressParseError` naming the offending group, `::`, or character.
    public init(parsing text: String) throws(AddressParseError) {
        var copy = text
        let result = copy.withUTF8 { bytes in AddressTextParser.parseIPv6(bytes) }
        switch result {
        case .success(let value):
            self.high = value.high
            self.low = value.low
        case .failure(let reason):
            throw AddressParseError(input: text, reason: reason.text)
        }
    }

    /// Parses RFC 4291 text; `nil` when invalid (use `init(parsing:)` for the reason).
    public init?(_ description: String) {
        guard let parsed = try? IPv6Address(parsing: description) else { return nil }
        self = parsed
    }

    /// The IPv4-mapped address `::ffff:a.b.c.d` (RFC 4291 section 2.5.5.2) for `address`.
    @inlinable
    public init(mapping address: IPv4Address) {
        self.high = 0
        self.low = 0x0000_FFFF_0000_0000 | UInt64(address.value)
    }

    /// The embedded IPv4 address when this is an IPv4-mapped address (`::ffff:0:0/96`), else `nil`.
    @inlinable
    public var mappedIPv4: IPv4Address? {
        guard high == 0, low >> 32 == 0xFFFF else { return nil }
        return IPv4Address(UInt32(truncatingIfNeeded: low))
    }

    /// The 16-bit group `index` (0...7, most significant first).
    @inlinable
    public func group(_ index: Int) -> UInt16 {
        let half = index < 4 ? high : low
        return UInt16(truncatingIfNeeded: half >> UInt64((3 - (index & 3)) * 16))
    }

    /// RFC 5952 canonical text.
    public var description: String {
        if let v4 = mappedIPv4 {
            return "::ffff:\(v4)"
        }
        // Find the longest run (>= 2) of zero groups, leftmost on ties.
        var bestStart = -1
        var bestLength = 1
        var index = 0
        while index < 8 {
            if group(index) == 0 {
                var end = index
                while end < 8 && group(end) == 0 { end += 1 }
                if end - index > bestLength {
                    bestStart = index
                    bestLength = end - index
                }
                index = end
            } else {
                index += 1
            }
        }
        var text = ""
        text.reserveCapacity(39)
        index = 0
        while index < 8 {
            if index == bestStart {
                text += "::"
                index += bestLength
                continue
            }
            if index > 0 && index != bestStart + bestLength {
                text += ":"
            }
            text += String(group(index), radix: 16)
            index += 1
        }
        return text
    }

    /// Numeric order (128-bit unsigned).
    @inlinable
    public static func < (lhs: IPv6Address, rhs: IPv6Address) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }
}
