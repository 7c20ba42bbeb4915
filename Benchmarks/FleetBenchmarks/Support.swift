import Egress25Core
import ExceptionStore
import Foundation

/// `--name value` options.
struct BenchOptions {
    var values: [String: String] = [:]

    init(_ arguments: [String]) {
        var iterator = arguments.makeIterator()
        while let name = iterator.next() {
            guard name.hasPrefix("--"), let value = iterator.next() else {
                fatalError("options are --name value pairs; found \(name)")
            }
            values[String(name.dropFirst(2))] = value
        }
    }

    func string(_ name: String, _ fallback: String? = nil) -> String {
        guard let value = values[name] ?? fallback else { fatalError("--\(name) is required") }
        return value
    }

    func int(_ name: String, _ fallback: Int) -> Int {
        values[name].map { Int($0)! } ?? fallback
    }
}

/// Opens the fleet store at `url` (the benchmark dies with the store's message when it cannot).
func openStore(_ url: String) -> ExceptionStore {
    do {
        return try ExceptionStore(location: .postgresql(try PostgresLocation.parse(url: url)), mode: .readWrite)
    } catch {
        fatalError("cannot open \(url): \(error)")
    }
}

/// Monotonic seconds.
func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// UTC seconds with fractions (CLOCK_REALTIME: the clock other processes' samples are joined on).
func wallSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// xorshift64*: fast, deterministic.
struct FastRandom {
    var state: UInt64

    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }

    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    /// In [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// The `p` quantile (0...1) of `values` (nearest rank); 0 for none.
func quantile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

/// A subscriber's address: 100.64.0.0/10 holds 4,194,304; subscriber `index` gets 100.64.0.0 + index * 20 + 1.
func subscriberAddress(_ index: Int) -> IPAddress {
    .v4(IPv4Address((UInt32(100) << 24 | UInt32(64) << 16) + UInt32(index * 20 + 1)))
}

func format(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }
