import Egress25Core
import Foundation

/// `--name value` options; a repeated option keeps every value (``all(_:)``).
struct BenchOptions {
    var values: [String: [String]] = [:]

    init(_ arguments: [String]) {
        var iterator = arguments.makeIterator()
        while let name = iterator.next() {
            guard name.hasPrefix("--"), let value = iterator.next() else {
                fatalError("options are --name value pairs; found \(name)")
            }
            values[String(name.dropFirst(2)), default: []].append(value)
        }
    }

    func optional(_ name: String) -> String? { values[name]?.last }

    func string(_ name: String, _ fallback: String? = nil) -> String {
        guard let value = optional(name) ?? fallback else { fatalError("--\(name) is required") }
        return value
    }

    func all(_ name: String) -> [String] { values[name] ?? [] }

    func int(_ name: String, _ fallback: Int) -> Int {
        optional(name).map { Int($0)! } ?? fallback
    }

    func double(_ name: String, _ fallback: Double) -> Double {
        optional(name).map { Double($0)! } ?? fallback
    }
}

/// The `p` quantile (0...1) of `sorted` (ascending; nearest rank); 0 for none.
func quantile(sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

func format(_ value: Double) -> String { String(format: "%.2f", value) }

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
}

/// The benchmark store's layout, shared by `seed` and `urls`.
enum BenchData {
    static func customerID(_ index: Int) -> String { "c-\(index)" }

    /// Customer `index` holds 100.64.0.0 + 20 index + 1 (100.64.0.0/10 has room for 209,715 customers).
    static func address(_ index: Int) -> String {
        dotted(0x6440_0000 + UInt32(index) * 20 + 1)
    }

    /// Whether customer `index` has exceptions: every `customers / withExceptions`-th.
    static func hasException(_ index: Int, customers: Int, withExceptions: Int) -> Bool {
        guard withExceptions > 0 else { return false }
        return index % max(1, customers / withExceptions) == 0
    }

    /// The mail server of customer `index`'s first exception: one of 60,000 addresses in 203.0.0.0/16.
    static func exceptionServer(_ index: Int) -> String {
        dotted(0xCB00_0000 + UInt32(index % 60_000) + 1)
    }

    /// Whether the exception holder `index` has a second exception, to ``exceptionNetwork(_:)``.
    static func hasSecondException(_ index: Int, customers: Int, withExceptions: Int) -> Bool {
        let step = max(1, customers / withExceptions)
        return (index / step) % 4 == 0
    }

    /// The /24 of the second exception: 198.18.0.0/15 (512 networks).
    static func exceptionNetwork(_ index: Int) -> String {
        dotted(0xC612_0000 + UInt32(index % 512) << 8) + "/24"
    }

    /// A mail server no exception names: 198.51.100.0/24.
    static func otherServer(_ random: inout FastRandom) -> String {
        dotted(0xC633_6400 + UInt32(1 + random.below(254)))
    }

    static func dotted(_ value: UInt32) -> String {
        "\(value >> 24).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
    }
}
