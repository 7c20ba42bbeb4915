import Egress25TestSupport
import Testing

@testable import Egress25Core

/// Hand-built packets: RFC 791 (IPv4), RFC 8200 (IPv6 and extension headers), RFC 4302 (AH), RFC 9293 (TCP).
enum PacketBytes {
    static func tcp(
        sourcePort: UInt16 = 49152,
        destinationPort: UInt16 = 25,
        flags: UInt8 = 0x02,
        dataOffsetWords: UInt8 = 5,
        optionBytes: Int = 0
    ) -> [UInt8] {
        var bytes: [UInt8] = [
            UInt8(sourcePort >> 8), UInt8(sourcePort & 0xFF), UInt8(destinationPort >> 8),
            UInt8(destinationPort & 0xFF),
            0, 0, 0, 1,  // sequence
            0, 0, 0, 0,  // acknowledgment
            dataOffsetWords << 4, flags, 0xFF, 0xFF,  // data offset, flags, window
            0, 0, 0, 0,  // checksum, urgent pointer
        ]
        bytes += [UInt8](repeating: 1, count: optionBytes)  // NOP options
        return bytes
    }

    static func ipv4(
        source: [UInt8] = [100, 64, 1, 2],
        destination: [UInt8] = [198, 51, 100, 7],
        protocol proto: UInt8 = 6,
        ihlWords: UInt8 = 5,
        totalLength: Int? = nil,
        fragmentField: UInt16 = 0x4000,  // DF
        payload: [UInt8]
    ) -> [UInt8] {
        let headerBytes = max(Int(ihlWords), 5) * 4
        let total = totalLength ?? headerBytes + payload.count
        var bytes: [UInt8] = [
            0x40 | ihlWords, 0, UInt8(total >> 8), UInt8(total & 0xFF),
            0x12, 0x34, UInt8(fragmentField >> 8), UInt8(fragmentField & 0xFF),
            64, proto, 0, 0,
        ]
        bytes += source + destination
        bytes += [UInt8](repeating: 1, count: headerBytes - 20)  // IP options: NOP
        return bytes + payload
    }

    static let v6Source: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42]
    static let v6Destination: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x25]

    static func ipv6(nextHeader: UInt8, payloadLength: Int? = nil, payload: [UInt8]) -> [UInt8] {
        let length = payloadLength ?? payload.count
        var bytes: [UInt8] = [0x60, 0, 0, 0, UInt8(length >> 8), UInt8(length & 0xFF), nextHeader, 64]
        bytes += v6Source + v6Destination
        return bytes + payload
    }

    /// Hop-by-hop (0), routing (43) or destination options (60): length in 8-byte units beyond the first 8.
    static func options(next: UInt8, units: UInt8 = 0) -> [UInt8] {
        [next, units] + [UInt8](repeating: 0, count: 6 + Int(units) * 8)
    }

    static func fragment(next: UInt8, offset: UInt16, more: Bool) -> [UInt8] {
        let field = offset << 3 | (more ? 1 : 0)
        return [next, 0, UInt8(field >> 8), UInt8(field & 0xFF), 0xDE, 0xAD, 0xBE, 0xEF]
    }

    /// Authentication header: payload length in 4-byte units minus 2 (RFC 4302 section 2.2); 12 bytes + ICV.
    static func authentication(next: UInt8, icvBytes: Int = 12) -> [UInt8] {
        let total = 12 + icvBytes
        return [next, UInt8(total / 4 - 2), 0, 0] + [UInt8](repeating: 0xAA, count: total - 4)
    }
}

@Suite struct PacketParserTests {
    let v4Source = IPAddress.v4(IPv4Address(100, 64, 1, 2))
    let v4Destination = IPAddress.v4(IPv4Address(198, 51, 100, 7))
    let v6Source = IPAddress.v6(IPv6Address(high: 0x2001_0db8_0010_0000, low: 0x42))
    let v6Destination = IPAddress.v6(IPv6Address(high: 0x2001_0db8_ff00_0000, low: 0x25))

