import BlockLog
import Egress25Core
import Egress25TestSupport
import Foundation
import Testing

@Suite struct BlockLogRetentionTests {
    let start = instant("2026-11-29T00:05:00Z")

    /// Segments whose slice ended more than `retention` ago are deleted, oldest first, each deletion logged;
    /// newer ones stay.
    @Test func deletesByAge() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let logs = CapturedLogs()
        let clock = ManualClock(start)
        let configuration = BlockLogConfiguration(retentionSeconds: 2 * 3600)
        let (writer, ring) = try makeWriter(directory.blockLog, clock: clock, configuration: configuration, logs: logs)
        for hour in 0..<6 {
            let time = start + Int64(hour) * 3_600_000
            clock.set(time)
            push(ring, [attempt(time, port: 1)])
            writer.flush()
        }
        // now = 05:05: slices ending at or before 03:05 are expired: 00, 01, 02.
        #expect(
            fileNames(directory.blockLog) == [
                "blocked-2026-11-29T03.sqlite", "blocked-2026-11-29T04.sqlite", "blocked-2026-11-29T05.sqlite",
            ])
        #expect(logs.count(containing: "deleted segment") == 3)
        #expect(logs.count(containing: "file=blocked-2026-11-29T00.sqlite reason=retention") == 1)
        #expect(writer.statistics.segmentsDeleted == 3)
        // Files that are not segments are never touched.
        #expect(FileManager.default.createFile(atPath: directory.blockLog + "/notes.txt", contents: Data()))
        clock.advance(by: 3 * 3_600_000)
        writer.flush()
        writer.shutdown()
        #expect(FileManager.default.fileExists(atPath: directory.blockLog + "/notes.txt"))
    }

    /// Over 100 hourly rotations with a size cap of a few segments: after every rotation all segment files
    /// (with -wal/-shm) fit in max_bytes, the count of files stays bounded, the oldest go first, and the
    /// segment being written is never deleted even when it alone exceeds the cap.
    @Test func sizeCapHoldsOver100Rotations() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let logs = CapturedLogs()
        let clock = ManualClock(start)
        let maxBytes: Int64 = 400 * 1024
        let configuration = BlockLogConfiguration(retentionSeconds: 365 * 86400, maxBytes: maxBytes)
        let (writer, ring) = try makeWriter(directory.blockLog, clock: clock, configuration: configuration, logs: logs)
        var totals: [Int64] = []
        for hour in 0..<100 {
            let time = start + Int64(hour) * 3_600_000
            clock.set(time)
            push(ring, (0..<300).map { attempt(time + Int64($0), to: "192.0.2.\($0 % 250 + 1)", port: UInt16($0)) })
            writer.flush()
            let files = SegmentDirectory.list(directory.blockLog)
            let total = files.reduce(0) { $0 + $1.bytes }
            totals.append(total)
            #expect(total <= maxBytes, "rotation \(hour): \(total) bytes in \(files.count) files")
            #expect(files.last?.slice == SegmentSlice(containing: time, lengthSeconds: 3600))
            #expect(writer.statistics.bytesOnDisk == total)
        }
        let files = SegmentDirectory.list(directory.blockLog)
        #expect(files.count >= 2)
        // Contiguous newest slices remain: oldest-first deletion.
        for (older, newer) in zip(files, files.dropFirst()) { #expect(older.slice.next == newer.slice) }
        // No ratchet: the last 50 rotations use no more room than the cap allowed in the first 50.
        #expect(totals.suffix(50).max()! <= max(totals.prefix(50).max()!, maxBytes))
        #expect(logs.count(containing: "reason=max_bytes") == 100 - files.count)
        writer.shutdown()

        // The segment being written is kept even when it alone is over the cap.
        let tiny = TemporaryDirectory()
        defer { tiny.cleanup() }
        let (small, smallRing) = try makeWriter(
            tiny.blockLog, clock: clock, configuration: BlockLogConfiguration(maxBytes: 1024), logs: logs)
        push(smallRing, [attempt(clock.nowMilliseconds(), port: 1)])
        small.flush()
        small.flush()
        #expect(fileNames(tiny.blockLog).count == 1)
        small.shutdown()
    }
}
