// egress25d hot-path benchmarks: `swift run -c release Egress25Benchmarks [parts]`.
//
// Complements Egress25CoreBenchmarks (decide at 10k subscribers / 1k relays / 100k exceptions, header parsing)
// and BlockLogBenchmarks (writer throughput with real threads, abuse-desk queries). Measured here, per operation,
// in thread CPU time, with heap allocations counted by the malloc replacements in CAllocationCounter:
//
//   encode     VerdictEncoder: one NFQNL_MSG_VERDICT per packet into a 64-verdict batch buffer (accept, drop,
//              accept + reject mark), as NetfilterQueueSocket.receiveBatch does.
//   ring       BlockLogRing.push of one BlockedAttempt (the producer side, on the queue worker's thread).
//   packet     What QueueWorker does per queued packet, minus the two syscalls: PacketJudge.judge (the daemon's
//              own function: parse an IPv4 SYN, decide it under the b25 bench's policy, verdict with marks,
//              counter slot, BlockedAttempt with customerIndex), count it, push the attempt for a blocked SYN,
//              encode the verdict. Flow mix as the bench's generator: 75% must-block; block_action drop.
//   aggregate  Block-log aggregation on the writer side: BlockLogWriter.runCycle() on the calling thread (idle
//              writer, manual clock) drains the ring, folds each SYN into its (source, destination, port,
//              reason) row and commits the rows due to the SQLite segment, once per simulated second, as the
//              writer's threads do every flush interval. 2,000 sources x 500 destinations, 65,536 SYNs per
//              simulated second, the default 64 MiB memory budget.
//
// Select parts with arguments (default: all), e.g. `Egress25Benchmarks encode packet`.
import BlockLog
import CAllocationCounter
import Egress25Core
import Egress25Daemon
import Foundation
import Logging
import NetfilterQueue

// MARK: - Helpers

/// Thread CPU time (CLOCK_THREAD_CPUTIME_ID) in ns: excludes time the thread was preempted (shared machine).
func cpuNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

func allocations() -> UInt64 { CAllocationCounter_allocations() }

@inline(never)
func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }

func format(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }

struct Result {
    var samples: [Double]  // ns/op per run
    var allocationsPerOp: Double  // worst run
    var median: Double { samples.sorted()[samples.count / 2] }
}

/// Runs `body` (which performs `operations` operations) `runs` times after one warm-up; reports the median.
func measure(_ label: String, runs: Int = 9, operations: Int, _ body: () -> Void) -> Result {
    body()
    var samples: [Double] = []
    var worstAllocations = 0.0
    for _ in 0..<runs {
        let allocationsBefore = allocations()
        let start = cpuNanoseconds()
        body()
        let elapsed = cpuNanoseconds() - start
        worstAllocations = max(worstAllocations, Double(allocations() - allocationsBefore) / Double(operations))
        samples.append(Double(elapsed) / Double(operations))
    }
    let result = Result(samples: samples, allocationsPerOp: worstAllocations)
    let sorted = samples.sorted()
    print(
        "\(label): median \(format(result.median, 2)) ns/op [\(format(sorted.first!, 2))..\(format(sorted.last!, 2))], "
            + "allocations/op \(format(worstAllocations, 4))  (\(runs) runs x \(operations) ops)")
    return result
}

