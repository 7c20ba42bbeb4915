// Egress25Core benchmarks: `swift run -c release Egress25CoreBenchmarks`.
//
// Measures, on one core: PolicySnapshot.decide (10,000 subscriber prefixes, 1,000 relays, 100,000 exceptions,
// mixed IPv4/IPv6, scoped and unscoped, a realistic flow mix) against a naive linear-scan decider; snapshot build
// time and memory for 1,000,000 exceptions; packet header parsing; and heap allocations per operation, counted by
// the malloc replacements in CAllocationCounter (glibc only).
import CAllocationCounter
@_spi(Benchmarks) import Egress25Core

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Helpers

/// CPU time of this thread (CLOCK_THREAD_CPUTIME_ID), in ns: unlike wall time it excludes time the thread was
/// preempted, which matters on a shared 2-core machine. Cache interference from other processes still counts.
func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

func wallNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// `EGRESS25_BENCH=decide,parse,build` runs only those parts (default: all).
let selectedParts: Set<String> = {
    guard let value = getenv("EGRESS25_BENCH") else { return ["decide", "naive", "parse", "build"] }
    return Set(String(cString: value).split(separator: ",").map(String.init))
}()

/// Heap bytes in use (small-block arena plus mmapped blocks), from glibc mallinfo2(3).
func heapBytesInUse() -> Int {
    Int(CAllocationCounter_heapBytesInUse())
}

func allocations() -> UInt64 {
    CAllocationCounter_allocations()
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1
        ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func format(_ value: Double, _ digits: Int = 1) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    return "\(rounded)"
}

/// Keeps results alive so the optimizer cannot drop the work.
@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

nonisolated(unsafe) var rng = SplitMix64(state: 0x5EED)

func randomHost(in prefix: IPPrefix) -> IPAddress {
    switch (prefix.address, prefix.lastAddress) {
    case (.v4(let first), .v4(let last)):
        return .v4(IPv4Address(first.value | (UInt32(truncatingIfNeeded: rng.next()) & (last.value ^ first.value))))
    case (.v6(let first), .v6(let last)):
        return .v6(
            IPv6Address(
                high: first.high | (rng.next() & (last.high ^ first.high)),
                low: first.low | (rng.next() & (last.low ^ first.low)))
        )
    default:
        fatalError("family mismatch")
    }
}

func v4(_ value: UInt32, _ length: UInt8) -> IPPrefix {
    IPPrefix(truncating: .v4(IPv4Address(value)), length: length)
}

func v6(_ high: UInt64, _ low: UInt64, _ length: UInt8) -> IPPrefix {
    IPPrefix(truncating: .v6(IPv6Address(high: high, low: low)), length: length)
}

// MARK: - Data: 10,000 subscriber prefixes, 1,000 relays, N exceptions

/// 8,000 IPv4 /22../24 inside 100.64.0.0/10 and 10.0.0.0/8, 2,000 IPv6 /40../48 inside 2400::/12.
let subscriberRanges: [IPPrefix] = (0..<10_000).map { i in
    if i < 8000 {
        let base: UInt32 =
            i % 2 == 0
            ? 0x6440_0000 | (UInt32(truncatingIfNeeded: rng.next()) & 0x003F_FFFF)
            : 0x0A00_0000 | (UInt32(truncatingIfNeeded: rng.next()) & 0x00FF_FFFF)
        return v4(base, UInt8(22 + rng.next() % 3))
    }
    return v6(0x2400_0000_0000_0000 | (rng.next() & 0x000F_FFFF_FFFF_FFFF), 0, UInt8(40 + rng.next() % 9))
}

