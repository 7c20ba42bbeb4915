import Crypto
import Egress25Core

/// Decodes RFC 2866 Accounting-Requests and encodes Accounting-Responses. Pure: no I/O, no state.
///
/// Message-Authenticator (80, RFC 3579 §3.2) is not verified. For an Accounting-Request it is
/// HMAC-MD5(secret, the packet with the Request Authenticator and its own value zeroed) — checked against radclient
/// 3.2.1 — and the Request Authenticator, MD5 over every octet of the packet (the Message-Authenticator value
/// included) and the same secret, is computed and checked after it, so verifying it adds no integrity, and it is
/// optional in accounting. It is skipped (and left out of ``AccountingRequest/contentDigest``).
public enum AccountingCodec {
    /// The header: Code, Identifier, Length (2), Authenticator (16) (RFC 2866 §3).
    static let headerLength = 20
    /// The largest packet RFC 2866 §3 allows.
    static let maximumLength = 4096
    /// Code of an Accounting-Request (RFC 2866 §4.1).
    static let accountingRequestCode: UInt8 = 4
    /// Code of an Accounting-Response (RFC 2866 §4.2).
    static let accountingResponseCode: UInt8 = 5

    /// Decodes one datagram from a client whose shared secret is `secret`. Never traps, whatever the input.
    ///
    /// Checks, in this order (the first failure is thrown):
    /// 1. size: datagram or Length field under 20 octets (`too_short`), over 4096 (`too_long`), Length greater than
    ///    the datagram (`length_mismatch`); octets past Length are padding and ignored (RFC 2865 §3);
    /// 2. Code 4 (`unknown_code`);
    /// 3. attribute framing, and the sub-attribute framing of Vendor-Specific attributes of the configured
    ///    subscriber vendor (`attribute_overflow`); other vendors' attributes are opaque, since RFC 2865 §5.26's
    ///    format is only recommended;
    /// 4. the Request Authenticator, MD5(Code + Identifier + Length + 16 zero octets + attributes + secret)
    ///    (RFC 2866 §3; `bad_authenticator`);
    /// 5. Acct-Status-Type: absent (`missing_status_type`), not 4 octets (`bad_attribute_value`), not an
    ///    ``AccountingStatusType`` (`unknown_status_type`);
    /// 6. any other bad value among the attributes read (`bad_attribute_value`, see
    ///    ``RadiusInvalidReason/badAttributeValue``);
    /// 7. Start, Interim-Update and Stop need Acct-Session-Id (`missing_session_id`); Start and Interim-Update the
    ///    subscriber attribute (`missing_subscriber_id`); Start an address (`no_address`).
    ///
    /// Of a single-valued attribute only the first occurrence is read; the IPv6 prefix attributes are all read.
    /// - Parameters:
    ///   - datagram: the UDP payload as received.
    ///   - secret: the client's shared secret (RFC 2865 §3).
    ///   - subscriberAttribute: the attribute that names the subscriber.
    /// - Throws: ``RadiusInvalidReason``, never `.unknownClient`.
    public static func decodeRequest(
        _ datagram: UnsafeRawBufferPointer, secret: [UInt8], subscriberAttribute: SubscriberAttribute
    ) throws(RadiusInvalidReason) -> AccountingRequest {
        guard datagram.count >= headerLength else { throw .tooShort }
        guard datagram.count <= maximumLength else { throw .tooLong }
        let length = Int(datagram[2]) << 8 | Int(datagram[3])
        guard length >= headerLength else { throw .tooShort }
        guard length <= maximumLength else { throw .tooLong }
        guard length <= datagram.count else { throw .lengthMismatch }
        guard datagram[0] == accountingRequestCode else { throw .unknownCode }
        let packet = UnsafeRawBufferPointer(rebasing: datagram[0..<length])
        var subscriberVendor: UInt32? = nil
        if case .vendor(let id, _) = subscriberAttribute { subscriberVendor = id }
        try checkFraming(packet, subscriberVendor: subscriberVendor)
        guard requestAuthenticatorVerifies(packet, secret: secret) else { throw .badAuthenticator }
        return try decodeAttributes(packet, subscriberAttribute: subscriberAttribute)
    }

