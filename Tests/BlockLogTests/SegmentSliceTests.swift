import BlockLog
import Egress25Core
import Egress25TestSupport
import Foundation
import Testing

@Suite struct SegmentSliceTests {
    @Test func hourlyAndDailyNames() {
        let at = instant("2026-11-29T07:45:12Z") + 345
        #expect(SegmentSlice(containing: at, lengthSeconds: 3600).fileName == "blocked-2026-11-29T07.sqlite")
        #expect(SegmentSlice(containing: at, lengthSeconds: 86400).fileName == "blocked-2026-11-29.sqlite")
        let slice = SegmentSlice(containing: at, lengthSeconds: 3600)
        #expect(slice.startSeconds * 1000 == instant("2026-11-29T07:00:00Z"))
        #expect(SegmentSlice(fileName: slice.fileName) == slice)
        #expect(
            SegmentSlice(fileName: "blocked-2026-11-29.sqlite") == SegmentSlice(containing: at, lengthSeconds: 86400))
    }

    @Test func acrossMidnightUTC() {
        let before = instant("2026-12-31T23:59:59Z") + 999
        let after = before + 1
        #expect(SegmentSlice(containing: before, lengthSeconds: 3600).fileName == "blocked-2026-12-31T23.sqlite")
        #expect(SegmentSlice(containing: after, lengthSeconds: 3600).fileName == "blocked-2027-01-01T00.sqlite")
        #expect(SegmentSlice(containing: before, lengthSeconds: 86400).fileName == "blocked-2026-12-31.sqlite")
        #expect(SegmentSlice(containing: after, lengthSeconds: 86400).fileName == "blocked-2027-01-01.sqlite")
        #expect(
            SegmentSlice(containing: before, lengthSeconds: 3600).next
                == SegmentSlice(containing: after, lengthSeconds: 3600))
    }

    @Test func rejectsOtherNames() {
        for name in [
            "blocked-2026-11-29T07.sqlite-wal", "blocked-2026-11-29T24.sqlite", "blocked-2026-02-30.sqlite",
            "blocked-2026-13-01.sqlite", "exceptions.sqlite", "blocked-2026-11-29T7.sqlite", "blocked-.sqlite",
        ] {
            #expect(SegmentSlice(fileName: name) == nil, "\(name)")
        }
    }

    /// Under TZ=Europe/Berlin, every hour across both 2026 daylight-saving changes (29 March 01:00Z,
    /// 25 October 01:00Z) gets exactly one slice: consecutive, no duplicate, no gap, and the writer
    /// names the files it creates the same way.
    @Test func berlinDaylightSavingChangesNeitherDuplicateNorSkip() throws {
        setenv("TZ", "Europe/Berlin", 1)
        tzset()
        defer {
            unsetenv("TZ")
            tzset()
        }
        // Local time really does jump here: 02:00 local is skipped in March and repeated in October.
        var local = tm()
        var springUTC = time_t(instant("2026-03-29T01:30:00Z") / 1000)
        localtime_r(&springUTC, &local)
        #expect(local.tm_hour == 3)
        for (start, end) in [
            ("2026-03-28T20:00:00Z", "2026-03-29T06:00:00Z"), ("2026-10-24T20:00:00Z", "2026-10-25T06:00:00Z"),
        ] {
            var names: [String] = []
            var time = instant(start)
            while time < instant(end) {
                names.append(SegmentSlice(containing: time, lengthSeconds: 3600).fileName)
                time += 15 * 60 * 1000
            }
            let distinct = Array(Set(names)).sorted()
            #expect(distinct.count == 10)
            for (first, second) in zip(distinct, distinct.dropFirst()) {
                #expect(SegmentSlice(fileName: first)!.next == SegmentSlice(fileName: second)!)
            }
        }

        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let clock = ManualClock(instant("2026-10-25T00:10:00Z"))
        let (writer, ring) = try makeWriter(directory.blockLog, clock: clock)
        for hour in 0..<4 {
            let time = instant("2026-10-25T00:10:00Z") + Int64(hour) * 3_600_000
            clock.set(time)
            push(ring, [attempt(time, port: UInt16(1000 + hour))])
            writer.flush()
        }
        writer.shutdown()
        #expect(
            fileNames(directory.blockLog) == [
                "blocked-2026-10-25T00.sqlite", "blocked-2026-10-25T01.sqlite", "blocked-2026-10-25T02.sqlite",
                "blocked-2026-10-25T03.sqlite",
            ])
    }
}
