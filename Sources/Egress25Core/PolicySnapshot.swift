/// An immutable, compiled form of a `Policy` plus the exception store's exceptions and the customer bindings:
/// what the queue workers read, through one atomic reference, to decide every SYN.
///
/// Built off the hot path (`init` sorts and flattens every prefix into longest-prefix-match tables, see
/// `PrefixTable`); after that `decide` allocates nothing, takes no lock, and touches no reference count
/// beyond the caller's.
///
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, RFC 4291 section 2.5.5.2) are looked up as the IPv4 address they
/// map, and IPv6 prefixes inside `::ffff:0:0/96` are stored as the IPv4 prefixes they map (`::ffff:10.0.0.0/104`
/// is `10.0.0.0/8`). An IPv6 prefix shorter than /96 that covers `::ffff:0:0/96` (e.g. `::/0`) therefore does not
/// match IPv4-mapped addresses.
///
/// Exception indices: `policy.exceptions` (static, from the configuration) come first, then the `exceptions`
/// argument (from the store), in the order given. Relay indices follow `policy.relayHosts`.
///
/// Validity times are compared as `UInt32` UTC seconds, exact to the second from 1970-01-01 to 2106-02-07; earlier
/// or later `notBefore`/`expiresAt` values (and `now`) are clamped into that range.
///
/// Memory (measured, see Benchmarks/Egress25CoreBenchmarks): about 130 bytes of lookup tables per single-source
/// exception, plus the `ExceptionRule` values themselves (kept for `exception(at:)`, shared with the caller's array
/// when `policy.exceptions` is empty). Tables of 1 MiB or more are 2 MiB-aligned and advised to use transparent huge
/// pages.
public final class PolicySnapshot: Sendable {
    /// Increases with every snapshot the daemon publishes.
    public let generation: UInt64
    /// The policy this snapshot was built from (its `exceptions` are the static ones only).
    public let policy: Policy

    let relays: [RelayHost]
    let rules: [ExceptionRule]
    let customers: [String]
    let tables: Tables

    /// Hot-path state, all in `FrozenArray`s.
    struct Tables: Sendable {
        var shadow: Bool
        /// One bit per destination port (65,536 bits).
        var policedPorts: FrozenArray<UInt64>
        var subscribers: PrefixTable<UInt8>
        var relays: PrefixTable<RelayPayload>
        var relayPortList: FrozenArray<UInt16>
        var exceptions: PrefixTable<ExceptionPayload>
        /// Destination scopes: sorted, merged [first, last] ranges per scoped exception (see `ExceptionPayload`).
        var scopes: FrozenArray<ScopeRange>
        var scopeV4: FrozenArray<Range4>
        var scopeV6: FrozenArray<Range6>
        var bindings: PrefixTable<Int32>
        var exceptionCustomers: FrozenArray<Int32>
        /// Subscriber and exception lookups by source in one walk (nil: use `subscribers` and `exceptions`).
        var source4: SourceTrie<UInt32>?
        var source6: SourceTrie<UInt128>?

        func deallocate() {
            policedPorts.deallocate()
            subscribers.deallocate()
            relays.deallocate()
            relayPortList.deallocate()
            exceptions.deallocate()
            scopes.deallocate()
            scopeV4.deallocate()
            scopeV6.deallocate()
            bindings.deallocate()
            exceptionCustomers.deallocate()
            source4?.deallocate()
            source6?.deallocate()
        }

        var byteCount: Int {
            policedPorts.byteCount + subscribers.byteCount + relays.byteCount + relayPortList.byteCount
                + exceptions.byteCount + scopes.byteCount + scopeV4.byteCount + scopeV6.byteCount + bindings.byteCount
                + exceptionCustomers.byteCount + (source4?.byteCount ?? 0) + (source6?.byteCount ?? 0)
        }
    }