    /// Decodes a datagram held in an array, exactly as the `UnsafeRawBufferPointer` form does (for tests).
    /// - Throws: ``RadiusInvalidReason``, as the buffer form.
    public static func decodeRequest(
        _ datagram: [UInt8], secret: [UInt8], subscriberAttribute: SubscriberAttribute
    ) throws(RadiusInvalidReason) -> AccountingRequest {
        let result = datagram.withUnsafeBytes { bytes in
            Result { () throws(RadiusInvalidReason) in
                try decodeRequest(bytes, secret: secret, subscriberAttribute: subscriberAttribute)
            }
        }
        return try result.get()
    }

    /// The 20-octet Accounting-Response (Code 5, no attributes, RFC 2866 §4.2) to a request: Response
    /// Authenticator = MD5(Code + Identifier + Length + Request Authenticator + attributes + secret) (RFC 2866 §3).
    public static func encodeResponse(
        identifier: UInt8, requestAuthenticator: RadiusAuthenticator, secret: [UInt8]
    ) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: headerLength) { buffer, count in
            encodeResponse(
                identifier: identifier, requestAuthenticator: requestAuthenticator, secret: secret,
                into: UnsafeMutableRawBufferPointer(buffer))
            count = headerLength
        }
    }

    /// Writes the same 20 octets as ``encodeResponse(identifier:requestAuthenticator:secret:)`` into the first 20
    /// octets of `buffer`, without allocating an array (the listener's hot path; swift-crypto's MD5 context is
    /// the one allocation).
    /// - Precondition: `buffer.count >= 20`.
    public static func encodeResponse(
        identifier: UInt8, requestAuthenticator: RadiusAuthenticator, secret: [UInt8],
        into buffer: UnsafeMutableRawBufferPointer
    ) {
        precondition(buffer.count >= headerLength, "an Accounting-Response needs 20 octets")
        buffer[0] = accountingResponseCode
        buffer[1] = identifier
        buffer[2] = 0
        buffer[3] = UInt8(headerLength)
        requestAuthenticator.write(to: buffer, at: 4)
        var md5 = Insecure.MD5()
        md5.update(bufferPointer: UnsafeRawBufferPointer(start: buffer.baseAddress, count: headerLength))
        secret.withUnsafeBytes { md5.update(bufferPointer: $0) }
        md5.finalize().withUnsafeBytes { digest in
            UnsafeMutableRawBufferPointer(rebasing: buffer[4..<headerLength]).copyMemory(from: digest)
        }
    }

    /// Whether `datagram` is a valid Accounting-Response to `request` (for tests and the benchmark client): Code 5,
    /// the request's Identifier, a Length within 20...4096 and the datagram, and the Response Authenticator
    /// (RFC 2866 §3) over the octets up to Length.
    public static func verifyResponse(_ datagram: [UInt8], to request: [UInt8], secret: [UInt8]) -> Bool {
        guard datagram.count >= headerLength, request.count >= headerLength else { return false }
        guard datagram[0] == accountingResponseCode, datagram[1] == request[1] else { return false }
        let length = Int(datagram[2]) << 8 | Int(datagram[3])
        guard length >= headerLength, length <= maximumLength, length <= datagram.count else { return false }
        var md5 = Insecure.MD5()
        datagram.withUnsafeBytes { md5.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<4])) }
        request.withUnsafeBytes { md5.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[4..<20])) }
        datagram.withUnsafeBytes { md5.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[20..<length])) }
        secret.withUnsafeBytes { md5.update(bufferPointer: $0) }
        return md5.finalize().withUnsafeBytes { digest in
            datagram.withUnsafeBytes {
                readUInt64(digest, 0) == readUInt64($0, 4) && readUInt64(digest, 8) == readUInt64($0, 12)
            }
        }
    }

    /// MD5 over `packet` with octets 4..<20 taken as zero, then `secret`: the Request Authenticator of an
    /// Accounting-Request (RFC 2866 §3). `packet.count >= 20`.
    static func requestAuthenticator(_ packet: UnsafeRawBufferPointer, secret: [UInt8]) -> Insecure.MD5Digest {
        var md5 = Insecure.MD5()
        md5.update(bufferPointer: UnsafeRawBufferPointer(rebasing: packet[0..<4]))
        withUnsafeBytes(of: (UInt64(0), UInt64(0))) { md5.update(bufferPointer: $0) }
        md5.update(bufferPointer: UnsafeRawBufferPointer(rebasing: packet[headerLength...]))
        secret.withUnsafeBytes { md5.update(bufferPointer: $0) }
        return md5.finalize()
    }

    /// Whether octets 4..<20 of `packet` are its Request Authenticator, compared in constant time.
    static func requestAuthenticatorVerifies(_ packet: UnsafeRawBufferPointer, secret: [UInt8]) -> Bool {
        requestAuthenticator(packet, secret: secret).withUnsafeBytes { digest in
            let difference =
                (readUInt64(digest, 0) ^ readUInt64(packet, 4)) | (readUInt64(digest, 8) ^ readUInt64(packet, 12))
            return difference == 0
        }
    }

    /// Checks that the attributes tile octets 20..<Length exactly, and so do the sub-attributes of each
    /// Vendor-Specific attribute of `subscriberVendor` (RFC 2865 §5, §5.26).
    static func checkFraming(_ packet: UnsafeRawBufferPointer, subscriberVendor: UInt32?) throws(RadiusInvalidReason) {
        let end = packet.count
        var offset = headerLength
        while offset < end {
            guard end - offset >= 2 else { throw .attributeOverflow }
            let length = Int(packet[offset + 1])
            guard length >= 2, length <= end - offset else { throw .attributeOverflow }
            if packet[offset] == RadiusAttributeType.vendorSpecific, let subscriberVendor, length >= 6,
                readUInt32(packet, offset + 2) == subscriberVendor
            {
                let subEnd = offset + length
                var sub = offset + 6
                while sub < subEnd {
                    guard subEnd - sub >= 2 else { throw .attributeOverflow }
                    let subLength = Int(packet[sub + 1])
                    guard subLength >= 2, subLength <= subEnd - sub else { throw .attributeOverflow }
                    sub += subLength
                }
            }
            offset += length
        }
    }

    /// The second pass over a framed, authenticated packet: reads the attributes and computes the content digest.
    static func decodeAttributes(
        _ packet: UnsafeRawBufferPointer, subscriberAttribute: SubscriberAttribute
    ) throws(RadiusInvalidReason) -> AccountingRequest {
        let end = packet.count
        let subscriberType = subscriberAttribute.standardType
        var subscriberVendor: UInt32? = nil
        var subscriberVendorType: UInt8 = 0
        if case .vendor(let id, let type) = subscriberAttribute {
            subscriberVendor = id
            subscriberVendorType = type
        }

        var statusSeen = false
        var statusValue: UInt32? = nil  // nil with statusSeen: not 4 octets
        var sessionSeen = false
        var sessionID: String? = nil
        var subscriberSeen = false
        var subscriberID: String? = nil
        var nasIPv4: IPv4Address? = nil
        var nasIPv4Seen = false
        var nasIPv6: IPv6Address? = nil
        var nasIPv6Seen = false
        var nasIdentifier: String? = nil
        var nasIdentifierSeen = false
        var framedIPv4: IPv4Address? = nil
        var framedIPv4Seen = false
        var prefixes: [IPPrefix] = []
        var delay: UInt32? = nil
        var delaySeen = false
        var eventTimestamp: UInt32? = nil
        var eventTimestampSeen = false
        var interim: UInt32? = nil
        var interimSeen = false
        var badValue = false

        // The content digest: Code, then the attributes in runs between the excluded ones.
        var digest = Insecure.MD5()
        digest.update(bufferPointer: UnsafeRawBufferPointer(rebasing: packet[0..<1]))
        var runStart = headerLength

        var offset = headerLength
        while offset < end {
            let type = packet[offset]
            let length = Int(packet[offset + 1])
            let value = UnsafeRawBufferPointer(rebasing: packet[(offset + 2)..<(offset + length)])
            if type == subscriberType, !subscriberSeen {
                subscriberSeen = true
                subscriberID = text(value)
                badValue = badValue || subscriberID == nil
            }
            switch type {
            case RadiusAttributeType.acctStatusType where !statusSeen:
                statusSeen = true
                statusValue = integer(value)
            case RadiusAttributeType.acctSessionID where !sessionSeen:
                sessionSeen = true
                sessionID = text(value)
                badValue = badValue || sessionID == nil
            case RadiusAttributeType.nasIPAddress where !nasIPv4Seen:
                nasIPv4Seen = true
                nasIPv4 = integer(value).map { IPv4Address($0) }
                badValue = badValue || nasIPv4 == nil
            case RadiusAttributeType.nasIPv6Address where !nasIPv6Seen:
                nasIPv6Seen = true
                nasIPv6 = ipv6Address(value)
                badValue = badValue || nasIPv6 == nil
            case RadiusAttributeType.nasIdentifier where !nasIdentifierSeen:
                nasIdentifierSeen = true
                nasIdentifier = text(value)
                badValue = badValue || nasIdentifier == nil
            case RadiusAttributeType.framedIPAddress where !framedIPv4Seen:
                framedIPv4Seen = true
                if let address = integer(value) {
                    // RFC 2865 §5.8: 0xFFFFFFFF "NAS should select", 0xFFFFFFFE "user may select".
                    framedIPv4 = address >= 0xFFFF_FFFE ? nil : IPv4Address(address)
                } else {
                    badValue = true
                }
            case RadiusAttributeType.framedIPv6Prefix, RadiusAttributeType.delegatedIPv6Prefix:
                if let prefix = ipv6Prefix(value) {
                    appendPrefix(prefix, to: &prefixes)
                } else {
                    badValue = true
                }
            case RadiusAttributeType.framedIPv6Address:
                if let address = ipv6Address(value) {
                    appendPrefix(IPPrefix(host: .v6(address)), to: &prefixes)
                } else {
                    badValue = true
                }
            case RadiusAttributeType.acctDelayTime where !delaySeen:
                delaySeen = true
                delay = integer(value)
                badValue = badValue || delay == nil
            case RadiusAttributeType.eventTimestamp where !eventTimestampSeen:
                eventTimestampSeen = true
                eventTimestamp = integer(value)
                badValue = badValue || eventTimestamp == nil
            case RadiusAttributeType.acctInterimInterval where !interimSeen:
                interimSeen = true
                interim = integer(value)
                badValue = badValue || interim == nil
            case RadiusAttributeType.vendorSpecific
            where !subscriberSeen && subscriberVendor != nil && value.count >= 4
                && readUInt32(value, 0) == subscriberVendor:
                // checkFraming has checked this attribute's sub-attributes.
                var sub = 4
                while sub < value.count {
                    let subLength = Int(value[sub + 1])
                    if value[sub] == subscriberVendorType {
                        subscriberSeen = true
                        subscriberID = text(UnsafeRawBufferPointer(rebasing: value[(sub + 2)..<(sub + subLength)]))
                        badValue = badValue || subscriberID == nil
                        break
                    }
                    sub += subLength
                }
            default:
                break
            }
            if type == RadiusAttributeType.acctDelayTime || type == RadiusAttributeType.messageAuthenticator {
                digest.update(bufferPointer: UnsafeRawBufferPointer(rebasing: packet[runStart..<offset]))
                runStart = offset + length
            }
            offset += length
        }

        guard statusSeen else { throw .missingStatusType }
        guard let statusValue else { throw .badAttributeValue }
        guard let statusType = AccountingStatusType(rawValue: statusValue) else { throw .unknownStatusType }
        guard !badValue else { throw .badAttributeValue }
        switch statusType {
        case .start, .interimUpdate, .stop:
            guard sessionID != nil else { throw .missingSessionID }
        case .accountingOn, .accountingOff:
            break
        }
        if statusType == .start || statusType == .interimUpdate {
            guard subscriberID != nil else { throw .missingSubscriberID }
        }
        if statusType == .start {
            guard framedIPv4 != nil || !prefixes.isEmpty else { throw .noAddress }
        }

        digest.update(bufferPointer: UnsafeRawBufferPointer(rebasing: packet[runStart..<end]))
        let contentDigest = digest.finalize().withUnsafeBytes {
            RadiusContentDigest(high: readUInt64($0, 0), low: readUInt64($0, 8))
        }
        return AccountingRequest(
            identifier: packet[1],
            authenticator: RadiusAuthenticator(at: 4, in: packet),
            statusType: statusType,
            sessionID: sessionID,
            subscriberID: subscriberID,
            nasIPv4: nasIPv4,
            nasIPv6: nasIPv6,
            nasIdentifier: nasIdentifier,
            framedIPv4: framedIPv4,
            ipv6Prefixes: prefixes,
            delaySeconds: delay ?? 0,
            eventTimestamp: eventTimestamp,
            interimIntervalSeconds: interim,
            contentDigest: contentDigest
        )
    }

    /// Appends `prefix` unless already present; the first append reserves room for a few, so a typical request
    /// (a framed and a delegated prefix) allocates the array once.
    @inline(__always)
    static func appendPrefix(_ prefix: IPPrefix, to prefixes: inout [IPPrefix]) {
        if prefixes.isEmpty {
            prefixes.reserveCapacity(4)
        } else if prefixes.contains(prefix) {
            return
        }
        prefixes.append(prefix)
    }

    /// A 4-octet integer (RFC 2865 §5: "integer", "address"), or `nil` for any other length.
    @inline(__always)
    static func integer(_ value: UnsafeRawBufferPointer) -> UInt32? {
        value.count == 4 ? readUInt32(value, 0) : nil
    }

    /// A 16-octet IPv6 address (RFC 3162 §2.1, RFC 6911 §3.1), or `nil` for any other length.
    static func ipv6Address(_ value: UnsafeRawBufferPointer) -> IPv6Address? {
        value.count == 16 ? IPv6Address(high: readUInt64(value, 0), low: readUInt64(value, 8)) : nil
    }

    /// An RFC 3162 §2.3 prefix value (Reserved, Prefix-Length, then up to 16 prefix octets; RFC 4818 uses the
    /// same), with the bits past Prefix-Length cleared; `nil` when Prefix-Length is over 128, the value is over
    /// 18 octets, or it has fewer prefix octets than Prefix-Length needs.
    static func ipv6Prefix(_ value: UnsafeRawBufferPointer) -> IPPrefix? {
        guard value.count >= 2, value.count <= 18 else { return nil }
        let length = value[1]
        guard length <= 128 else { return nil }
        let needed = (Int(length) + 7) / 8
        guard value.count - 2 >= needed else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0..<needed {
            let octet = UInt64(value[2 + index])
            if index < 8 {
                high |= octet << UInt64(56 - 8 * index)
            } else {
                low |= octet << UInt64(120 - 8 * index)
            }
        }
        return IPPrefix(truncating: .v6(IPv6Address(high: high, low: low)), length: length)
    }

    /// The value as text: 1...253 octets of UTF-8 without control characters (Unicode category Cc: U+0000-U+001F,
    /// U+007F-U+009F); `nil` otherwise.
    static func text(_ value: UnsafeRawBufferPointer) -> String? {
        guard !value.isEmpty else { return nil }
        var ascii = true
        for octet in value {
            if octet < 0x20 || octet == 0x7F { return nil }
            if octet >= 0x80 { ascii = false }
        }
        if ascii { return String(decoding: value, as: UTF8.self) }
        guard let text = String(validating: value, as: UTF8.self) else { return nil }
        for scalar in text.unicodeScalars where scalar.value >= 0x80 && scalar.value <= 0x9F {
            return nil
        }
        return text
    }
}
