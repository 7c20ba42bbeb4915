/// An IPv4 or IPv6 address.
///
/// Ordering puts every IPv4 address before every IPv6 address, then orders numerically.
/// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) stays `.v6` here; `unmapped` converts it to `.v4`,
/// which is what the policy's longest-prefix-match tables do on lookup.
public enum IPAddress: Hashable, Comparable, Sendable, LosslessStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    /// Parses an IPv4 (dotted decimal) or IPv6 (RFC 4291) address; text containing `:` is IPv6.
    /// - Throws: `AddressParseError` with the precise reason.
    public init(parsing text: String) throws(AddressParseError) {
        if text.utf8.contains(UInt8(ascii: ":")) {
            self = .v6(try IPv6Address(parsing: text))
        } else {
            self = .v4(try IPv4Address(parsing: text))
        }
    }

    /// Parses an address; `nil` when invalid (use `init(parsing:)` for the reason).
    public init?(_ description: String) {
        guard let parsed = try? IPAddress(parsing: description) else { return nil }
        self = parsed
    }

    /// Canonical text: dotted decimal, or RFC 5952 for IPv6.
    public var description: String {
        switch self {
        case .v4(let address): return address.description
        case .v6(let address): return address.description
        }
    }

    /// `true` for `.v4`.
    @inlinable
    public var isIPv4: Bool {
        if case .v4 = self { return true }
        return false
    }

    /// The address with an IPv4-mapped IPv6 address (`::ffff:0:0/96`, RFC 4291 section 2.5.5.2) replaced by
    /// its IPv4 address; every other address unchanged.
    @inlinable
    public var unmapped: IPAddress {
        if case .v6(let address) = self, let v4 = address.mappedIPv4 {
            return .v4(v4)
        }
        return self
    }

    /// Width of the address in bits: 32 or 128.
    @inlinable
    public var bitWidth: UInt8 {
        isIPv4 ? 32 : 128
    }

    /// Orders every IPv4 address before every IPv6 address, each family numerically.
    @inlinable
    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        switch (lhs, rhs) {
        case (.v4(let a), .v4(let b)): return a < b
        case (.v6(let a), .v6(let b)): return a < b
        case (.v4, .v6): return true
        case (.v6, .v4): return false
        }
    }
}