    /// A relay as stored in the relay table.
    struct RelayPayload {
        var index: Int32
        /// Ports: relayPortList[portStart ..< portStart + portCount]; portCount -1 = every policed port.
        var portStart: Int32
        var portCount: Int32
    }

    /// An exception as stored in the exception table: what `decide` needs, in 16 bytes (an entry record with it
    /// is 32 bytes, half a cache line). Times are UTC seconds as `UInt32`, clamped: exact for 1970-01-01 to
    /// 2106-02-07; nil `notBefore` is 0 and nil `expiresAt` is `UInt32.max`.
    struct ExceptionPayload {
        /// Inclusive.
        var notBefore: UInt32
        /// Exclusive.
        var expiresAt: UInt32
        var index: Int32
        /// -1: any destination. >= 0: index into `scopes`. <= -2: an IPv4-only scope of 1...15 ranges stored
        /// directly, `-(2 + (v4Start << 4 | v4Count))`, which saves the `scopes` lookup (one cache miss).
        var scope: Int32
    }

    /// One exception's destination scope: scopeV4[v4Start ..< v4Start + v4Count], and the same for IPv6.
    struct ScopeRange {
        var v4Start: Int32
        var v4Count: Int32
        var v6Start: Int32
        var v6Count: Int32
    }

    struct Range4: Comparable {
        var first: UInt32
        var last: UInt32
        static func < (a: Range4, b: Range4) -> Bool { a.first < b.first }
    }

    struct Range6: Comparable {
        var first: UInt128
        var last: UInt128
        static func < (a: Range6, b: Range6) -> Bool { a.first < b.first }
    }

    /// Builds a snapshot.
    /// - Parameters:
    ///   - policy: subscriber ranges, relays, policed ports, mode, and static exceptions.
    ///   - exceptions: exceptions from the exception store, merged after `policy.exceptions`.
    ///   - bindings: who holds which source prefix now, for `customerIndex(for:)`.
    ///   - generation: stored as is.
    /// - Throws: `PolicyBuildError` when two exceptions share an id, or there are more than `Int32.max`
    ///   exceptions or relays.
    public convenience init(
        policy: Policy,
        exceptions: [ExceptionRule],
        bindings: [CustomerBinding],
        generation: UInt64
    ) throws(PolicyBuildError) {
        try self.init(policy: policy, exceptions: exceptions, bindings: bindings, generation: generation, indexed: true)
    }

    /// As the public initializer; `indexed: false` never builds the direct index of the prefix tables
    /// (benchmark comparison only).
    @_spi(Benchmarks)
    public convenience init(
        policy: Policy,
        exceptions: [ExceptionRule],
        bindings: [CustomerBinding],
        generation: UInt64,
        indexed: Bool
    ) throws(PolicyBuildError) {
        try self.init(
            policy: policy, exceptions: exceptions, bindings: bindings, generation: generation,
            indexThreshold: indexed ? 64 : .max
        )
    }

