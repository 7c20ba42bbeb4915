import Crypto
import Egress25Core

/// Builds Accounting-Requests (RFC 2866 §4.1) with a correct Request Authenticator: for tests, fuzzing and the
/// benchmark load generator. Attributes are written in the order they are added.
public struct AccountingRequestBuilder: Hashable, Sendable {
    /// The Identifier octet.
    public var identifier: UInt8
    /// The attributes added so far, encoded (type, length, value, ...): the packet's octets from 20 on.
    public private(set) var attributes: [UInt8] = []

    /// Starts a request whose first attribute is Acct-Status-Type (40) = `statusType`; `nil`: no Acct-Status-Type
    /// (add one by hand, say with a value outside ``AccountingStatusType``, with ``addInteger(type:_:)``).
    public init(identifier: UInt8, statusType: AccountingStatusType?) {
        self.identifier = identifier
        if let statusType { addInteger(type: RadiusAttributeType.acctStatusType, statusType.rawValue) }
    }

    /// Adds a raw attribute (RFC 2865 §5).
    /// - Precondition: `value.count <= 253`.
    public mutating func add(type: UInt8, value: [UInt8]) {
        precondition(value.count <= 253, "an attribute value is at most 253 octets, not \(value.count)")
        attributes.append(type)
        attributes.append(UInt8(value.count + 2))
        attributes.append(contentsOf: value)
    }

    /// Adds a text attribute: the UTF-8 of `text`, as is.
    /// - Precondition: at most 253 octets.
    public mutating func addText(type: UInt8, _ text: String) {
        add(type: type, value: Array(text.utf8))
    }

    /// Adds a 4-octet address attribute (RFC 2865 §5: "address"), network order.
    public mutating func addIPv4(type: UInt8, _ address: IPv4Address) {
        addInteger(type: type, address.value)
    }

    /// Adds an IPv6 prefix in RFC 3162 §2.3's format (also RFC 4818's): Reserved 0, Prefix-Length, then only as
    /// many prefix octets as the length needs.
    /// - Precondition: `prefix` is IPv6.
    public mutating func addIPv6Prefix(type: UInt8, _ prefix: IPPrefix) {
        guard case .v6(let address) = prefix.address else { preconditionFailure("\(prefix) is not an IPv6 prefix") }
        let octets = Self.octets(address)
        add(type: type, value: [0, prefix.length] + octets[0..<((Int(prefix.length) + 7) / 8)])
    }

    /// Adds a 16-octet IPv6 address attribute (NAS-IPv6-Address, RFC 3162 §2.1; Framed-IPv6-Address, RFC 6911).
    public mutating func addIPv6Address(type: UInt8, _ address: IPv6Address) {
        add(type: type, value: Self.octets(address))
    }

    /// Adds a 4-octet integer attribute (RFC 2865 §5: "integer"), network order.
    public mutating func addInteger(type: UInt8, _ value: UInt32) {
        add(type: type, value: [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) })
    }

    /// Adds a Vendor-Specific attribute (26) in RFC 2865 §5.26's recommended format holding one sub-attribute:
    /// Vendor-Id (4 octets), vendor type, vendor length, value.
    /// - Precondition: `value.count <= 247`.
    public mutating func addVendor(id: UInt32, type: UInt8, value: [UInt8]) {
        precondition(value.count <= 247, "a vendor sub-attribute value is at most 247 octets, not \(value.count)")
        let vendor = [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: id >> $0) }
        add(type: RadiusAttributeType.vendorSpecific, value: vendor + [type, UInt8(value.count + 2)] + value)
    }

    /// The packet: Code 4, the Identifier, the Length, the Request Authenticator (RFC 2866 §3) and the attributes.
    /// Length is not capped at 4096, so oversized requests can be built for tests.
    /// - Precondition: the packet is at most 65535 octets.
    public func encode(secret: [UInt8]) -> [UInt8] {
        let length = AccountingCodec.headerLength + attributes.count
        precondition(length <= 65535, "a RADIUS packet is at most 65535 octets")
        var packet: [UInt8] = [
            AccountingCodec.accountingRequestCode, identifier, UInt8(length >> 8), UInt8(length & 0xFF),
        ]
        packet.reserveCapacity(length)
        packet.append(contentsOf: repeatElement(0, count: 16))
        packet.append(contentsOf: attributes)
        Self.sign(&packet, secret: secret)
        return packet
    }

    /// Overwrites octets 4..<20 of `packet` with its Request Authenticator (RFC 2866 §3), computed over the octets
    /// up to its Length field (or to its end, when shorter): re-signs a hand-edited or mutated request.
    /// - Precondition: `packet.count >= 20`.
    public static func sign(_ packet: inout [UInt8], secret: [UInt8]) {
        precondition(packet.count >= AccountingCodec.headerLength, "a RADIUS packet has at least 20 octets")
        let length = max(AccountingCodec.headerLength, min(packet.count, Int(packet[2]) << 8 | Int(packet[3])))
        packet.withUnsafeMutableBytes { bytes in
            let digest = AccountingCodec.requestAuthenticator(
                UnsafeRawBufferPointer(rebasing: bytes[0..<length]), secret: secret)
            digest.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: bytes[4..<20]).copyMemory(from: $0) }
        }
    }

    private static func octets(_ address: IPv6Address) -> [UInt8] {
        (0..<16).map { index in
            UInt8(truncatingIfNeeded: (index < 8 ? address.high : address.low) >> UInt64(56 - 8 * (index % 8)))
        }
    }
}
