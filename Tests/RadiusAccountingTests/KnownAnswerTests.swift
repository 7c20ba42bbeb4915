import Egress25Core
import RadiusAccounting
import Testing

@Suite struct KnownAnswerTests {
    /// An Accounting-Start laid out by hand after RFC 2866 §3 (Code 4, Identifier 0x2a, Length 80, Request
    /// Authenticator, attributes per RFC 2865 §5, RFC 2866 §5, RFC 3162 §2.3, RFC 4818), secret "xyzzy5461" (RFC 2865
    /// §7's example secret). The authenticators and the content digest were computed independently with Python's
    /// hashlib (/tmp one-off):
    ///   req  = md5(hdr + b"\0"*16 + attrs + secret)
    ///   resp = md5(bytes([5, 0x2a, 0, 20]) + req + secret)
    ///   content = md5(bytes([4]) + attrs without the trailing Acct-Delay-Time)
    static let handSecret = Array("xyzzy5461".utf8)
    static let handAttributes = hex(
        """
        28 06 00000001
        2c 05 532d31
        01 08 637573742d37
        04 06 c0000201
        08 06 64400007
        61 0c 00 40 20010db800000007
        7b 0b 00 38 20010db8010007
        29 06 00000000
        """)
    static let handRequestAuthenticator = hex("bef250e6c4df12a9f2cbf9fc59783bd7")
    static let handResponseAuthenticator = hex("0c0fbd8c6e8ef5ddc36e178d5ca073ea")
    static let handContentDigest = "468c5779c9a09b92d34a224a81ebfaa2"
    static let handPacket = [0x04, 0x2a, 0x00, 0x50] + handRequestAuthenticator + handAttributes

    @Test func handBuiltRequestDecodes() throws {
        #expect(Self.handPacket.count == 80)
        let request = try decode(Self.handPacket, secret: Self.handSecret)
        #expect(request.identifier == 0x2a)
        #expect(request.authenticator.bytes == Self.handRequestAuthenticator)
        #expect(request.statusType == .start)
        #expect(request.sessionID == "S-1")
        #expect(request.subscriberID == "cust-7")
        #expect(request.nasIPv4 == v4("192.0.2.1"))
        #expect(request.nas == "192.0.2.1")
        #expect(request.framedIPv4 == v4("100.64.0.7"))
        #expect(request.ipv6Prefixes == [prefix("2001:db8:0:7::/64"), prefix("2001:db8:100:700::/56")])
        #expect(request.delaySeconds == 0)
        #expect(request.eventTimestamp == nil)
        #expect(request.contentDigest.description == Self.handContentDigest)
        #expect(RadiusContentDigest(bytes: hex(Self.handContentDigest)) == request.contentDigest)
    }

    @Test func builderReproducesTheHandBuiltRequest() {
        var builder = AccountingRequestBuilder(identifier: 0x2a, statusType: .start)
        builder.addText(type: RadiusAttributeType.acctSessionID, "S-1")
        builder.addText(type: RadiusAttributeType.userName, "cust-7")
        builder.addIPv4(type: RadiusAttributeType.nasIPAddress, v4("192.0.2.1"))
        builder.addIPv4(type: RadiusAttributeType.framedIPAddress, v4("100.64.0.7"))
        builder.addIPv6Prefix(type: RadiusAttributeType.framedIPv6Prefix, prefix("2001:db8:0:7::/64"))
        builder.addIPv6Prefix(type: RadiusAttributeType.delegatedIPv6Prefix, prefix("2001:db8:100:700::/56"))
        builder.addInteger(type: RadiusAttributeType.acctDelayTime, 0)
        #expect(builder.attributes == Self.handAttributes)
        #expect(builder.encode(secret: Self.handSecret) == Self.handPacket)
    }

    @Test func responseMatchesIndependentComputation() throws {
        let request = try decode(Self.handPacket, secret: Self.handSecret)
        let response = AccountingCodec.encodeResponse(
            identifier: request.identifier, requestAuthenticator: request.authenticator, secret: Self.handSecret)
        #expect(response == [0x05, 0x2a, 0x00, 0x14] + Self.handResponseAuthenticator)
        #expect(AccountingCodec.verifyResponse(response, to: Self.handPacket, secret: Self.handSecret))

        var buffer = [UInt8](repeating: 0xEE, count: 32)
        buffer.withUnsafeMutableBytes {
            AccountingCodec.encodeResponse(
                identifier: 0x2a, requestAuthenticator: request.authenticator, secret: Self.handSecret, into: $0)
        }
        #expect(Array(buffer[0..<20]) == response)
        #expect(buffer[20...].allSatisfy { $0 == 0xEE })
    }

