import Egress25TestSupport
import Foundation
import Testing

/// `policy.guard_non_syn`: with conntrack, a TCP segment from a subscriber to a policed port that is not a SYN
/// and belongs to no known connection is dropped, so a flow whose SYN was never judged cannot carry data.
/// Without the guard such a segment reaches the MX, which answers it with a reset (no such connection).
@Suite(.serialized, .enabled(if: EndToEnd.enabled, EndToEnd.skipReason))
struct ConntrackGuardTests {
    private func outcomes(guardOn: Bool) throws -> [String: String] {
        let topology = try Topology()
        defer { topology.tearDown() }
        try topology.writeConfiguration()
        if guardOn {
            let text = try String(contentsOfFile: topology.configPath, encoding: .utf8)
                .replacingOccurrences(of: "  reject_mark: 0x25\n", with: "  reject_mark: 0x25\n  guard_non_syn: true\n")
            try text.write(toFile: topology.configPath, atomically: true, encoding: .utf8)
        }
        let rules = try topology.ctl(["rules", "apply"])
        try #require(rules.status == 0, "rules apply failed: \(rules.output) \(rules.error)")
        try topology.startDaemon()
        var result: [String: String] = [:]
        for outcome in try topology.craft(only: ["nonsyn_ack_data_v4", "nonsyn_ack_data_v6"]) {
            result[outcome.name] = outcome.outcome
        }
        // A real connection through an exception still carries data with the guard on.
        try topology.ctlSucceeding(["customer", "add", "c-1"])
        try topology.ctlSucceeding(["customer", "bind", "c-1", "100.64.0.10"])
        try topology.ctlSucceeding(
            [
                "exception", "grant", "c-1", "--to", "198.51.100.25", "--for", "1h", "--reason", "guard test",
                "--by", "e2e",
            ])
        var connected = false
        for _ in 0..<30 where !connected {
            connected = try topology.probe("198.51.100.25", 25).outcome == .connected
            if !connected { usleep(100_000) }
        }
        result["exception_connect"] = connected ? "connected" : "not connected"
        return result
    }

    @Test func withoutTheGuardAnUnjudgedSegmentReachesTheMX() throws {
        let result = try outcomes(guardOn: false)
        #expect(result["nonsyn_ack_data_v4"] == "reset", "\(result)")
        #expect(result["nonsyn_ack_data_v6"] == "reset", "\(result)")
        #expect(result["exception_connect"] == "connected")
    }

    @Test func withTheGuardAnUnjudgedSegmentIsDropped() throws {
        let result = try outcomes(guardOn: true)
        #expect(result["nonsyn_ack_data_v4"] == "silent", "\(result)")
        #expect(result["nonsyn_ack_data_v6"] == "silent", "\(result)")
        #expect(result["exception_connect"] == "connected", "an ordinary connection still works: \(result)")
    }
}
