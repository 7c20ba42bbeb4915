import Testing

@testable import NetfilterQueue

@Suite struct KernelQueueCountersTests {
    @Test func parsesProcLines() {
        let text = """
                0 3456789012     0 2   160  17     2      4242  1
                1  123     5 2   160     0     0    99  1

            """
        let counters = KernelQueueCounters.parse(text)
        #expect(counters.count == 2)
        #expect(counters[0].queueNumber == 0)
        #expect(counters[0].portID == 3_456_789_012)
        #expect(counters[0].queueDropped == 17 && counters[0].userDropped == 2 && counters[0].idSequence == 4242)
        #expect(counters[1].queueTotal == 5 && counters[1].copyRange == 160)
    }

    @Test func ignoresGarbage() {
        #expect(KernelQueueCounters.parse("queue portid\nx y z\n").isEmpty)
    }
}
