import Egress25System

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// UTC time helpers: durations, RFC 3339 timestamps, and formatting. Times are Unix seconds (UTC, leap seconds
/// not counted, as POSIX `time_t`). Pure integer arithmetic, no Foundation, no time zone database.
public enum UTCTime {
    /// Seconds per duration unit: `s` 1, `m` 60, `h` 3600, `d` 86400, `w` 604800.
    static func unitSeconds(_ byte: UInt8) -> Int64? {
        switch byte {
        case UInt8(ascii: "s"): return 1
        case UInt8(ascii: "m"): return 60
        case UInt8(ascii: "h"): return 3600
        case UInt8(ascii: "d"): return 86400
        case UInt8(ascii: "w"): return 604_800
        default: return nil
        }
    }

    /// Parses a duration: a number and a unit (`s`, `m`, `h`, `d`, `w`), e.g. `"45s"`, `"90m"`, `"12h"`,
    /// `"30d"`, `"2w"`; several may be combined (`"1h30m"`).
    /// - Returns: The duration in seconds (>= 0).
    /// - Throws: `TimeParseError` for an empty text, a missing number or unit, an unknown unit, or overflow.
    public static func parseDuration(_ text: String) throws(TimeParseError) -> Int64 {
        func fail(_ reason: String) -> TimeParseError { TimeParseError(input: text, reason: reason) }
        let bytes = Array(text.utf8)
        if bytes.isEmpty { throw fail("empty duration") }
        var total: Int64 = 0
        var index = 0
        while index < bytes.count {
            let start = index
            var number: Int64 = 0
            var overflow = false
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                let (times10, o1) = number.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(Int64(bytes[index] - 0x30))
                overflow = overflow || o1 || o2
                number = sum
                index += 1
            }
            let numberText = String(decoding: bytes[start..<index], as: UTF8.self)
            if index == start {
                throw fail(
                    "expected a number at position \(index + 1), found \(AddressTextParser.describe(bytes[index]))")
            }
            if index == bytes.count {
                throw fail("missing unit after \"\(numberText)\" (use s, m, h, d or w)")
            }
            guard let unit = unitSeconds(bytes[index]) else {
                throw fail("unknown unit \(AddressTextParser.describe(bytes[index])) (use s, m, h, d or w)")
            }
            index += 1
            let (seconds, o3) = number.multipliedReportingOverflow(by: unit)
            let (sum, o4) = total.addingReportingOverflow(seconds)
            if overflow || o3 || o4 { throw fail("duration is too large") }
            total = sum
        }
        return total
    }

    /// Parses an RFC 3339 date-time (`"2026-11-29T07:45:00Z"`, `"2026-11-29T09:45:00+02:00"`,
    /// `"2026-11-29T07:45:00.123Z"`; `t`, `z` and a space separator are accepted as RFC 3339 section 5.6 allows).
    /// A bare full-date (`"2026-11-29"`) is read as midnight UTC. Fractional seconds are truncated.
    /// A leap second (`:60`) is read as the following second, as POSIX `timegm` does.
    /// - Returns: Unix seconds (UTC).
    /// - Throws: `TimeParseError` naming the field that is missing or out of range.
    public static func parseRFC3339(_ text: String) throws(TimeParseError) -> Int64 {
        func fail(_ reason: String) -> TimeParseError { TimeParseError(input: text, reason: reason) }
        let bytes = Array(text.utf8)
        var index = 0

        func digits(_ count: Int, _ name: String) throws(TimeParseError) -> Int64 {
            var value: Int64 = 0
            for offset in 0..<count {
                guard index + offset < bytes.count else {
                    throw fail("\(name) is incomplete: expected \(count) digits at position \(index + 1)")
                }
                let byte = bytes[index + offset]
                guard byte >= 0x30 && byte <= 0x39 else {
                    throw fail(
                        "\(name): expected \(count) digits at position \(index + 1), "
                            + "found \(AddressTextParser.describe(byte))"
                    )
                }
                value = value * 10 + Int64(byte - 0x30)
            }
            index += count
            return value
        }
        func expect(_ byte: UInt8, after name: String) throws(TimeParseError) {
            guard index < bytes.count else {
                throw fail("text ends after the \(name), expected \(AddressTextParser.describe(byte))")
            }
            guard bytes[index] == byte else {
                throw fail(
                    "expected \(AddressTextParser.describe(byte)) after the \(name) at position \(index + 1), "
                        + "found \(AddressTextParser.describe(bytes[index]))"
                )
            }
            index += 1
        }
        /// `count` digits named `name`, whose value must lie in `range`.
        func number(_ count: Int, _ name: String, in range: ClosedRange<Int64>) throws(TimeParseError) -> Int64 {
            let value = try digits(count, name)
            guard range.contains(value) else {
                throw fail("\(name) \(value) is out of range \(range.lowerBound)...\(range.upperBound)")
            }
            return value
        }

        if bytes.isEmpty { throw fail("empty time") }
        let year = try digits(4, "year")
        try expect(UInt8(ascii: "-"), after: "year")
        let month = try number(2, "month", in: 1...12)
        try expect(UInt8(ascii: "-"), after: "month")
        let day = try digits(2, "day")
        let monthDays = daysInMonth(year: year, month: month)
        guard day >= 1 && day <= monthDays else {
            throw fail("day \(day) is out of range 1...\(monthDays) for \(pad(year, 4))-\(pad(month, 2))")
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        if index == bytes.count {
            return days * 86400
        }
        guard [UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")].contains(bytes[index]) else {
            throw fail(
                "expected 'T' after the date at position \(index + 1), "
                    + "found \(AddressTextParser.describe(bytes[index]))"
            )
        }
        index += 1
        let hour = try number(2, "hour", in: 0...23)
        try expect(UInt8(ascii: ":"), after: "hour")
        let minute = try number(2, "minute", in: 0...59)
        try expect(UInt8(ascii: ":"), after: "minute")
        let second = try number(2, "second", in: 0...60)
        if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
            if index == start { throw fail("fractional seconds are empty at position \(index + 1)") }
        }
        guard index < bytes.count else {
            throw fail("missing time zone offset (add 'Z' for UTC or an offset like +02:00)")
        }
        var offset: Int64 = 0
        switch bytes[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign: Int64 = bytes[index] == UInt8(ascii: "+") ? 1 : -1
            index += 1
            let offsetHour = try number(2, "offset hour", in: 0...23)
            try expect(UInt8(ascii: ":"), after: "offset hour")
            let offsetMinute = try number(2, "offset minute", in: 0...59)
            offset = sign * (offsetHour * 3600 + offsetMinute * 60)
        default:
            throw fail(
                "expected 'Z' or an offset like +02:00 at position \(index + 1), "
                    + "found \(AddressTextParser.describe(bytes[index]))"
            )
        }
        if index != bytes.count {
            throw fail("unexpected text after the time zone at position \(index + 1)")
        }
        return days * 86400 + hour * 3600 + minute * 60 + second - offset
    }

    /// Parses an absolute RFC 3339 time (see `parseRFC3339`), `"now"`, or a duration relative to `now`
    /// (see `parseDuration`): `now - duration` when `durationIsPast` (e.g. `--since 12h`), else `now + duration`
    /// (e.g. `--for 30d`).
    /// - Returns: Unix seconds (UTC), in ``instantRange``.
    /// - Throws: `TimeParseError`; text that starts like a date gets the RFC 3339 reason, other text the
    ///   duration reason; a time outside ``instantRange`` is refused.
    public static func parseInstant(_ text: String, now: Int64, durationIsPast: Bool) throws(TimeParseError) -> Int64 {
        if text == "now" { return now }
        let bytes = Array(text.utf8)
        let looksLikeDate =
            bytes.count >= 5 && bytes[0...3].allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
            && bytes[4] == UInt8(ascii: "-")
        if looksLikeDate {
            return try inRange(parseRFC3339(text), text)
        }
        let duration: Int64
        do {
            duration = try parseDuration(text)
        } catch {
            throw TimeParseError(
                input: text,
                reason:
                    "expected an RFC 3339 time (2026-11-29T07:45:00Z) or a duration (90m, 12h, 30d): \(error.reason)"
            )
        }
        let (instant, overflow) =
            durationIsPast ? now.subtractingReportingOverflow(duration) : now.addingReportingOverflow(duration)
        return try inRange(overflow ? (durationIsPast ? .min : .max) : instant, text)
    }

    /// The instants ``parseInstant(_:now:durationIsPast:)`` and ``parseExpiry(_:now:)`` return:
    /// 0001-01-01T00:00:00Z ... 9999-12-31T23:59:59Z, the times RFC 3339 can write with a four-digit year (year 0000
    /// left out: many readers refuse it). A duration reaching past either end is refused, not wrapped into a time
    /// that cannot be written.
    public static let instantRange: ClosedRange<Int64> = -62_135_596_800...253_402_300_799

    /// `instant` when it lies in ``instantRange``.
    /// - Throws: `TimeParseError` naming the end it is beyond.
    static func inRange(_ instant: Int64, _ text: String) throws(TimeParseError) -> Int64 {
        if instant < instantRange.lowerBound {
            throw TimeParseError(input: text, reason: "before \(format(instantRange.lowerBound)), the earliest time")
        }
        if instant > instantRange.upperBound {
            throw TimeParseError(input: text, reason: "after \(format(instantRange.upperBound)), the latest time")
        }
        return instant
    }

    /// Parses an expiry (an exclusive end): as ``parseInstant(_:now:durationIsPast:)`` with `durationIsPast: false`,
    /// except that a bare full-date (`"2026-12-31"`) means the END of that day in UTC: the instant
    /// `2027-01-01T00:00:00Z` (exclusive), so the day's last valid second is `2026-12-31T23:59:59Z`.
    /// - Returns: Unix seconds (UTC), in ``instantRange`` (so "9999-12-31", whose end is not writable, is refused).
    /// - Throws: `TimeParseError` as `parseInstant`.
    public static func parseExpiry(_ text: String, now: Int64) throws(TimeParseError) -> Int64 {
        let bytes = Array(text.utf8)
        let isDigit = { (byte: UInt8) in byte >= 0x30 && byte <= 0x39 }
        if bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[0...3].allSatisfy(isDigit), bytes[5...6].allSatisfy(isDigit), bytes[8...9].allSatisfy(isDigit)
        {
            return try inRange(parseRFC3339(text) + 86_400, text)
        }
        return try parseInstant(text, now: now, durationIsPast: false)
    }

    /// Formats Unix seconds as RFC 3339 UTC: `"2026-11-29T07:45:00Z"`.
    public static func format(_ seconds: Int64) -> String {
        let (days, secondOfDay) = floorDivide(seconds, 86400)
        let (year, month, day) = civilFromDays(days)
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):"
            + "\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2))Z"
    }

    /// Formats Unix milliseconds as RFC 3339 UTC with three fractional digits: `"2026-11-29T07:45:00.123Z"`.
    public static func formatMilliseconds(_ milliseconds: Int64) -> String {
        let (seconds, millisecond) = floorDivide(milliseconds, 1000)
        var text = format(seconds)
        text.removeLast()
        return text + "." + pad(millisecond, 3) + "Z"
    }

    /// The current time in Unix seconds (UTC), from `clock_gettime(CLOCK_REALTIME)`.
    public static func now() -> Int64 {
        SystemClock.realtimeSeconds()
    }

    /// The current time in Unix milliseconds (UTC), from `clock_gettime(CLOCK_REALTIME)`.
    public static func nowMilliseconds() -> Int64 {
        SystemClock.realtimeMilliseconds()
    }

    // MARK: - Civil calendar (proleptic Gregorian), after Howard Hinnant's "chrono-compatible date algorithms".

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    public static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The proleptic Gregorian date of a day number (days since 1970-01-01).
    public static func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2:
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
            return leap ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        var quotient = value / divisor
        var remainder = value % divisor
        if remainder < 0 {
            quotient -= 1
            remainder += divisor
        }
        return (quotient, remainder)
    }

    static func pad(_ value: Int64, _ width: Int) -> String {
        let text = String(value.magnitude)
        let padded = String(repeating: "0", count: max(0, width - text.count)) + text
        return value < 0 ? "-" + padded : padded
    }
}
