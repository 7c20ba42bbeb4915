import Egress25Core
import Foundation
import Synchronization
import Testing

@testable import Egress25Daemon

/// The snapshot swap under concurrency: readers on their own threads (as queue workers are) decide flows while
/// a writer publishes alternating policies. Every decision must come from one whole snapshot, old or new.
/// Run it under ThreadSanitizer too: `swift test --sanitize=thread --filter PolicyPublisherTests`.
@Suite struct PolicyPublisherTests {
    static func snapshot(allowing relay: String, generation: UInt64) throws -> PolicySnapshot {
        let policy = Policy(
            subscriberRanges: [try IPPrefix(parsing: "100.64.0.0/10"), try IPPrefix(parsing: "2001:db8:6400::/40")],
            relayHosts: [RelayHost(prefix: try IPPrefix(parsing: relay))],
            exceptions: [
                ExceptionRule(
                    id: "exc-\(generation)", customer: "c-\(generation)",
                    sources: [try IPPrefix(parsing: "100.64.9.0/24")],
                    destinations: .prefixes([
                        try IPPrefix(parsing: relay == "192.0.2.25" ? "198.51.100.0/24" : "203.0.113.0/24")
                    ]))
            ])
        return try PolicySnapshot(policy: policy, exceptions: [], bindings: [], generation: generation)
    }

    @Test func readersAlwaysSeeOneWholeSnapshot() throws {
        // Policy A (even generations) allows 192.0.2.25 and exceptions to 198.51.100.0/24;
        // policy B (odd) allows 192.0.2.26 and exceptions to 203.0.113.0/24.
        let a = try Self.snapshot(allowing: "192.0.2.25", generation: 0)
        let publisher = PolicyPublisher(initial: a)
        let flows = [
            ("100.64.1.1", "192.0.2.25"), ("100.64.1.1", "192.0.2.26"),
            ("100.64.9.9", "198.51.100.7"), ("100.64.9.9", "203.0.113.7"),
        ].map { source, destination in
            Flow(
                source: try! IPAddress(parsing: source), destination: try! IPAddress(parsing: destination),
                sourcePort: 40000, destinationPort: 25, flags: .syn)
        }
        let stop = Atomic<Bool>(false)
        let inconsistencies = Atomic<Int>(0)
        let decisions = Atomic<Int>(0)
        let readers = 2
        let done = DispatchGroup()
        for _ in 0..<readers {
            done.enter()
            Thread {
                var count = 0
                while !stop.load(ordering: .relaxed) {
                    let snapshot = publisher.current
                    let policyA = snapshot.generation % 2 == 0
                    let verdicts = flows.map { snapshot.decide($0, now: 1_800_000_000).verdict }
                    let expected: [Verdict] =
                        policyA ? [.accept, .block, .accept, .block] : [.block, .accept, .block, .accept]
                    if verdicts != expected { inconsistencies.add(1, ordering: .relaxed) }
                    count += verdicts.count
                }
                decisions.add(count, ordering: .relaxed)
                done.leave()
            }.start()
        }
        var prebuilt: [PolicySnapshot] = []
        for generation in 1...64 {
            prebuilt.append(
                try Self.snapshot(
                    allowing: generation % 2 == 0 ? "192.0.2.25" : "192.0.2.26",
                    generation: UInt64(generation)))
        }
        for round in 0..<20_000 {
            publisher.publish(prebuilt[round % prebuilt.count])
        }
        stop.store(true, ordering: .relaxed)
        done.wait()
        #expect(inconsistencies.load(ordering: .relaxed) == 0)
        #expect(decisions.load(ordering: .relaxed) > 0)
        // Old generations stay resolvable for the block log, then age out.
        #expect(publisher.customerID(generation: prebuilt[(20_000 - 1) % 64].generation, index: 0) != nil)
    }
}