    /// - Parameters:
    ///   - indexThreshold: a prefix table family with more intervals than this gets a direct index, and a family
    ///     whose subscriber and exception tables hold more intervals than this together gets a `SourceTrie`.
    ///   - maxBucket: the source tries' bucket size (tests force deep tries with 1).
    init(
        policy: Policy,
        exceptions storeExceptions: [ExceptionRule],
        bindings: [CustomerBinding],
        generation: UInt64,
        indexThreshold: Int,
        maxBucket: Int = PolicySnapshot.sourceTrieBucket
    ) throws(PolicyBuildError) {
        self.generation = generation
        self.policy = policy
        self.relays = policy.relayHosts
        let staticCount = policy.exceptions.count
        // Share the store's array (no copy) when there are no static exceptions.
        let rules = staticCount == 0 ? storeExceptions : policy.exceptions + storeExceptions
        self.rules = rules
        guard rules.count < Int(Int32.max), relays.count < Int(Int32.max) else {
            throw PolicyBuildError(message: "too many exceptions (\(rules.count)) or relays (\(relays.count))")
        }

        // Customers: bindings first, then exceptions.
        var customers: [String] = []
        var customerTable = StringIndexTable(capacity: 1024)
        func intern(_ name: String) -> Int32 {
            let existing = customerTable.insert(name, index: Int32(customers.count)) { customers[Int($0)] }
            if existing >= 0 { return existing }
            customers.append(name)
            if customers.count * 2 > customerTable.capacity {
                customerTable = StringIndexTable(capacity: customers.count * 2)
                for (index, customer) in customers.enumerated() {
                    _ = customerTable.insert(customer, index: Int32(index)) { customers[Int($0)] }
                }
            }
            return Int32(customers.count - 1)
        }
        var bindingItems: [(prefix: IPPrefix, order: Int32, payload: Int32)] = []
        bindingItems.reserveCapacity(bindings.count)
        for (index, binding) in bindings.enumerated() {
            bindingItems.append((binding.prefix.unmapped, Int32(index), intern(binding.customer)))
        }
        var exceptionCustomers: [Int32] = []
        exceptionCustomers.reserveCapacity(rules.count)

        // Policed ports.
        var bitmap = [UInt64](repeating: 0, count: 1024)
        for port in policy.ports {
            bitmap[Int(port >> 6)] |= 1 << UInt64(port & 63)
        }

        // Relays.
        var relayItems: [(prefix: IPPrefix, order: Int32, payload: RelayPayload)] = []
        var relayPortList: [UInt16] = []
        for (index, relay) in relays.enumerated() {
            var payload = RelayPayload(index: Int32(index), portStart: 0, portCount: -1)
            if let ports = relay.ports {
                payload.portStart = Int32(relayPortList.count)
                payload.portCount = Int32(ports.count)
                relayPortList.append(contentsOf: ports)
            }
            relayItems.append((relay.prefix.unmapped, Int32(index), payload))
        }

        // Exceptions.
        var exceptionTable = PrefixTable<ExceptionPayload>.Builder()
        exceptionTable.reserveCapacity(rules.count)
        var scopes: [ScopeRange] = []
        var scopeV4: [Range4] = []
        var scopeV6: [Range6] = []
        // One pass over the exceptions (each is a large struct with several heap objects: walk them once):
        // duplicate ids, customers, validity, scope, sources.
        var ids = StringIndexTable(capacity: rules.count)
        for (index, rule) in rules.enumerated() {
            let first = ids.insert(rule.id, index: Int32(index)) { rules[Int($0)].id }
            if first >= 0 {
                func origin(_ i: Int) -> String {
                    i < staticCount
                        ? "configuration policy exception #\(i + 1)"
                        : "exception store entry #\(i - staticCount + 1)"
                }
                throw PolicyBuildError(
                    message: "duplicate exception id \"\(rule.id)\": \(origin(Int(first))) and \(origin(index))"
                )
            }
            exceptionCustomers.append(intern(rule.customer))
            var payload = ExceptionPayload(
                notBefore: rule.notBefore.map { UInt32(clamping: $0) } ?? 0,
                expiresAt: rule.expiresAt.map { UInt32(clamping: $0) } ?? .max,
                index: Int32(index),
                scope: -1
            )
            if case .prefixes(let prefixes) = rule.destinations {
                let v4Start = scopeV4.count
                let v6Start = scopeV6.count
                for prefix in prefixes {
                    let prefix = prefix.unmapped
                    switch (prefix.address, prefix.lastAddress) {
                    case (.v4(let first), .v4(let last)):
                        scopeV4.append(Range4(first: first.value, last: last.value))
                    case (.v6(let first), .v6(let last)):
                        scopeV6.append(
                            Range6(
                                first: UInt128(first.high) << 64 | UInt128(first.low),
                                last: UInt128(last.high) << 64 | UInt128(last.low)
                            )
                        )
                    default:
                        break
                    }
                }
                PolicySnapshot.sortAndMerge(&scopeV4, from: v4Start)
                PolicySnapshot.sortAndMerge(&scopeV6, from: v6Start)
                let v4Count = scopeV4.count - v4Start
                if scopeV6.count == v6Start && (1...15).contains(v4Count) && v4Start < 1 << 26 {
                    payload.scope = -(2 + Int32(v4Start << 4 | v4Count))
                } else {
                    payload.scope = Int32(scopes.count)
                    scopes.append(
                        ScopeRange(
                            v4Start: Int32(v4Start), v4Count: Int32(scopeV4.count - v4Start),
                            v6Start: Int32(v6Start), v6Count: Int32(scopeV6.count - v6Start)
                        )
                    )
                }
            }
            let payloadIndex = exceptionTable.addPayload(payload)
            for source in rule.sources {
                // A source held through a session lease ends at min(expiresAt, lease end): its own payload.
                if let leaseEnd = rule.sourceLeaseEnds[source], UInt32(clamping: leaseEnd) < payload.expiresAt {
                    var leased = payload
                    leased.expiresAt = UInt32(clamping: leaseEnd)
                    exceptionTable.add(source.unmapped, order: Int32(index), payload: exceptionTable.addPayload(leased))
                    continue
                }
                exceptionTable.add(source.unmapped, order: Int32(index), payload: payloadIndex)
            }
        }

        self.customers = customers

        let subscriberTable = PrefixTable<UInt8>(
            policy.subscriberRanges.map { (prefix: $0.unmapped, order: 0, payload: 0) },
            indexThreshold: indexThreshold
        )
        let exceptionPrefixTable = exceptionTable.build(indexThreshold: indexThreshold)
        var source4: SourceTrie<UInt32>? = nil
        var source6: SourceTrie<UInt128>? = nil
        if indexThreshold < .max && subscriberTable.v4.count + exceptionPrefixTable.v4.count > indexThreshold {
            source4 = SourceTrie(
                subscribers: subscriberTable.intervals4, exceptions: exceptionPrefixTable.intervals4,
                entries: exceptionPrefixTable.entries, maxBucket: maxBucket)
        }
        if indexThreshold < .max && subscriberTable.v6.count + exceptionPrefixTable.v6.count > indexThreshold {
            source6 = SourceTrie(
                subscribers: subscriberTable.intervals6, exceptions: exceptionPrefixTable.intervals6,
                entries: exceptionPrefixTable.entries, maxBucket: maxBucket)
        }

        self.tables = Tables(
            shadow: policy.mode == .shadow,
            policedPorts: FrozenArray(bitmap),
            subscribers: subscriberTable,
            relays: PrefixTable(relayItems, indexThreshold: indexThreshold),
            relayPortList: FrozenArray(relayPortList),
            exceptions: exceptionPrefixTable,
            scopes: FrozenArray(scopes),
            scopeV4: FrozenArray(scopeV4),
            scopeV6: FrozenArray(scopeV6),
            bindings: PrefixTable(bindingItems, indexThreshold: indexThreshold),
            exceptionCustomers: FrozenArray(exceptionCustomers),
            source4: source4,
            source6: source6
        )
    }

