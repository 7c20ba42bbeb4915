import Testing

@testable import Egress25Core

@Suite struct IPv4AddressTests {
    @Test(arguments: [
        ("0.0.0.0", UInt32(0)),
        ("255.255.255.255", 0xFFFF_FFFF),
        ("192.0.2.1", 0xC000_0201),
        ("100.64.0.0", 0x6440_0000),
        ("10.0.0.10", 0x0A00_000A),
    ])
    func parsesAndPrints(text: String, value: UInt32) throws {
        let address = try IPv4Address(parsing: text)
        #expect(address.value == value)
        #expect(address.description == text)
        #expect(IPv4Address(text) == address)
    }

    @Test(arguments: [
        ("", "empty address"),
        ("010.1.1.1", "octet 1 \"010\" has a leading zero"),
        ("1.1.1.00", "octet 4 \"00\" has a leading zero"),
        ("1.256.1.1", "octet 2 \"256\" is greater than 255"),
        ("1.1.1.1234", "octet 4 \"1234\" is greater than 255"),
        ("1..1.1", "octet 2 is empty"),
        (".1.1.1", "octet 1 is empty"),
        ("1.1.1.", "octet 4 is empty"),
        ("1.1.1", "expected 4 octets, found 3"),
        ("1.1.1.1.1", "more than 4 octets"),
        ("1.1.1.1a", "unexpected character 'a' at position 8"),
        (" 1.1.1.1", "unexpected character space at position 1"),
        ("1.-1.1.1", "unexpected character '-' at position 3"),
    ])
    func rejects(text: String, reason: String) {
        #expect(throws: AddressParseError(input: text, reason: reason)) {
            try IPv4Address(parsing: text)
        }
        #expect(IPv4Address(text) == nil)
    }

    @Test func ordersNumerically() throws {
        #expect(IPv4Address(9, 255, 255, 255) < IPv4Address(10, 0, 0, 0))
        #expect(IPv4Address(192, 0, 2, 1).value == 0xC000_0201)
    }

    @Test func errorDescriptionNamesInput() {
        let error = AddressParseError(input: "1.2.3", reason: "expected 4 octets, found 3")
        #expect(error.description == "invalid address \"1.2.3\": expected 4 octets, found 3")
    }
}

@Suite struct IPv6AddressTests {
    @Test(arguments: [
        // (input, canonical RFC 5952 form)
        ("::", "::"),
        ("::1", "::1"),
        ("1::", "1::"),
        ("2001:DB8::1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  // leftmost of two equal runs
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),  // longest run wins
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  // a single 0 group is not compressed
        ("2001:db8:1:1:1:1:1:0", "2001:db8:1:1:1:1:1:0"),
        ("0:0:0:0:0:0:0:0", "::"),
        ("fe80::abcd:ef01", "fe80::abcd:ef01"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
        ("::FFFF:c000:0201", "::ffff:192.0.2.1"),
        ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
        ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
        ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ])
    func parsesAndPrintsCanonically(text: String, canonical: String) throws {
        let address = try IPv6Address(parsing: text)
        #expect(address.description == canonical)
        #expect(try IPv6Address(parsing: canonical) == address)
    }

    @Test func storesHalves() throws {
        let address = try IPv6Address(parsing: "2001:db8:1:2:3:4:5:6")
        #expect(address.high == 0x2001_0db8_0001_0002)
        #expect(address.low == 0x0003_0004_0005_0006)
        #expect(address.group(0) == 0x2001)
        #expect(address.group(7) == 6)
    }

    @Test(arguments: [
        ("", "empty address"),
        (":", "address starts with a single ':'"),
        (":1::", "address starts with a single ':'"),
        ("1::2::3", "more than one '::'"),
        ("1:::2", "empty group at position 4"),
        ("1:2", "expected 8 groups, found 2"),
        ("1:2:3:4:5:6:7:8:9", "too many groups (more than 8)"),
        ("1:2:3:4:5:6:7:8::", "'::' stands for no group: there are already 8 groups"),
        ("12345::", "group \"12345\" has more than 4 hex digits"),
        ("1:2:3:4:5:6:7:", "address ends with a single ':'"),
        ("2001:db8::g", "unexpected character 'g' at position 11"),
        ("fe80::1%eth0", "zone identifier \"%eth0\" is not supported"),
        ("::ffff:1.2.3", "embedded IPv4 part \"1.2.3\": expected 4 octets, found 3"),
        ("::ffff:1.2.3.04", "embedded IPv4 part \"1.2.3.04\": octet 4 \"04\" has a leading zero"),
        ("1:2:3:4:5:6:7:1.2.3.4", "too many groups (9, at most 8)"),
    ])
    func rejects(text: String, reason: String) {
        #expect(throws: AddressParseError(input: text, reason: reason)) {
            try IPv6Address(parsing: text)
        }
    }

    @Test func mappedIPv4() throws {
        let mapped = IPv6Address(mapping: IPv4Address(192, 0, 2, 1))
        #expect(mapped.description == "::ffff:192.0.2.1")
        #expect(mapped.mappedIPv4 == IPv4Address(192, 0, 2, 1))
        #expect(try IPv6Address(parsing: "::1").mappedIPv4 == nil)
        #expect(try IPv6Address(parsing: "1::ffff:c000:201").mappedIPv4 == nil)
    }

    @Test func roundTripsRandomAddresses() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            // Bias toward zero groups so compression is exercised.
            var groups = [UInt16](repeating: 0, count: 8)
            for i in 0..<8 where Bool.random(using: &generator) {
                groups[i] = UInt16.random(in: 0...0xFFFF, using: &generator)
            }
            var high: UInt64 = 0
            var low: UInt64 = 0
            for i in 0..<4 {
                high = high << 16 | UInt64(groups[i])
                low = low << 16 | UInt64(groups[i + 4])
            }
            let address = IPv6Address(high: high, low: low)
            let text = address.description
            #expect(IPv6Address(text) == address, "\(text)")
            // RFC 5952: never a lone "::" standing for one group, never leading zeros, lowercase.
            #expect(!text.contains(":::"))
            #expect(text == text.lowercased())
            let full = groups.map { String($0, radix: 16) }.joined(separator: ":")
            #expect(IPv6Address(full) == address)
        }
    }
}

@Suite struct IPAddressTests {
    @Test func parsesEitherFamily() throws {
        #expect(try IPAddress(parsing: "192.0.2.1") == .v4(IPv4Address(192, 0, 2, 1)))
        #expect(try IPAddress(parsing: "2001:db8::1") == .v6(IPv6Address(high: 0x2001_0db8_0000_0000, low: 1)))
        #expect(IPAddress("nonsense") == nil)
        #expect(throws: AddressParseError(input: "300.1.1.1", reason: "octet 1 \"300\" is greater than 255")) {
            try IPAddress(parsing: "300.1.1.1")
        }
    }

    @Test func ordersIPv4BeforeIPv6() throws {
        let sorted = try ["::1", "10.0.0.1", "::", "9.255.255.255"].map { try IPAddress(parsing: $0) }.sorted()
        #expect(sorted.map(\.description) == ["9.255.255.255", "10.0.0.1", "::", "::1"])
    }

    @Test func unmapsIPv4MappedAddresses() throws {
        #expect(try IPAddress(parsing: "::ffff:10.1.2.3").unmapped == .v4(IPv4Address(10, 1, 2, 3)))
        #expect(try IPAddress(parsing: "2001:db8::1").unmapped == IPAddress(parsing: "2001:db8::1"))
        #expect(try IPAddress(parsing: "10.1.2.3").unmapped == IPAddress(parsing: "10.1.2.3"))
    }
}
