import Egress25Core
import RadiusAccounting
import Testing

/// Random and mutated datagrams through the decoder: it never traps (in a debug build every buffer read is
/// bounds-checked), and the valid seeds decode the same before and after.
@Suite struct FuzzTests {
    struct Seed {
        var packet: [UInt8]
        var subscriber: SubscriberAttribute
        var secret: [UInt8]
    }

    static let seeds: [Seed] = {
        var seeds: [Seed] = []
        seeds.append(Seed(packet: startBuilder().encode(secret: testSecret), subscriber: .userName, secret: testSecret))
        seeds.append(
            Seed(packet: KnownAnswerTests.handPacket, subscriber: .userName, secret: KnownAnswerTests.handSecret))
        seeds.append(
            Seed(
                packet: KnownAnswerTests.radclientStart, subscriber: .vendor(id: 9, type: 1),
                secret: KnownAnswerTests.radclientSecret))
        seeds.append(
            Seed(
                packet: KnownAnswerTests.radclientInterim, subscriber: .userName,
                secret: KnownAnswerTests.radclientSecret))
        var vendor = AccountingRequestBuilder(identifier: 77, statusType: .interimUpdate)
        vendor.addText(type: RadiusAttributeType.acctSessionID, "sess-77")
        vendor.add(type: 26, value: [0, 0, 0x0D, 0xD5, 3, 5, 0x61, 0x62, 0x63, 4, 8] + Array("C-4242".utf8))
        vendor.addIPv6Prefix(type: RadiusAttributeType.framedIPv6Prefix, prefix("2001:db8:1:2::/64"))
        vendor.addIPv6Prefix(type: RadiusAttributeType.delegatedIPv6Prefix, prefix("2001:db8:ab00::/40"))
        vendor.addInteger(type: RadiusAttributeType.acctDelayTime, 4)
        seeds.append(
            Seed(packet: vendor.encode(secret: testSecret), subscriber: .vendor(id: 3541, type: 4), secret: testSecret))
        var stop = AccountingRequestBuilder(identifier: 8, statusType: .stop)
        stop.addText(type: RadiusAttributeType.acctSessionID, "S-1")
        stop.addIPv6Address(type: RadiusAttributeType.nasIPv6Address, v6("2001:db8::1"))
        stop.addInteger(type: RadiusAttributeType.eventTimestamp, 1_700_000_100)
        seeds.append(Seed(packet: stop.encode(secret: testSecret), subscriber: .class, secret: testSecret))
        var on = AccountingRequestBuilder(identifier: 9, statusType: .accountingOn)
        on.addText(type: RadiusAttributeType.nasIdentifier, "nas-9")
        seeds.append(Seed(packet: on.encode(secret: testSecret), subscriber: .userName, secret: testSecret))
        return seeds
    }()

    /// Offsets of the attributes of `packet` that lie inside it (type octet and length octet present).
    static func attributeOffsets(_ packet: [UInt8]) -> [Int] {
        var offsets: [Int] = []
        var offset = 20
        while offset + 1 < packet.count {
            offsets.append(offset)
            let length = Int(packet[offset + 1])
            if length < 2 { break }
            offset += length
        }
        return offsets
    }