    /// The source tries' bucket size: a trie slot covering more elementary intervals than this gets a block.
    static var sourceTrieBucket: Int { 16 }

    /// Sorts `ranges[start...]` by first address and merges overlapping or adjacent ranges, in place.
    static func sortAndMerge<Range: Comparable & RangePair>(_ ranges: inout [Range], from start: Int) {
        guard ranges.count - start > 1 else { return }
        if ranges.count - start <= 16 {
            // Insertion sort in place: scopes are small, and sorting a slice could copy the array.
            for index in (start + 1)..<ranges.count {
                let range = ranges[index]
                var position = index
                while position > start && range < ranges[position - 1] {
                    ranges[position] = ranges[position - 1]
                    position -= 1
                }
                ranges[position] = range
            }
        } else {
            let sorted = ranges[start...].sorted()
            ranges.replaceSubrange(start..., with: sorted)
        }
        var output = start
        for index in (start + 1)..<ranges.count {
            let range = ranges[index]
            if ranges[output].last == Range.Key.max || range.first <= ranges[output].last + 1 {
                if range.last > ranges[output].last { ranges[output].last = range.last }
            } else {
                output += 1
                ranges[output] = range
            }
        }
        ranges.removeLast(ranges.count - output - 1)
    }

    deinit {
        tables.deallocate()
    }

