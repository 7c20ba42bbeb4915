import Egress25TestSupport
import Testing

@testable import Egress25Core

@Suite struct SourceTrieTests {
    /// Random clustered subscriber and exception prefixes: every probe (random addresses and every prefix's first
    /// and last address, +-1) gets the same subscriber bit and exception entry from the trie as from the two prefix
    /// tables, at bucket sizes that force the deepest trie (1) and the shallowest (32).
    @Test(arguments: 0..<24)
    func agreesWithPrefixTables(seed: Int) {
        var g = SplitMix64(seed: UInt64(seed) &* 0x9E37_79B9 &+ 7)
        let subscriberPrefixes = (0..<Int(g.next() % 40)).map { _ in Clustered.prefix(g.next()) }
        let subscribers = PrefixTable<UInt8>(subscriberPrefixes.map { (prefix: $0, order: 0, payload: 0) })
        var builder = PrefixTable<PolicySnapshot.ExceptionPayload>.Builder()
        var exceptionPrefixes: [IPPrefix] = []
        for index in 0..<Int(g.next() % 200) {
            let payload = builder.addPayload(
                PolicySnapshot.ExceptionPayload(notBefore: 0, expiresAt: 9, index: Int32(index), scope: -1))
            for _ in 0..<(1 + Int(g.next() % 2)) {
                let prefix = Clustered.prefix(g.next())
                exceptionPrefixes.append(prefix)
                builder.add(prefix, order: Int32(index), payload: payload)
            }
        }
        let exceptions = builder.build(indexThreshold: 0)
        defer {
            subscribers.deallocate()
            exceptions.deallocate()
        }
        var probes: [IPAddress] = (0..<2000).map { _ in Clustered.address(g.next()) }
        for prefix in subscriberPrefixes + exceptionPrefixes {
            probes += [prefix.address, prefix.lastAddress]
            for address in [prefix.address, prefix.lastAddress] {
                switch address {
                case .v4(let v4):
                    probes += [.v4(IPv4Address(v4.value &- 1)), .v4(IPv4Address(v4.value &+ 1))]
                case .v6(let v6):
                    probes += [
                        .v6(IPv6Address(high: v6.high, low: v6.low &- 1)),
                        .v6(IPv6Address(high: v6.high, low: v6.low &+ 1)),
                    ]
                }
            }
        }
        for maxBucket in [1, 2, 16, 32] {
            let trie4 = SourceTrie<UInt32>(
                subscribers: subscribers.intervals4, exceptions: exceptions.intervals4, entries: exceptions.entries,
                maxBucket: maxBucket)!
            let trie6 = SourceTrie<UInt128>(
                subscribers: subscribers.intervals6, exceptions: exceptions.intervals6, entries: exceptions.entries,
                maxBucket: maxBucket)!
            defer {
                trie4.deallocate()
                trie6.deallocate()
            }
            var mismatches = 0
            for probe in probes {
                let info: UInt32
                switch probe {
                case .v4(let v4): info = trie4.lookup(v4.value).pointee.info
                case .v6(let v6): info = trie6.lookup(UInt128(v6.high) << 64 | UInt128(v6.low)).pointee.info
                }
                let entry = exceptions.lookup(probe)
                var expected: UInt32 = subscribers.lookup(probe) >= 0 ? 1 << 31 : 0
                if entry >= 0 {
                    expected |= UInt32(entry + 1)
                    let record = exceptions.entries[Int(entry)]
                    if record.parent >= 0 || record.extraCount > 0 { expected |= 1 << 30 }
                }
                if info != expected { mismatches += 1 }
            }
            #expect(mismatches == 0, "maxBucket \(maxBucket)")
        }
    }

    /// A dense IPv4 /24 (every other address an exception) is split below /24 at bucket size 16, and still agrees
    /// with the exception table.
    @Test func denseSlashTwentyFour() {
        var builder = PrefixTable<PolicySnapshot.ExceptionPayload>.Builder()
        for host in stride(from: UInt32(0), to: 256, by: 2) {
            let payload = builder.addPayload(
                PolicySnapshot.ExceptionPayload(notBefore: 0, expiresAt: 9, index: Int32(host), scope: -1))
            builder.add(
                IPPrefix(truncating: .v4(IPv4Address(0x0A01_0200 | host)), length: 32), order: 0, payload: payload)
        }
        let exceptions = builder.build(indexThreshold: 0)
        let subscribers = PrefixTable<UInt8>(
            [(prefix: IPPrefix(truncating: .v4(IPv4Address(0x0A00_0000)), length: 8), order: 0, payload: 0)])
        let trie = SourceTrie<UInt32>(
            subscribers: subscribers.intervals4, exceptions: exceptions.intervals4, entries: exceptions.entries,
            maxBucket: 16)!
        defer {
            trie.deallocate()
            subscribers.deallocate()
            exceptions.deallocate()
        }
        #expect(trie.blocks.count > 256)  // the /16's block and the /24's 16-slot blocks
        for key in UInt32(0x0A01_01FF)...0x0A01_0300 {
            let info = trie.lookup(key).pointee.info
            #expect(info & (1 << 31) != 0)
            #expect(Int32(info & ((1 << 30) - 1)) - 1 == exceptions.lookup(v4: key))
        }
        #expect(trie.lookup(0x0B00_0000).pointee.info == 0)
    }
}
