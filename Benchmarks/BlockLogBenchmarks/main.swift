// BlockLog benchmarks (not a timed test): `swift run -c release BlockLogBenchmarks [options]`.
//
//   --seconds N      writer throughput run length (default 90: past one aggregation window, so rows both
//                    open and close)
//   --rate N         blocked SYN/s offered (default 250000)
//   --rows N         rows of the query data set (default 10000000)
//   --days N         daily segments of the query data set (default 30)
//   --data DIR       where the query data set lives (default /tmp/egress25-blocklog-bench); reused if present
//   --cache-mb N     SQLite page cache of the segment being written (default 64, the writer's default)
//   --ring N         ring slots (default 2^18: about 1 s at 250k SYN/s)
//   --skip-throughput / --skip-queries
//
// 1. Throughput: one producer thread offers `rate` SYN/s from 2,000 sources x 500 destinations (a botnet
//    fanning out to MX hosts; 1 in 4 SYNs is a retransmission) through a BlockLogRing into a running
//    BlockLogWriter (real clock, 1 s flush, 60 s window, hourly segments). Reports SYNs offered, committed
//    and lost, rows inserted and updated per second, bytes per row, the writer's lag, and the CPU time of
//    the aggregating and committing threads (on a shared machine, wall-clock rates mostly measure how much
//    of a core the threads got; CPU per SYN and per row does not).
// 2. Queries: a data set of `rows` rows over `days` daily segments, generated through the real writer
//    (manual clock, one commit per 10 simulated minutes), then one subscriber's whole history and `top` over the
//    last 24 hours, each timed several times (wall and process CPU time).

import BlockLog
import Egress25Core
import Foundation
import Logging
import Synchronization

struct Options {
    var seconds = 90
    var rate = 250_000
    var rows = 10_000_000
    var days = 30
    var data = "/tmp/egress25-blocklog-bench"
    var throughput = true
    var queries = true
    var cacheMegabytes = 64
    var ringCapacity = 1 << 18

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--seconds": seconds = Int(iterator.next()!)!
            case "--rate": rate = Int(iterator.next()!)!
            case "--rows": rows = Int(iterator.next()!)!
            case "--days": days = Int(iterator.next()!)!
            case "--data": data = iterator.next()!
            case "--skip-throughput": throughput = false
            case "--skip-queries": queries = false
            case "--cache-mb": cacheMegabytes = Int(iterator.next()!)!
            case "--ring": ringCapacity = Int(iterator.next()!)!
            default: fatalError("unknown option \(argument)")
            }
        }
    }
}

/// xorshift64*: fast, deterministic.
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

let sourceBase: UInt32 = 0x6440_0000  // 100.64.0.0
let destinationBase: UInt32 = 0xCB00_7100  // 203.0.113.0 and up
func source(_ index: Int) -> IPAddress { .v4(IPv4Address(sourceBase + UInt32(index))) }
func destination(_ index: Int) -> IPAddress { .v4(IPv4Address(destinationBase + UInt32(index))) }

/// Customer `index` is "subscriber-<index>".
struct BenchResolver: BlockLogResolver {
    func customerID(generation: UInt64, index: Int32) -> String? { "subscriber-\(index)" }
    func exceptionID(generation: UInt64, index: Int32) -> String? { nil }
}

final class ManualClock: BlockLogClock {
    let value = Atomic<Int64>(0)
    func nowMilliseconds() -> Int64 { value.load(ordering: .relaxed) }
    func set(_ milliseconds: Int64) { value.store(milliseconds, ordering: .relaxed) }
}

func monotonicSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

func directoryBytes(_ path: String) -> Int64 { SegmentDirectory.list(path).reduce(0) { $0 + $1.bytes } }

func format(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }

let logger: Logger = {
    var logger = Logger(label: "blocklog-bench")
    logger.logLevel = .warning
    return logger
}()
let options = Options(CommandLine.arguments)

/// CPU seconds (user + system) per thread name of this process, from /proc/self/task/*/stat.
func threadCPU() -> [String: Double] {
    var result: [String: Double] = [:]
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return [:] }
    for task in tasks {
        guard let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
            let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
        else { continue }
        // The main thread sleeps during the run; another thread whose name did not reach the kernel (Foundation
        // sets it on a best-effort basis) is the only other one: the committer.
        var name = String(stat[stat.index(after: open)..<close])
        if task != String(getpid()) && name != "blocklog-agg" && name != "producer" { name = "blocklog-sql" }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
        result[name, default: 0] += (user + system) / ticks
    }
    return result
}

// MARK: - 1. Writer throughput

