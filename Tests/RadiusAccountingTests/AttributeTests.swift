import Egress25Core
import RadiusAccounting
import Testing

@Suite struct IPv6AttributeTests {
    static func decodePrefixes(_ build: (inout AccountingRequestBuilder) -> Void) throws -> [IPPrefix] {
        var builder = AccountingRequestBuilder(identifier: 3, statusType: .start)
        builder.addText(type: RadiusAttributeType.acctSessionID, "S-6")
        builder.addText(type: RadiusAttributeType.userName, "cust-6")
        build(&builder)
        return try decode(builder.encode(secret: testSecret)).ipv6Prefixes
    }

    @Test func framedPrefix64WithOnlyEightOctets() throws {
        let prefixes = try Self.decodePrefixes {
            $0.add(type: 97, value: [0, 64, 0x20, 0x01, 0x0D, 0xB8, 0x00, 0x01, 0x00, 0x02])
        }
        #expect(prefixes == [prefix("2001:db8:1:2::/64")])
    }

    @Test func delegatedPrefix56() throws {
        let prefixes = try Self.decodePrefixes {
            $0.add(type: 123, value: [0, 56, 0x20, 0x01, 0x0D, 0xB8, 0xAB, 0xCD, 0xEF])
        }
        #expect(prefixes == [prefix("2001:db8:abcd:ef00::/56")])
    }

    @Test func framedIPv6AddressIsAHostPrefix() throws {
        let prefixes = try Self.decodePrefixes {
            $0.addIPv6Address(type: 168, v6("2001:db8::abcd"))
        }
        #expect(prefixes == [prefix("2001:db8::abcd/128")])
    }

    @Test func strayBitsPastTheLengthAreCleared() throws {
        let prefixes = try Self.decodePrefixes {
            // /60 with bits set in the low nibble of octet 8 and in octets past it (all 16 sent, as radclient does).
            $0.add(
                type: 97,
                value: [0, 60, 0x20, 0x01, 0x0D, 0xB8, 0x12, 0x34, 0x56, 0x7F] + [UInt8](repeating: 0xFF, count: 8))
            // /0 with an address, /128 exact, /1 with one octet.
            $0.add(type: 123, value: [0, 0, 0xFF])
            $0.add(type: 123, value: [0, 128] + [UInt8](repeating: 0x11, count: 16))
            $0.add(type: 97, value: [0, 1, 0xFF])
        }
        #expect(
            prefixes == [
                prefix("2001:db8:1234:5670::/60"), prefix("::/0"),
                prefix("1111:1111:1111:1111:1111:1111:1111:1111/128"), prefix("8000::/1"),
            ])
    }

    @Test func duplicatesAreRemovedInOrderOfAppearance() throws {
        let prefixes = try Self.decodePrefixes {
            $0.addIPv6Prefix(type: 123, prefix("2001:db8:200::/56"))
            $0.addIPv6Prefix(type: 97, prefix("2001:db8:1::/64"))
            $0.add(type: 97, value: [0, 64, 0x20, 0x01, 0x0D, 0xB8, 0, 1, 0, 0, 0xDE, 0xAD])  // same /64, stray bits
            $0.addIPv6Prefix(type: 123, prefix("2001:db8:200::/56"))
            $0.addIPv6Address(type: 168, v6("2001:db8:1::1"))
            $0.addIPv6Prefix(type: 97, prefix("2001:db8:1::1/128"))
        }
        #expect(prefixes == [prefix("2001:db8:200::/56"), prefix("2001:db8:1::/64"), prefix("2001:db8:1::1/128")])
    }

    @Test func lengthOver128IsABadValue() {
        #expect(throws: RadiusInvalidReason.badAttributeValue) {
            try Self.decodePrefixes { $0.add(type: 97, value: [0, 200] + [UInt8](repeating: 0, count: 16)) }
        }
    }

    @Test func prefixShorterThanItsLengthNeedsIsABadValue() {
        #expect(throws: RadiusInvalidReason.badAttributeValue) {
            try Self.decodePrefixes { $0.add(type: 123, value: [0, 56, 0x20, 0x01, 0x0D, 0xB8, 0x01, 0x00]) }
        }
        #expect(throws: RadiusInvalidReason.badAttributeValue) {
            try Self.decodePrefixes { $0.add(type: 97, value: [0, 8]) }
        }
    }
}