/// 700 IPv4 relays (/32, some /28) in 198.18.0.0/15, 300 IPv6 /128 in 2001:db8:ffff::/48; 20% restricted to a port.
let relayHosts: [RelayHost] = (0..<1000).map { i in
    let prefix =
        i < 700
        ? v4(0xC612_0000 | (UInt32(truncatingIfNeeded: rng.next()) & 0x0001_FFFF), i % 10 == 0 ? 28 : 32)
        : v6(0x2001_0db8_ffff_0000, rng.next(), 128)
    let ports: [UInt16]? = i % 5 == 0 ? (i % 10 == 0 ? [587] : [25]) : nil
    return RelayHost(prefix: prefix, ports: ports)
}

let now: Int64 = 1_795_938_300

/// Exceptions: sources are hosts (70%: IPv4 /32; IPv6 /64 or /128) or small IPv4 /29 inside subscriber ranges;
/// half are scoped to 1-3 destination prefixes; 80% active, 10% expired, 10% not yet valid.
func makeExceptions(_ count: Int, idPrefix: String) -> [ExceptionRule] {
    var rules: [ExceptionRule] = []
    rules.reserveCapacity(count)
    for i in 0..<count {
        let range = subscriberRanges[Int(rng.next() % UInt64(subscriberRanges.count))]
        let host = randomHost(in: range)
        let source: IPPrefix
        switch host {
        case .v4: source = IPPrefix(truncating: host, length: rng.next() % 10 == 0 ? 29 : 32)
        case .v6: source = IPPrefix(truncating: host, length: rng.next() % 2 == 0 ? 64 : 128)
        }
        var destinations = DestinationScope.any
        if rng.next() % 2 == 0 {
            destinations = .prefixes(
                (0..<(1 + Int(rng.next() % 3))).map { _ in
                    rng.next() % 3 == 0
                        ? v6(0x2a00_1450_0000_0000 | (rng.next() & 0x0000_0000_FFFF_0000), 0, 48)
                        : v4(0x2D00_0000 | (UInt32(truncatingIfNeeded: rng.next()) & 0x00FF_FF00), 24)
                })
        }
        let kind = rng.next() % 10
        rules.append(
            ExceptionRule(
                id: "\(idPrefix)\(i)",
                customer: "customer-\(i % 60_000)",
                sources: [source],
                destinations: destinations,
                notBefore: kind == 9 ? now + 3600 : now - 86400,
                expiresAt: kind == 8 ? now - 60 : now + 30 * 86400,
                ticket: i % 4 == 0 ? "T-\(i)" : nil
            )
        )
    }
    return rules
}

let policy = Policy(subscriberRanges: subscriberRanges, relayHosts: relayHosts, ports: [25], mode: .enforce)

// MARK: - Naive linear-scan decider (the comparison baseline)

struct NaiveDecider {
    var policy: Policy
    var exceptions: [ExceptionRule]

    func decide(_ flow: Flow, now: Int64) -> Decision {
        guard policy.ports.contains(flow.destinationPort) else {
            return Decision(verdict: .accept, reason: .notPolicedPort)
        }
        guard flow.flags.contains(.syn) && !flow.flags.contains(.ack) else {
            return Decision(verdict: .accept, reason: .notInitialSYN)
        }
        let source = flow.source.unmapped
        let destination = flow.destination.unmapped
        guard policy.subscriberRanges.contains(where: { $0.contains(source) }) else {
            return Decision(verdict: .accept, reason: .notSubscriber)
        }
        var best: (length: UInt8, index: Int)? = nil
        for (index, relay) in policy.relayHosts.enumerated()
        where relay.prefix.contains(destination) && (relay.ports?.contains(flow.destinationPort) ?? true) {
            if best == nil || relay.prefix.length > best!.length { best = (relay.prefix.length, index) }
        }
        if let best { return Decision(verdict: .accept, reason: .relay(Int32(best.index))) }
        var accept: (UInt8, Int)? = nil
        var outside: (UInt8, Int)? = nil
        var expired: (UInt8, Int)? = nil
        for (index, rule) in exceptions.enumerated() {
            var length: Int = -1
            for source in rule.sources where source.contains(source.address) && source.contains(flow.source.unmapped) {
                length = max(length, Int(source.length))
            }
            if length < 0 { continue }
            let l = UInt8(length)
            let active = rule.isActive(at: now)
            let inScope: Bool
            switch rule.destinations {
            case .any: inScope = true
            case .prefixes(let prefixes): inScope = prefixes.contains { $0.contains(destination) }
            }
            if active && inScope {
                if accept == nil || l > accept!.0 { accept = (l, index) }
            } else if active {
                if outside == nil || l > outside!.0 { outside = (l, index) }
            } else if expired == nil || l > expired!.0 {
                expired = (l, index)
            }
        }
        if let accept { return Decision(verdict: .accept, reason: .exception(Int32(accept.1))) }
        if let outside { return Decision(verdict: .block, reason: .blockedOutsideScope(Int32(outside.1))) }
        if let expired { return Decision(verdict: .block, reason: .blockedExceptionExpired(Int32(expired.1))) }
        return Decision(verdict: .block, reason: .blockedNoException)
    }
}