func throughputBenchmark() throws {
    let directory = "/tmp/egress25-blocklog-throughput-\(getpid())"
    _ = system("rm -rf '\(directory)'")
    defer { _ = system("rm -rf '\(directory)'") }
    let writer = try BlockLogWriter(
        directory: directory, configuration: BlockLogConfiguration(cacheBytes: options.cacheMegabytes << 20),
        nodeName: "bench", resolver: BenchResolver(), logger: logger)
    let ring = BlockLogRing(capacity: options.ringCapacity)
    writer.attach(ring)
    writer.start()
    print(
        "== writer throughput: \(options.rate) SYN/s offered for \(options.seconds) s, "
            + "2000 sources x 500 destinations, ring \(options.ringCapacity) slots "
            + "(\((options.ringCapacity * MemoryLayout<BlockedAttempt>.stride) >> 20) MiB), "
            + "SQLite cache \(options.cacheMegabytes) MiB")
    let offered = Atomic<Int>(0)
    let done = Atomic<Bool>(false)
    let rate = options.rate
    let seconds = options.seconds
    let producer = Thread {
        Thread.current.name = "producer"
        var random = FastRandom(state: 0x9E37_79B9_7F4A_7C15)
        var lastPort = [UInt16](repeating: 1024, count: 2000)
        let clock = SystemBlockLogClock()
        let start = monotonicSeconds()
        var sent = 0
        while true {
            let elapsed = monotonicSeconds() - start
            if elapsed >= Double(seconds) { break }
            let due = min(Int(elapsed * Double(rate)), rate * seconds)
            if sent >= due {
                usleep(200)
                continue
            }
            let now = clock.nowMilliseconds()
            while sent < due {
                let s = random.below(2000)
                let d = random.below(500)
                // 1 in 4 SYNs retransmits the source's previous connection; otherwise a new source port.
                if random.below(4) != 0 { lastPort[s] = lastPort[s] &+ 1 | 1024 }
                let attempt = BlockedAttempt(
                    timeMilliseconds: now, source: source(s), destination: destination(d), sourcePort: lastPort[s],
                    destinationPort: 25, reason: .noException, exceptionIndex: -1, customerIndex: Int32(s),
                    policyGeneration: 1)
                _ = ring.push(attempt)
                sent += 1
            }
            offered.store(sent, ordering: .relaxed)
        }
        offered.store(sent, ordering: .relaxed)
        done.store(true, ordering: .releasing)
    }
    let start = monotonicSeconds()
    producer.start()
    var previous = writer.statistics
    var previousTime = start
    var maxLag: Int64 = 0
    print("  t(s)  offered/s  committed SYN/s  rows inserted/s  rows updated/s  lost  lag(ms)  MB on disk")
    while !done.load(ordering: .acquiring) {
        sleep(10)
        let now = monotonicSeconds()
        let statistics = writer.statistics
        maxLag = max(maxLag, statistics.lagMilliseconds)
        let interval = now - previousTime
        print(
            "  \(String(format: "%4.0f", now - start))"
                + "  \(String(format: "%9.0f", Double(offered.load(ordering: .relaxed)) / (now - start)))"
                + "  \(String(format: "%15.0f", Double(statistics.synsRecorded - previous.synsRecorded) / interval))"
                + "  \(String(format: "%15.0f", Double(statistics.rowsWritten - previous.rowsWritten) / interval))"
                + "  \(String(format: "%14.0f", Double(statistics.rowUpdates - previous.rowUpdates) / interval))"
                + "  \(String(format: "%4d", statistics.lostEvents))"
                + "  \(String(format: "%7d", statistics.lagMilliseconds))"
                + "  \(format(Double(directoryBytes(directory)) / 1e6))")
        previous = statistics
        previousTime = now
    }
    let producerEnd = monotonicSeconds()
    let cpuAtEnd = threadCPU()
    let committedAtEnd = writer.statistics
    let shutdownStart = monotonicSeconds()
    writer.shutdown()
    let shutdownSeconds = monotonicSeconds() - shutdownStart
    let statistics = writer.statistics
    let total = offered.load(ordering: .relaxed)
    let elapsed = producerEnd - start
    let bytes = directoryBytes(directory)
    print("  offered \(total) SYNs in \(format(elapsed)) s = \(format(Double(total) / elapsed, 0)) SYN/s")
    print(
        "  committed \(statistics.synsRecorded) SYNs, lost \(statistics.lostEvents) (ring overflow and writer), "
            + "write errors \(statistics.writeErrors); "
            + "committed + lost == offered: \(Int(statistics.synsRecorded + statistics.lostEvents) == total)")
    print(
        "  rows inserted \(statistics.rowsWritten) (\(format(Double(statistics.rowsWritten) / elapsed, 0)) rows/s), "
            + "row updates \(statistics.rowUpdates) (\(format(Double(statistics.rowUpdates) / elapsed, 0))/s)")
    print(
        "  \(bytes) bytes on disk after shutdown = "
            + "\(format(Double(bytes) / Double(max(statistics.rowsWritten, 1)))) bytes/row "
            + "(with 4 indexes); max lag \(maxLag) ms; shutdown flush \(format(shutdownSeconds, 2)) s")
    let aggregatorCPU = cpuAtEnd["blocklog-agg"] ?? 0
    let committerCPU = cpuAtEnd["blocklog-sql"] ?? 0
    print(
        "  CPU while offering: aggregating thread \(format(aggregatorCPU, 2)) s, committing thread "
            + "\(format(committerCPU, 2)) s of \(format(elapsed)) s wall "
            + "(threads: \(cpuAtEnd.map { "\($0.key)=\(format($0.value, 2))" }.sorted().joined(separator: ", ")))")
    let committedRows = committedAtEnd.rowsWritten + committedAtEnd.rowUpdates
    print(
        "  CPU cost: \(format(aggregatorCPU * 1e6 / Double(max(total, 1)), 2)) µs per SYN aggregating, "
            + "\(format(committerCPU * 1e6 / Double(max(committedRows, 1)), 2)) "
            + "µs per row insert or update committing (both measured when the producer stopped)")
    var stored: Int64 = 0
    var rows = 0
    try BlockLogReader(directory: directory).forEach(BlockLogFilter()) { record in
        stored += record.syns
        rows += 1
    }
    print(
        "  read back: \(rows) rows, sum(syns) = \(stored) (== committed: \(UInt64(stored) == statistics.synsRecorded))")
}

