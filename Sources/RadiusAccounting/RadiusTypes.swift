/// RFC 2866 §5.1 Acct-Status-Type values this feed acts on.
///
/// Any other value (the tunnel values 9-14 of RFC 2867, Failed = 15, vendor values) is discarded as
/// ``RadiusInvalidReason/unknownStatusType``.
public enum AccountingStatusType: UInt32, Sendable, Hashable, CaseIterable {
    /// 1: a session began; it carries the subscriber and the addresses.
    case start = 1
    /// 2: a session ended.
    case stop = 2
    /// 3: a session is still up (RFC 2869 §5.1); it also refreshes the session's lease.
    case interimUpdate = 3
    /// 7: the NAS (re)started: every earlier session of this NAS is over.
    case accountingOn = 7
    /// 8: the NAS is about to stop: every session of this NAS is over.
    case accountingOff = 8
}

/// Which attribute names the subscriber (config key `session_feed.radius.subscriber_id`).
///
/// The attribute's value is read as text (1...253 octets of UTF-8 without control characters).
public enum SubscriberAttribute: Hashable, Sendable, CustomStringConvertible {
    /// User-Name (1, RFC 2865 §5.1).
    case userName
    /// Class (25, RFC 2865 §5.25).
    case `class`
    /// Calling-Station-Id (31, RFC 2865 §5.31).
    case callingStationID
    /// NAS-Port-Id (87, RFC 2869 §5.17).
    case nasPortID
    /// Any standard attribute by number: `Attr-N` (FreeRADIUS's notation). `.attribute(1)` reads the same
    /// attribute as `.userName` but is a distinct value (each spelling round-trips as written).
    case attribute(UInt8)
    /// A sub-attribute of type `type` inside a Vendor-Specific attribute (26) of vendor `id`, in RFC 2865 §5.26's
    /// recommended format (Vendor-Id, then vendor type, vendor length, value): `Attr-26.VENDOR.TYPE`.
    case vendor(id: UInt32, type: UInt8)

    /// Parses `User-Name`, `Class`, `Calling-Station-Id`, `NAS-Port-Id` (case-insensitive), `Attr-N`
    /// (N in 0...255) and `Attr-26.V.T` (V a UInt32, T in 0...255), all decimal without leading zeros (so the
    /// text is canonical); `nil` otherwise.
    public init?(name: String) {
        let lower = name.lowercased()
        switch lower {
        case "user-name": self = .userName
        case "class": self = .class
        case "calling-station-id": self = .callingStationID
        case "nas-port-id": self = .nasPortID
        default:
            guard lower.hasPrefix("attr-") else { return nil }
            let parts = lower.dropFirst(5).split(separator: ".", omittingEmptySubsequences: false)
            switch parts.count {
            case 1:
                guard let number = Self.decimal(parts[0], maximum: 255) else { return nil }
                self = .attribute(UInt8(number))
            case 3:
                guard parts[0] == "26",
                    let vendor = Self.decimal(parts[1], maximum: UInt64(UInt32.max)),
                    let type = Self.decimal(parts[2], maximum: 255)
                else { return nil }
                self = .vendor(id: UInt32(vendor), type: UInt8(type))
            default:
                return nil
            }
        }
    }

    /// The canonical name: `User-Name`, `Class`, `Calling-Station-Id`, `NAS-Port-Id`, `Attr-N` or `Attr-26.V.T`;
    /// `SubscriberAttribute(name: x.description) == x` for every value.
    public var description: String {
        switch self {
        case .userName: return "User-Name"
        case .class: return "Class"
        case .callingStationID: return "Calling-Station-Id"
        case .nasPortID: return "NAS-Port-Id"
        case .attribute(let type): return "Attr-\(type)"
        case .vendor(let id, let type): return "Attr-26.\(id).\(type)"
        }
    }

    /// The standard attribute type this names, or `nil` for `.vendor`.
    var standardType: UInt8? {
        switch self {
        case .userName: return RadiusAttributeType.userName
        case .class: return RadiusAttributeType.class
        case .callingStationID: return RadiusAttributeType.callingStationID
        case .nasPortID: return RadiusAttributeType.nasPortID
        case .attribute(let type): return type
        case .vendor: return nil
        }
    }

