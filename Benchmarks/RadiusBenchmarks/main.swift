// RadiusBenchmarks: a RADIUS accounting load generator for egress25-admin's session feed (issue 15).
//
//   RadiusBenchmarks load  --port P --secret-file F --rate R --seconds D [--warmup W] [--kind start|interim]
//                          [--first N] [--nas NAME]
//       Open loop: request i is due at start + i/R and is sent then, whatever happened to the earlier ones; its
//       latency runs from that due time to its Accounting-Response, so a stall of the server counts in full.
//       Each request is a different session (customer rb-N, Acct-Session-Id rs-N, an address of its own in
//       100.64.0.0/10); `interim` sends Interim-Updates for sessions a `start` run opened (same --first).
//   RadiusBenchmarks storm --port P --secret-file F --count C [--window W] [--first N] [--last-customer ID
//                          --last-address A]
//       A BNG reboot's login storm: C Starts as fast as the server answers, at most W unanswered at a time,
//       each retransmitted (same Identifier and bytes) after 2 s without an answer, up to 5 times. With
//       --last-customer, the last Start is that customer's on that address (the script then probes it).
//       Prints the time until every Start was answered, and the wall-clock time of the last answer.
import Egress25Core
import Foundation
import RadiusAccounting

#if canImport(Glibc)
import Glibc
#endif

func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("RadiusBenchmarks: \(message)\n".utf8))
    exit(2)
}

/// `--name value` options.
struct Options {
    var values: [String: String] = [:]
    init(_ arguments: ArraySlice<String>) {
        var iterator = arguments.makeIterator()
        while let name = iterator.next() {
            guard name.hasPrefix("--"), let value = iterator.next() else {
                fail("expected --name value, found \(name)")
            }
            values[String(name.dropFirst(2))] = value
        }
    }
    func int(_ name: String, _ fallback: Int? = nil) -> Int {
        if let text = values[name] {
            guard let value = Int(text) else { fail("--\(name): not a number: \(text)") }
            return value
        }
        guard let fallback else { fail("--\(name) is required") }
        return fallback
    }
    func string(_ name: String, _ fallback: String? = nil) -> String {
        guard let value = values[name] ?? fallback else { fail("--\(name) is required") }
        return value
    }
}

/// UDP sockets on 127.0.0.1 towards the listener: request i goes out on socket i % count with Identifier
/// (i / count) % 256, so an answer names its request by (socket, Identifier).
final class Sockets {
    let descriptors: [Int32]
    var destination = sockaddr_in()

    init(count: Int, port: Int) {
        var descriptors: [Int32] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            guard fd >= 0 else { fail("socket: errno \(errno)") }
            var size: Int32 = 1 << 20
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            descriptors.append(fd)
        }
        self.descriptors = descriptors
        destination.sin_family = sa_family_t(AF_INET)
        destination.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &destination.sin_addr)
    }

    func send(_ bytes: [UInt8], on index: Int) {
        var destination = self.destination
        let fd = descriptors[index]
        _ = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &destination) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    /// Calls `answer(socket, identifier)` for every Accounting-Response waiting; returns how many.
    @discardableResult
    func drain(_ answer: (Int, UInt8) -> Void) -> Int {
        var buffer = [UInt8](repeating: 0, count: 512)
        var count = 0
        for (index, fd) in descriptors.enumerated() {
            while true {
                let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                guard received >= 20 else { break }
                if buffer[0] == 5 {
                    answer(index, buffer[1])
                    count += 1
                }
            }
        }
        return count
    }
}

/// The i-th session's Accounting-Request.
func request(
    _ status: AccountingStatusType, index: Int, identifier: UInt8, nas: String, secret: [UInt8],
    customer: String? = nil, address: IPv4Address? = nil
) -> [UInt8] {
    var builder = AccountingRequestBuilder(identifier: identifier, statusType: status)
    builder.addText(type: RadiusAttributeType.nasIdentifier, nas)
    builder.addText(type: RadiusAttributeType.acctSessionID, "rs-\(index)")
    builder.addText(type: RadiusAttributeType.userName, customer ?? "rb-\(index)")
    // 100.64.1.0 + index: inside 100.64.0.0/10 for up to 4 million sessions, clear of 100.64.0.0/24.
    builder.addIPv4(type: RadiusAttributeType.framedIPAddress, address ?? IPv4Address(0x6440_0100 &+ UInt32(index)))
    builder.addInteger(type: RadiusAttributeType.acctInterimInterval, 300)
    return builder.encode(secret: secret)
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(sorted.count - 1, max(0, rank))]
}