    @Test func ipv4SYN() {
        let packet = PacketBytes.ipv4(payload: PacketBytes.tcp(sourcePort: 40000, optionBytes: 20))
        let expected = Flow(
            source: v4Source, destination: v4Destination, sourcePort: 40000, destinationPort: 25, flags: .syn
        )
        #expect(PacketParser.parse(packet) == .tcp(expected))
    }

    @Test func ipv4WithOptionsAndFlags() {
        let packet = PacketBytes.ipv4(ihlWords: 7, payload: PacketBytes.tcp(destinationPort: 587, flags: 0x12))
        guard case .tcp(let flow) = PacketParser.parse(packet) else {
            Issue.record("expected TCP")
            return
        }
        #expect(flow.destinationPort == 587)
        #expect(flow.flags == [.syn, .ack])
        #expect(!flow.flags.isInitialSYN)
    }

    @Test func ipv4TruncatedAfterTCPHeaderIsFine() {
        // Copy range cut the packet after the 20 TCP header bytes; total length still says 60 + 100 data bytes.
        let full = PacketBytes.ipv4(payload: PacketBytes.tcp(optionBytes: 20) + [UInt8](repeating: 7, count: 100))
        let truncated = Array(full.prefix(40))
        guard case .tcp(let flow) = PacketParser.parse(truncated) else {
            Issue.record("expected TCP")
            return
        }
        #expect(flow.destinationPort == 25)
    }