struct FastRandom {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

let parts: Set<String> = {
    let arguments = CommandLine.arguments.dropFirst()
    return arguments.isEmpty ? ["encode", "ring", "packet", "aggregate"] : Set(arguments)
}()

print(
    "egress25d hot-path benchmarks (release build expected; 1 thread; thread CPU time; allocations counted by malloc)")

// MARK: - Verdict encoding

if parts.contains("encode") {
    let batch = 64
    let storage = UnsafeMutableRawBufferPointer.allocate(
        byteCount: VerdictEncoder.maximumMessageSize * batch, alignment: 16)
    defer { storage.deallocate() }
    let verdicts: [PacketVerdict] = (0..<batch).map { i in
        i % 4 == 0 ? .accept : (i % 4 == 1 ? .accept(mark: 0x25) : .drop)
    }
    let rounds = 100_000
    var checksum = 0
    _ = measure("encode [VerdictEncoder.append, batches of 64, 25% with mark]", operations: rounds * batch) {
        verdicts.withUnsafeBufferPointer { verdicts in
            for round in 0..<rounds {
                var encoder = VerdictEncoder(buffer: storage, queueNumber: 0)
                for index in 0..<batch {
                    encoder.append(id: UInt32(truncatingIfNeeded: round &* batch &+ index), verdict: verdicts[index])
                }
                checksum &+= encoder.count
            }
        }
    }
    blackHole(checksum)
}

// MARK: - Ring push

func attempt(_ i: Int) -> BlockedAttempt {
    BlockedAttempt(
        timeMilliseconds: 1_795_938_300_000 + Int64(i >> 10),
        source: .v4(IPv4Address(0x6440_0000 | UInt32(truncatingIfNeeded: i & 0x7FF))),
        destination: .v4(IPv4Address(0xC633_6400 | UInt32(truncatingIfNeeded: (i >> 3) & 0xFF))),
        sourcePort: UInt16(truncatingIfNeeded: 1024 + i), destinationPort: 25, reason: .noException,
        customerIndex: -1, policyGeneration: 1)
}

if parts.contains("ring") {
    let ring = BlockLogRing(capacity: 1 << 16)
    let attempts = (0..<1024).map(attempt)
    let rounds = 2_000
    var pushed = 0
    var drained = 0
    // Push 1,024 attempts, then drain them (untimed share is small): the producer's steady state.
    _ = measure("ring [BlockLogRing.push, 1,024 then drain]", operations: rounds * attempts.count) {
        attempts.withUnsafeBufferPointer { attempts in
            for _ in 0..<rounds {
                for attempt in attempts where ring.push(attempt) { pushed &+= 1 }
                drained &+= ring.drain { blackHole($0) }
            }
        }
    }
    precondition(pushed == drained, "ring lost attempts")
}

// MARK: - Per packet, as QueueWorker does it

/// The b25 bench's policy (its README): relays 192.0.2.25/.26, exceptions 100.64.7.7/32 and 100.64.9.0/24.
func benchSnapshot() throws -> PolicySnapshot {
    let policy = Policy(
        subscriberRanges: [try IPPrefix(parsing: "100.64.0.0/10")],
        relayHosts: [
            RelayHost(prefix: try IPPrefix(parsing: "192.0.2.25"), ports: nil),
            RelayHost(prefix: try IPPrefix(parsing: "192.0.2.26"), ports: nil),
        ],
        ports: [25], mode: .enforce,
        exceptions: [
            ExceptionRule(
                id: "bench-host", customer: "bench-a", sources: [try IPPrefix(parsing: "100.64.7.7/32")],
                destinations: .any),
            ExceptionRule(
                id: "bench-net", customer: "bench-b", sources: [try IPPrefix(parsing: "100.64.9.0/24")],
                destinations: .any),
        ])
    return try PolicySnapshot(policy: policy, exceptions: [], bindings: [], generation: 1)
}

/// 60-byte IPv4 SYNs (20 + 40 bytes of TCP with options) like b25gen's: 15% to a relay, 10% from an exception
/// source, 75% must-block (random subscriber source to a random 198.51.100.0/24 MX).
func benchPackets(_ count: Int) -> [UInt8] {
    var random = FastRandom(state: 0x5EED_F100D)
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count * 60)
    for _ in 0..<count {
        let roll = random.below(100)
        var source = 0x6440_0000 | UInt32(truncatingIfNeeded: random.next() & 0x003F_FFFF)
        var destination = 0xC633_6400 | UInt32(random.below(256))  // 198.51.100.x
        if roll < 15 {
            destination = 0xC000_0219 + UInt32(random.below(2))  // relay
        } else if roll < 25 {
            source = random.below(2) == 0 ? 0x6440_0707 : 0x6440_0900 | UInt32(random.below(256))  // exception
        }
        let port = UInt16(1024 + random.below(60000))
        var packet: [UInt8] = [0x45, 0, 0, 60, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0]
        packet += withUnsafeBytes(of: source.bigEndian, Array.init)
        packet += withUnsafeBytes(of: destination.bigEndian, Array.init)
        packet += [
            UInt8(port >> 8), UInt8(port & 0xFF), 0, 25, 0, 0, 0, 1, 0, 0, 0, 0, 0xA0, 0x02, 0xFF, 0xFF, 0, 0, 0, 0,
        ]
        packet += [2, 4, 5, 0xB4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]
        bytes += packet
    }
    return bytes
}

