/// An IPv4 address (RFC 791), stored as a 32-bit integer in host byte order.
///
/// Text form is dotted decimal: exactly four octets of 1-3 digits, each 0-255, without leading zeros
/// (`"010.1.1.1"` is rejected because some parsers read it as octal). Ordering is numeric.
public struct IPv4Address: Hashable, Comparable, Sendable, LosslessStringConvertible {
    /// The address in host byte order: `192.0.2.1` is `0xC000_0201`.
    public var value: UInt32

    /// Creates an address from its 32-bit value in host byte order.
    @inlinable
    public init(_ value: UInt32) {
        self.value = value
    }

    /// Creates an address from its four octets, most significant first: `IPv4Address(192, 0, 2, 1)`.
    @inlinable
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        self.value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses dotted decimal text.
    /// - Throws: `AddressParseError` naming the offending octet or character.
    public init(parsing text: String) throws(AddressParseError) {
        var copy = text
        let result = copy.withUTF8 { bytes in AddressTextParser.parseIPv4(bytes, from: 0, to: bytes.count) }
        switch result {
        case .success(let value): self.value = value
        case .failure(let reason): throw AddressParseError(input: text, reason: reason.text)
        }
    }

    /// Parses dotted decimal text; `nil` when invalid (use `init(parsing:)` for the reason).
    public init?(_ description: String) {
        guard let parsed = try? IPv4Address(parsing: description) else { return nil }
        self = parsed
    }

    /// Dotted decimal, e.g. `"192.0.2.1"`.
    public var description: String {
        "\(value >> 24).\((value >> 16) & 0xFF).\((value >> 8) & 0xFF).\(value & 0xFF)"
    }

    /// Numeric order.
    @inlinable
    public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool {
        lhs.value < rhs.value
    }
}