// MARK: - 2. Queries over 10M rows / 30 daily segments

let dataEnd = instant("2026-11-29T00:00:00Z")
func instant(_ text: String) -> Int64 { try! UTCTime.parseRFC3339(text) * 1000 }

func generateQueryData() throws {
    let marker = options.data + "/.complete-\(options.rows)-\(options.days)"
    if FileManager.default.fileExists(atPath: marker) {
        print(
            "== query data set: reusing \(options.data) (\(format(Double(directoryBytes(options.data)) / 1e9, 2)) GB)")
        return
    }
    _ = system("rm -rf '\(options.data)'")
    let clock = ManualClock()
    let dataStart = dataEnd - Int64(options.days) * 86_400_000
    clock.set(dataStart)
    let configuration = BlockLogConfiguration(
        segmentSeconds: 86400, retentionSeconds: Int64(options.days + 10) * 86400, maxBytes: 1 << 40)
    let writer = try BlockLogWriter(
        directory: options.data, configuration: configuration, nodeName: "bench", resolver: BenchResolver(),
        logger: logger, clock: clock)
    let ring = BlockLogRing(capacity: 1 << 16)
    writer.attach(ring)
    let minutes = options.days * 1440
    let rowsPerMinute = Double(options.rows) / Double(minutes)
    var random = FastRandom(state: 42)
    var generated = 0
    var pushed = 0
    let start = monotonicSeconds()
    print("== query data set: generating \(options.rows) rows over \(options.days) daily segments through the writer")
    for minute in 0..<minutes {
        let minuteStart = dataStart + Int64(minute) * 60_000
        let target = Int(Double(minute + 1) * rowsPerMinute)
        // Each row: one (source, destination) pair new in this minute, 1-3 SYNs (retransmissions), all
        // within the minute. Pairs are drawn afresh each minute, so a pair repeats only across windows.
        var used = Set<Int>()
        while generated < target {
            let s = random.below(2000)
            let d = random.below(500)
            guard used.insert(s * 500 + d).inserted else { continue }
            let syns = 1 + random.below(3)
            let port = UInt16(1024 + random.below(60000))
            let first = minuteStart + Int64(random.below(30_000))
            for syn in 0..<syns {
                let attempt = BlockedAttempt(
                    timeMilliseconds: first + Int64(syn * 1000), source: source(s), destination: destination(d),
                    sourcePort: port &+ UInt16(syn == 2 ? 1 : 0), destinationPort: 25, reason: .noException,
                    exceptionIndex: -1, customerIndex: Int32(s), policyGeneration: 1)
                while !ring.push(attempt) { writer.flush() }
                pushed += 1
            }
            generated += 1
        }
        clock.set(minuteStart + 60_000)
        if minute % 10 == 9 { writer.flush() }  // one commit per 10 simulated minutes
        if minute % (1440 * 5) == 1439 {
            let elapsed = monotonicSeconds() - start
            print("  day \(minute / 1440 + 1): \(generated) rows, \(format(Double(generated) / elapsed, 0)) rows/s")
        }
    }
    clock.set(dataEnd + 120_000)
    writer.flush()
    writer.shutdown()
    let elapsed = monotonicSeconds() - start
    let statistics = writer.statistics
    print(
        "  \(statistics.rowsWritten) rows (\(pushed) SYNs) in \(format(elapsed)) s = "
            + "\(format(Double(statistics.rowsWritten) / elapsed, 0)) rows/s; "
            + "\(format(Double(directoryBytes(options.data)) / 1e9, 2)) GB, "
            + "\(format(Double(directoryBytes(options.data)) / Double(statistics.rowsWritten))) bytes/row, "
            + "\(SegmentDirectory.list(options.data).count) segments; lost \(statistics.lostEvents)")
    _ = FileManager.default.createFile(atPath: marker, contents: Data())
}

