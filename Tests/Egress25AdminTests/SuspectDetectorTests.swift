import BlockLog
import Egress25Configuration
import Egress25Core
import Egress25Operations
import Foundation
import Testing

/// ``SuspectDetector`` on hand-made block-log rows (pure logic: no block log, no store).
@Suite struct SuspectDetectorTests {
    /// 2026-11-29T08:00:00Z, a multiple of 600 s.
    static let windowStart: Int64 = 1_795_939_200
    static let ms = windowStart * 1000

    static func row(
        _ source: String, _ destination: String, first: Int64, last: Int64? = nil, attempts: Int64 = 1,
        customer: String? = "cust-1", node: String = "edge-1"
    ) -> BlockedRecord {
        BlockedRecord(
            firstSeenMilliseconds: first, lastSeenMilliseconds: last ?? first,
            source: try! IPAddress(parsing: source), destination: try! IPAddress(parsing: destination),
            destinationPort: 25, attempts: attempts, syns: attempts, customer: customer, reason: .noException,
            exceptionID: nil, nodeName: node)
    }

    /// `count` distinct destinations 198.51.100.1… from `source`, one attempt each, 20 s apart (rate far below
    /// 100/min).
    static func fanOut(_ source: String, count: Int, from start: Int64 = ms) -> [BlockedRecord] {
        (0..<count).map { index in
            row(source, "198.51.100.\(index + 1)", first: start + Int64(index) * 20_000)
        }
    }

    @Test func twentyDistinctDestinationsIsASuspectAndNineteenIsNot() throws {
        let rows = Self.fanOut("192.0.2.20", count: 20) + Self.fanOut("192.0.2.19", count: 19)
        let suspects = SuspectDetector.suspects(records: rows, settings: AbuseSettings())
        #expect(suspects.map(\.source) == ["192.0.2.20"])
        let suspect = try #require(suspects.first)
        #expect(suspect.distinctDestinations == 20)
        #expect(suspect.attempts == 20)
        #expect(suspect.reasons == [.distinctDestinations])
        #expect(suspect.windowStart == Self.windowStart)
        #expect(suspect.windowEnd == Self.windowStart + 600)
        // 20 attempts over the 380 s between the first and the last: 20 / (380 / 60).
        #expect(abs(suspect.synsPerMinute - 20.0 / (380.0 / 60.0)) < 1e-9)
        #expect(suspect.firstSeenMilliseconds == Self.ms)
        #expect(suspect.lastSeenMilliseconds == Self.ms + 19 * 20_000)
    }

    @Test func aOneMinuteBurstCountsInFullAndASpreadRateDoesNot() throws {
        let rows = [
            // 100 attempts within 30 s: 100 per minute (the rate's minimum span is one minute).
            Self.row("192.0.2.1", "203.0.113.1", first: Self.ms + 1000, last: Self.ms + 31_000, attempts: 100),
            // 99 within 30 s: below the threshold.
            Self.row("192.0.2.2", "203.0.113.1", first: Self.ms + 1000, last: Self.ms + 31_000, attempts: 99),
            // 300 attempts in two rows spread over 4 minutes: 75 per minute.
            Self.row("192.0.2.3", "203.0.113.1", first: Self.ms, last: Self.ms + 60_000, attempts: 150),
            Self.row("192.0.2.3", "203.0.113.2", first: Self.ms + 180_000, last: Self.ms + 240_000, attempts: 150),
            // 400 over the same 4 minutes: 100 per minute exactly.
            Self.row("192.0.2.4", "203.0.113.1", first: Self.ms, last: Self.ms + 60_000, attempts: 200),
            Self.row("192.0.2.4", "203.0.113.2", first: Self.ms + 180_000, last: Self.ms + 240_000, attempts: 200),
        ]
        let suspects = SuspectDetector.suspects(records: rows, settings: AbuseSettings())
        #expect(suspects.map(\.source) == ["192.0.2.1", "192.0.2.4"])
        #expect(suspects.map(\.reasons) == [[.synsPerMinute], [.synsPerMinute]])
        #expect(suspects.map(\.synsPerMinute) == [100, 100])
    }

