/// A CIDR prefix (RFC 4632 for IPv4, RFC 4291 section 2.3 for IPv6): an address and a prefix length in bits.
///
/// The address never has host bits set: `100.64.0.1/10` is rejected with
/// `100.64.0.1/10 has host bits set (did you mean 100.64.0.0/10?)`. A bare address parses as a host prefix
/// (`/32` or `/128`). `description` is always `ADDRESS/LENGTH` in canonical form.
///
/// `contains(_:)` compares within one address family only: `10.0.0.0/8` does not contain `::ffff:10.0.0.1`.
/// The policy tables map such addresses (and prefixes inside `::ffff:0:0/96`) to IPv4 explicitly, see `unmapped`.
public struct IPPrefix: Hashable, Comparable, Sendable, LosslessStringConvertible {
    /// The first address of the prefix (host bits zero).
    public let address: IPAddress
    /// Prefix length in bits: 0...32 for IPv4, 0...128 for IPv6.
    public let length: UInt8

    /// - Throws: `AddressParseError` when `length` exceeds the address width or host bits are set.
    public init(address: IPAddress, length: UInt8) throws(AddressParseError) {
        let width = address.bitWidth
        guard length <= width else {
            throw AddressParseError(
                input: "\(address)/\(length)",
                reason: "prefix length \(length) is greater than \(width) for \(address.isIPv4 ? "IPv4" : "IPv6")"
            )
        }
        let masked = IPPrefix.mask(address, length: length)
        guard masked == address else {
            throw AddressParseError(
                input: "\(address)/\(length)",
                reason: "\(address)/\(length) has host bits set (did you mean \(masked)/\(length)?)"
            )
        }
        self.address = address
        self.length = length
    }

    /// Creates the prefix of length `length` containing `address`, clearing host bits instead of rejecting them.
    /// - Precondition: `length` is at most the address width.
    public init(truncating address: IPAddress, length: UInt8) {
        precondition(length <= address.bitWidth, "prefix length \(length) too long for \(address)")
        self.address = IPPrefix.mask(address, length: length)
        self.length = length
    }

    /// The host prefix (`/32` or `/128`) of `address`.
    public init(host address: IPAddress) {
        self.address = address
        self.length = address.bitWidth
    }

    /// Parses `ADDRESS/LENGTH` or a bare address (a host prefix).
    /// - Throws: `AddressParseError` with `input == text` and a precise reason (address part, prefix length,
    ///   or host bits set).
    public init(parsing text: String) throws(AddressParseError) {
        let utf8 = text.utf8
        guard let slash = utf8.firstIndex(of: UInt8(ascii: "/")) else {
            do {
                self.init(host: try IPAddress(parsing: text))
            } catch {
                throw AddressParseError(input: text, reason: error.reason)
            }
            return
        }
        let addressText = String(text[..<slash])
        let lengthText = String(text[text.index(after: slash)...])
        let parsedAddress: IPAddress
        do {
            parsedAddress = try IPAddress(parsing: addressText)
        } catch {
            throw AddressParseError(input: text, reason: error.reason)
        }
        if lengthText.isEmpty {
            throw AddressParseError(input: text, reason: "prefix length is empty")
        }
        var value = 0
        for byte in lengthText.utf8 {
            guard byte >= 0x30 && byte <= 0x39 else {
                throw AddressParseError(input: text, reason: "prefix length \"\(lengthText)\" is not a decimal number")
            }
            value = value * 10 + Int(byte - 0x30)
            if value > 255 { break }
        }
        if lengthText.utf8.count > 1 && lengthText.utf8.first == 0x30 {
            throw AddressParseError(input: text, reason: "prefix length \"\(lengthText)\" has a leading zero")
        }
        let width = Int(parsedAddress.bitWidth)
        guard value <= width else {
            throw AddressParseError(
                input: text,
                reason: "prefix length \(lengthText) is greater than \(width) for \(width == 32 ? "IPv4" : "IPv6")"
            )
        }
        do {
            try self.init(address: parsedAddress, length: UInt8(value))
        } catch {
            throw AddressParseError(input: text, reason: error.reason)
        }
    }

    /// Parses a prefix; `nil` when invalid (use `init(parsing:)` for the reason).
    public init?(_ description: String) {
        guard let parsed = try? IPPrefix(parsing: description) else { return nil }
        self = parsed
    }

    /// `ADDRESS/LENGTH`, e.g. `"100.64.0.0/10"`, `"2001:db8::/32"`, `"192.0.2.1/32"`.
    public var description: String {
        "\(address)/\(length)"
    }

    /// Whether `address` lies inside this prefix. Addresses of the other family are never contained
    /// (an IPv4-mapped IPv6 address is IPv6 here; use `unmapped` on both sides to compare as IPv4).
    @inlinable
    public func contains(_ address: IPAddress) -> Bool {
        switch (self.address, address) {
        case (.v4(let network), .v4(let candidate)):
            return candidate.value & IPPrefix.mask32(length) == network.value
        case (.v6(let network), .v6(let candidate)):
            let (maskHigh, maskLow) = IPPrefix.mask128(length)
            return candidate.high & maskHigh == network.high && candidate.low & maskLow == network.low
        default:
            return false
        }
    }

    /// Whether every address of `other` lies inside this prefix (same family only).
    public func contains(_ other: IPPrefix) -> Bool {
        other.length >= length && contains(other.address)
    }

    /// This prefix with an IPv6 prefix inside `::ffff:0:0/96` (length >= 96) replaced by the IPv4 prefix it maps
    /// (`::ffff:10.0.0.0/104` -> `10.0.0.0/8`); every other prefix unchanged.
    public var unmapped: IPPrefix {
        if length >= 96, case .v6(let address) = address, let v4 = address.mappedIPv4 {
            return IPPrefix(truncating: .v4(v4), length: length - 96)
        }
        return self
    }

    /// The last address of the prefix (all host bits set).
    public var lastAddress: IPAddress {
        switch address {
        case .v4(let network):
            return .v4(IPv4Address(network.value | ~IPPrefix.mask32(length)))
        case .v6(let network):
            let (maskHigh, maskLow) = IPPrefix.mask128(length)
            return .v6(IPv6Address(high: network.high | ~maskHigh, low: network.low | ~maskLow))
        }
    }

    /// Orders by address, then by length (shorter, i.e. enclosing, first).
    public static func < (lhs: IPPrefix, rhs: IPPrefix) -> Bool {
        (lhs.address, lhs.length) < (rhs.address, rhs.length)
    }

    /// The network mask of an IPv4 prefix of `length` bits (0...32), host order.
    @inlinable
    static func mask32(_ length: UInt8) -> UInt32 {
        length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
    }

    /// The network mask of an IPv6 prefix of `length` bits (0...128) as (high, low).
    @inlinable
    static func mask128(_ length: UInt8) -> (UInt64, UInt64) {
        if length == 0 { return (0, 0) }
        if length <= 64 { return (~UInt64(0) << UInt64(64 - length), 0) }
        if length == 128 { return (~0, ~0) }
        return (~0, ~UInt64(0) << UInt64(128 - length))
    }

    static func mask(_ address: IPAddress, length: UInt8) -> IPAddress {
        switch address {
        case .v4(let a):
            return .v4(IPv4Address(a.value & mask32(min(length, 32))))
        case .v6(let a):
            let (maskHigh, maskLow) = mask128(min(length, 128))
            return .v6(IPv6Address(high: a.high & maskHigh, low: a.low & maskLow))
        }
    }
}
