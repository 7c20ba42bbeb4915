import Egress25Core
import RadiusAccounting
import Testing

@Suite struct InvalidReasonTests {
    /// `packet` with its Length field set to `length` (the authenticator is not recomputed).
    static func withLength(_ packet: [UInt8], _ length: Int) -> [UInt8] {
        var copy = packet
        copy[2] = UInt8(truncatingIfNeeded: length >> 8)
        copy[3] = UInt8(truncatingIfNeeded: length)
        return copy
    }

    /// A request of `status` with the given attributes added after Acct-Status-Type.
    static func request(
        _ status: AccountingStatusType?, _ build: (inout AccountingRequestBuilder) -> Void = { _ in }
    ) -> [UInt8] {
        var builder = AccountingRequestBuilder(identifier: 7, statusType: status)
        build(&builder)
        return builder.encode(secret: testSecret)
    }

    /// Start/Interim/Stop attributes minus what `omit` names.
    static func sessionAttributes(omit: Set<UInt8> = []) -> (inout AccountingRequestBuilder) -> Void {
        { builder in
            if !omit.contains(44) { builder.addText(type: RadiusAttributeType.acctSessionID, "S-1") }
            if !omit.contains(1) { builder.addText(type: RadiusAttributeType.userName, "cust-1") }
            if !omit.contains(8) { builder.addIPv4(type: RadiusAttributeType.framedIPAddress, v4("100.64.0.1")) }
        }
    }