// MARK: - Flow mix

/// 45% subscriber to a random MX-like destination (mostly blocked), 25% to a relay, 20% from an exception holder
/// (half toward its scope), 5% from outside the subscriber ranges, 5% not an initial SYN or another port.
func makeFlows(_ count: Int, exceptions: [ExceptionRule]) -> [Flow] {
    var flows: [Flow] = []
    flows.reserveCapacity(count)
    func randomDestination(v4Family: Bool) -> IPAddress {
        v4Family
            ? .v4(IPv4Address(UInt32(truncatingIfNeeded: rng.next())))
            : .v6(IPv6Address(high: 0x2a00_0000_0000_0000 | (rng.next() >> 8), low: rng.next()))
    }
    for _ in 0..<count {
        let roll = rng.next() % 100
        var flags: TCPFlags = .syn
        var port: UInt16 = 25
        let source: IPAddress
        let destination: IPAddress
        switch roll {
        case 0..<45:
            source = randomHost(in: subscriberRanges[Int(rng.next() % 10_000)])
            destination = randomDestination(v4Family: source.isIPv4)
        case 45..<70:
            source = randomHost(in: subscriberRanges[Int(rng.next() % 10_000)])
            destination = randomHost(in: relayHosts[Int(rng.next() % 1000)].prefix)
        case 70..<90:
            let rule = exceptions[Int(rng.next() % UInt64(exceptions.count))]
            source = randomHost(in: rule.sources[0])
            if case .prefixes(let scope) = rule.destinations, rng.next() % 2 == 0 {
                destination = randomHost(in: scope[Int(rng.next() % UInt64(scope.count))])
            } else {
                destination = randomDestination(v4Family: source.isIPv4)
            }
        case 90..<95:
            source = .v4(IPv4Address(0xC000_0200 | UInt32(rng.next() % 256)))
            destination = randomDestination(v4Family: true)
        default:
            source = randomHost(in: subscriberRanges[Int(rng.next() % 10_000)])
            destination = randomDestination(v4Family: source.isIPv4)
            if rng.next() % 2 == 0 { flags = [.syn, .ack] } else { port = 587 }
        }
        flows.append(
            Flow(source: source, destination: destination, sourcePort: 40000, destinationPort: port, flags: flags))
    }
    return flows
}

// MARK: - Benchmarks

@inline(never)
func runDecisions(_ snapshot: PolicySnapshot, _ flows: UnsafeBufferPointer<Flow>, repeats: Int) -> Int {
    var blocked = 0
    for _ in 0..<repeats {
        for flow in flows {
            let decision = snapshot.decide(flow, now: now)
            blocked &+= decision.verdict == .block ? 1 : 0
        }
    }
    return blocked
}