func readSecret(_ path: String) -> [UInt8] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8),
        let line = text.split(separator: "\n").first
    else { fail("cannot read the secret from \(path)") }
    return Array(line.utf8)
}

func load(_ options: Options) {
    let port = options.int("port")
    let rate = options.int("rate")
    let seconds = options.int("seconds")
    let warmup = options.int("warmup", 0)
    let first = options.int("first", 0)
    let nas = options.string("nas", "bench-bng")
    let secret = readSecret(options.string("secret-file"))
    let status: AccountingStatusType = options.string("kind", "start") == "interim" ? .interimUpdate : .start
    let socketCount = 128
    let sockets = Sockets(count: socketCount, port: port)
    let total = rate * (warmup + seconds)
    let measuredFrom = rate * warmup
    // Pre-built requests, so building them is not in the timed loop.
    var requests: [[UInt8]] = []
    requests.reserveCapacity(total)
    for i in 0..<total {
        requests.append(
            request(
                status, index: first + i, identifier: UInt8(truncatingIfNeeded: i / socketCount), nas: nas,
                secret: secret))
    }
    var due = [UInt64](repeating: 0, count: total)
    var latency = [Double](repeating: -1, count: total)
    var slot = [Int](repeating: -1, count: socketCount * 256)  // (socket, identifier) -> request in flight
    var overwritten = 0
    let interval = 1_000_000_000 / UInt64(rate)
    let start = monotonicNanoseconds() + 10_000_000
    var next = 0
    var lastSend: UInt64 = 0
    var lateSends = 0
    func receive() {
        let now = monotonicNanoseconds()
        sockets.drain { socket, identifier in
            let key = socket * 256 + Int(identifier)
            let index = slot[key]
            guard index >= 0 else { return }
            slot[key] = -1
            latency[index] = Double(now - due[index]) / 1e6
        }
    }
    while next < total {
        let now = monotonicNanoseconds()
        while next < total && start + UInt64(next) * interval <= now {
            let index = next
            due[index] = start + UInt64(index) * interval
            if now - due[index] > 5_000_000 { lateSends += 1 }
            let socket = index % socketCount
            let key = socket * 256 + Int(UInt8(truncatingIfNeeded: index / socketCount))
            if slot[key] >= 0 { overwritten += 1 }
            slot[key] = index
            sockets.send(requests[index], on: socket)
            lastSend = now
            next += 1
        }
        receive()
        if next < total {
            let wait = Int64(start + UInt64(next) * interval) - Int64(monotonicNanoseconds())
            if wait > 100_000 { usleep(useconds_t(min(wait / 1000 - 50, 1000))) }
        }
    }
    let deadline = monotonicNanoseconds() + 5_000_000_000
    while monotonicNanoseconds() < deadline && slot.contains(where: { $0 >= 0 }) {
        receive()
        usleep(1000)
    }
    let measured = latency[measuredFrom...]
    let answered = measured.filter { $0 >= 0 }.sorted()
    let unanswered = measured.count - answered.count
    let sendSeconds = Double(lastSend - start) / 1e9
    func ms(_ value: Double) -> String { String(format: "%.2f", value) }
    print(
        "load kind=\(status == .start ? "start" : "interim") rate=\(rate)/s seconds=\(seconds) warmup=\(warmup) "
            + "requests=\(measured.count) answered=\(answered.count) unanswered=\(unanswered) "
            + "achieved=\(String(format: "%.0f", Double(total) / max(sendSeconds, 1e-9)))/s late_sends=\(lateSends) "
            + "slot_reuse=\(overwritten)")
    print(
        "latency_ms p50=\(ms(percentile(answered, 50))) p90=\(ms(percentile(answered, 90))) "
            + "p99=\(ms(percentile(answered, 99))) p99.9=\(ms(percentile(answered, 99.9))) "
            + "max=\(ms(answered.last ?? .nan))")
}