    /// One datagram per case, each producing exactly `reason`.
    static let cases:
        [(name: String, datagram: [UInt8], subscriber: SubscriberAttribute, reason: RadiusInvalidReason)] = {
            let valid = startBuilder().encode(secret: testSecret)
            var cases: [(String, [UInt8], SubscriberAttribute, RadiusInvalidReason)] = []
            func add(
                _ name: String, _ datagram: [UInt8], _ reason: RadiusInvalidReason,
                _ subscriber: SubscriberAttribute = .userName
            ) {
                cases.append((name, datagram, subscriber, reason))
            }
            add("empty datagram", [], .tooShort)
            add("19-octet datagram", Array(valid[0..<19]), .tooShort)
            add("Length 19", withLength(valid, 19), .tooShort)
            add("Length 0", withLength(valid, 0), .tooShort)
            add("4097-octet datagram", valid + [UInt8](repeating: 0, count: 4097 - valid.count), .tooLong)
            add(
                "Length 4097 in a 4096-octet datagram",
                withLength(valid + [UInt8](repeating: 0, count: 4096 - valid.count), 4097), .tooLong)
            var huge = startBuilder()
            for _ in 0..<20 { huge.add(type: 200, value: [UInt8](repeating: 0x41, count: 253)) }
            add("built 5k request", huge.encode(secret: testSecret), .tooLong)
            add("Length one past the datagram", withLength(valid, valid.count + 1), .lengthMismatch)
            add("Length 4096 in a short datagram", withLength(valid, 4096), .lengthMismatch)
            var accessRequest = valid
            accessRequest[0] = 1
            add("Access-Request", accessRequest, .unknownCode)
            var response = valid
            response[0] = 5
            add("Accounting-Response", response, .unknownCode)
            var zeroLength = valid
            zeroLength[21] = 0
            add("attribute length 0", zeroLength, .attributeOverflow)
            var oneLength = valid
            oneLength[21] = 1
            add("attribute length 1", oneLength, .attributeOverflow)
            var pastEnd = valid
            pastEnd[21] = 255
            add("attribute past Length", pastEnd, .attributeOverflow)
            add("a lone trailing octet", withLength(valid + [1], valid.count + 1), .attributeOverflow)
            var shortened = withLength(valid, valid.count - 1)
            AccountingRequestBuilder.sign(&shortened, secret: testSecret)
            add("Length cuts the last attribute (signed)", shortened, .attributeOverflow)
            var vendorOverrun = startBuilder()
            vendorOverrun.add(type: 26, value: [0, 0, 0x07, 0xDB, 7, 9, 0x41, 0x42])  // sub-attribute says 9, has 4
            add(
                "vendor sub-attribute overruns", vendorOverrun.encode(secret: testSecret), .attributeOverflow,
                .vendor(id: 2011, type: 7))
            var vendorShort = startBuilder()
            vendorShort.add(type: 26, value: [0, 0, 0x07, 0xDB, 7, 1])  // sub-attribute length 1
            add(
                "vendor sub-attribute length 1", vendorShort.encode(secret: testSecret), .attributeOverflow,
                .vendor(id: 2011, type: 7))
            var vendorDangling = startBuilder()
            vendorDangling.add(type: 26, value: [0, 0, 0x07, 0xDB, 7])  // one octet of sub-attribute header
            add(
                "vendor sub-attribute header cut", vendorDangling.encode(secret: testSecret), .attributeOverflow,
                .vendor(id: 2011, type: 7))
            add("wrong secret", valid, .badAuthenticator)  // decoded with another secret below
            var flipped = valid
            flipped[valid.count - 1] ^= 0x80
            add("flipped address bit", flipped, .badAuthenticator)
            var zeroAuthenticator = valid
            for index in 4..<20 { zeroAuthenticator[index] = 0 }
            add("all-zero authenticator", zeroAuthenticator, .badAuthenticator)
            add("no Acct-Status-Type", request(nil, sessionAttributes()), .missingStatusType)
            add(
                "Failed (15)",
                request(nil) {
                    $0.addInteger(type: 40, 15); sessionAttributes()(&$0)
                }, .unknownStatusType)
            add("Tunnel-Start (9)", request(nil) { $0.addInteger(type: 40, 9) }, .unknownStatusType)
            add("status 0", request(nil) { $0.addInteger(type: 40, 0) }, .unknownStatusType)
            for status in [AccountingStatusType.start, .interimUpdate, .stop] {
                add("\(status) without session id", request(status, sessionAttributes(omit: [44])), .missingSessionID)
            }
            for status in [AccountingStatusType.start, .interimUpdate] {
                add("\(status) without User-Name", request(status, sessionAttributes(omit: [1])), .missingSubscriberID)
            }
            add("Start without any address", request(.start, sessionAttributes(omit: [8])), .noAddress)
            add(
                "Start with only 255.255.255.254",
                request(.start) {
                    sessionAttributes(omit: [8])(&$0)
                    $0.addIPv4(type: 8, v4("255.255.255.254"))
                }, .noAddress)
            add("Acct-Status-Type of 2 octets", request(nil) { $0.add(type: 40, value: [0, 1]) }, .badAttributeValue)
            func bad(_ name: String, _ attribute: @escaping (inout AccountingRequestBuilder) -> Void) {
                add(
                    name,
                    request(.start) {
                        sessionAttributes()(&$0); attribute(&$0)
                    }, .badAttributeValue)
            }
            add(
                "Framed-IP-Address of 3 octets",
                request(.start) {
                    sessionAttributes(omit: [8])(&$0)
                    $0.add(type: 8, value: [10, 0, 0])
                }, .badAttributeValue)
            bad("NAS-IP-Address of 5 octets") { $0.add(type: 4, value: [10, 0, 0, 1, 0]) }
            bad("NAS-IPv6-Address of 15 octets") { $0.add(type: 95, value: [UInt8](repeating: 0x20, count: 15)) }
            bad("Framed-IPv6-Address of 8 octets") { $0.add(type: 168, value: [UInt8](repeating: 0x20, count: 8)) }
            bad("Acct-Delay-Time of 2 octets") { $0.add(type: 41, value: [0, 1]) }
            bad("Event-Timestamp of 8 octets") { $0.add(type: 55, value: [UInt8](repeating: 1, count: 8)) }
            bad("Acct-Interim-Interval empty") { $0.add(type: 85, value: []) }
            bad("empty NAS-Identifier") { $0.add(type: 32, value: []) }
            bad("NAS-Identifier with a NUL") { $0.add(type: 32, value: Array("nas\u{0}1".utf8)) }
            func badText(_ name: String, _ value: [UInt8]) {
                add(
                    "session id: " + name,
                    request(.start) {
                        $0.add(type: 44, value: value); sessionAttributes(omit: [44])(&$0)
                    }, .badAttributeValue)
                add(
                    "subscriber id: " + name,
                    request(.start) {
                        $0.add(type: 1, value: value); sessionAttributes(omit: [1])(&$0)
                    }, .badAttributeValue)
            }
            badText("empty", [])
            badText("invalid UTF-8", [0x61, 0xC3, 0x28])
            badText("overlong UTF-8", [0xC0, 0xAF])
            badText("UTF-16 surrogate", [0xED, 0xA0, 0x80])
            badText("truncated UTF-8", [0x61, 0xE2, 0x82])
            badText("newline", Array("cust\n1".utf8))
            badText("DEL", Array("cust\u{7F}".utf8))
            badText("C1 control NEL", Array("cust\u{85}".utf8))
            add(
                "vendor subscriber id with a tab",
                request(.start) {
                    sessionAttributes(omit: [1])(&$0)
                    $0.addVendor(id: 2011, type: 7, value: Array("C\t7".utf8))
                }, .badAttributeValue, .vendor(id: 2011, type: 7))
            bad("prefix length 129") { $0.add(type: 97, value: [0, 129] + [UInt8](repeating: 0xFF, count: 16)) }
            bad("/64 with 7 octets") { $0.add(type: 97, value: [0, 64, 0x20, 0x01, 0x0D, 0xB8, 0, 0, 0]) }
            bad("/57 with 7 octets") { $0.add(type: 123, value: [0, 57, 0x20, 0x01, 0x0D, 0xB8, 0, 0, 0]) }
            bad("prefix without a length octet") { $0.add(type: 123, value: [0]) }
            bad("prefix of 17 octets") { $0.add(type: 97, value: [0, 128] + [UInt8](repeating: 0x20, count: 17)) }
            return cases
        }()

    @Test func everyCaseProducesItsReason() {
        for (name, datagram, subscriber, expected) in Self.cases {
            let secret = name == "wrong secret" ? Array("not the secret".utf8) : testSecret
            #expect(reason(datagram, secret: secret, subscriber: subscriber) == expected, "\(name)")
        }
    }

    @Test func everyReasonTheCodecCanReturnIsCovered() {
        let covered = Set(Self.cases.map(\.reason))
        let all = Set(RadiusInvalidReason.allCases).subtracting([.unknownClient])
        #expect(covered == all, "not covered: \(all.subtracting(covered))")
        #expect(
            RadiusInvalidReason.allCases.map(\.rawValue) == [
                "too_short", "too_long", "length_mismatch", "attribute_overflow", "unknown_code", "unknown_client",
                "bad_authenticator", "missing_status_type", "unknown_status_type", "missing_session_id",
                "missing_subscriber_id", "no_address", "bad_attribute_value",
            ])
    }

    @Test func whatIsNotRequiredIsNotRequired() throws {
        // Stop needs no subscriber or address; Interim no address; On/Off nothing.
        #expect(try decode(Self.request(.stop, Self.sessionAttributes(omit: [1, 8]))).sessionID == "S-1")
        #expect(try decode(Self.request(.interimUpdate, Self.sessionAttributes(omit: [8]))).framedIPv4 == nil)
        #expect(try decode(Self.request(.accountingOn)).sessionID == nil)
        #expect(try decode(Self.request(.accountingOff)).statusType == .accountingOff)
        // Start with only an IPv6 prefix has an address.
        let v6Only = Self.request(.start) {
            Self.sessionAttributes(omit: [8])(&$0)
            $0.addIPv6Prefix(type: 123, prefix("2001:db8:100::/56"))
        }
        #expect(try decode(v6Only).ipv6Prefixes == [prefix("2001:db8:100::/56")])
        // Other vendors' Vendor-Specific attributes are opaque, whatever their format (USR's 4-octet types, ...).
        let oddVendor = Self.request(.start) {
            Self.sessionAttributes()(&$0)
            $0.add(type: 26, value: [0, 0, 0x01, 0xAD, 0, 0, 0x90, 0x01, 0xFF])
            $0.add(type: 26, value: [0, 0])
        }
        #expect(try decode(oddVendor).subscriberID == "cust-1")
        // Unicode text that is not a control character is fine.
        let unicode = Self.request(.start) {
            Self.sessionAttributes(omit: [1])(&$0)
            $0.addText(type: 1, "kunde-ÄÖÜ-日本-😀")
        }
        #expect(try decode(unicode).subscriberID == "kunde-ÄÖÜ-日本-😀")
    }

    @Test func semanticChecksAreOrdered() {
        // Status problems first, then bad values, then missing session id, subscriber, address.
        let everything = Self.request(nil) {
            $0.addInteger(type: 40, 15)
            $0.add(type: 8, value: [1])
        }
        #expect(reason(everything) == .unknownStatusType)
        let badAndMissing = Self.request(.start) { $0.add(type: 8, value: [1]) }
        #expect(reason(badAndMissing) == .badAttributeValue)
        #expect(reason(Self.request(.start)) == .missingSessionID)
        #expect(reason(Self.request(.start, Self.sessionAttributes(omit: [1, 8]))) == .missingSubscriberID)
        // Framing is checked before the authenticator: a bad frame with a wrong secret is attribute_overflow.
        var valid = startBuilder().encode(secret: testSecret)
        valid[21] = 1
        #expect(reason(valid, secret: Array("x".utf8)) == .attributeOverflow)
    }
}
