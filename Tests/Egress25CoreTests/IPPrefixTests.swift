import Testing

@testable import Egress25Core

@Suite struct IPPrefixTests {
    @Test(arguments: [
        ("100.64.0.0/10", "100.64.0.0/10"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("192.0.2.1", "192.0.2.1/32"),
        ("192.0.2.1/32", "192.0.2.1/32"),
        ("2001:DB8::/32", "2001:db8::/32"),
        ("::/0", "::/0"),
        ("2001:db8::1", "2001:db8::1/128"),
        ("::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104"),
    ])
    func parsesAndPrints(text: String, canonical: String) throws {
        let prefix = try IPPrefix(parsing: text)
        #expect(prefix.description == canonical)
        #expect(IPPrefix(canonical) == prefix)
    }

    @Test(arguments: [
        ("100.64.0.1/10", "100.64.0.1/10 has host bits set (did you mean 100.64.0.0/10?)"),
        ("2001:db8::1/32", "2001:db8::1/32 has host bits set (did you mean 2001:db8::/32?)"),
        ("10.0.0.0/33", "prefix length 33 is greater than 32 for IPv4"),
        ("::/129", "prefix length 129 is greater than 128 for IPv6"),
        ("10.0.0.0/", "prefix length is empty"),
        ("10.0.0.0/08", "prefix length \"08\" has a leading zero"),
        ("10.0.0.0/x", "prefix length \"x\" is not a decimal number"),
        ("10.0.0.0/8/8", "prefix length \"8/8\" is not a decimal number"),
        ("10.0.0.0/99999999999999999999", "prefix length 99999999999999999999 is greater than 32 for IPv4"),
        ("010.0.0.0/8", "octet 1 \"010\" has a leading zero"),
        ("/8", "empty address"),
    ])
    func rejects(text: String, reason: String) {
        #expect(throws: AddressParseError(input: text, reason: reason)) {
            try IPPrefix(parsing: text)
        }
        #expect(IPPrefix(text) == nil)
    }

    @Test func initializerRejectsHostBitsNamingThePrefix() throws {
        let address = try IPAddress(parsing: "100.64.0.1")
        #expect(
            throws: AddressParseError(
                input: "100.64.0.1/10",
                reason: "100.64.0.1/10 has host bits set (did you mean 100.64.0.0/10?)"
            )
        ) {
            try IPPrefix(address: address, length: 10)
        }
        #expect(IPPrefix(truncating: address, length: 10).description == "100.64.0.0/10")
    }

    @Test func containment() throws {
        let cgnat = try IPPrefix(parsing: "100.64.0.0/10")
        #expect(cgnat.contains(try IPAddress(parsing: "100.64.0.0")))
        #expect(cgnat.contains(try IPAddress(parsing: "100.127.255.255")))
        #expect(!cgnat.contains(try IPAddress(parsing: "100.128.0.0")))
        #expect(!cgnat.contains(try IPAddress(parsing: "100.63.255.255")))
        #expect(cgnat.lastAddress == (try IPAddress(parsing: "100.127.255.255")))

        let all4 = try IPPrefix(parsing: "0.0.0.0/0")
        #expect(all4.contains(try IPAddress(parsing: "255.255.255.255")))
        #expect(!all4.contains(try IPAddress(parsing: "::")))

        let v6 = try IPPrefix(parsing: "2001:db8:8000::/33")
        #expect(v6.contains(try IPAddress(parsing: "2001:db8:ffff::1")))
        #expect(!v6.contains(try IPAddress(parsing: "2001:db8:7fff::1")))
        let host = try IPPrefix(parsing: "2001:db8::1/128")
        #expect(host.contains(try IPAddress(parsing: "2001:db8::1")))
        #expect(!host.contains(try IPAddress(parsing: "2001:db8::2")))
        let long = try IPPrefix(parsing: "2001:db8::8000:0/97")
        #expect(long.contains(try IPAddress(parsing: "2001:db8::ffff:ffff")))
        #expect(!long.contains(try IPAddress(parsing: "2001:db8::7fff:ffff")))
        #expect(long.lastAddress == (try IPAddress(parsing: "2001:db8::ffff:ffff")))
        #expect((try IPPrefix(parsing: "::/0")).contains(try IPAddress(parsing: "ffff::")))

        // Families never mix: a mapped address is IPv6 here.
        #expect(!(try IPPrefix(parsing: "10.0.0.0/8")).contains(try IPAddress(parsing: "::ffff:10.0.0.1")))
        #expect(cgnat.contains(try IPPrefix(parsing: "100.100.0.0/16")))
        #expect(!(try IPPrefix(parsing: "100.100.0.0/16")).contains(cgnat))
    }

    @Test func unmapsMappedPrefixes() throws {
        #expect(try IPPrefix(parsing: "::ffff:10.0.0.0/104").unmapped == IPPrefix(parsing: "10.0.0.0/8"))
        #expect(try IPPrefix(parsing: "::ffff:0:0/96").unmapped == IPPrefix(parsing: "0.0.0.0/0"))
        #expect(try IPPrefix(parsing: "::ffff:192.0.2.1").unmapped == IPPrefix(parsing: "192.0.2.1/32"))
        #expect(try IPPrefix(parsing: "::/64").unmapped == IPPrefix(parsing: "::/64"))
        #expect(try IPPrefix(parsing: "::fffe:0:0/96").unmapped == IPPrefix(parsing: "::fffe:0:0/96"))
    }
}
