import Egress25TestSupport

@testable import Egress25Core

/// Random addresses and prefixes drawn from a few clusters, so that prefixes nest, overlap and repeat.
enum Clustered {
    static let v4Clusters: [UInt32] = [0x0000_0000, 0x0A00_0000, 0x6440_0000, 0xFFFF_FF00]
    static let v6Clusters: [UInt64] = [0, 0x2001_0db8_0000_0000, 0xfe80_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF]

    static func v4Address(_ x: UInt64) -> IPAddress {
        .v4(IPv4Address(v4Clusters[Int(x & 3)] ^ (UInt32(truncatingIfNeeded: x >> 8) & 0x00F0_F00F)))
    }

    static func v6Address(_ x: UInt64) -> IPAddress {
        let high = v6Clusters[Int(x & 3)] ^ ((x >> 8) & 0x0000_0000_00F0_000F)
        let low = (x >> 60) == 0xF ? ~UInt64(0) : (x >> 24) & 0xF00F
        return .v6(IPv6Address(high: high, low: low))
    }

    static func address(_ x: UInt64) -> IPAddress {
        (x >> 7) & 1 == 0 ? v4Address(x) : v6Address(x)
    }

    static func prefix(_ x: UInt64) -> IPPrefix {
        let address = address(x)
        let width = UInt64(address.bitWidth)
        // Favour short and full-length prefixes alike.
        let length = UInt8((x >> 2) % (width + 1))
        return IPPrefix(truncating: address, length: length)
    }
}

extension PrefixTable where Payload == Int32 {
    /// Every (prefix length, value) matching `address`, most specific first (walks the parent chain).
    func allMatches(_ address: IPAddress) -> [MatchKey] {
        allPayloads(address).map { MatchKey(length: $0.length, value: $0.payload) }
    }
}

struct MatchKey: Hashable, CustomStringConvertible {
    var length: UInt8
    var value: Int32
    var description: String { "/\(length)=\(value)" }
}

/// The linear-scan answer `PrefixTable.allMatches` must agree with.
func linearMatches(_ prefixes: [(prefix: IPPrefix, value: Int32)], _ address: IPAddress) -> [MatchKey] {
    var seen = Set<[Int]>()
    var result: [MatchKey] = []
    for (prefix, value) in prefixes where prefix.contains(address) {
        if seen.insert([prefix.hashValue, Int(prefix.length), Int(value)]).inserted {
            result.append(MatchKey(length: prefix.length, value: value))
        }
    }
    return result.sorted { $0.length != $1.length ? $0.length > $1.length : $0.value < $1.value }
}
