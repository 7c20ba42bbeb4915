import Egress25TestSupport
import PropertyBased
import Testing

@testable import Egress25Core

@Suite struct PrefixTableTests {
    /// Tables are built twice: with the direct index forced on (threshold 0) and off.
    func table(
        _ entries: [(String, Int32)], indexed: Bool = true
    ) throws -> (
        PrefixTable<Int32>, [(prefix: IPPrefix, value: Int32)]
    ) {
        let prefixes = try entries.map { (prefix: try IPPrefix(parsing: $0.0), value: $0.1) }
        return (PrefixTable(prefixes, indexThreshold: indexed ? 0 : .max), prefixes)
    }

    func matches(_ table: PrefixTable<Int32>, _ text: String) throws -> [MatchKey] {
        table.allMatches(try IPAddress(parsing: text))
    }

    @Test(arguments: [true, false]) func emptyTableMatchesNothing(indexed: Bool) throws {
        let (table, _) = try table([], indexed: indexed)
        #expect(try matches(table, "0.0.0.0") == [])
        #expect(try matches(table, "255.255.255.255") == [])
        #expect(try matches(table, "::") == [])
        #expect(table.lookup(v6High: ~0, low: ~0) == -1)
        table.deallocate()
    }

    @Test(arguments: [true, false]) func defaultRoutesAndHosts(indexed: Bool) throws {
        let (table, _) = try table(
            [
                ("0.0.0.0/0", 1), ("::/0", 2), ("255.255.255.255/32", 3), ("0.0.0.0/32", 4),
                ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 5), ("::/128", 6),
            ], indexed: indexed)
        defer { table.deallocate() }
        #expect(try matches(table, "0.0.0.0") == [MatchKey(length: 32, value: 4), MatchKey(length: 0, value: 1)])
        #expect(try matches(table, "0.0.0.1") == [MatchKey(length: 0, value: 1)])
        #expect(try matches(table, "255.255.255.254") == [MatchKey(length: 0, value: 1)])
        #expect(
            try matches(table, "255.255.255.255") == [MatchKey(length: 32, value: 3), MatchKey(length: 0, value: 1)])
        #expect(try matches(table, "::") == [MatchKey(length: 128, value: 6), MatchKey(length: 0, value: 2)])
        #expect(try matches(table, "::1") == [MatchKey(length: 0, value: 2)])
        #expect(
            try matches(table, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
                == [MatchKey(length: 128, value: 5), MatchKey(length: 0, value: 2)]
        )
    }

    @Test(arguments: [true, false]) func nestedOverlappingAndDuplicatePrefixes(indexed: Bool) throws {
        let (table, _) = try table(
            [
                ("100.64.0.0/10", 0), ("100.64.9.0/29", 1), ("100.64.9.7/32", 2), ("100.64.9.0/29", 3),
                ("100.64.9.0/29", 1), ("100.64.9.8/29", 4), ("100.64.0.0/10", 5), ("100.64.9.0/24", 6),
            ], indexed: indexed)
        defer { table.deallocate() }
        #expect(table.entryCount == 5)
        #expect(
            try matches(table, "100.64.9.7") == [
                MatchKey(length: 32, value: 2), MatchKey(length: 29, value: 1), MatchKey(length: 29, value: 3),
                MatchKey(length: 24, value: 6), MatchKey(length: 10, value: 0), MatchKey(length: 10, value: 5),
            ]
        )
        #expect(
            try matches(table, "100.64.9.6") == [
                MatchKey(length: 29, value: 1), MatchKey(length: 29, value: 3), MatchKey(length: 24, value: 6),
                MatchKey(length: 10, value: 0), MatchKey(length: 10, value: 5),
            ]
        )
        #expect(
            try matches(table, "100.64.9.8") == [
                MatchKey(length: 29, value: 4), MatchKey(length: 24, value: 6), MatchKey(length: 10, value: 0),
                MatchKey(length: 10, value: 5),
            ]
        )
        #expect(
            try matches(table, "100.64.9.16")
                == [MatchKey(length: 24, value: 6), MatchKey(length: 10, value: 0), MatchKey(length: 10, value: 5)]
        )
        #expect(
            try matches(table, "100.127.255.255") == [MatchKey(length: 10, value: 0), MatchKey(length: 10, value: 5)])
        #expect(try matches(table, "100.128.0.0") == [])
        #expect(try matches(table, "100.63.255.255") == [])
    }

    @Test(arguments: [true, false]) func ipv6Prefixes(indexed: Bool) throws {
        let (table, _) = try table(
            [
                ("2001:db8::/32", 0), ("2001:db8:0:1::/64", 1), ("2001:db8:0:1::25/128", 2), ("2001:db8::8000:0/97", 3),
            ], indexed: indexed)
        defer { table.deallocate() }
        #expect(
            try matches(table, "2001:db8:0:1::25")
                == [MatchKey(length: 128, value: 2), MatchKey(length: 64, value: 1), MatchKey(length: 32, value: 0)]
        )
        #expect(
            try matches(table, "2001:db8:0:1::26") == [MatchKey(length: 64, value: 1), MatchKey(length: 32, value: 0)])
        #expect(
            try matches(table, "2001:db8::ffff:ffff") == [
                MatchKey(length: 97, value: 3), MatchKey(length: 32, value: 0),
            ])
        #expect(try matches(table, "2001:db8::7fff:ffff") == [MatchKey(length: 32, value: 0)])
        #expect(try matches(table, "2001:db9::") == [])
        // IPv4 lookups do not see IPv6 entries.
        #expect(try matches(table, "32.1.13.184") == [])
    }

    @Test func unindexedTableAgrees() throws {
        var generator = SplitMix64(seed: 7)
        let prefixes = (0..<500).map { i in (prefix: Clustered.prefix(generator.next()), value: Int32(i % 97)) }
        let indexed = PrefixTable(prefixes, indexThreshold: 0)
        let plain = PrefixTable(prefixes, indexThreshold: .max)
        #expect(indexed.v4Window.slotCount > 0 && indexed.v6Window.slotCount > 0)
        #expect(plain.v4Window.slotCount == 0)
        defer {
            indexed.deallocate()
            plain.deallocate()
        }
        for _ in 0..<5000 {
            let address = Clustered.address(generator.next())
            #expect(indexed.allMatches(address) == plain.allMatches(address))
        }
    }

    @Test func longBucketsAreBinarySearched() throws {
        // Two far-apart prefixes widen the index window; 300 hosts inside one /24 then share one index slot.
        var prefixes: [(prefix: IPPrefix, value: Int32)] = [
            (try IPPrefix(parsing: "1.0.0.0/32"), 0), (try IPPrefix(parsing: "254.0.0.0/32"), 1),
            (try IPPrefix(parsing: "100.64.0.0/24"), 2), (try IPPrefix(parsing: "2001:db8::/32"), 3),
            (try IPPrefix(parsing: "fe80::/10"), 4),
        ]
        for i in 0..<250 {
            prefixes.append((IPPrefix(host: .v4(IPv4Address(100, 64, 0, UInt8(i)))), Int32(10 + i)))
            prefixes.append(
                (IPPrefix(host: .v6(IPv6Address(high: 0x2001_0db8_0000_0001, low: UInt64(i * 3)))), Int32(300 + i)))
        }
        let table = PrefixTable(prefixes, indexThreshold: 0)
        defer { table.deallocate() }
        #expect(table.v4Window.slotCount > 0)
        var probes: [IPAddress] = []
        for i in 0..<256 {
            probes.append(.v4(IPv4Address(100, 64, 0, UInt8(i))))
            probes.append(.v6(IPv6Address(high: 0x2001_0db8_0000_0001, low: UInt64(i))))
        }
        probes += ["1.0.0.0", "1.0.0.1", "0.255.255.255", "254.0.0.0", "255.0.0.0", "100.64.1.0", "fe80::1", "::"].map {
            try! IPAddress(parsing: $0)
        }
        for probe in probes {
            #expect(table.allMatches(probe) == linearMatches(prefixes, probe), "\(probe)")
        }
    }

    @Test func agreesWithLinearScan() async {
        await propertyCheck(
            count: 300,
            input: Gen.uint64().array(of: 0...60),
            Gen.uint64().array(of: 1...40)
        ) { prefixSeeds, probeSeeds in
            let prefixes = prefixSeeds.enumerated().map { index, seed in
                (prefix: Clustered.prefix(seed), value: Int32(seed >> 59) ^ Int32(index % 3))
            }
            let table = PrefixTable(prefixes, indexThreshold: (prefixSeeds.first ?? 0) & 1 == 0 ? 0 : .max)
            defer { table.deallocate() }
            var probes = probeSeeds.map(Clustered.address)
            // Every prefix boundary and its neighbours.
            for (prefix, _) in prefixes {
                probes.append(prefix.address)
                probes.append(prefix.lastAddress)
                switch (prefix.address, prefix.lastAddress) {
                case (.v4(let first), .v4(let last)):
                    probes.append(.v4(IPv4Address(first.value &- 1)))
                    probes.append(.v4(IPv4Address(last.value &+ 1)))
                case (.v6(let first), .v6(let last)):
                    let before =
                        first.low == 0
                        ? IPv6Address(high: first.high &- 1, low: ~0)
                        : IPv6Address(high: first.high, low: first.low - 1)
                    let after =
                        last.low == ~0
                        ? IPv6Address(high: last.high &+ 1, low: 0) : IPv6Address(high: last.high, low: last.low + 1)
                    probes.append(.v6(before))
                    probes.append(.v6(after))
                default:
                    break
                }
            }
            for probe in probes {
                let expected = linearMatches(prefixes, probe)
                let actual = table.allMatches(probe)
                #expect(actual == expected, "\(probe) in \(prefixes.map { "\($0.prefix)=\($0.value)" })")
            }
        }
    }
}