    // MARK: - Decisions

    @inline(__always)
    func blocked(_ reason: DecisionReason) -> Decision {
        tables.shadow
            ? Decision(verdict: .accept, reason: reason, shadow: true)
            : Decision(verdict: .block, reason: reason, shadow: false)
    }

    /// Decides one TCP segment at `now` (UTC seconds). In order: destination port not policed -> accept
    /// `.notPolicedPort`; not SYN-without-ACK -> accept `.notInitialSYN`; source outside the subscriber ranges ->
    /// accept `.notSubscriber`; destination is a relay serving the port (most specific relay prefix, then lowest
    /// index) -> accept `.relay`; then among the exceptions whose sources contain the source (most specific source
    /// prefix first, then lowest index): one active (`notBefore <= now < expiresAt`) with the destination in scope
    /// -> accept `.exception`; else one active but out of scope -> block `.blockedOutsideScope`; else one expired or
    /// not yet valid -> block `.blockedExceptionExpired`; else block `.blockedNoException`. In shadow mode a block
    /// becomes accept with `shadow == true`. No allocation, no lock.
    public func decide(_ flow: Flow, now: Int64) -> Decision {
        let source = flow.source.unmapped
        let destination = flow.destination.unmapped
        // One trie walk answers both "subscriber?" and "which exception?" (see `SourceTrie`); its loads and the
        // relay table's are independent, so their cache misses overlap.
        switch source {
        case .v4(let address):
            if let trie = tables.source4 {
                return decide(flow, destination, trie.lookup(address.value), now)
            }
        case .v6(let address):
            if let trie = tables.source6 {
                return decide(flow, destination, trie.lookup(UInt128(address.high) << 64 | UInt128(address.low)), now)
            }
        }
        // Small tables: the prefix tables (cache-resident). The exception table is looked up only when the SYN is
        // not to a relay.
        let subscriber = tables.subscribers.lookup(source)
        let relayEntry = tables.relays.lookup(destination)
        let port = flow.destinationPort
        guard tables.policedPorts[Int(port >> 6)] & (1 << UInt64(port & 63)) != 0 else {
            return Decision(verdict: .accept, reason: .notPolicedPort)
        }
        guard flow.flags.isInitialSYN else {
            return Decision(verdict: .accept, reason: .notInitialSYN)
        }
        guard subscriber >= 0 else {
            return Decision(verdict: .accept, reason: .notSubscriber)
        }
        if let relay = relayDecision(relayEntry, port) { return relay }
        return exceptionDecision(tables.exceptions.lookup(source), destination, now)
    }