    /// A decimal number without sign or leading zero, at most `maximum`.
    private static func decimal(_ text: Substring, maximum: UInt64) -> UInt64? {
        let digits = text.utf8
        guard !digits.isEmpty, digits.count <= 10, digits.count == 1 || digits.first != UInt8(ascii: "0") else {
            return nil
        }
        var value: UInt64 = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + UInt64(digit - UInt8(ascii: "0"))
        }
        return value <= maximum ? value : nil
    }
}

/// Why a datagram was discarded: the label `why` of `egress25_radius_invalid_total`. Raw values are the label
/// values (snake_case).
public enum RadiusInvalidReason: String, CaseIterable, Sendable, Error {
    /// The datagram, or its Length field, is under 20 octets (RFC 2866 §3).
    case tooShort = "too_short"
    /// The datagram, or its Length field, is over 4096 octets (RFC 2866 §3).
    case tooLong = "too_long"
    /// The Length field is greater than the datagram (RFC 2865 §3: discard). Octets past Length are padding and
    /// ignored, so a shorter Length is not an error.
    case lengthMismatch = "length_mismatch"
    /// An attribute's length is under 2 or runs past Length; or a sub-attribute of a Vendor-Specific attribute
    /// of the configured subscriber vendor does the same inside its attribute (RFC 2865 §5, §5.26).
    case attributeOverflow = "attribute_overflow"
    /// Code is not 4 (Accounting-Request, RFC 2866 §4.1).
    case unknownCode = "unknown_code"
    /// The source address is not a configured client. The listener reports this; the codec never does.
    case unknownClient = "unknown_client"
    /// The Request Authenticator does not verify with the client's shared secret (RFC 2866 §3).
    case badAuthenticator = "bad_authenticator"
    /// No Acct-Status-Type (40, RFC 2866 §5.1).
    case missingStatusType = "missing_status_type"
    /// Acct-Status-Type is not one of ``AccountingStatusType`` (for example the tunnel values 9-14, Failed = 15).
    case unknownStatusType = "unknown_status_type"
    /// A Start, Interim-Update or Stop without Acct-Session-Id (44, RFC 2866 §5.5).
    case missingSessionID = "missing_session_id"
    /// A Start or Interim-Update without the configured subscriber attribute.
    case missingSubscriberID = "missing_subscriber_id"
    /// A Start without a usable address: no Framed-IP-Address other than 255.255.255.255/254 and no IPv6
    /// attribute (Framed-IPv6-Prefix, Delegated-IPv6-Prefix, Framed-IPv6-Address).
    case noAddress = "no_address"
    /// An attribute the feed reads has a bad value: the wrong length for a fixed-size attribute (4 octets for
    /// Acct-Status-Type, Framed-IP-Address, NAS-IP-Address and the integers; 16 for NAS-IPv6-Address and
    /// Framed-IPv6-Address), an IPv6 prefix longer than 128 bits or with fewer octets than its length needs, an
    /// empty text attribute, or a session id, subscriber id or NAS-Identifier that is not UTF-8 text or contains
    /// control characters (Unicode category Cc).
    case badAttributeValue = "bad_attribute_value"
}

/// Attribute type numbers (RFC 2865 §5, RFC 2866 §5, RFC 2869 §5, RFC 3162 §2, RFC 4818, RFC 6911).
public enum RadiusAttributeType {
    /// User-Name (RFC 2865 §5.1).
    public static let userName: UInt8 = 1
    /// NAS-IP-Address (RFC 2865 §5.4).
    public static let nasIPAddress: UInt8 = 4
    /// Framed-IP-Address (RFC 2865 §5.8).
    public static let framedIPAddress: UInt8 = 8
    /// Class (RFC 2865 §5.25).
    public static let `class`: UInt8 = 25
    /// Vendor-Specific (RFC 2865 §5.26).
    public static let vendorSpecific: UInt8 = 26
    /// Calling-Station-Id (RFC 2865 §5.31).
    public static let callingStationID: UInt8 = 31
    /// NAS-Identifier (RFC 2865 §5.32).
    public static let nasIdentifier: UInt8 = 32
    /// Acct-Status-Type (RFC 2866 §5.1).
    public static let acctStatusType: UInt8 = 40
    /// Acct-Delay-Time, seconds (RFC 2866 §5.2).
    public static let acctDelayTime: UInt8 = 41
    /// Acct-Session-Id (RFC 2866 §5.5).
    public static let acctSessionID: UInt8 = 44
    /// Event-Timestamp, UTC seconds since 1970 (RFC 2869 §5.3).
    public static let eventTimestamp: UInt8 = 55
    /// Message-Authenticator (RFC 2869 §5.14, RFC 3579 §3.2).
    public static let messageAuthenticator: UInt8 = 80
    /// Acct-Interim-Interval, seconds (RFC 2869 §5.16).
    public static let acctInterimInterval: UInt8 = 85
    /// NAS-Port-Id (RFC 2869 §5.17).
    public static let nasPortID: UInt8 = 87
    /// NAS-IPv6-Address (RFC 3162 §2.1).
    public static let nasIPv6Address: UInt8 = 95
    /// Framed-IPv6-Prefix (RFC 3162 §2.3).
    public static let framedIPv6Prefix: UInt8 = 97
    /// Delegated-IPv6-Prefix (RFC 4818 §3).
    public static let delegatedIPv6Prefix: UInt8 = 123
    /// Framed-IPv6-Address (RFC 6911 §3.1).
    public static let framedIPv6Address: UInt8 = 168
}