    @Test func bothReasonsAreListed() {
        var rows = Self.fanOut("192.0.2.9", count: 25)
        rows.append(Self.row("192.0.2.9", "203.0.113.9", first: Self.ms, last: Self.ms + 10_000, attempts: 1000))
        let suspects = SuspectDetector.suspects(records: rows, settings: AbuseSettings())
        #expect(suspects.map(\.reasons) == [[.distinctDestinations, .synsPerMinute]])
    }

    @Test func windowsAreAlignedAndRowsAttributedByFirstSeen() {
        var settings = AbuseSettings()
        settings.distinctDestinations = 2
        let second = Self.ms + 600_000
        let rows = [
            // The last millisecond of the first window, straddling into the second: the first window's.
            Self.row("192.0.2.1", "203.0.113.1", first: second - 1, last: second + 120_000),
            Self.row("192.0.2.1", "203.0.113.2", first: Self.ms + 5000),
            // The first millisecond of the second window.
            Self.row("192.0.2.1", "203.0.113.3", first: second),
            // Two destinations in the second window, one in the first.
            Self.row("192.0.2.2", "203.0.113.1", first: Self.ms + 100),
            Self.row("192.0.2.2", "203.0.113.2", first: second + 100),
            Self.row("192.0.2.2", "203.0.113.3", first: second + 200),
        ]
        let suspects = SuspectDetector.suspects(records: rows, settings: settings)
        #expect(suspects.map(\.source) == ["192.0.2.1", "192.0.2.2"])
        #expect(suspects.map(\.windowStart) == [Self.windowStart, Self.windowStart + 600])
        #expect(suspects.map(\.windowEnd) == [Self.windowStart + 600, Self.windowStart + 1200])
        #expect(suspects.first?.lastSeenMilliseconds == second + 120_000)
        #expect(suspects.map(\.distinctDestinations) == [2, 2])
    }

    @Test func aRangeCountsTheWindowsItOverlapsInFullAndNothingElse() {
        var settings = AbuseSettings()
        settings.distinctDestinations = 2
        let rows = [
            // The window before the range.
            Self.row("192.0.2.1", "203.0.113.1", first: Self.ms - 600_000),
            Self.row("192.0.2.1", "203.0.113.2", first: Self.ms - 1),
            // The range's window, before `since` (the window counts in full).
            Self.row("192.0.2.2", "203.0.113.1", first: Self.ms + 10_000),
            Self.row("192.0.2.2", "203.0.113.2", first: Self.ms + 500_000),
            // The window after the range's end: excluded.
            Self.row("192.0.2.3", "203.0.113.1", first: Self.ms + 600_000),
            Self.row("192.0.2.3", "203.0.113.2", first: Self.ms + 600_001),
        ]
        let suspects = SuspectDetector.suspects(
            records: rows, since: Self.windowStart + 300, until: Self.windowStart + 600, settings: settings)
        #expect(suspects.map(\.source) == ["192.0.2.2"])
        let all = SuspectDetector.suspects(records: rows, settings: settings)
        #expect(all.map(\.source) == ["192.0.2.1", "192.0.2.2", "192.0.2.3"])
        #expect(SuspectDetector.suspects(records: rows, since: 10, until: 10, settings: settings).isEmpty)
    }