    /// `decide` with the source already looked up in a `SourceTrie`.
    @inline(__always)
    func decide<Key>(
        _ flow: Flow, _ destination: IPAddress, _ leaf: UnsafeMutablePointer<SourceTrie<Key>.Leaf>, _ now: Int64
    ) -> Decision {
        let relayEntry = tables.relays.lookup(destination)
        let port = flow.destinationPort
        guard tables.policedPorts[Int(port >> 6)] & (1 << UInt64(port & 63)) != 0 else {
            return Decision(verdict: .accept, reason: .notPolicedPort)
        }
        guard flow.flags.isInitialSYN else {
            return Decision(verdict: .accept, reason: .notInitialSYN)
        }
        let info = leaf.pointee.info
        guard info & SourceTrie<Key>.subscriberBit != 0 else {
            return Decision(verdict: .accept, reason: .notSubscriber)
        }
        if let relay = relayDecision(relayEntry, port) { return relay }
        let entry = Int32(bitPattern: info & SourceTrie<Key>.entryMask) - 1
        if entry < 0 { return blocked(.blockedNoException) }
        if info & SourceTrie<Key>.complexBit != 0 { return exceptionDecision(entry, destination, now) }
        // One prefix, one payload: stored in the leaf.
        let payload = leaf.pointee.payload
        let time = UInt32(clamping: now)
        guard payload.notBefore <= time && time < payload.expiresAt else {
            return blocked(.blockedExceptionExpired(payload.index))
        }
        if inScope(payload, destination) { return Decision(verdict: .accept, reason: .exception(payload.index)) }
        return blocked(.blockedOutsideScope(payload.index))
    }

    /// The relay decision for the destination's relay entry (most specific relay prefix first), or nil.
    @inline(__always)
    func relayDecision(_ entry: Int32, _ port: UInt16) -> Decision? {
        let relayTable = tables.relays
        var relayEntry = entry
        while relayEntry >= 0 {
            let record = relayTable.entries[Int(relayEntry)]
            if relayServes(record.first, port) {
                return Decision(verdict: .accept, reason: .relay(record.first.index))
            }
            var slot = Int(record.extraStart)
            let end = slot + Int(record.extraCount)
            while slot < end {
                let relay = relayTable.extras[slot]
                if relayServes(relay, port) {
                    return Decision(verdict: .accept, reason: .relay(relay.index))
                }
                slot += 1
            }
            relayEntry = record.parent
        }
        return nil
    }

    /// The decision from the exceptions covering the source, starting at its most specific exception entry (-1:
    /// none).
    @inline(__always)
    func exceptionDecision(_ entry: Int32, _ destination: IPAddress, _ now: Int64) -> Decision {
        let exceptionTable = tables.exceptions
        let time = UInt32(clamping: now)
        var outsideScope: Int32 = -1
        var expired: Int32 = -1
        var exceptionEntry = entry
        while exceptionEntry >= 0 {
            let record = exceptionTable.entries[Int(exceptionEntry)]
            var payload = record.first
            var slot = Int(record.extraStart)
            let end = slot + Int(record.extraCount)
            while true {
                if payload.notBefore <= time && time < payload.expiresAt {
                    if inScope(payload, destination) {
                        return Decision(verdict: .accept, reason: .exception(payload.index))
                    }
                    if outsideScope < 0 { outsideScope = payload.index }
                } else if expired < 0 {
                    expired = payload.index
                }
                if slot == end { break }
                payload = exceptionTable.extras[slot]
                slot += 1
            }
            exceptionEntry = record.parent
        }
        if outsideScope >= 0 { return blocked(.blockedOutsideScope(outsideScope)) }
        if expired >= 0 { return blocked(.blockedExceptionExpired(expired)) }
        return blocked(.blockedNoException)
    }

    @inline(__always)
    func relayServes(_ relay: RelayPayload, _ port: UInt16) -> Bool {
        if relay.portCount < 0 { return true }
        var slot = Int(relay.portStart)
        let end = slot + Int(relay.portCount)
        while slot < end {
            if tables.relayPortList[slot] == port { return true }
            slot += 1
        }
        return false
    }

    @inline(__always)
    func inScope(_ exception: ExceptionPayload, _ destination: IPAddress) -> Bool {
        if exception.scope == -1 { return true }
        if exception.scope < -1 {
            let code = Int(-(exception.scope + 2))
            guard case .v4(let address) = destination else { return false }
            return PolicySnapshot.rangesContain(tables.scopeV4.base + (code >> 4), code & 15, address.value)
        }
        let scope = tables.scopes[Int(exception.scope)]
        switch destination {
        case .v4(let address):
            return PolicySnapshot.rangesContain(
                tables.scopeV4.base + Int(scope.v4Start), Int(scope.v4Count), address.value)
        case .v6(let address):
            return PolicySnapshot.rangesContain(
                tables.scopeV6.base + Int(scope.v6Start), Int(scope.v6Count),
                UInt128(address.high) << 64 | UInt128(address.low)
            )
        }
    }

