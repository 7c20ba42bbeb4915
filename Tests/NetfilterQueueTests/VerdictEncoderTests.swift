import Testing

@testable import NetfilterQueue

@Suite struct VerdictEncoderTests {
    private func encode(_ entries: [(UInt32, PacketVerdict)], queue: UInt16) -> [UInt8] {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 16)
        defer { storage.deallocate() }
        var encoder = VerdictEncoder(buffer: storage, queueNumber: queue)
        for (id, verdict) in entries { encoder.append(id: id, verdict: verdict) }
        return Array(encoder.bytes)
    }

    @Test func acceptVerdictCarriesTheIDBigEndian() {
        let bytes = encode([(0x0102_0304, .accept)], queue: 7)
        let expected: [UInt8] = [
            0x20, 0x00, 0x00, 0x00,  // nlmsg_len 32 (host order, little-endian here)
            0x01, 0x03,  // nlmsg_type: NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_VERDICT
            0x01, 0x00,  // NLM_F_REQUEST
            0, 0, 0, 0, 0, 0, 0, 0,  // seq, pid
            0x00, 0x00, 0x00, 0x07,  // nfgenmsg: AF_UNSPEC, NFNETLINK_V0, res_id = queue 7 big-endian
            0x0c, 0x00, 0x02, 0x00,  // nlattr len 12, NFQA_VERDICT_HDR
            0x00, 0x00, 0x00, 0x01,  // verdict NF_ACCEPT, big-endian
            0x01, 0x02, 0x03, 0x04,  // packet id 0x01020304, big-endian
        ]
        #expect(bytes == expected)
    }

    @Test func markedVerdictAppendsNFQAMark() {
        let bytes = encode([(0x0102_0304, .accept(mark: 0x25))], queue: 0)
        #expect(bytes.count == 40)
        #expect(bytes[0] == 40)
        #expect(Array(bytes[32...]) == [0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x25])
    }

    @Test func dropVerdictAndBatching() {
        let bytes = encode([(1, .drop), (0xFFFF_FFFE, .accept(mark: 0x8000_0000)), (3, .accept)], queue: 65535)
        #expect(bytes.count == 32 + 40 + 32)
        #expect(Array(bytes[16..<20]) == [0, 0, 0xff, 0xff])
        #expect(Array(bytes[24..<32]) == [0, 0, 0, 0, 0, 0, 0, 1])  // NF_DROP, id 1
        #expect(Array(bytes[56..<64]) == [0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe])
        #expect(Array(bytes[68..<72]) == [0x80, 0, 0, 0])
        #expect(Array(bytes[96..<104]) == [0, 0, 0, 1, 0, 0, 0, 3])
    }

    @Test func capacityIsBoundedByTheBuffer() {
        let storage = UnsafeMutableRawBufferPointer.allocate(
            byteCount: VerdictEncoder.maximumMessageSize * 2, alignment: 16)
        defer { storage.deallocate() }
        var encoder = VerdictEncoder(buffer: storage, queueNumber: 1)
        encoder.append(id: 1, verdict: .accept(mark: 1))
        #expect(encoder.hasCapacity)
        encoder.append(id: 2, verdict: .accept(mark: 1))
        #expect(!encoder.hasCapacity)
        encoder.reset()
        #expect(encoder.count == 0 && encoder.hasCapacity)
    }
}