@Suite struct VendorAttributeTests {
    @Test func subscriberFromAVendorAttribute() throws {
        var builder = startBuilder()
        builder.addVendor(id: 9, type: 1, value: Array("ignored: other vendor".utf8))
        // One VSA holding several sub-attributes; the configured one is the second.
        builder.add(type: 26, value: [0, 0, 0x0D, 0xD5, 3, 5, 0x61, 0x62, 0x63, 4, 8] + Array("C-4242".utf8))
        builder.addVendor(id: 3541, type: 4, value: Array("second copy, not read".utf8))
        let packet = builder.encode(secret: testSecret)
        let request = try decode(packet, subscriber: .vendor(id: 3541, type: 4))
        #expect(request.subscriberID == "C-4242")
        #expect(try decode(packet, subscriber: .vendor(id: 3541, type: 3)).subscriberID == "abc")
        #expect(try decode(packet, subscriber: .vendor(id: 9, type: 1)).subscriberID == "ignored: other vendor")
        #expect(reason(packet, subscriber: .vendor(id: 3541, type: 5)) == .missingSubscriberID)
        #expect(reason(packet, subscriber: .vendor(id: 3542, type: 4)) == .missingSubscriberID)
    }

    @Test func overrunningSubAttributeIsAttributeOverflow() throws {
        var builder = startBuilder()
        builder.addVendor(id: 3541, type: 4, value: Array("C-1".utf8))
        builder.add(type: 26, value: [0, 0, 0x0D, 0xD5, 4, 5, 0x43, 0x2D])  // length 5, only 4 octets left
        let packet = builder.encode(secret: testSecret)
        #expect(reason(packet, subscriber: .vendor(id: 3541, type: 4)) == .attributeOverflow)
        // Another vendor's malformed VSA is opaque: not read, not an error.
        #expect(try decode(packet).subscriberID == "cust-1")
        #expect(reason(packet, subscriber: .vendor(id: 9, type: 1)) == .missingSubscriberID)
    }
}

@Suite struct ContentDigestTests {
    static func digest(_ builder: AccountingRequestBuilder) throws -> RadiusContentDigest {
        try decode(builder.encode(secret: testSecret)).contentDigest
    }

    static func base(
        identifier: UInt8 = 1, delay: UInt32? = nil, messageAuthenticator: [UInt8]? = nil
    ) -> AccountingRequestBuilder {
        var builder = startBuilder(identifier: identifier)
        if let delay { builder.addInteger(type: RadiusAttributeType.acctDelayTime, delay) }
        builder.addInteger(type: RadiusAttributeType.eventTimestamp, 1_700_000_000)
        if let messageAuthenticator {
            builder.add(type: RadiusAttributeType.messageAuthenticator, value: messageAuthenticator)
        }
        builder.addIPv6Prefix(type: RadiusAttributeType.delegatedIPv6Prefix, prefix("2001:db8:100::/56"))
        return builder
    }