func benchmarkDecide(_ snapshot: PolicySnapshot, _ flows: [Flow], label: String) -> Double {
    var samples: [Double] = []
    let repeats = 16
    var allocationsPerOp = 0.0
    var totalAllocations: UInt64 = 0
    func run(_ buffer: UnsafeBufferPointer<Flow>, _ repeats: Int) -> Int {
        runDecisions(snapshot, buffer, repeats: repeats)
    }
    flows.withUnsafeBufferPointer { buffer in
        blackHole(run(buffer, 2))  // warm up
        for _ in 0..<11 {
            let allocationsBefore = allocations()
            let start = monotonicNanoseconds()
            blackHole(run(buffer, repeats))
            let elapsed = monotonicNanoseconds() - start
            let operations = Double(buffer.count * repeats)
            let made = allocations() - allocationsBefore
            totalAllocations += made
            allocationsPerOp = max(allocationsPerOp, Double(made) / operations)
            samples.append(Double(elapsed) / operations)
        }
    }
    let result = median(samples)
    print(
        "decide [\(label)]: median \(format(result)) ns/decision "
            + "(min \(format(samples.min()!)), max \(format(samples.max()!)); "
            + "11 runs x \(flows.count * repeats) decisions), allocations/decision: \(format(allocationsPerOp, 4)) "
            + "(\(totalAllocations) in \(11 * flows.count * repeats))")
    return result
}

print("Egress25Core benchmarks (release build expected; 1 thread; times are thread CPU time)")
print("")

// Decide: 10,000 subscribers, 1,000 relays, 100,000 exceptions.
let exceptions100k = makeExceptions(100_000, idPrefix: "ex-")
let snapshot = try PolicySnapshot(policy: policy, exceptions: exceptions100k, bindings: [], generation: 1)
print("lookup tables, 100,000 exceptions: \(snapshot.tableByteCount) bytes")
let unindexed = try PolicySnapshot(
    policy: policy, exceptions: exceptions100k, bindings: [], generation: 1, indexed: false)
let flows = makeFlows(1 << 16, exceptions: exceptions100k)

var mix: [String: Int] = [:]
for flow in flows { mix["\(snapshot.decide(flow, now: now).reason.label)", default: 0] += 1 }
print(
    "flow mix (\(flows.count) flows): "
        + mix.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value * 100 / flows.count)%" }.joined(
            separator: ", "))
let ipv6Share = flows.filter { !$0.source.isIPv4 }.count * 100 / flows.count
print("IPv6 sources: \(ipv6Share)%")

/// Context for the cold-cache figures: ns per dependent random load (pointer chase) over `bytes` of memory.
func memoryLatency(bytes: Int) -> Double {
    let count = bytes / 8
    var order = Array(0..<count)
    order.shuffle(using: &rng)
    var next = [Int](repeating: 0, count: count)
    for i in 0..<count { next[order[i]] = order[(i + 1) % count] }
    let steps = 2_000_000
    return next.withUnsafeBufferPointer { chain in
        let start = monotonicNanoseconds()
        let position = chase(chain, steps: steps)
        let elapsed = monotonicNanoseconds() - start
        blackHole(position)
        return Double(elapsed) / Double(steps)
    }
}

@inline(never)
func chase(_ chain: UnsafeBufferPointer<Int>, steps: Int) -> Int {
    var position = 0
    for _ in 0..<steps { position = chain[position] }
    return position
}

