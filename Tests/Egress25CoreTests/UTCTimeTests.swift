import Testing

@testable import Egress25Core

@Suite struct UTCTimeTests {
    @Test(arguments: [
        ("45s", Int64(45)), ("90m", 5400), ("12h", 43200), ("30d", 2_592_000), ("2w", 1_209_600), ("0s", 0),
        ("1h30m", 5400), ("1d12h", 129_600),
    ])
    func parsesDurations(text: String, seconds: Int64) throws {
        #expect(try UTCTime.parseDuration(text) == seconds)
    }

    @Test(arguments: [
        ("", "empty duration"),
        ("45", "missing unit after \"45\" (use s, m, h, d or w)"),
        ("5y", "unknown unit 'y' (use s, m, h, d or w)"),
        ("h", "expected a number at position 1, found 'h'"),
        ("-5m", "expected a number at position 1, found '-'"),
        ("1h 30m", "expected a number at position 3, found space"),
        ("99999999999999999999s", "duration is too large"),
        ("9999999999999999w", "duration is too large"),
    ])
    func rejectsDurations(text: String, reason: String) {
        #expect(throws: TimeParseError(input: text, reason: reason)) {
            try UTCTime.parseDuration(text)
        }
    }

    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("2026-11-29T07:45:00Z", 1_795_938_300),
        ("2026-11-29T09:45:00+02:00", 1_795_938_300),
        ("2026-11-29T02:15:00-05:30", 1_795_938_300),
        ("2026-11-29t07:45:00z", 1_795_938_300),
        ("2026-11-29 07:45:00Z", 1_795_938_300),
        ("2026-11-29T07:45:00.999Z", 1_795_938_300),
        ("2026-11-29", 1_795_910_400),
        ("2000-02-29T00:00:00Z", 951_782_400),
        ("1969-12-31T23:59:59Z", -1),
        ("2016-12-31T23:59:60Z", 1_483_228_800),
        ("9999-12-31T23:59:59Z", 253_402_300_799),
    ])
    func parsesRFC3339(text: String, seconds: Int64) throws {
        #expect(try UTCTime.parseRFC3339(text) == seconds)
    }

    @Test(arguments: [
        ("", "empty time"),
        ("2026-13-01T00:00:00Z", "month 13 is out of range 1...12"),
        ("2026-02-29T00:00:00Z", "day 29 is out of range 1...28 for 2026-02"),
        ("2026-11-31T00:00:00Z", "day 31 is out of range 1...30 for 2026-11"),
        ("2026-11-29T24:00:00Z", "hour 24 is out of range 0...23"),
        ("2026-11-29T07:60:00Z", "minute 60 is out of range 0...59"),
        ("2026-11-29T07:45:61Z", "second 61 is out of range 0...60"),
        ("2026-11-29T07:45:00", "missing time zone offset (add 'Z' for UTC or an offset like +02:00)"),
        ("2026-11-29T07:45", "text ends after the minute, expected ':'"),
        ("2026-11-29T07:45:00.Z", "fractional seconds are empty at position 21"),
        ("2026-11-29T07:45:00+0200", "expected ':' after the offset hour at position 23, found '0'"),
        ("2026-11-29T07:45:00Zjunk", "unexpected text after the time zone at position 21"),
        ("2026-11-29X07:45:00Z", "expected 'T' after the date at position 11, found 'X'"),
        ("26-11-29T07:45:00Z", "year: expected 4 digits at position 1, found '-'"),
        ("2026/11/29", "expected '-' after the year at position 5, found '/'"),
    ])
    func rejectsRFC3339(text: String, reason: String) {
        #expect(throws: TimeParseError(input: text, reason: reason)) {
            try UTCTime.parseRFC3339(text)
        }
    }

    @Test func parsesInstants() throws {
        let now: Int64 = 1_795_938_300
        #expect(try UTCTime.parseInstant("12h", now: now, durationIsPast: true) == now - 43200)
        #expect(try UTCTime.parseInstant("30d", now: now, durationIsPast: false) == now + 2_592_000)
        #expect(try UTCTime.parseInstant("now", now: now, durationIsPast: true) == now)
        #expect(try UTCTime.parseInstant("2026-11-29T07:45:00Z", now: 0, durationIsPast: true) == now)
        #expect(throws: TimeParseError(input: "2026-13-01T00:00:00Z", reason: "month 13 is out of range 1...12")) {
            try UTCTime.parseInstant("2026-13-01T00:00:00Z", now: now, durationIsPast: true)
        }
        #expect(
            throws: TimeParseError(
                input: "yesterday",
                reason: "expected an RFC 3339 time (2026-11-29T07:45:00Z) or a duration (90m, 12h, 30d): "
                    + "expected a number at position 1, found 'y'"
            )
        ) {
            try UTCTime.parseInstant("yesterday", now: now, durationIsPast: true)
        }
    }

    @Test func formats() {
        #expect(UTCTime.format(0) == "1970-01-01T00:00:00Z")
        #expect(UTCTime.format(1_795_938_300) == "2026-11-29T07:45:00Z")
        #expect(UTCTime.format(-1) == "1969-12-31T23:59:59Z")
        #expect(UTCTime.format(951_782_400) == "2000-02-29T00:00:00Z")
        #expect(UTCTime.formatMilliseconds(1_795_938_300_123) == "2026-11-29T07:45:00.123Z")
        #expect(UTCTime.formatMilliseconds(1_795_938_300_007) == "2026-11-29T07:45:00.007Z")
        #expect(UTCTime.formatMilliseconds(-1) == "1969-12-31T23:59:59.999Z")
    }

    @Test func formatAndParseRoundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5000 {
            let seconds = Int64.random(in: -2_000_000_000...253_402_300_799, using: &generator)
            let text = UTCTime.format(seconds)
            if seconds >= -62_135_596_800 {  // four-digit years only
                #expect(try UTCTime.parseRFC3339(text) == seconds, "\(text)")
            }
        }
    }

    @Test func nowIsPlausible() {
        let now = UTCTime.now()
        #expect(now > 1_700_000_000)
        #expect(abs(UTCTime.nowMilliseconds() / 1000 - now) <= 1)
    }
}

