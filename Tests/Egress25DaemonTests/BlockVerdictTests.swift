import Egress25Configuration
import Egress25Core
import Egress25System
import NetfilterQueue
import Testing

@testable import Egress25Daemon

/// How a block becomes a verdict, and which configuration changes a reload must refuse.
@Suite struct BlockVerdictTests {
    @Test("the reject mark is written under the mask; other mark bits are kept, the owned bits overwritten")
    func markUnderMask() {
        let policy = BlockVerdictPolicy(action: .reject, rejectMark: 0x4000_0000, rejectMask: 0xC000_0000)
        // A foreign tool's bits outside the mask stay; bit 31, inside the mask, is cleared.
        #expect(policy.verdict(existingMark: 0x8000_0123) == .accept(mark: 0x4000_0123))
        #expect(policy.verdict(existingMark: 0) == .accept(mark: 0x4000_0000))
        // The default mask is the mark itself: the same as ORing the mark in.
        let plain = BlockVerdictPolicy(action: .reject, rejectMark: 0x25)
        #expect(plain.verdict(existingMark: 0x100) == .accept(mark: 0x125))
        #expect(BlockVerdictPolicy(action: .drop, rejectMark: 0x25).verdict(existingMark: 7) == .drop)
    }

    @Test("with nftables rules a block is NF_REPEAT with the mark, so chain judge resets it before any other chain")
    func repeatUnderNftables() {
        let setting = BlockVerdictSetting(BlockVerdictPolicy(action: .reject, rejectMark: 0x25))
        #expect(setting.current.verdict(existingMark: 0) == .accept(mark: 0x25))
        setting.setRepeatInJudgeChain(true)
        #expect(setting.current.verdict(existingMark: 0) == .repeat(mark: 0x25))
        setting.setAction(.drop)
        #expect(setting.current.verdict(existingMark: 0) == .drop)
        #expect(setting.current.rejectMark == 0x25 && setting.current.repeatInJudgeChain)
        setting.setAction(.reject)
        setting.setRepeatInJudgeChain(false)
        #expect(setting.current.verdict(existingMark: 0) == .accept(mark: 0x25))
    }

    static func configuration(_ extra: String = "", queue: String = "{ numbers: [0] }") throws -> Egress25Configuration
    {
        try ConfigurationLoader.parse(
            yaml: "queue: \(queue)\npolicy:\n  subscriber_ranges: [100.64.0.0/10]\n\(extra)", path: "t.yaml")
    }

    @Test("a reload that changes the mark, mask, queues, fail policy or queue length needs a restart")
    func restartOnlyChanges() throws {
        let base = try Self.configuration()
        #expect(Daemon.restartOnlyChange(from: base, to: try Self.configuration("  relay_hosts: [192.0.2.25]")) == nil)
        #expect(Daemon.restartOnlyChange(from: base, to: try Self.configuration("  block_action: drop")) == nil)
        #expect(
            Daemon.restartOnlyChange(from: base, to: try Self.configuration("  reject_mark: 0x40"))
                == "policy.reject_mark (0x25 -> 0x40)")
        #expect(
            Daemon.restartOnlyChange(from: base, to: try Self.configuration("  reject_mask: 0xff"))
                == "policy.reject_mask (0x25 -> 0xff)")
        #expect(
            Daemon.restartOnlyChange(from: base, to: try Self.configuration(queue: "{ numbers: [0, 1] }"))
                == "queue.numbers ([0] -> [0, 1])")
        #expect(
            Daemon.restartOnlyChange(from: base, to: try Self.configuration(queue: "{ fail_policy: open }"))
                == "queue.fail_policy (closed -> open)")
    }

    @Test("a reload names the settings read only at start (block log, metrics, store, node name) when they changed")
    func startOnlyChanges() throws {
        let base = try Self.configuration()
        #expect(Daemon.startOnlyChanges(from: base, to: try Self.configuration()).isEmpty)
        #expect(Daemon.startOnlyChanges(from: base, to: try Self.configuration("  block_action: drop")).isEmpty)
        #expect(
            Daemon.startOnlyChanges(from: base, to: try Self.configuration("block_log:\n  retention: 7d"))
                == ["block_log"])
        #expect(
            Daemon.startOnlyChanges(from: base, to: try Self.configuration("metrics:\n  listen: 127.0.0.1:9999"))
                == ["metrics"])
        #expect(
            Daemon.startOnlyChanges(from: base, to: try Self.configuration("node_name: edge-9")).contains("node_name"))
        #expect(
            Daemon.startOnlyChanges(from: base, to: try Self.configuration(queue: "{ numbers: [0], batch_size: 8 }"))
                == ["queue.batch_size"])
    }

    @Test("malformed packets are dropped, never marked: the reject rules match only complete SYNs")
    func malformedIsDropped() throws {
        // An IPv6 first fragment whose header chain ends inside a second destination options header.
        var packet = [UInt8](repeating: 0, count: 40 + 8 + 8)
        packet[0] = 0x60
        packet[5] = 16  // payload length: fragment header + one destination options header
        packet[6] = 44  // next: fragment
        packet[7] = 64
        packet[40] = 60  // fragment header: next = destination options, offset 0, M = 1
        packet[43] = 1
        packet[48] = 60  // destination options: next = destination options (not in this fragment)
        #expect(PacketParser.parse(packet) == .malformed(.extensionHeaderTruncated))
        let malformed = Decision(verdict: .block, reason: .malformed)
        let policy = BlockVerdictPolicy(action: .reject, rejectMark: 0x25, repeatInJudgeChain: true)
        #expect(policy.verdict(for: malformed, existingMark: 0) == .drop)
        let blocked = Decision(verdict: .block, reason: .blockedNoException)
        #expect(policy.verdict(for: blocked, existingMark: 0) == .repeat(mark: 0x25))
        // An accepted SYN carries the accept mark under the mask (0x20 under 0x25), the other bits kept.
        #expect(
            policy.verdict(for: Decision(verdict: .accept, reason: .relay(0)), existingMark: 0x105)
                == .accept(mark: 0x120))
    }
}

/// A block-log budget the machine cannot hold is refused with one line at start and by `--check-config`,
/// instead of aborting when the writer reserves its pool.
@Suite struct BlockLogMemoryBudgetTests {
    private var physicalBytes: Int64 { SystemMemory.physicalBytes ?? 0 }

    @Test func aBudgetAboveHalfThePhysicalMemoryIsRefused() throws {
        var settings = BlockLogSettings()
        settings.maxMemoryBytes = physicalBytes / 2 + (1 << 20)
        #expect {
            try Daemon.checkBlockLogMemory(settings)
        } throws: { error in
            "\(error)".contains("block_log.max_memory")
                && "\(error)".contains("more than half of this machine's memory")
        }
    }

    @Test func theDefaultBudgetIsAccepted() throws {
        try Daemon.checkBlockLogMemory(BlockLogSettings())
    }
}