    @Test func customerTopDestinationsAndNodes() throws {
        var rows = Self.fanOut("192.0.2.7", count: 20).map { row in
            var row = row
            row.customer = "cust-a"
            row.nodeName = "edge-2"
            return row
        }
        // cust-b holds the address in fewer rows but most attempts; a row without customer does not count.
        rows.append(Self.row("192.0.2.7", "198.51.100.5", first: Self.ms + 1000, attempts: 40, customer: "cust-b"))
        rows.append(Self.row("192.0.2.7", "198.51.100.9", first: Self.ms + 2000, attempts: 5, customer: nil))
        rows.append(Self.row("192.0.2.7", "198.51.100.12", first: Self.ms + 3000, attempts: 3, node: "edge-1"))
        let suspect = try #require(SuspectDetector.suspects(records: rows, settings: AbuseSettings()).first)
        #expect(suspect.customer == "cust-b")
        #expect(suspect.nodes == ["edge-1", "edge-2"])
        #expect(suspect.attempts == 20 + 40 + 5 + 3)
        // 41, 6, 4 attempts, then the 1-attempt destinations by address (numerically: .2 before .10).
        #expect(
            suspect.topDestinations == [
                "198.51.100.5", "198.51.100.9", "198.51.100.12", "198.51.100.1", "198.51.100.2", "198.51.100.3",
                "198.51.100.4", "198.51.100.6", "198.51.100.7", "198.51.100.8",
            ])
    }

    @Test func customerTiesGoToTheSmallestIDAndNoCustomerIsNil() throws {
        var settings = AbuseSettings()
        settings.distinctDestinations = 2
        let rows = [
            Self.row("192.0.2.1", "203.0.113.1", first: Self.ms, customer: "cust-z"),
            Self.row("192.0.2.1", "203.0.113.2", first: Self.ms, customer: "cust-m"),
            Self.row("192.0.2.2", "203.0.113.1", first: Self.ms, customer: nil),
            Self.row("192.0.2.2", "203.0.113.2", first: Self.ms, customer: nil),
        ]
        let suspects = SuspectDetector.suspects(records: rows, settings: settings)
        #expect(suspects.map(\.customer) == ["cust-m", nil])
    }

    @Test func ipv6SourcesAreCanonicalAndKeptApart() throws {
        var rows = Self.fanOut("2001:DB8:0:0::1", count: 20)
        rows += (0..<20).map { Self.row("2001:db8::2", "2001:db8:ffff::\(String($0 + 1, radix: 16))", first: Self.ms) }
        rows += Self.fanOut("2001:db8::3", count: 19)
        let suspects = SuspectDetector.suspects(records: rows, settings: AbuseSettings())
        try #require(suspects.map(\.source) == ["2001:db8::1", "2001:db8::2"])
        #expect(suspects[1].topDestinations.first == "2001:db8:ffff::1")
        #expect(suspects[1].distinctDestinations == 20)
    }

    @Test func theJSONHasSnakeCaseKeysAndRFC3339Times() throws {
        let suspect = Suspect(
            source: "2001:db8::1", customer: nil, windowStart: Self.windowStart, windowEnd: Self.windowStart + 600,
            attempts: 120, distinctDestinations: 3, synsPerMinute: 100.0 / 3.0, firstSeenMilliseconds: Self.ms + 1500,
            lastSeenMilliseconds: Self.ms + 181_500, topDestinations: ["203.0.113.1"], nodes: ["edge-1"],
            reasons: [.synsPerMinute])
        let data = try JSONEncoder().encode(suspect)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(
            Set(object.keys) == [
                "source", "customer", "window_start", "window_end", "attempts", "distinct_destinations",
                "syns_per_minute", "first_seen", "last_seen", "top_destinations", "nodes", "reasons",
            ])
        #expect(object["source"] as? String == "2001:db8::1")
        #expect(object["customer"] is NSNull)
        #expect(object["window_start"] as? String == "2026-11-29T08:00:00Z")
        #expect(object["window_end"] as? String == "2026-11-29T08:10:00Z")
        #expect(object["first_seen"] as? String == "2026-11-29T08:00:01.500Z")
        #expect(object["last_seen"] as? String == "2026-11-29T08:03:01.500Z")
        #expect(object["syns_per_minute"] as? Double == 33.33)
        #expect(object["reasons"] as? [String] == ["syns_per_minute"])
        #expect(object["attempts"] as? Int == 120)
    }
}