/// A 16-octet RADIUS authenticator (RFC 2865 §3), as two big-endian halves.
public struct RadiusAuthenticator: Hashable, Sendable {
    /// Octets 0-7, big-endian.
    public var high: UInt64
    /// Octets 8-15, big-endian.
    public var low: UInt64

    /// Creates an authenticator from its two halves (octets 0-7 and 8-15, big-endian).
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Creates an authenticator from its 16 octets.
    /// - Precondition: `bytes.count == 16`.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 16, "a RADIUS authenticator is 16 octets, not \(bytes.count)")
        self = bytes.withUnsafeBytes { RadiusAuthenticator(at: 0, in: $0) }
    }

    /// Reads 16 octets at `offset`; the caller has checked the bounds.
    init(at offset: Int, in buffer: UnsafeRawBufferPointer) {
        self.high = readUInt64(buffer, offset)
        self.low = readUInt64(buffer, offset + 8)
    }

    /// The 16 octets, in wire order.
    public var bytes: [UInt8] {
        sixteenOctets(high, low)
    }

    /// Writes the 16 octets at `offset` of `buffer`; the caller has checked the bounds.
    func write(to buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
        buffer.storeBytes(of: high.bigEndian, toByteOffset: offset, as: UInt64.self)
        buffer.storeBytes(of: low.bigEndian, toByteOffset: offset + 8, as: UInt64.self)
    }
}

/// A 128-bit digest of an Accounting-Request's content (see ``AccountingRequest/contentDigest``): MD5 of the Code
/// octet and every attribute except Acct-Delay-Time and Message-Authenticator, as two big-endian halves. Stable
/// across processes and versions, so it may be stored.
public struct RadiusContentDigest: Hashable, Sendable, CustomStringConvertible {
    /// Octets 0-7 of the MD5 digest, big-endian.
    public var high: UInt64
    /// Octets 8-15 of the MD5 digest, big-endian.
    public var low: UInt64

    /// Creates a digest from its two halves (octets 0-7 and 8-15, big-endian).
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Creates a digest from its 16 octets.
    /// - Precondition: `bytes.count == 16`.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 16, "a content digest is 16 octets, not \(bytes.count)")
        (high, low) = bytes.withUnsafeBytes { (readUInt64($0, 0), readUInt64($0, 8)) }
    }

    /// The 16 octets, in wire order.
    public var bytes: [UInt8] {
        sixteenOctets(high, low)
    }

    /// 32 lowercase hexadecimal digits.
    public var description: String {
        let high = String(high, radix: 16)
        let low = String(low, radix: 16)
        return String(repeating: "0", count: 16 - high.utf8.count) + high
            + String(repeating: "0", count: 16 - low.utf8.count) + low
    }
}

/// The big-endian UInt64 at `offset` of `buffer` (any alignment); the caller has checked the bounds.
@inline(__always)
func readUInt64(_ buffer: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
    UInt64(bigEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
}

/// The big-endian UInt32 at `offset` of `buffer` (any alignment); the caller has checked the bounds.
@inline(__always)
func readUInt32(_ buffer: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
    UInt32(bigEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
}

private func sixteenOctets(_ high: UInt64, _ low: UInt64) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: 16)
    for index in 0..<8 {
        bytes[index] = UInt8(truncatingIfNeeded: high >> UInt64(56 - 8 * index))
        bytes[index + 8] = UInt8(truncatingIfNeeded: low >> UInt64(56 - 8 * index))
    }
    return bytes
}