if parts.contains("packet") {
    let snapshot = try benchSnapshot()
    // As the bench's configuration: block_action drop, default marks (reject 0x25, accept 0x20, mask 0x25).
    let blockVerdict = BlockVerdictPolicy(action: .drop, rejectMark: 0x25)
    let count = 4096
    let packets = benchPackets(count)
    let ring = BlockLogRing(capacity: 1 << 16)
    let storage = UnsafeMutableRawBufferPointer.allocate(
        byteCount: VerdictEncoder.maximumMessageSize * 64, alignment: 16)
    defer { storage.deallocate() }
    let nowMilliseconds: Int64 = 1_795_938_300_000
    var blocked = 0
    var accepted = 0
    var byReason = [UInt64](repeating: 0, count: ReasonCounter.slots)
    let rounds = 200
    let result = measure(
        "packet [PacketJudge.judge + count + block-log push + encode; bench policy, 75% blocked]",
        operations: rounds * count
    ) {
        packets.withUnsafeBytes { bytes in
            byReason.withUnsafeMutableBufferPointer { byReason in
                for _ in 0..<rounds {
                    var encoder = VerdictEncoder(buffer: storage, queueNumber: 0)
                    for index in 0..<count {
                        if !encoder.hasCapacity { encoder.reset() }
                        let payload = UnsafeRawBufferPointer(rebasing: bytes[index * 60..<index * 60 + 60])
                        let judgement = PacketJudge.judge(
                            payload: payload, mark: 0, hardwareProtocol: 0x0800, snapshot: snapshot,
                            blockVerdict: blockVerdict, nowMilliseconds: nowMilliseconds)
                        if judgement.decision.verdict == .accept { accepted &+= 1 } else { blocked &+= 1 }
                        byReason[judgement.reasonSlot] &+= 1
                        if let attempt = judgement.blockedAttempt { _ = ring.push(attempt) }
                        encoder.append(id: UInt32(index), verdict: PacketVerdict(judgement.verdict))
                    }
                    ring.drain { blackHole($0) }
                }
            }
        }
    }
    let share = Double(blocked) / Double(blocked + accepted) * 100
    print("  blocked share \(format(share))%; per-packet budget at the C judge's drain rate is shown in BENCHMARKS.md")
    blackHole(result)
}

// MARK: - Block-log aggregation (writer side)

final class ManualClock: BlockLogClock, @unchecked Sendable {
    var milliseconds: Int64 = 1_795_938_300_000
    func nowMilliseconds() -> Int64 { milliseconds }
}

struct NoResolver: BlockLogResolver {
    func customerID(generation: UInt64, index: Int32) -> String? { nil }
    func exceptionID(generation: UInt64, index: Int32) -> String? { nil }
}

if parts.contains("aggregate") {
    let directory = "/tmp/egress25-aggregate-bench-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var logger = Logger(label: "aggregate-bench")
    logger.logLevel = .warning
    let clock = ManualClock()
    let writer = try BlockLogWriter(
        directory: directory, configuration: BlockLogConfiguration(), nodeName: "bench", resolver: NoResolver(),
        logger: logger, clock: clock)
    // EGRESS25_FLUSH_SECONDS=N commits every N simulated seconds (flush_interval) instead of every second.
    let flushEvery = max(1, Int(ProcessInfo.processInfo.environment["EGRESS25_FLUSH_SECONDS"] ?? "1") ?? 1)
    var ringCapacity = 1 << 16
    while ringCapacity < flushEvery << 16 { ringCapacity <<= 1 }
    let ring = BlockLogRing(capacity: ringCapacity)
    writer.attach(ring)
    var random = FastRandom(state: 0xA66)
    let perSecond = 1 << 16 - 1
    // Pre-generated SYNs: 2,000 sources x 500 destinations; 1 in 4 a retransmission (same source port).
    let syns: [BlockedAttempt] = (0..<perSecond).map { i in
        let source = random.below(2000)
        let destination = random.below(500)
        return BlockedAttempt(
            timeMilliseconds: 0,
            source: .v4(IPv4Address(0x6440_0000 + UInt32(source))),
            destination: .v4(IPv4Address(0xCB00_7100 + UInt32(destination))),
            sourcePort: UInt16(truncatingIfNeeded: i % 4 == 0 ? 1024 + source : 1024 + i),
            destinationPort: 25, reason: .noException, policyGeneration: 1)
    }
    var second = 0
    func oneSecond() {
        let base = clock.milliseconds
        for (i, var syn) in syns.enumerated() {
            syn.timeMilliseconds = base + Int64(i * 1000 / perSecond)
            _ = ring.push(syn)
        }
        clock.milliseconds += 1000
        second += 1
        // The ring holds `flushEvery` seconds of SYNs; the flush drains, aggregates and commits them.
        if second % flushEvery == 0 { writer.runCycle() }
    }
    let seconds = 8 * flushEvery
    _ = measure(
        "aggregate [drain + aggregate + commit every \(flushEvery) s, 65,535 SYNs per simulated second]",
        runs: 7, operations: seconds * perSecond
    ) {
        for _ in 0..<seconds { oneSecond() }
    }
    let statistics = writer.statistics
    writer.shutdown()
    print(
        "  \(second) simulated seconds: \(statistics.synsRecorded) SYNs recorded, \(statistics.rowsWritten) rows, "
            + "\(statistics.rowUpdates) row updates, \(statistics.rowsClosedEarly) rows closed early, "
            + "\(statistics.synsInCoarseRows) SYNs in coarse rows, lost \(statistics.lostEvents)")
}