    @Test func retransmitWithNewIdentifierAndDelayHasTheSameDigest() throws {
        let original = try Self.digest(Self.base(identifier: 1))
        #expect(try Self.digest(Self.base(identifier: 2, delay: 0)) == original)
        #expect(try Self.digest(Self.base(identifier: 3, delay: 30)) == original)
        #expect(
            try Self.digest(Self.base(identifier: 4, delay: 31, messageAuthenticator: [UInt8](repeating: 7, count: 16)))
                == original)
        let first = try decode(Self.base(identifier: 1, delay: 5).encode(secret: testSecret))
        let retransmit = try decode(Self.base(identifier: 9, delay: 65).encode(secret: testSecret))
        #expect(first.authenticator != retransmit.authenticator)
        #expect(first.contentDigest == retransmit.contentDigest)
    }

    @Test func anyOtherChangeChangesTheDigest() throws {
        let original = try Self.digest(Self.base(delay: 3))
        var digests: Set<RadiusContentDigest> = [original]
        var changes: [AccountingRequestBuilder] = []
        var other = Self.base(delay: 3)
        other.addText(type: RadiusAttributeType.callingStationID, "00:11:22:33:44:55")
        changes.append(other)
        var stop = AccountingRequestBuilder(identifier: 1, statusType: .interimUpdate)
        stop.addText(type: RadiusAttributeType.acctSessionID, "S-1")
        stop.addText(type: RadiusAttributeType.userName, "cust-1")
        changes.append(stop)
        for (type, text) in [(RadiusAttributeType.acctSessionID, "S-2"), (RadiusAttributeType.userName, "cust-2")] {
            var builder = AccountingRequestBuilder(identifier: 1, statusType: .start)
            builder.addText(
                type: RadiusAttributeType.acctSessionID, type == RadiusAttributeType.acctSessionID ? text : "S-1")
            builder.addText(type: RadiusAttributeType.userName, type == RadiusAttributeType.userName ? text : "cust-1")
            builder.addText(type: RadiusAttributeType.nasIdentifier, "nas-1")
            builder.addIPv4(type: RadiusAttributeType.framedIPAddress, v4("100.64.0.1"))
            builder.addInteger(type: RadiusAttributeType.eventTimestamp, 1_700_000_000)
            builder.addIPv6Prefix(type: RadiusAttributeType.delegatedIPv6Prefix, prefix("2001:db8:100::/56"))
            changes.append(builder)
        }
        // The same attributes in another order.
        var reordered = startBuilder()
        reordered.addIPv6Prefix(type: RadiusAttributeType.delegatedIPv6Prefix, prefix("2001:db8:100::/56"))
        reordered.addInteger(type: RadiusAttributeType.eventTimestamp, 1_700_000_000)
        changes.append(reordered)
        var laterEvent = startBuilder()
        laterEvent.addInteger(type: RadiusAttributeType.eventTimestamp, 1_700_000_001)
        laterEvent.addIPv6Prefix(type: RadiusAttributeType.delegatedIPv6Prefix, prefix("2001:db8:100::/56"))
        changes.append(laterEvent)
        for change in changes {
            let digest = try Self.digest(change)
            #expect(!digests.contains(digest))
            digests.insert(digest)
        }
        // A single flipped bit in any attribute octet but the delay time's (re-signed) changes it too.
        let packet = Self.base(delay: 3).encode(secret: testSecret)
        var index = 20
        var flips = 0
        while index < packet.count {
            let type = packet[index]
            let length = Int(packet[index + 1])
            if type != RadiusAttributeType.acctDelayTime {
                for octet in (index + 2)..<(index + length) {
                    var mutated = packet
                    mutated[octet] ^= 0x01
                    AccountingRequestBuilder.sign(&mutated, secret: testSecret)
                    if let request = try? decode(mutated) {
                        #expect(request.contentDigest != original, "octet \(octet)")
                        flips += 1
                    }
                }
            }
            index += length
        }
        #expect(flips > 20)
    }
}

@Suite struct SubscriberAttributeTests {
    @Test func namesParseAndRoundTrip() {
        let cases: [(String, SubscriberAttribute)] = [
            ("User-Name", .userName), ("user-name", .userName), ("USER-NAME", .userName),
            ("Class", .class), ("Calling-Station-Id", .callingStationID), ("calling-station-id", .callingStationID),
            ("NAS-Port-Id", .nasPortID), ("nas-port-id", .nasPortID),
            ("Attr-1", .attribute(1)), ("Attr-0", .attribute(0)), ("attr-255", .attribute(255)),
            ("Attr-26", .attribute(26)),
            ("Attr-26.9.1", .vendor(id: 9, type: 1)), ("ATTR-26.3561.1", .vendor(id: 3561, type: 1)),
            ("Attr-26.4294967295.255", .vendor(id: .max, type: 255)), ("Attr-26.0.0", .vendor(id: 0, type: 0)),
        ]
        for (name, expected) in cases {
            #expect(SubscriberAttribute(name: name) == expected, "\(name)")
            #expect(SubscriberAttribute(name: expected.description) == expected)
        }
        #expect(SubscriberAttribute.userName.description == "User-Name")
        #expect(SubscriberAttribute.class.description == "Class")
        #expect(SubscriberAttribute.callingStationID.description == "Calling-Station-Id")
        #expect(SubscriberAttribute.nasPortID.description == "NAS-Port-Id")
        #expect(SubscriberAttribute.vendor(id: 9, type: 1).description == "Attr-26.9.1")
        for type in UInt8.min...UInt8.max {
            #expect(SubscriberAttribute(name: SubscriberAttribute.attribute(type).description) == .attribute(type))
        }
    }

    @Test func rejectsOtherNames() {
        for name in [
            "", "User", "User-Name ", " User-Name", "Username", "Attr-", "Attr-256", "Attr-01", "Attr--1", "Attr-+1",
            "Attr-1.2", "Attr-26.9", "Attr-26.9.1.2", "Attr-25.9.1", "Attr-26.09.1", "Attr-26.9.256", "Attr-26..1",
            "Attr-26.4294967296.1", "Attr-26.99999999999.1", "Attr-x", "Attr-1x", "Cisco-AVPair", "Attr-٣",
        ] {
            #expect(SubscriberAttribute(name: name) == nil, "\(name)")
        }
    }
}
