import Egress25Admin
import Egress25Core
import Egress25TestSupport
import ExceptionStore
import Foundation
import RadiusAccounting
import Testing

/// A million random and mutated datagrams at the real listener over UDP, with a valid Start after every 200 of
/// them: every valid one is answered and recorded, every datagram is accounted for (dropped by reason, or a
/// request), and nothing crashes.
@Suite struct RadiusFuzzTests {
    static let rounds = 5000
    static let perRound = 200

    @Test func aMillionBadDatagramsLeaveTheListenerServing() async throws {
        let feed = try await RadiusFeedTests.Feed()
        defer { Task { await feed.stop() } }
        let client = try feed.client(timeoutMilliseconds: 5000)
        let random = SplitMix64(seed: 0x25_1813)
        let secret = RadiusFeedTests.secret
        let bases: [[UInt8]] = [
            try RadiusFeedTests.request(.start, session: "fz-base", user: "fz-base", ipv4: "100.64.9.9"),
            try RadiusFeedTests.request(
                .interimUpdate, id: 2, session: "fz-base", user: "fz-base", ipv4: "100.64.9.9",
                ipv6: [(RadiusAttributeType.delegatedIPv6Prefix, "2001:db8:6400:900::/56")]),
            try RadiusFeedTests.request(.stop, id: 3, session: "fz-base", user: "fz-base"),
            try RadiusFeedTests.request(.accountingOn, id: 4, user: nil, ipv4: nil, nas: "bng-fuzz"),
        ]
        // The million datagrams and the valid Starts go out on a thread of their own: the blocking socket calls
        // must not hold a thread of Swift concurrency's shared pool for the 40 s this takes.
        let (sent, unanswered) = await offPool { () -> (Int, [Int]) in
            var random = random
            var sent = 0
            var unanswered: [Int] = []
            for round in 0..<Self.rounds {
                for _ in 0..<Self.perRound {
                    client.send(Self.mutant(bases, &random))
                    sent += 1
                }
                // A valid Start of a session of its own: it must be answered (so the listener still serves) and be
                // in the store (checked for a sample below). Answers to mutants that still verify (padding past
                // Length, say) may come first: skip them.
                guard
                    let start = try? RadiusFeedTests.request(
                        .start, id: UInt8(truncatingIfNeeded: round), session: "fz-\(round)", user: "fz-\(round)",
                        ipv4: "100.65.\(round / 250).\(round % 250 + 1)", nas: "bng-valid")
                else { return (sent, [round]) }
                sent += 1
                client.send(start)
                var answered = false
                let deadline = Date().addingTimeInterval(5)
                while !answered && Date() < deadline, let answer = client.receive() {
                    answered = AccountingCodec.verifyResponse(answer, to: start, secret: secret)
                }
                if !answered {
                    unanswered.append(round)
                    if unanswered.count > 5 { break }
                }
            }
            return (sent, unanswered)
        }
        #expect(unanswered.isEmpty, "valid Starts not answered in rounds \(unanswered)")
        for round in [0, 1234, Self.rounds - 1] {
            let sessions = try feed.fixture.store.bindings(customer: "fz-\(round)", inForceAt: UTCTime.now())
            #expect(sessions.count == 1, "fz-\(round)")
        }
        // Every datagram is accounted for: dropped by reason, or taken as a request (a mutation that still verifies,
        // e.g. padding past Length, is a valid request). Late answers to mutants are drained first.
        try await Task.sleep(for: .milliseconds(500))
        let text = feed.metrics.render(activeSessions: nil)
        var invalid = 0
        var reasons = 0
        for reason in RadiusInvalidReason.allCases {
            let count = RadiusMetrics.value(of: "egress25_radius_invalid_total{why=\"\(reason.rawValue)\"}", in: text)
            invalid += count
            if count > 0 { reasons += 1 }
        }
        var requests = 0
        for line in text.split(separator: "\n") where line.hasPrefix("egress25_radius_requests_total{") {
            let value = line.split(separator: " ").last.map(String.init) ?? "0"
            requests += Int(Double(value) ?? 0)
        }
        #expect(sent >= 1_000_000)
        #expect(invalid + requests == sent, "invalid \(invalid) + requests \(requests) != sent \(sent)")
        #expect(reasons >= 6, "the mutations reached only \(reasons) distinct reasons")
        await feed.stop()
    }

    /// A random datagram (a fifth), or a valid one bit-flipped, truncated, extended, or with its Length or an
    /// attribute's length changed.
    static func mutant(_ bases: [[UInt8]], _ random: inout SplitMix64) -> [UInt8] {
        if Int.random(in: 0..<5, using: &random) == 0 {
            let count =
                Int.random(in: 0..<100, using: &random) == 0
                ? Int.random(in: 4090...4200, using: &random)
                : Int.random(in: 0...120, using: &random)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            if count > 0 && Bool.random(using: &random) { bytes[0] = 4 }  // mostly an Accounting-Request's code
            return bytes
        }
        var bytes = bases[Int.random(in: 0..<bases.count, using: &random)]
        switch Int.random(in: 0..<6, using: &random) {
        case 0:
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let index = Int.random(in: 0..<bytes.count, using: &random)
                bytes[index] ^= UInt8(1) << UInt8.random(in: 0...7, using: &random)
            }
        case 1:
            bytes.removeLast(Int.random(in: 1...bytes.count, using: &random))
        case 2:
            bytes += (0..<Int.random(in: 1...64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        case 3:
            let length = UInt16.random(in: 0...5000, using: &random)
            bytes[2] = UInt8(length >> 8)
            bytes[3] = UInt8(length & 0xFF)
        case 4:
            // An attribute's length octet: the first attribute starts at 20.
            var offset = 20
            let target = Int.random(in: 0..<4, using: &random)
            var index = 0
            while offset + 1 < bytes.count && index < target {
                offset += max(2, Int(bytes[offset + 1]))
                index += 1
            }
            if offset + 1 < bytes.count { bytes[offset + 1] = UInt8.random(in: 0...255, using: &random) }
        default:
            bytes[0] = UInt8.random(in: 0...255, using: &random)
        }
        return bytes
    }
}