/// CPU time of the process (user + system), seconds.
func threadCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)  // only this thread runs during the query benchmark
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// CPU ms of the last `timed` call: on a shared machine wall time includes waiting for a core.
nonisolated(unsafe) var lastCPUMilliseconds = 0.0

func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let start = monotonicSeconds()
    let cpu = threadCPUSeconds()
    let result = try body()
    lastCPUMilliseconds = (threadCPUSeconds() - cpu) * 1000
    return (result, (monotonicSeconds() - start) * 1000)
}

func queryBenchmark() throws {
    try generateQueryData()
    let reader = BlockLogReader(directory: options.data, aggregationWindowSeconds: 60)
    let since30 = dataEnd - 30 * 86_400_000
    print("== one subscriber's 30-day history (goal < 100 ms)")
    var times: [Double] = []
    for index in [7, 123, 999, 1500, 1999] {
        let (rows, ms) = try timed {
            try reader.query(BlockLogFilter(source: IPPrefix(host: source(index)), sinceMilliseconds: since30))
        }
        times.append(ms)
        print(
            "  --source \(source(index)): \(rows.count) rows, \(rows.reduce(0) { $0 + $1.syns }) SYNs "
                + "in \(format(ms)) ms "
                + "(CPU \(format(lastCPUMilliseconds)) ms)")
    }
    for index in [42, 1042] {
        let (rows, ms) = try timed {
            try reader.query(BlockLogFilter(customer: "subscriber-\(index)", sinceMilliseconds: since30))
        }
        times.append(ms)
        print(
            "  --customer subscriber-\(index): \(rows.count) rows in \(format(ms)) ms "
                + "(CPU \(format(lastCPUMilliseconds)) ms)")
    }
    print("  median \(format(times.sorted()[times.count / 2])) ms, max \(format(times.max()!)) ms")
    let (none, openMilliseconds) = try timed {
        try reader.query(
            BlockLogFilter(source: IPPrefix(host: .v4(IPv4Address(0xC612_0001))), sinceMilliseconds: since30))
    }
    print(
        "  of which opening the \(reader.segments(for: BlockLogFilter(sinceMilliseconds: since30)).count) segments "
            + "(a source with \(none.count) rows): \(format(openMilliseconds)) ms "
            + "(CPU \(format(lastCPUMilliseconds)) ms)")
    print("== top --since 24h (goal < 1 s)")
    let since24 = dataEnd - 86_400_000
    for grouping in BlockLogGrouping.allCases {
        var runs: [Double] = []
        var cpu: [Double] = []
        var first: BlockLogTopEntry?
        for _ in 0..<3 {
            let (entries, ms) = try timed {
                try reader.top(by: grouping, filter: BlockLogFilter(sinceMilliseconds: since24), limit: 20)
            }
            runs.append(ms)
            cpu.append(lastCPUMilliseconds)
            first = entries.first
        }
        print(
            "  --by \(grouping.rawValue): \(runs.map { format($0) }.joined(separator: " / ")) ms "
                + "(CPU \(cpu.map { format($0) }.joined(separator: " / ")) ms); top: \(first?.key ?? "-") "
                + "syns \(first?.syns ?? 0) destinations \(first?.destinations ?? 0)")
    }
    let (rows, ms) = try timed { try reader.query(BlockLogFilter(sinceMilliseconds: since24), limit: 100) }
    print("== query --since 24h --limit 100: \(rows.count) rows in \(format(ms)) ms")
}

if options.throughput { try throughputBenchmark() }
if options.queries { try queryBenchmark() }