    static func mutate(_ packet: inout [UInt8], _ rng: inout SeededGenerator) {
        switch rng.next() % 9 {
        case 0, 1:  // bit flips
            guard !packet.isEmpty else { return }
            for _ in 0...(rng.next() % 3) {
                packet[Int(rng.next() % UInt64(packet.count))] ^= UInt8(1) << (rng.next() % 8)
            }
        case 2:  // truncation
            packet.removeLast(Int(rng.next() % UInt64(packet.count + 1)))
        case 3:  // extension
            for _ in 0..<(1 + rng.next() % 40) { packet.append(UInt8(truncatingIfNeeded: rng.next())) }
        case 4:  // Length field
            guard packet.count >= 4 else { return }
            let length = Int(packet[2]) << 8 | Int(packet[3])
            let edited: Int
            switch rng.next() % 4 {
            case 0: edited = Int(rng.next() % 65536)
            case 1: edited = length + Int(rng.next() % 9) - 4
            case 2: edited = packet.count
            default: edited = [0, 19, 20, 21, 4095, 4096, 4097][Int(rng.next() % 7)]
            }
            packet[2] = UInt8(truncatingIfNeeded: edited >> 8)
            packet[3] = UInt8(truncatingIfNeeded: edited)
        case 5:  // an attribute's length octet
            let offsets = attributeOffsets(packet)
            guard !offsets.isEmpty else { return }
            let offset = offsets[Int(rng.next() % UInt64(offsets.count))]
            let edits: [UInt8] = [0, 1, 2, 3, 5, 6, 7, 255, UInt8(truncatingIfNeeded: rng.next())]
            packet[offset + 1] =
                rng.next() % 2 == 0 ? edits[Int(rng.next() % 9)] : packet[offset + 1] &+ UInt8(rng.next() % 5) &- 2
        case 6:  // an attribute's type octet, or a value octet
            let offsets = attributeOffsets(packet)
            guard !offsets.isEmpty else { return }
            let offset = offsets[Int(rng.next() % UInt64(offsets.count))]
            let types: [UInt8] = [1, 4, 8, 25, 26, 31, 32, 40, 41, 44, 55, 80, 85, 87, 95, 97, 123, 168, 0, 255]
            if rng.next() % 2 == 0 {
                packet[offset] = types[Int(rng.next() % UInt64(types.count))]
            } else if offset + 2 < packet.count {
                let index = offset + 2 + Int(rng.next() % UInt64(min(6, packet.count - offset - 2)))
                packet[index] = [0, 1, 0x7F, 0x80, 0xFF, 129, 200][Int(rng.next() % 7)]
            }
        case 7:  // drop or duplicate an attribute
            let offsets = attributeOffsets(packet)
            guard !offsets.isEmpty else { return }
            let offset = offsets[Int(rng.next() % UInt64(offsets.count))]
            let end = min(packet.count, offset + max(2, Int(packet[offset + 1])))
            let attribute = Array(packet[offset..<end])
            if rng.next() % 2 == 0 {
                packet.removeSubrange(offset..<end)
            } else {
                packet.append(contentsOf: attribute)
            }
            if packet.count >= 4 {
                packet[2] = UInt8(truncatingIfNeeded: packet.count >> 8)
                packet[3] = UInt8(truncatingIfNeeded: packet.count)
            }
        default:  // random bytes, sometimes with a plausible header
            let count = Int(rng.next() % 120)
            packet = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if count >= 20 && rng.next() % 2 == 0 {
                packet[0] = 4
                packet[2] = 0
                packet[3] = UInt8(count)
            }
        }
    }

    @Test func mutatedDatagramsNeverTrap() throws {
        let expected = try Self.seeds.map {
            try AccountingCodec.decodeRequest($0.packet, secret: $0.secret, subscriberAttribute: $0.subscriber)
        }
        var rng = SeededGenerator(seed: 0x2866_2865_1813_0015)
        var reasons: [RadiusInvalidReason: Int] = [:]
        var decoded = 0
        let iterations = 1_000_000
        for _ in 0..<iterations {
            let seed = Self.seeds[Int(rng.next() % UInt64(Self.seeds.count))]
            var packet = seed.packet
            for _ in 0...(rng.next() % 3) { Self.mutate(&packet, &rng) }
            // Re-sign most mutants, so they get past the authenticator to the semantic checks.
            if packet.count >= 20 && rng.next() % 4 != 0 {
                AccountingRequestBuilder.sign(&packet, secret: seed.secret)
            }
            do {
                let request = try AccountingCodec.decodeRequest(
                    packet, secret: seed.secret, subscriberAttribute: seed.subscriber)
                decoded += 1
                if request.statusType != .accountingOn && request.statusType != .accountingOff {
                    #expect(request.sessionID != nil)
                }
                #expect(request.statusType != .start || request.framedIPv4 != nil || !request.ipv6Prefixes.isEmpty)
                #expect(Set(request.ipv6Prefixes).count == request.ipv6Prefixes.count)
            } catch {
                reasons[error, default: 0] += 1
            }
        }
        let summary = reasons.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue)=\($0.value)" }
        print("fuzz: \(iterations) datagrams, \(decoded) decoded, \(summary.joined(separator: " "))")
        #expect(decoded > 10_000)
        #expect(reasons.count >= 11, "reasons seen: \(summary)")
        #expect(reasons[.unknownClient] == nil)
        for (seed, request) in zip(Self.seeds, expected) {
            #expect(
                try AccountingCodec.decodeRequest(
                    seed.packet, secret: seed.secret, subscriberAttribute: seed.subscriber)
                    == request)
        }
    }
}