    @Test func verifyResponseRejectsForgeries() {
        let response = [0x05, 0x2a, 0x00, 0x14] + Self.handResponseAuthenticator
        let secret = Self.handSecret
        #expect(!AccountingCodec.verifyResponse(response, to: Self.handPacket, secret: Array("other".utf8)))
        var wrongID = response
        wrongID[1] = 0x2b
        #expect(!AccountingCodec.verifyResponse(wrongID, to: Self.handPacket, secret: secret))
        var wrongCode = response
        wrongCode[0] = 2
        #expect(!AccountingCodec.verifyResponse(wrongCode, to: Self.handPacket, secret: secret))
        var flipped = response
        flipped[19] ^= 1
        #expect(!AccountingCodec.verifyResponse(flipped, to: Self.handPacket, secret: secret))
        #expect(!AccountingCodec.verifyResponse(Array(response[0..<19]), to: Self.handPacket, secret: secret))
        var longLength = response
        longLength[3] = 21
        #expect(!AccountingCodec.verifyResponse(longLength, to: Self.handPacket, secret: secret))
    }

    /// Captured once by hand from FreeRADIUS radclient 3.2.1 (`radclient -x 127.0.0.1:18130 acct testing123`) with a
    /// Python UDP socket on 127.0.0.1 saving the datagram (and answering, with the response below, which radclient
    /// accepted). Input: Acct-Status-Type = Start, Acct-Session-Id = "0A0B0C0D-00000042", User-Name =
    /// "cust-1042@isp.example", NAS-IP-Address = 192.0.2.10, NAS-Identifier = "bras-ams-1", NAS-Port-Id =
    /// "ge-0/0/1.100:100-200", Calling-Station-Id = "00:11:22:33:44:55", Framed-IP-Address = 100.64.12.34,
    /// Framed-IPv6-Prefix = 2001:db8:1234:5600::/64, Delegated-IPv6-Prefix = 2001:db8:abcd:ff00::/56, Class =
    /// "cust-1042", Acct-Delay-Time = 0, Event-Timestamp = 1767225600, Acct-Interim-Interval = 300, Cisco-AVPair
    /// (26.9.1) = "subscriber:customer-id=C1042". radclient sends all 16 prefix octets for the IPv6 prefixes.
    static let radclientSecret = Array("testing123".utf8)
    static let radclientStart = hex(
        """
        042300ee46557a2d002fb31c0b5c712c51ea05fd2806000000012c1330413042304330442d30303030303034320117637573742d3130
        3432406973702e6578616d706c650406c000020a200c627261732d616d732d31571667652d302f302f312e3130303a3130302d323030
        1f1330303a31313a32323a33333a34343a3535080664400c226114004020010db81234560000000000000000007b14003820010db8ab
        cdff000000000000000000190b637573742d3130343229060000000037066955b90055060000012c1a2400000009011e737562736372
        696265723a637573746f6d65722d69643d4331303432
        """)
    /// The Response Authenticator radclient accepted for it (computed by the capturing script with hashlib).
    static let radclientStartResponse = hex("0523 0014 c8d61886535eb1edb63e17e1ed45f12b")
    /// The same capture, second request: Acct-Status-Type = Interim-Update, the same session and User-Name,
    /// NAS-IPv6-Address = 2001:db8::10, Framed-IPv6-Address = 2001:db8:1234:5600::1, Acct-Delay-Time = 5,
    /// Message-Authenticator = 0x00 (radclient fills it in).
    static let radclientInterim = hex(
        """
        04e50080a3edd60e82ab902dd897d4a557aea6622806000000032c1330413042304330442d30303030303034320117637573742d3130
        3432406973702e6578616d706c655f1220010db8000000000000000000000010a81220010db812345600000000000000000129060000
        0005501205fda44b9aca8308f7ea123f99f0b032
        """)

