import Egress25Core
import ExceptionStore
import Foundation
import Synchronization

func runLoadSessions(_ options: BenchOptions) {
    let store = openStore(options.string("url"))
    let count = options.int("bindings", 100_000)
    let chunk = 5_000
    let began = monotonicSeconds()
    for first in stride(from: 0, to: count, by: chunk) {
        let leases = (first..<min(first + chunk, count)).map {
            SessionLease(customer: "c-\($0)", prefix: IPPrefix(host: subscriberAddress($0)))
        }
        do {
            try store.importSessions(leases, actor: "bench-load")
        } catch {
            fatalError("importSessions: \(error)")
        }
    }
    print("load-sessions: \(count) sessions in \(format(monotonicSeconds() - began, 1)) s")
}

/// One churn thread's customers (index % threads == thread) with their addresses, and its free addresses.
struct ChurnState {
    var customers: [Int]
    var address: [Int: Int]
    var free: [Int]
}

func runChurn(_ options: BenchOptions) {
    let url = options.string("url")
    let count = options.int("bindings", 100_000)
    let rate = options.int("rate", 1_000)
    let seconds = options.int("seconds", 60)
    let threads = options.int("threads", 3)
    let samplesPath = options.values["samples"]
    // Who holds which address after an earlier run (`--state FILE`: read when present, written at the end).
    let statePath = options.values["state"]
    var held: [Int: Int] = [:]
    if let statePath, let text = try? String(contentsOfFile: statePath, encoding: .utf8) {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ").compactMap { Int($0) }
            if fields.count == 2 { held[fields[0]] = fields[1] }
        }
    }
    let initial = held
    let finalHolders = Mutex<[Int: Int]>([:])
    let perThread = Double(rate) / Double(threads)
    let changes = Mutex<[Int]>(Array(repeating: 0, count: threads))
    let behind = Mutex<Double>(0)
    let samples = Mutex<[String]>([])
    let done = DispatchGroup()
    let began = monotonicSeconds()
    let end = began + Double(seconds)
    for thread in 0..<threads {
        done.enter()
        Thread {
            let store = openStore(url)
            var random = FastRandom(seed: UInt64(thread + 7))
            // Free addresses: 4,000,000 / 20 slots hold 209,715 subscriber addresses; those past `count` are free.
            var state = ChurnState(
                customers: Array(stride(from: thread, to: count, by: threads)), address: [:], free: [])
            for customer in state.customers { state.address[customer] = initial[customer] ?? customer }
            let taken = Set(state.address.values)
            state.free = stride(from: thread, to: 209_000, by: threads).filter { !taken.contains($0) }
            var made = 0
            var lastSample = 0.0
            var worstLag = 0.0
            while true {
                let due = began + Double(made) / perThread
                let now = monotonicSeconds()
                if now >= end { break }
                if due > now { usleep(UInt32((due - now) * 1_000_000)) }
                worstLag = max(worstLag, now - due)
                let customer = state.customers[random.below(state.customers.count)]
                let held = state.address[customer]!
                do {
                    if random.below(2) == 0 {
                        try store.startSession(
                            customer: "c-\(customer)", prefix: IPPrefix(host: subscriberAddress(held)), actor: "bench")
                        made += 1
                    } else {
                        let slot = random.below(state.free.count)
                        let next = state.free[slot]
                        try store.startSession(
                            customer: "c-\(customer)", prefix: IPPrefix(host: subscriberAddress(next)), actor: "bench")
                        try store.stopSessions(
                            customer: "c-\(customer)", prefix: IPPrefix(host: subscriberAddress(held)), actor: "bench")
                        state.free[slot] = held
                        state.address[customer] = next
                        made += 2
                    }
                    if thread == 0, let _ = samplesPath, monotonicSeconds() - lastSample >= 0.05 {
                        // Taken after the read: the generation read was committed before `at`.
                        let generation = try store.changeToken()
                        let at = wallSeconds()
                        samples.withLock { $0.append("\(format(at, 4)) \(generation)") }
                        lastSample = monotonicSeconds()
                    }
                } catch {
                    fatalError("churn: \(error)")
                }
            }
            changes.withLock { $0[thread] = made }
            finalHolders.withLock { $0.merge(state.address) { _, new in new } }
            behind.withLock { $0 = max($0, worstLag) }
            done.leave()
        }.start()
    }
    done.wait()
    let elapsed = monotonicSeconds() - began
    let total = changes.withLock { $0.reduce(0, +) }
    print(
        "churn: \(total) session changes in \(format(elapsed, 1)) s = \(Int(Double(total) / elapsed)) changes/s "
            + "(target \(rate)/s, \(threads) threads; worst lag behind schedule \(format(behind.withLock { $0 }, 2)) s)"
    )
    if let statePath {
        let text = finalHolders.withLock { $0.map { "\($0.key) \($0.value)" }.joined(separator: "\n") }
        try? text.write(toFile: statePath, atomically: true, encoding: .utf8)
    }
    if let samplesPath {
        let text = samples.withLock { $0.joined(separator: "\n") } + "\n"
        try? text.write(toFile: samplesPath, atomically: true, encoding: .utf8)
    }
}