var indexedNs = 0.0
if selectedParts.contains("decide") || selectedParts.contains("latency") {
    print(
        "memory latency (dependent random loads): 256 KiB \(format(memoryLatency(bytes: 256 << 10))) ns, "
            + "4 MiB \(format(memoryLatency(bytes: 4 << 20))) ns, 64 MiB \(format(memoryLatency(bytes: 64 << 20))) ns")
}
if selectedParts.contains("decide") {
    indexedNs = benchmarkDecide(snapshot, flows, label: "intervals + direct index (adaptive)")
    _ = benchmarkDecide(unindexed, flows, label: "intervals, plain binary search")
    let withoutExceptions = try PolicySnapshot(policy: policy, exceptions: [], bindings: [], generation: 1)
    _ = benchmarkDecide(withoutExceptions, flows, label: "same flows, no exceptions (subscriber + relay lookups only)")
}
if selectedParts.contains("decide") || selectedParts.contains("warm") {
    // The same mix, but only 512 distinct flows (their table lines stay in L1/L2): the cost without cache misses.
    let hotFlows = (0..<(1 << 16)).map { flows[$0 & 511] }
    _ = benchmarkDecide(snapshot, hotFlows, label: "512 distinct flows, cache-warm")
}

// Naive linear scan on a sample of the same flows, checking agreement.
if selectedParts.contains("naive") {
    let naive = NaiveDecider(policy: policy, exceptions: exceptions100k)
    let naiveFlows = Array(flows.prefix(300))
    var disagreements = 0
    var naiveNs = 0.0
    for flow in naiveFlows {
        let start = monotonicNanoseconds()
        let decision = naive.decide(flow, now: now)
        naiveNs += Double(monotonicNanoseconds() - start)
        blackHole(decision)
        if decision != snapshot.decide(flow, now: now) { disagreements += 1 }
    }
    naiveNs /= Double(naiveFlows.count)
    print(
        "decide [naive linear scan]: \(format(naiveNs / 1000)) us/decision over \(naiveFlows.count) flows; "
            + "disagreements with the snapshot: \(disagreements)"
            + (indexedNs > 0 ? "; snapshot is \(format(naiveNs / indexedNs, 0))x faster" : ""))
}
print("")

// Header parsing.
func ipv4SYN() -> [UInt8] {
    var bytes: [UInt8] = [0x45, 0, 0, 60, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 100, 64, 1, 2, 198, 51, 100, 7]
    bytes += [0xC3, 0x50, 0, 25, 0, 0, 0, 1, 0, 0, 0, 0, 0xA0, 0x02, 0xFF, 0xFF, 0, 0, 0, 0]
    bytes += [UInt8](repeating: 1, count: 20)
    return bytes
}

func ipv6SYNWithExtensionHeaders() -> [UInt8] {
    let tcp: [UInt8] =
        [0xC3, 0x50, 0, 25, 0, 0, 0, 1, 0, 0, 0, 0, 0xA0, 0x02, 0xFF, 0xFF, 0, 0, 0, 0]
        + [UInt8](repeating: 1, count: 20)
    let extensions: [UInt8] = [60, 0, 0, 0, 0, 0, 0, 0] + [44, 0, 0, 0, 0, 0, 0, 0] + [6, 0, 0, 1, 1, 2, 3, 4]
    let payload = extensions + tcp
    var bytes: [UInt8] = [0x60, 0, 0, 0, 0, UInt8(payload.count), 0, 64]
    bytes += [0x24, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42]
    bytes += [0x2a, 0x00, 0x14, 0x50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x1a]
    return bytes + payload
}

/// Parses `packets` (64 variants of one packet, different ports and addresses, `stride` bytes apart) round-robin,
/// so the optimizer cannot hoist the parse out of the loop.
@inline(never)
func runParse(_ packets: UnsafeRawBufferPointer, stride: Int, length: Int, _ count: Int) -> Int {
    var ports = 0
    for i in 0..<count {
        let packet = UnsafeRawBufferPointer(rebasing: packets[(i & 63) * stride..<(i & 63) * stride + length])
        if case .tcp(let flow) = PacketParser.parse(packet) { ports &+= Int(flow.destinationPort) }
    }
    return ports
}