    @Test func radclientStartDecodes() throws {
        let request = try decode(Self.radclientStart, secret: Self.radclientSecret)
        #expect(request.identifier == 0x23)
        #expect(request.statusType == .start)
        #expect(request.sessionID == "0A0B0C0D-00000042")
        #expect(request.subscriberID == "cust-1042@isp.example")
        #expect(request.nasIPv4 == v4("192.0.2.10"))
        #expect(request.nasIdentifier == "bras-ams-1")
        #expect(request.nas == "bras-ams-1")
        #expect(request.framedIPv4 == v4("100.64.12.34"))
        #expect(request.ipv6Prefixes == [prefix("2001:db8:1234:5600::/64"), prefix("2001:db8:abcd:ff00::/56")])
        #expect(request.delaySeconds == 0)
        #expect(request.eventTimestamp == 1_767_225_600)
        #expect(request.interimIntervalSeconds == 300)
        // hashlib: md5(bytes([4]) + every attribute but Acct-Delay-Time)
        #expect(request.contentDigest.description == "0efc4ea31e51e909325dcf679663fa41")

        let subscribers: [(SubscriberAttribute, String)] = [
            (.class, "cust-1042"),
            (.callingStationID, "00:11:22:33:44:55"),
            (.nasPortID, "ge-0/0/1.100:100-200"),
            (.attribute(44), "0A0B0C0D-00000042"),
            (.vendor(id: 9, type: 1), "subscriber:customer-id=C1042"),
        ]
        for (attribute, expected) in subscribers {
            let other = try decode(Self.radclientStart, secret: Self.radclientSecret, subscriber: attribute)
            #expect(other.subscriberID == expected, "\(attribute)")
            #expect(other.contentDigest == request.contentDigest)
        }
        #expect(
            reason(Self.radclientStart, secret: Self.radclientSecret, subscriber: .vendor(id: 9, type: 2))
                == .missingSubscriberID)