    /// Whether `key` lies in one of `count` sorted, disjoint ranges at `ranges`.
    @inline(__always)
    static func rangesContain<Range: RangePair>(
        _ ranges: UnsafeMutablePointer<Range>, _ count: Int, _ key: Range.Key
    )
        -> Bool
    {
        if count == 0 { return false }
        // Last range whose first <= key.
        var low = 0
        var length = count
        while length > 1 {
            let half = length >> 1
            low = ranges[low + half].first <= key ? low + half : low
            length -= half
        }
        return ranges[low].first <= key && key <= ranges[low].last
    }

    /// Decides a parsed packet: `.tcp` as `decide(_:now:)`; `.notTCP` -> accept `.notPolicedPort`;
    /// `.malformed` and `.nonFirstFragment` -> block `.malformed` (accept with `shadow` in shadow mode).
    public func decide(_ packet: ParsedPacket, now: Int64) -> Decision {
        switch packet {
        case .tcp(let flow): return decide(flow, now: now)
        case .notTCP: return Decision(verdict: .accept, reason: .notPolicedPort)
        case .nonFirstFragment, .malformed: return blocked(.malformed)
        }
    }

    // MARK: - Lookups

    /// The relay at `index` (as in `DecisionReason.relay`), i.e. `policy.relayHosts[index]`.
    public func relay(at index: Int32) -> RelayHost {
        relays[Int(index)]
    }

    /// The exception at `index` (as in `DecisionReason.exception` and the blocked reasons).
    public func exception(at index: Int32) -> ExceptionRule {
        rules[Int(index)]
    }

    /// Number of exceptions (static and store).
    public var exceptionCount: Int {
        rules.count
    }

    /// Number of relays.
    var relayCount: Int {
        relays.count
    }

    /// The customer index of whoever holds `source`: the longest-prefix match over the bindings (lowest binding
    /// index among equal prefixes), else the customer of the most specific exception whose sources contain it;
    /// -1 when neither covers it. No allocation.
    public func customerIndex(for source: IPAddress) -> Int32 {
        let address = source.unmapped
        let binding = tables.bindings.lookup(address)
        if binding >= 0 {
            return tables.bindings.entries[Int(binding)].first
        }
        let entry = tables.exceptions.lookup(address)
        if entry >= 0 {
            return tables.exceptionCustomers[Int(tables.exceptions.entries[Int(entry)].first.index)]
        }
        return -1
    }

    /// The customer name at `index` (from `customerIndex(for:)`).
    public func customer(at index: Int32) -> String {
        customers[Int(index)]
    }

    /// Number of distinct customers (bindings and exceptions).
    public var customerCount: Int {
        customers.count
    }

    /// Indices of every exception whose sources contain `source`, most specific source prefix first, then by
    /// index (for "why is my mail blocked?"; allocates).
    public func exceptionIndices(coveringSource source: IPAddress) -> [Int32] {
        var result: [Int32] = []
        for (_, payload) in tables.exceptions.allPayloads(source.unmapped) where !result.contains(payload.index) {
            result.append(payload.index)
        }
        return result
    }

    /// Heap bytes held by the lookup tables (not counting the `ExceptionRule`/`RelayHost` values kept for
    /// `exception(at:)` and `relay(at:)`).
    public var tableByteCount: Int {
        tables.byteCount
    }
}

/// A [first, last] address range (scope storage).
protocol RangePair {
    associatedtype Key: FixedWidthInteger
    var first: Key { get }
    var last: Key { get set }
}

extension PolicySnapshot.Range4: RangePair {}
extension PolicySnapshot.Range6: RangePair {}
