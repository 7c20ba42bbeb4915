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
        var subscribers: PrefixTable
        var relays: PrefixTable
        /// Per relay: range into `relayPortList`, count -1 = every policed port.
        var relayPortRanges: FrozenArray<PortRange>
        var relayPortList: FrozenArray<UInt16>
        var exceptions: PrefixTable
        var exceptionTimes: FrozenArray<ExceptionTimes>
        /// Per exception: ranges into `scopeV4` / `scopeV6` (pairs first, last; sorted, merged); v4Count -1 = any.
        var exceptionScopes: FrozenArray<ScopeRange>
        var scopeV4: FrozenArray<UInt32>
        var scopeV6: FrozenArray<UInt128>
        var bindings: PrefixTable
        var exceptionCustomers: FrozenArray<Int32>

        func deallocate() {
            policedPorts.deallocate()
            subscribers.deallocate()
            relays.deallocate()
            relayPortRanges.deallocate()
            relayPortList.deallocate()
            exceptions.deallocate()
            exceptionTimes.deallocate()
            exceptionScopes.deallocate()
            scopeV4.deallocate()
            scopeV6.deallocate()
            bindings.deallocate()
            exceptionCustomers.deallocate()
        }

        var byteCount: Int {
            policedPorts.byteCount + subscribers.byteCount + relays.byteCount + relayPortRanges.byteCount
                + relayPortList.byteCount + exceptions.byteCount + exceptionTimes.byteCount
                + exceptionScopes.byteCount + scopeV4.byteCount + scopeV6.byteCount + bindings.byteCount
                + exceptionCustomers.byteCount
        }
    }

    struct PortRange {
        var start: Int32
        var count: Int32
    }

    struct ExceptionTimes {
        /// Inclusive; Int64.min when unbounded.
        var notBefore: Int64
        /// Exclusive; Int64.max when unbounded.
        var expiresAt: Int64
    }

    struct ScopeRange {
        var v4Start: Int32
        var v4Count: Int32
        var v6Start: Int32
        var v6Count: Int32
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

    /// As the public initializer; `indexed: false` skips the IPv4 16-bit direct index (benchmark comparison only).
    @_spi(Benchmarks)
    public init(
        policy: Policy,
        exceptions storeExceptions: [ExceptionRule],
        bindings: [CustomerBinding],
        generation: UInt64,
        indexed: Bool
    ) throws(PolicyBuildError) {
        self.generation = generation
        self.policy = policy
        self.relays = policy.relayHosts
        let staticCount = policy.exceptions.count
        var rules = policy.exceptions
        rules.append(contentsOf: storeExceptions)
        self.rules = rules
        guard rules.count <= Int(Int32.max), relays.count <= Int(Int32.max) else {
            throw PolicyBuildError(message: "too many exceptions (\(rules.count)) or relays (\(relays.count))")
        }

        // Duplicate ids.
        var firstIndexByID: [String: Int] = [:]
        firstIndexByID.reserveCapacity(rules.count)
        for (index, rule) in rules.enumerated() {
            if let first = firstIndexByID.updateValue(index, forKey: rule.id) {
                func origin(_ i: Int) -> String {
                    i < staticCount
                        ? "configuration policy exception #\(i + 1)"
                        : "exception store entry #\(i - staticCount + 1)"
                }
                throw PolicyBuildError(
                    message: "duplicate exception id \"\(rule.id)\": \(origin(first)) and \(origin(index))"
                )
            }
        }

        // Customers: bindings first, then exceptions.
        var customers: [String] = []
        var customerIndex: [String: Int32] = [:]
        func intern(_ name: String) -> Int32 {
            if let index = customerIndex[name] { return index }
            let index = Int32(customers.count)
            customers.append(name)
            customerIndex[name] = index
            return index
        }
        var bindingPrefixes: [(prefix: IPPrefix, value: Int32)] = []
        bindingPrefixes.reserveCapacity(bindings.count)
        for binding in bindings {
            bindingPrefixes.append((binding.prefix.unmapped, intern(binding.customer)))
        }
        var exceptionCustomers: [Int32] = []
        exceptionCustomers.reserveCapacity(rules.count)
        for rule in rules {
            exceptionCustomers.append(intern(rule.customer))
        }
        self.customers = customers

        // Policed ports.
        var bitmap = [UInt64](repeating: 0, count: 1024)
        for port in policy.ports {
            bitmap[Int(port >> 6)] |= 1 << UInt64(port & 63)
        }

        // Relays.
        var relayPrefixes: [(prefix: IPPrefix, value: Int32)] = []
        var relayPortRanges: [PortRange] = []
        var relayPortList: [UInt16] = []
        for (index, relay) in relays.enumerated() {
            relayPrefixes.append((relay.prefix.unmapped, Int32(index)))
            if let ports = relay.ports {
                relayPortRanges.append(PortRange(start: Int32(relayPortList.count), count: Int32(ports.count)))
                relayPortList.append(contentsOf: ports)
            } else {
                relayPortRanges.append(PortRange(start: 0, count: -1))
            }
        }

        // Exceptions.
        var exceptionPrefixes: [(prefix: IPPrefix, value: Int32)] = []
        exceptionPrefixes.reserveCapacity(rules.count)
        var times: [ExceptionTimes] = []
        times.reserveCapacity(rules.count)
        var scopes: [ScopeRange] = []
        scopes.reserveCapacity(rules.count)
        var scopeV4: [UInt32] = []
        var scopeV6: [UInt128] = []
        for (index, rule) in rules.enumerated() {
            for source in rule.sources {
                exceptionPrefixes.append((source.unmapped, Int32(index)))
            }
            times.append(ExceptionTimes(notBefore: rule.notBefore ?? .min, expiresAt: rule.expiresAt ?? .max))
            switch rule.destinations {
            case .any:
                scopes.append(ScopeRange(v4Start: 0, v4Count: -1, v6Start: 0, v6Count: 0))
            case .prefixes(let prefixes):
                let v4Start = scopeV4.count
                let v6Start = scopeV6.count
                PolicySnapshot.appendMergedRanges(prefixes, v4: &scopeV4, v6: &scopeV6)
                scopes.append(
                    ScopeRange(
                        v4Start: Int32(v4Start),
                        v4Count: Int32((scopeV4.count - v4Start) / 2),
                        v6Start: Int32(v6Start),
                        v6Count: Int32((scopeV6.count - v6Start) / 2)
                    )
                )
            }
        }

        self.tables = Tables(
            shadow: policy.mode == .shadow,
            policedPorts: FrozenArray(bitmap),
            subscribers: PrefixTable(policy.subscriberRanges.map { ($0.unmapped, 0) }, indexed: indexed),
            relays: PrefixTable(relayPrefixes, indexed: indexed),
            relayPortRanges: FrozenArray(relayPortRanges),
            relayPortList: FrozenArray(relayPortList),
            exceptions: PrefixTable(exceptionPrefixes, indexed: indexed),
            exceptionTimes: FrozenArray(times),
            exceptionScopes: FrozenArray(scopes),
            scopeV4: FrozenArray(scopeV4),
            scopeV6: FrozenArray(scopeV6),
            bindings: PrefixTable(bindingPrefixes, indexed: indexed),
            exceptionCustomers: FrozenArray(exceptionCustomers)
        )
    }

    deinit {
        tables.deallocate()
    }

    /// Appends the scope's prefixes as sorted, merged [first, last] address pairs per family.
    static func appendMergedRanges(_ prefixes: [IPPrefix], v4: inout [UInt32], v6: inout [UInt128]) {
        var ranges4: [(UInt32, UInt32)] = []
        var ranges6: [(UInt128, UInt128)] = []
        for prefix in prefixes {
            let prefix = prefix.unmapped
            switch (prefix.address, prefix.lastAddress) {
            case (.v4(let first), .v4(let last)):
                ranges4.append((first.value, last.value))
            case (.v6(let first), .v6(let last)):
                ranges6.append((UInt128(first.high) << 64 | UInt128(first.low), UInt128(last.high) << 64 | UInt128(last.low)))
            default:
                break
            }
        }
        func merge<Key: FixedWidthInteger>(_ ranges: inout [(Key, Key)], into output: inout [Key]) {
            ranges.sort { $0.0 < $1.0 }
            var current: (Key, Key)? = nil
            for range in ranges {
                if let (first, last) = current, last == Key.max || range.0 <= last + 1 {
                    current = (first, max(last, range.1))
                } else {
                    if let current { output.append(current.0); output.append(current.1) }
                    current = range
                }
            }
            if let current { output.append(current.0); output.append(current.1) }
        }
        merge(&ranges4, into: &v4)
        merge(&ranges6, into: &v6)
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
    /// accept `.notSubscriber`; destination is a relay serving the port -> accept `.relay`; then among the
    /// exceptions whose sources contain the source (most specific source prefix first, then lowest index):
    /// one active (`notBefore <= now < expiresAt`) with the destination in scope -> accept `.exception`; else one
    /// active but out of scope -> block `.blockedOutsideScope`; else one expired or not yet valid -> block
    /// `.blockedExceptionExpired`; else block `.blockedNoException`. In shadow mode a block becomes accept with
    /// `shadow == true`. No allocation, no lock.
    public func decide(_ flow: Flow, now: Int64) -> Decision {
        let t = tables
        let port = flow.destinationPort
        guard t.policedPorts[Int(port >> 6)] & (1 << UInt64(port & 63)) != 0 else {
            return Decision(verdict: .accept, reason: .notPolicedPort)
        }
        guard flow.flags.isInitialSYN else {
            return Decision(verdict: .accept, reason: .notInitialSYN)
        }
        let source = flow.source.unmapped
        guard t.subscribers.lookup(source) >= 0 else {
            return Decision(verdict: .accept, reason: .notSubscriber)
        }
        let destination = flow.destination.unmapped

        // Relays: most specific relay prefix first.
        var entry = t.relays.lookup(destination)
        while entry >= 0 {
            for slot in Int(t.relays.valueOffsets[Int(entry)])..<Int(t.relays.valueOffsets[Int(entry) + 1]) {
                let relay = t.relays.values[slot]
                let range = t.relayPortRanges[Int(relay)]
                if range.count < 0 {
                    return Decision(verdict: .accept, reason: .relay(relay))
                }
                for portSlot in Int(range.start)..<Int(range.start + range.count) where t.relayPortList[portSlot] == port {
                    return Decision(verdict: .accept, reason: .relay(relay))
                }
            }
            entry = t.relays.parents[Int(entry)]
        }

        // Exceptions covering the source: most specific first.
        var outsideScope: Int32 = -1
        var expired: Int32 = -1
        entry = t.exceptions.lookup(source)
        while entry >= 0 {
            for slot in Int(t.exceptions.valueOffsets[Int(entry)])..<Int(t.exceptions.valueOffsets[Int(entry) + 1]) {
                let exception = t.exceptions.values[slot]
                let time = t.exceptionTimes[Int(exception)]
                if time.notBefore <= now && now < time.expiresAt {
                    if inScope(exception, destination, t) {
                        return Decision(verdict: .accept, reason: .exception(exception))
                    }
                    if outsideScope < 0 { outsideScope = exception }
                } else if expired < 0 {
                    expired = exception
                }
            }
            entry = t.exceptions.parents[Int(entry)]
        }
        if outsideScope >= 0 { return blocked(.blockedOutsideScope(outsideScope)) }
        if expired >= 0 { return blocked(.blockedExceptionExpired(expired)) }
        return blocked(.blockedNoException)
    }

    @inline(__always)
    func inScope(_ exception: Int32, _ destination: IPAddress, _ t: Tables) -> Bool {
        let scope = t.exceptionScopes[Int(exception)]
        if scope.v4Count < 0 { return true }
        switch destination {
        case .v4(let address):
            return PolicySnapshot.rangesContain(t.scopeV4.base + Int(scope.v4Start), Int(scope.v4Count), address.value)
        case .v6(let address):
            let key = UInt128(address.high) << 64 | UInt128(address.low)
            return PolicySnapshot.rangesContain(t.scopeV6.base + Int(scope.v6Start), Int(scope.v6Count), key)
        }
    }

    /// Whether `key` lies in one of `count` sorted, disjoint [first, last] pairs at `pairs`.
    @inline(__always)
    static func rangesContain<Key: FixedWidthInteger>(_ pairs: UnsafeMutablePointer<Key>, _ count: Int, _ key: Key) -> Bool {
        if count == 0 { return false }
        // Last pair whose first <= key.
        var low = 0
        var length = count
        while length > 1 {
            let half = length >> 1
            low = pairs[2 * (low + half)] <= key ? low + half : low
            length -= half
        }
        return pairs[2 * low] <= key && key <= pairs[2 * low + 1]
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
    public var relayCount: Int {
        relays.count
    }

    /// The customer index of whoever holds `source`: the longest-prefix match over the bindings (lowest binding
    /// index among equal prefixes), else the customer of the most specific exception whose sources contain it;
    /// -1 when neither covers it. No allocation.
    public func customerIndex(for source: IPAddress) -> Int32 {
        let t = tables
        let address = source.unmapped
        let binding = t.bindings.lookup(address)
        if binding >= 0 {
            return t.bindings.values[Int(t.bindings.valueOffsets[Int(binding)])]
        }
        let entry = t.exceptions.lookup(address)
        if entry >= 0 {
            return t.exceptionCustomers[Int(t.exceptions.values[Int(t.exceptions.valueOffsets[Int(entry)])])]
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
        let t = tables
        var result: [Int32] = []
        var entry = t.exceptions.lookup(source.unmapped)
        while entry >= 0 {
            for slot in Int(t.exceptions.valueOffsets[Int(entry)])..<Int(t.exceptions.valueOffsets[Int(entry) + 1]) {
                let exception = t.exceptions.values[slot]
                if !result.contains(exception) { result.append(exception) }
            }
            entry = t.exceptions.parents[Int(entry)]
        }
        return result
    }

    /// Heap bytes held by the lookup tables (not counting the `ExceptionRule`/`RelayHost` values kept for
    /// `exception(at:)` and `relay(at:)`).
    public var tableByteCount: Int {
        tables.byteCount
    }
}