        let response = AccountingCodec.encodeResponse(
            identifier: request.identifier, requestAuthenticator: request.authenticator, secret: Self.radclientSecret)
        #expect(response == Self.radclientStartResponse)
        #expect(AccountingCodec.verifyResponse(response, to: Self.radclientStart, secret: Self.radclientSecret))
    }

    @Test func radclientInterimWithMessageAuthenticatorDecodes() throws {
        let request = try decode(Self.radclientInterim, secret: Self.radclientSecret)
        #expect(request.statusType == .interimUpdate)
        #expect(request.sessionID == "0A0B0C0D-00000042")
        #expect(request.nasIPv4 == nil)
        #expect(request.nasIPv6 == v6("2001:db8::10"))
        #expect(request.nas == "2001:db8::10")
        #expect(request.ipv6Prefixes == [prefix("2001:db8:1234:5600::1/128")])
        #expect(request.delaySeconds == 5)
        // hashlib: md5(bytes([4]) + every attribute but Acct-Delay-Time and Message-Authenticator)
        #expect(request.contentDigest.description == "586a82c5cbbd774cedab1b5d11fd2090")
        #expect(reason(Self.radclientInterim, secret: Array("testing124".utf8)) == .badAuthenticator)
    }

    @Test func builderRoundTrips() throws {
        var builder = AccountingRequestBuilder(identifier: 200, statusType: .interimUpdate)
        builder.addText(type: RadiusAttributeType.acctSessionID, "sess-ü-42")
        builder.addVendor(id: 2011, type: 7, value: Array("C-0007".utf8))
        builder.addIPv4(type: RadiusAttributeType.nasIPAddress, v4("198.51.100.1"))
        builder.addIPv6Address(type: RadiusAttributeType.nasIPv6Address, v6("2001:db8::1"))
        builder.addText(type: RadiusAttributeType.nasIdentifier, "bng-7")
        builder.addIPv4(type: RadiusAttributeType.framedIPAddress, v4("100.64.9.9"))
        builder.addIPv6Prefix(type: RadiusAttributeType.delegatedIPv6Prefix, prefix("2001:db8:ff00::/40"))
        builder.addIPv6Address(type: RadiusAttributeType.framedIPv6Address, v6("2001:db8:1::9"))
        builder.addInteger(type: RadiusAttributeType.acctDelayTime, 12)
        builder.addInteger(type: RadiusAttributeType.eventTimestamp, 1_700_000_000)
        builder.addInteger(type: RadiusAttributeType.acctInterimInterval, 600)
        let packet = builder.encode(secret: testSecret)
        let request = try decode(packet, subscriber: .vendor(id: 2011, type: 7))
        let expected = AccountingRequest(
            identifier: 200,
            authenticator: RadiusAuthenticator(bytes: Array(packet[4..<20])),
            statusType: .interimUpdate,
            sessionID: "sess-ü-42",
            subscriberID: "C-0007",
            nasIPv4: v4("198.51.100.1"),
            nasIPv6: v6("2001:db8::1"),
            nasIdentifier: "bng-7",
            framedIPv4: v4("100.64.9.9"),
            ipv6Prefixes: [prefix("2001:db8:ff00::/40"), prefix("2001:db8:1::9/128")],
            delaySeconds: 12,
            eventTimestamp: 1_700_000_000,
            interimIntervalSeconds: 600,
            contentDigest: request.contentDigest
        )
        #expect(request == expected)
        #expect(request.authenticator.bytes == Array(packet[4..<20]))
        #expect(RadiusAuthenticator(bytes: request.authenticator.bytes) == request.authenticator)
        #expect(request.contentDigest.bytes.count == 16)

        // Every status type round-trips; Accounting-On/Off need nothing else.
        for status in AccountingStatusType.allCases {
            var minimal = AccountingRequestBuilder(identifier: 9, statusType: status)
            if status != .accountingOn && status != .accountingOff {
                minimal.addText(type: RadiusAttributeType.acctSessionID, "S")
                minimal.addText(type: RadiusAttributeType.userName, "u")
                minimal.addIPv4(type: RadiusAttributeType.framedIPAddress, v4("10.0.0.1"))
            }
            #expect(try decode(minimal.encode(secret: testSecret)).statusType == status)
        }
    }

    @Test func signRecomputesTheAuthenticator() throws {
        var packet = startBuilder().encode(secret: testSecret)
        let original = packet
        packet[packet.count - 1] ^= 1  // 100.64.0.1 -> 100.64.0.0
        #expect(reason(packet) == .badAuthenticator)
        AccountingRequestBuilder.sign(&packet, secret: testSecret)
        #expect(try decode(packet).framedIPv4 == v4("100.64.0.0"))
        packet[packet.count - 1] ^= 1
        AccountingRequestBuilder.sign(&packet, secret: testSecret)
        #expect(packet == original)
    }

    @Test func paddingPastLengthIsIgnored() throws {
        let packet = startBuilder().encode(secret: testSecret)
        let padded = packet + [UInt8](repeating: 0xAB, count: 37)
        #expect(try decode(padded) == decode(packet))
    }

    @Test func repeatedSingleValuedAttributesTakeTheFirst() throws {
        var builder = startBuilder()
        builder.addText(type: RadiusAttributeType.acctSessionID, "S-2")
        builder.addText(type: RadiusAttributeType.userName, "cust-2")
        builder.addIPv4(type: RadiusAttributeType.framedIPAddress, v4("100.64.0.2"))
        builder.addInteger(type: RadiusAttributeType.acctStatusType, AccountingStatusType.stop.rawValue)
        builder.addIPv4(type: RadiusAttributeType.framedIPAddress, v4("1.2.3.4"))
        builder.add(type: RadiusAttributeType.eventTimestamp, value: [0, 0, 0, 1])
        builder.add(type: RadiusAttributeType.eventTimestamp, value: [1])  // a later, malformed copy is not read
        let request = try decode(builder.encode(secret: testSecret))
        #expect(request.statusType == .start)
        #expect(request.sessionID == "S-1")
        #expect(request.subscriberID == "cust-1")
        #expect(request.framedIPv4 == v4("100.64.0.1"))
        #expect(request.eventTimestamp == 1)
    }

    @Test func framedIPAddressSelectValuesAreNotAddresses() throws {
        for special in ["255.255.255.255", "255.255.255.254"] {
            var builder = AccountingRequestBuilder(identifier: 1, statusType: .interimUpdate)
            builder.addText(type: RadiusAttributeType.acctSessionID, "S-1")
            builder.addText(type: RadiusAttributeType.userName, "cust-1")
            builder.addIPv4(type: RadiusAttributeType.framedIPAddress, v4(special))
            #expect(try decode(builder.encode(secret: testSecret)).framedIPv4 == nil)
        }
    }

    @Test func nasFallsBackFromIdentifierToAddresses() throws {
        var builder = AccountingRequestBuilder(identifier: 1, statusType: .accountingOn)
        #expect(try decode(builder.encode(secret: testSecret)).nas == nil)
        builder.addIPv6Address(type: RadiusAttributeType.nasIPv6Address, v6("2001:db8::7"))
        #expect(try decode(builder.encode(secret: testSecret)).nas == "2001:db8::7")
        builder.addIPv4(type: RadiusAttributeType.nasIPAddress, v4("192.0.2.7"))
        #expect(try decode(builder.encode(secret: testSecret)).nas == "192.0.2.7")
        builder.addText(type: RadiusAttributeType.nasIdentifier, "nas-7")
        #expect(try decode(builder.encode(secret: testSecret)).nas == "nas-7")
    }
}