    @Test func ipv4Malformed() {
        #expect(PacketParser.parse([UInt8]()) == .malformed(.empty))
        #expect(PacketParser.parse([0x45]) == .malformed(.truncatedIPHeader))
        #expect(PacketParser.parse(PacketBytes.ipv4(ihlWords: 4, payload: PacketBytes.tcp())) == .malformed(.badIHL))
        #expect(PacketParser.parse([0x40] + [UInt8](repeating: 0, count: 59)) == .malformed(.badIHL))
        // IHL 15 (60 bytes) but only 40 bytes present.
        let longHeader = PacketBytes.ipv4(ihlWords: 15, payload: [])
        #expect(PacketParser.parse(Array(longHeader.prefix(40))) == .malformed(.truncatedIPHeader))
        #expect(
            PacketParser.parse(PacketBytes.ipv4(totalLength: 19, payload: PacketBytes.tcp()))
                == .malformed(.badTotalLength)
        )
        // Total length says the TCP header does not fit.
        #expect(
            PacketParser.parse(PacketBytes.ipv4(totalLength: 30, payload: PacketBytes.tcp()))
                == .malformed(.badTotalLength)
        )
        #expect(
            PacketParser.parse(Array(PacketBytes.ipv4(payload: PacketBytes.tcp()).prefix(39)))
                == .malformed(.truncatedTCPHeader)
        )
        #expect(
            PacketParser.parse(PacketBytes.ipv4(payload: PacketBytes.tcp(dataOffsetWords: 4)))
                == .malformed(.badTCPDataOffset)
        )
        // Data offset 15 words (60 bytes) but the datagram holds only 20 TCP bytes.
        #expect(
            PacketParser.parse(PacketBytes.ipv4(payload: PacketBytes.tcp(dataOffsetWords: 15)))
                == .malformed(.badTCPDataOffset)
        )
        #expect(PacketParser.parse([0x55] + [UInt8](repeating: 0, count: 39)) == .malformed(.badVersion))
        #expect(PacketParser.parse([0x00]) == .malformed(.badVersion))
    }

    @Test func ipv4Fragments() {
        // Non-first fragment (offset 185 * 8 bytes): no TCP header.
        #expect(PacketParser.parse(PacketBytes.ipv4(fragmentField: 185, payload: [1, 2, 3])) == .nonFirstFragment)
        #expect(PacketParser.parse(PacketBytes.ipv4(fragmentField: 0x2001, payload: [])) == .nonFirstFragment)
        // First fragment (MF set, offset 0): parsed.
        guard case .tcp = PacketParser.parse(PacketBytes.ipv4(fragmentField: 0x2000, payload: PacketBytes.tcp()))
        else {
            Issue.record("expected TCP")
            return
        }
    }

    /// RFC 1858 tiny fragments: the kernel queues IPv4 first fragments whatever their port and flags, so the
    /// parser must judge one whose TCP header is cut by the fragment end as malformed, not guess the rest.
    @Test func ipv4TinyFirstFragments() {
        let syn = PacketBytes.tcp(destinationPort: 25, flags: 0x02)
        // First 8 bytes of the TCP header only (ports and sequence, no flags): the classic tiny fragment.
        #expect(
            PacketParser.parse(PacketBytes.ipv4(fragmentField: 0x2000, payload: Array(syn.prefix(8))))
                == .malformed(.badTotalLength))
        // 16 bytes: flags present, header still short of 20 bytes.
        #expect(
            PacketParser.parse(PacketBytes.ipv4(fragmentField: 0x2000, payload: Array(syn.prefix(16))))
                == .malformed(.badTotalLength))
        // DF bit set as well (0x6000): still a first fragment, still malformed.
        #expect(
            PacketParser.parse(PacketBytes.ipv4(fragmentField: 0x6000, payload: Array(syn.prefix(8))))
                == .malformed(.badTotalLength))
        // Complete 20-byte header, options announced by the data offset but left in the next fragment.
        let optionsCut = Array(PacketBytes.tcp(dataOffsetWords: 8, optionBytes: 12).prefix(24))
        #expect(
            PacketParser.parse(PacketBytes.ipv4(fragmentField: 0x2000, payload: optionsCut))
                == .malformed(.badTCPDataOffset))
        // Complete header plus 8 data bytes (44-byte first fragment): judged like any SYN.
        let complete = PacketBytes.ipv4(fragmentField: 0x2000, payload: syn + [UInt8](repeating: 0, count: 8))
        let expected = Flow(
            source: v4Source, destination: v4Destination, sourcePort: 49152, destinationPort: 25, flags: .syn)
        #expect(PacketParser.parse(complete) == .tcp(expected))
        // A complete first fragment that is not a SYN, to another port: parsed, so the policy accepts it.
        let ack = PacketBytes.ipv4(fragmentField: 0x2000, payload: PacketBytes.tcp(destinationPort: 443, flags: 0x10))
        guard case .tcp(let flow) = PacketParser.parse(ack) else {
            Issue.record("expected TCP")
            return
        }
        #expect(flow.destinationPort == 443 && flow.flags == .ack)
    }

    @Test func ipv4NotTCP() {
        #expect(
            PacketParser.parse(PacketBytes.ipv4(protocol: 17, payload: [0, 53, 0, 53, 0, 8, 0, 0]))
                == .notTCP(protocol: 17))
        #expect(PacketParser.parse(PacketBytes.ipv4(protocol: 1, payload: [8, 0, 0, 0])) == .notTCP(protocol: 1))
    }

    @Test func ipv6SYN() {
        let packet = PacketBytes.ipv6(nextHeader: 6, payload: PacketBytes.tcp(sourcePort: 50000, optionBytes: 20))
        let expected = Flow(
            source: v6Source, destination: v6Destination, sourcePort: 50000, destinationPort: 25, flags: .syn
        )
        #expect(PacketParser.parse(packet) == .tcp(expected))
    }

    @Test func ipv6SYNBehindHopByHopDestinationOptionsAndFragment() {
        let payload =
            PacketBytes.options(next: 60, units: 1)  // hop-by-hop, 16 bytes
            + PacketBytes.options(next: 44)  // destination options, 8 bytes
            + PacketBytes.fragment(next: 6, offset: 0, more: true)  // first fragment
            + PacketBytes.tcp(flags: 0x02)
        let packet = PacketBytes.ipv6(nextHeader: 0, payload: payload)
        guard case .tcp(let flow) = PacketParser.parse(packet) else {
            Issue.record("expected TCP, got \(PacketParser.parse(packet))")
            return
        }
        #expect(flow.destinationPort == 25)
        #expect(flow.source == v6Source)
        #expect(flow.flags.isInitialSYN)
    }

    @Test func ipv6RoutingAndAuthenticationHeaders() {
        let payload =
            PacketBytes.options(next: 51, units: 2)  // routing header, 24 bytes
            + PacketBytes.authentication(next: 6)  // AH, 24 bytes
            + PacketBytes.tcp(destinationPort: 465)
        guard case .tcp(let flow) = PacketParser.parse(PacketBytes.ipv6(nextHeader: 43, payload: payload)) else {
            Issue.record("expected TCP")
            return
        }
        #expect(flow.destinationPort == 465)
    }

    @Test func ipv6Fragments() {
        let nonFirst = PacketBytes.ipv6(
            nextHeader: 44, payload: PacketBytes.fragment(next: 6, offset: 181, more: false) + [1, 2])
        #expect(PacketParser.parse(nonFirst) == .nonFirstFragment)
        let behindHopByHop = PacketBytes.ipv6(
            nextHeader: 0,
            payload: PacketBytes.options(next: 44) + PacketBytes.fragment(next: 6, offset: 1, more: true) + [1]
        )
        #expect(PacketParser.parse(behindHopByHop) == .nonFirstFragment)
    }

    /// IPv6 first fragment (offset 0, M set) ending inside the TCP header: malformed (RFC 7112 wants the whole
    /// header chain in the first fragment).
    @Test func ipv6TinyFirstFragment() {
        let syn = PacketBytes.tcp(destinationPort: 25, flags: 0x02)
        let tiny = PacketBytes.ipv6(
            nextHeader: 44, payload: PacketBytes.fragment(next: 6, offset: 0, more: true) + Array(syn.prefix(8)))
        #expect(PacketParser.parse(tiny) == .malformed(.badTotalLength))
        let complete = PacketBytes.ipv6(
            nextHeader: 44, payload: PacketBytes.fragment(next: 6, offset: 0, more: true) + syn + [0, 0, 0, 0])
        let expected = Flow(
            source: v6Source, destination: v6Destination, sourcePort: 49152, destinationPort: 25, flags: .syn)
        #expect(PacketParser.parse(complete) == .tcp(expected))
    }

    @Test func ipv6UnknownNextHeaderIsNotTCP() {
        #expect(PacketParser.parse(PacketBytes.ipv6(nextHeader: 59, payload: [])) == .notTCP(protocol: 59))
        #expect(
            PacketParser.parse(PacketBytes.ipv6(nextHeader: 17, payload: [0, 53, 0, 53, 0, 8, 0, 0]))
                == .notTCP(protocol: 17))
        // Destination options then No Next Header, followed by bytes that look like a TCP header to port 25.
        let sneaky = PacketBytes.ipv6(nextHeader: 60, payload: PacketBytes.options(next: 59) + PacketBytes.tcp())
        #expect(PacketParser.parse(sneaky) == .notTCP(protocol: 59))
        #expect(
            PacketParser.parse(PacketBytes.ipv6(nextHeader: 50, payload: [0, 0, 0, 1, 0, 0, 0, 1]))
                == .notTCP(protocol: 50))
        #expect(PacketParser.parse(PacketBytes.ipv6(nextHeader: 58, payload: [128, 0, 0, 0])) == .notTCP(protocol: 58))
    }

    @Test func ipv6Malformed() {
        #expect(
            PacketParser.parse(Array(PacketBytes.ipv6(nextHeader: 6, payload: []).prefix(39)))
                == .malformed(.truncatedIPHeader))
        // Hop-by-hop header claims 8 * (1 + 10) bytes; only 8 present.
        let runsPast = PacketBytes.ipv6(nextHeader: 0, payload: [6, 10, 0, 0, 0, 0, 0, 0])
        #expect(PacketParser.parse(runsPast) == .malformed(.extensionHeaderTruncated))
        // Only one byte of an extension header.
        #expect(
            PacketParser.parse(PacketBytes.ipv6(nextHeader: 60, payload: [6])) == .malformed(.extensionHeaderTruncated))
        // Fragment header cut short.
        #expect(
            PacketParser.parse(PacketBytes.ipv6(nextHeader: 44, payload: [6, 0, 0, 0]))
                == .malformed(.extensionHeaderTruncated))
        // Extension header inside the buffer but past the IPv6 payload length.
        let pastPayloadLength = PacketBytes.ipv6(
            nextHeader: 60, payloadLength: 8,
            payload: PacketBytes.options(next: 60) + PacketBytes.options(next: 6) + PacketBytes.tcp()
        )
        #expect(PacketParser.parse(pastPayloadLength) == .malformed(.extensionHeaderTruncated))
        // Nine extension headers.
        var chain: [UInt8] = []
        for _ in 0..<8 { chain += PacketBytes.options(next: 60) }
        chain += PacketBytes.options(next: 6) + PacketBytes.tcp()
        #expect(
            PacketParser.parse(PacketBytes.ipv6(nextHeader: 60, payload: chain)) == .malformed(.tooManyExtensionHeaders)
        )
        // Eight are fine.
        var eight: [UInt8] = []
        for _ in 0..<7 { eight += PacketBytes.options(next: 60) }
        eight += PacketBytes.options(next: 6) + PacketBytes.tcp()
        guard case .tcp = PacketParser.parse(PacketBytes.ipv6(nextHeader: 60, payload: eight)) else {
            Issue.record("expected TCP after 8 extension headers")
            return
        }
        // TCP truncated in the buffer / past the payload length.
        let tcp = PacketBytes.ipv6(nextHeader: 6, payload: PacketBytes.tcp())
        #expect(PacketParser.parse(Array(tcp.prefix(55))) == .malformed(.truncatedTCPHeader))
        #expect(
            PacketParser.parse(PacketBytes.ipv6(nextHeader: 6, payloadLength: 12, payload: PacketBytes.tcp()))
                == .malformed(.badTotalLength))
        #expect(
            PacketParser.parse(PacketBytes.ipv6(nextHeader: 6, payload: PacketBytes.tcp(dataOffsetWords: 2)))
                == .malformed(.badTCPDataOffset))
    }

    @Test func ipv6TruncatedAfterTCPHeaderIsFine() {
        let full = PacketBytes.ipv6(
            nextHeader: 0,
            payload: PacketBytes.options(next: 6) + PacketBytes.tcp(optionBytes: 20) + [UInt8](repeating: 9, count: 500)
        )
        guard case .tcp(let flow) = PacketParser.parse(Array(full.prefix(128))) else {
            Issue.record("expected TCP")
            return
        }
        #expect(flow.destinationPort == 25)
    }

    /// Seeded property: 20,000 random inputs (random bytes behind an IPv4 or IPv6 version nibble, and valid
    /// subscriber SYNs with a few bytes overwritten and cut at a random length) each get a verdict from the judge,
    /// under every block action: never a trap; a malformed or non-first-fragment packet is dropped and not logged;
    /// any other packet is accepted with the accept mark or blocked with the reject mark under the mask (or
    /// dropped, for the action drop), and a blocked TCP SYN is logged with its ports.
    @Test func everyRandomInputGetsAVerdict() throws {
        var generator = SplitMix64(seed: 0xE925_0011)
        let snapshot = try PacketJudgeTests.snapshot()
        let policies = [
            BlockVerdictPolicy(action: .reject, rejectMark: 0x4000_0000, rejectMask: 0xC000_0000),
            BlockVerdictPolicy(action: .reject, rejectMark: 0x25, repeatInJudgeChain: true),
            BlockVerdictPolicy(action: .drop, rejectMark: 0x25),
        ]
        let seeds = [
            PacketJudgeTests.ipv4([100, 64, 1, 2], [198, 51, 100, 7]),
            PacketJudgeTests.ipv4([100, 64, 8, 1], [203, 0, 113, 9]),
            PacketBytes.ipv6(nextHeader: 6, payload: PacketBytes.tcp()),
            PacketBytes.ipv6(
                nextHeader: 0,
                payload: PacketBytes.options(next: 44) + PacketBytes.fragment(next: 6, offset: 0, more: true)
                    + PacketBytes.tcp()),
        ]
        var verdicts: [String: Int] = [:]
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                let count = Int.random(in: 0...96, using: &generator)
                bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
                if count > 0 { bytes[0] = Bool.random(using: &generator) ? 0x45 | (bytes[0] & 0x0F) : 0x60 }
            } else {
                bytes = seeds[Int.random(in: 0..<seeds.count, using: &generator)]
                for _ in 0..<Int.random(in: 0...3, using: &generator) {
                    let position = Int.random(in: 0..<bytes.count, using: &generator)
                    bytes[position] = UInt8.random(in: 0...255, using: &generator)
                }
                if Bool.random(using: &generator) {
                    bytes.removeLast(Int.random(in: 0...bytes.count, using: &generator))
                }
            }
            let mark = UInt32.random(in: 0...UInt32.max, using: &generator)
            let ipv6 = bytes.first.map { $0 >> 4 == 6 } ?? false
            let blockVerdict = policies[round % policies.count]
            let judgement = PacketJudgeTests.judge(
                bytes, mark: mark, ipv6: ipv6, snapshot: snapshot, blockVerdict: blockVerdict)
            let parsed = PacketParser.parse(bytes)
            let accepted = JudgeVerdict.accept(mark: mark & ~blockVerdict.rejectMask | blockVerdict.acceptMark)
            let rejectMark = mark & ~blockVerdict.rejectMask | blockVerdict.rejectMark
            #expect((0..<ReasonCounter.slots).contains(judgement.reasonSlot))
            #expect(judgement.reasonSlot % 2 == (ipv6 ? 1 : 0))
            switch parsed {
            case .malformed, .nonFirstFragment:
                #expect(judgement.verdict == .drop, "\(bytes)")
                #expect(judgement.decision.reason == .malformed)
                #expect(judgement.blockedAttempt == nil)
            case .notTCP:
                #expect(judgement.verdict == accepted, "\(bytes)")
                #expect(judgement.blockedAttempt == nil)
            case .tcp(let flow):
                if judgement.decision.verdict == .accept {
                    #expect(judgement.verdict == accepted, "\(bytes)")
                    #expect(judgement.blockedAttempt == nil)
                } else {
                    switch (blockVerdict.action, blockVerdict.repeatInJudgeChain) {
                    case (.drop, _): #expect(judgement.verdict == .drop)
                    case (.reject, true): #expect(judgement.verdict == .repeat(mark: rejectMark))
                    case (.reject, false): #expect(judgement.verdict == .accept(mark: rejectMark))
                    }
                    #expect(judgement.blockedAttempt?.sourcePort == flow.sourcePort)
                    #expect(judgement.blockedAttempt?.destinationPort == flow.destinationPort)
                }
            }
            switch judgement.verdict {
            case .accept: verdicts["accept", default: 0] += 1
            case .drop: verdicts["drop", default: 0] += 1
            case .repeat: verdicts["repeat", default: 0] += 1
            }
            verdicts["\(judgement.decision.reason.label)", default: 0] += 1
        }
        // The inputs reach every verdict and the main reasons.
        for key in ["accept", "drop", "repeat", "malformed", "blocked_no_exception", "exception", "not_initial_syn"] {
            #expect(verdicts[key, default: 0] > 0, "\(key): \(verdicts)")
        }
    }
}