func storm(_ options: Options) {
    let port = options.int("port")
    let count = options.int("count")
    let window = options.int("window", 4096)
    let first = options.int("first", 0)
    let nas = options.string("nas", "bench-bng")
    let secret = readSecret(options.string("secret-file"))
    let lastCustomer = options.values["last-customer"]
    let lastAddress = options.values["last-address"].map { text -> IPv4Address in
        guard let address = IPv4Address(text) else { fail("--last-address: not an IPv4 address: \(text)") }
        return address
    }
    let socketCount = 128
    let sockets = Sockets(count: socketCount, port: port)
    var requests: [[UInt8]] = []
    requests.reserveCapacity(count)
    for i in 0..<count {
        let last = i == count - 1 && lastCustomer != nil
        requests.append(
            request(
                .start, index: first + i, identifier: UInt8(truncatingIfNeeded: i / socketCount), nas: nas,
                secret: secret, customer: last ? lastCustomer : nil, address: last ? lastAddress : nil))
    }
    var sentAt = [UInt64](repeating: 0, count: count)
    var attempts = [Int](repeating: 0, count: count)
    var done = [Bool](repeating: false, count: count)
    var slot = [Int](repeating: -1, count: socketCount * 256)
    var outstanding = 0
    var answered = 0
    var retransmits = 0
    var next = 0
    let start = monotonicNanoseconds()
    var lastAnswerWall = Date()
    var pendingQueue: [Int] = []  // sent, not answered (for retransmission), in send order
    var scan = 0
    while answered < count {
        let now = monotonicNanoseconds()
        guard now - start < 120_000_000_000 else { break }
        // Send new Starts while the window allows; a slot still busy (its earlier request unanswered) waits.
        while next < count && outstanding < window {
            let key = (next % socketCount) * 256 + Int(UInt8(truncatingIfNeeded: next / socketCount))
            if slot[key] >= 0 { break }
            slot[key] = next
            sentAt[next] = now
            attempts[next] = 1
            sockets.send(requests[next], on: next % socketCount)
            pendingQueue.append(next)
            outstanding += 1
            next += 1
        }
        let got = sockets.drain { socket, identifier in
            let key = socket * 256 + Int(identifier)
            let index = slot[key]
            guard index >= 0, !done[index] else { return }
            slot[key] = -1
            done[index] = true
            outstanding -= 1
            answered += 1
        }
        if got > 0 { lastAnswerWall = Date() }
        // Retransmit what waited 2 s (at most 5 attempts).
        while scan < pendingQueue.count && done[pendingQueue[scan]] { scan += 1 }
        var i = scan
        while i < pendingQueue.count {
            let index = pendingQueue[i]
            if !done[index] && now - sentAt[index] > 2_000_000_000 && attempts[index] < 5 {
                sentAt[index] = now
                attempts[index] += 1
                retransmits += 1
                sockets.send(requests[index], on: index % socketCount)
            } else if now - sentAt[index] <= 2_000_000_000 {
                break
            }
            i += 1
        }
        if got == 0 { usleep(200) }
    }
    let seconds = Double(monotonicNanoseconds() - start) / 1e9
    print(
        "storm starts=\(count) answered=\(answered) seconds=\(String(format: "%.3f", seconds)) "
            + "rate=\(String(format: "%.0f", Double(answered) / seconds))/s retransmits=\(retransmits) "
            + "window=\(window)")
    print("last_answer_epoch=\(String(format: "%.3f", lastAnswerWall.timeIntervalSince1970))")
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else { fail("usage: RadiusBenchmarks load|storm --port P --secret-file F ...") }
switch arguments[1] {
case "load": load(Options(arguments.dropFirst(2)))
case "storm": storm(Options(arguments.dropFirst(2)))
default: fail("unknown mode \(arguments[1]): load or storm")
}