/// `--expires 2026-12-31`: a date alone is the end of that day in UTC.
@Suite struct UTCTimeExpiryTests {
    @Test func aBareDateIsTheEndOfThatDay() throws {
        let now = try UTCTime.parseRFC3339("2026-11-29T08:00:00Z")
        #expect(try UTCTime.parseExpiry("2026-12-31", now: now) == UTCTime.parseRFC3339("2027-01-01T00:00:00Z"))
        #expect(try UTCTime.parseExpiry("2026-11-29", now: now) == UTCTime.parseRFC3339("2026-11-30T00:00:00Z"))
        // Everything else as parseInstant: times, durations from now.
        #expect(
            try UTCTime.parseExpiry("2026-12-31T23:00:00Z", now: now) == UTCTime.parseRFC3339("2026-12-31T23:00:00Z"))
        #expect(try UTCTime.parseExpiry("30d", now: now) == now + 30 * 86400)
        #expect(throws: TimeParseError.self) { try UTCTime.parseExpiry("2026-13-01", now: now) }
    }

    /// Found by schemathesis against egress25-admin: `since=46972499d` gave year -126578, answered as a time no
    /// RFC 3339 reader takes. Instants are kept to years 0001...9999 (`UTCTime.instantRange`).
    @Test func instantsBeyondTheFourDigitYearsAreRefused() throws {
        let now = try UTCTime.parseRFC3339("2026-11-29T08:00:00Z")
        #expect(throws: TimeParseError.self) { try UTCTime.parseInstant("46972499d", now: now, durationIsPast: true) }
        #expect(throws: TimeParseError.self) { try UTCTime.parseInstant("999999999w", now: now, durationIsPast: false) }
        #expect(throws: TimeParseError.self) {
            try UTCTime.parseInstant("9223372036854775000s", now: now, durationIsPast: false)  // now + it overflows
        }
        #expect(throws: TimeParseError.self) {
            try UTCTime.parseInstant("0000-12-31T23:59:59Z", now: now, durationIsPast: true)
        }
        #expect(throws: TimeParseError.self) { try UTCTime.parseExpiry("9999-12-31", now: now) }
        #expect(throws: TimeParseError.self) {
            try UTCTime.parseExpiry("9999-12-31T23:59:59-01:00", now: now)
        }
        let error = #expect(throws: TimeParseError.self) {
            try UTCTime.parseInstant("46972499d", now: now, durationIsPast: true)
        }
        #expect(error?.reason == "before 0001-01-01T00:00:00Z, the earliest time")
        // The ends themselves are times.
        #expect(try UTCTime.parseInstant("0001-01-01T00:00:00Z", now: now, durationIsPast: true) == -62_135_596_800)
        #expect(try UTCTime.parseExpiry("9999-12-30", now: now) == UTCTime.parseRFC3339("9999-12-31T00:00:00Z"))
        #expect(try UTCTime.parseExpiry("9999-12-31T23:59:59Z", now: now) == 253_402_300_799)
        #expect(try UTCTime.parseInstant("100000w", now: now, durationIsPast: true) == now - 100_000 * 604_800)
    }
}
