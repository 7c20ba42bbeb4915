import Egress25Core
import Testing

@testable import ExceptionStore

/// The stored form of a prefix (family, first and last address as fixed-width hex) and its way back.
@Suite struct PrefixRangeTests {
    @Test func roundTripsEveryLength() throws {
        var generator = SystemRandomNumberGenerator()
        for length in UInt8(0)...32 {
            let address = IPAddress.v4(IPv4Address(UInt32.random(in: .min ... .max, using: &generator)))
            let prefix = IPPrefix(truncating: address, length: length)
            let range = ExceptionStore.PrefixRange(prefix)
            #expect(range.family == 4 && range.first.count == 8 && range.last.count == 8)
            #expect(ExceptionStore.PrefixRange.prefix(family: 4, first: range.first, last: range.last) == prefix)
        }
        for length in UInt8(0)...128 {
            let address = IPAddress.v6(
                IPv6Address(high: .random(in: .min ... .max, using: &generator), low: .random(in: .min ... .max)))
            let prefix = IPPrefix(truncating: address, length: length)
            let range = ExceptionStore.PrefixRange(prefix)
            #expect(range.family == 6 && range.first.count == 32 && range.last.count == 32)
            #expect(ExceptionStore.PrefixRange.prefix(family: 6, first: range.first, last: range.last) == prefix)
        }
    }

    @Test func textOrderIsAddressOrder() {
        let prefixes = ["9.255.255.255", "10.0.0.0/8", "100.64.0.0/10", "192.0.2.0/24", "255.255.255.255"].map(prefix)
        let firsts = prefixes.map { ExceptionStore.PrefixRange($0).first }
        #expect(firsts == firsts.sorted())
        #expect(ExceptionStore.PrefixRange(prefix("10.0.0.0/8")).last == "0affffff")
    }

    @Test func rejectsColumnsThatAreNotACIDRRange() {
        #expect(ExceptionStore.PrefixRange.prefix(family: 4, first: "0a000001", last: "0a0000ff") == nil)  // host bits
        #expect(ExceptionStore.PrefixRange.prefix(family: 4, first: "0a000000", last: "0a000002") == nil)  // not 2^n
        #expect(ExceptionStore.PrefixRange.prefix(family: 4, first: "0a00000", last: "0a000000") == nil)  // width
        #expect(ExceptionStore.PrefixRange.prefix(family: 5, first: "0a000000", last: "0a000000") == nil)
        #expect(
            ExceptionStore.PrefixRange.prefix(
                family: 6, first: "20010db8000000000000000000000000", last: "20010db80000000000000000ffffffff")
                == prefix("2001:db8::/96"))
        #expect(
            ExceptionStore.PrefixRange.prefix(
                family: 6, first: "20010db8000000000000000000000000", last: "20010db8000000ff0000000000000000")
                == nil)
    }
}