func benchmarkParse(_ packet: [UInt8], tcpOffset: Int, label: String) {
    guard case .tcp = PacketParser.parse(packet) else { fatalError("\(label) does not parse") }
    var variants: [UInt8] = []
    for i in 0..<64 {
        var copy = packet
        copy[tcpOffset + 3] = UInt8(i)  // destination port low byte
        copy[tcpOffset - 1] ^= UInt8(i)  // last address byte
        variants += copy
    }
    var samples: [Double] = []
    samples.reserveCapacity(8)
    var allocationsPerOp = 0.0
    var totalAllocations: UInt64 = 0
    variants.withUnsafeBytes { bytes in
        let count = 5_000_000
        blackHole(runParse(bytes, stride: packet.count, length: packet.count, 100_000))
        for _ in 0..<7 {
            let allocationsBefore = allocations()
            let start = monotonicNanoseconds()
            blackHole(runParse(bytes, stride: packet.count, length: packet.count, count))
            let elapsed = monotonicNanoseconds() - start
            let made = allocations() - allocationsBefore
            samples.append(Double(elapsed) / Double(count))
            totalAllocations += made
            allocationsPerOp = max(allocationsPerOp, Double(made) / Double(count))
        }
    }
    print(
        "parse [\(label), \(packet.count) bytes]: median \(format(median(samples), 2)) ns/packet, "
            + "allocations/packet: \(format(allocationsPerOp, 4)) (\(totalAllocations) in \(7 * 5_000_000))")
}

if selectedParts.contains("parse") {
    benchmarkParse(ipv4SYN(), tcpOffset: 20, label: "IPv4 SYN")
    benchmarkParse(ipv6SYNWithExtensionHeaders(), tcpOffset: 64, label: "IPv6 SYN + hop-by-hop, dest-opts, fragment")
    print("")
}

// Snapshot build: 1,000,000 exceptions.
if selectedParts.contains("build") {
    let exceptions1M = makeExceptions(1_000_000, idPrefix: "big-")
    var buildSamples: [Double] = []
    var wallSamples: [Double] = []
    var heapPerException = 0.0
    var tableBytesPerException = 0.0
    var buildAllocations: UInt64 = 0
    for run in 0..<5 {
        let heapBefore = heapBytesInUse()
        let allocationsBefore = allocations()
        let wallStart = wallNanoseconds()
        let start = monotonicNanoseconds()
        let big = try PolicySnapshot(policy: policy, exceptions: exceptions1M, bindings: [], generation: UInt64(run))
        buildSamples.append(Double(monotonicNanoseconds() - start) / 1e6)
        wallSamples.append(Double(wallNanoseconds() - wallStart) / 1e6)
        buildAllocations = allocations() - allocationsBefore
        heapPerException = Double(heapBytesInUse() - heapBefore) / Double(exceptions1M.count)
        tableBytesPerException = Double(big.tableByteCount) / Double(exceptions1M.count)
        blackHole(big.decide(flows[0], now: now))
    }
    print(
        "snapshot build, 1,000,000 exceptions + 10,000 subscribers + 1,000 relays: "
            + "median \(format(median(buildSamples), 0)) ms CPU "
            + "(runs: \(buildSamples.map { format($0, 0) }.joined(separator: ", ")); "
            + "wall median \(format(median(wallSamples), 0)) ms), "
            + "\(buildAllocations) allocations")
    print(
        "memory: lookup tables \(format(tableBytesPerException)) bytes/exception; heap retained by the snapshot "
            + "\(format(heapPerException)) bytes/exception "
            + "(mallinfo2; the ExceptionRule array itself is shared with the caller)")

    // The ExceptionRule values the snapshot keeps for exception(at:): measured by building a second copy of them.
    let heapBeforeRules = heapBytesInUse()
    let rulesCopy = makeExceptions(100_000, idPrefix: "copy-")
    print(
        "ExceptionRule values (ids, customers, arrays; kept for exception(at:)): "
            + "\(format(Double(heapBytesInUse() - heapBeforeRules) / Double(rulesCopy.count))) bytes/exception")
    blackHole(rulesCopy)
}
