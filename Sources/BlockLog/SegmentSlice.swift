import Egress25Core

/// The UTC time slice one segment file covers, and the file's name.
///
/// Names are computed by UTC arithmetic only (never local time, so a daylight-saving change can neither
/// duplicate nor skip a slice): `blocked-2026-11-29T07.sqlite` for an hourly slice starting 07:00:00Z,
/// `blocked-2026-11-29.sqlite` for a daily slice starting 00:00:00Z. Names sort in time order.
public struct SegmentSlice: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Start of the slice, Unix seconds UTC, a multiple of `lengthSeconds`.
    public let startSeconds: Int64
    /// 3600 or 86400.
    public let lengthSeconds: Int64

    /// The slice of `lengthSeconds` (3600 or 86400) that contains `milliseconds` (Unix ms, UTC).
    public init(containing milliseconds: Int64, lengthSeconds: Int64) {
        precondition(lengthSeconds == 3600 || lengthSeconds == 86400, "segment length must be 1h or 1d")
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let start = seconds >= 0 ? seconds / lengthSeconds : (seconds - lengthSeconds + 1) / lengthSeconds
        self.startSeconds = start * lengthSeconds
        self.lengthSeconds = lengthSeconds
    }

    /// Parses a segment file name (`blocked-YYYY-MM-DDTHH.sqlite` or `blocked-YYYY-MM-DD.sqlite`);
    /// `nil` for any other name (including `-wal`/`-shm` companions).
    public init?(fileName: String) {
        let bytes = Array(fileName.utf8)
        let prefix = Array("blocked-".utf8), suffix = Array(".sqlite".utf8)
        guard bytes.count > prefix.count + suffix.count, bytes.starts(with: prefix),
            Array(bytes.suffix(suffix.count)) == suffix
        else { return nil }
        let body = Array(bytes[prefix.count..<(bytes.count - suffix.count)])
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for index in range {
                let byte = body[index]
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                value = value * 10 + Int64(byte - 0x30)
            }
            return value
        }
        guard body.count == 10 || body.count == 13, body[4] == UInt8(ascii: "-"), body[7] == UInt8(ascii: "-"),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        let days = UTCTime.daysFromCivil(year: year, month: month, day: day)
        guard UTCTime.civilFromDays(days) == (year, month, day) else { return nil }
        if body.count == 13 {
            guard body[10] == UInt8(ascii: "T"), let hour = number(11..<13), hour < 24 else { return nil }
            startSeconds = days * 86400 + hour * 3600
            lengthSeconds = 3600
        } else {
            startSeconds = days * 86400
            lengthSeconds = 86400
        }
    }

    /// End of the slice (exclusive), Unix seconds UTC.
    /// The first second after the slice (Unix s UTC).
    public var endSeconds: Int64 { startSeconds + lengthSeconds }

    /// The slice right after this one.
    public var next: SegmentSlice {
        SegmentSlice(containing: endSeconds * 1000, lengthSeconds: lengthSeconds)
    }

    /// `blocked-2026-11-29T07.sqlite` (hourly) or `blocked-2026-11-29.sqlite` (daily).
    public var fileName: String {
        let (days, secondOfDay) = (startSeconds / 86400, startSeconds % 86400)
        let (year, month, day) = UTCTime.civilFromDays(days)
        var name = "blocked-" + pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
        if lengthSeconds == 3600 { name += "T" + pad(secondOfDay / 3600, 2) }
        return name + ".sqlite"
    }

    /// The file name, ``fileName``.
    public var description: String { fileName }

    /// Orders by start, then shorter first.
    public static func < (lhs: SegmentSlice, rhs: SegmentSlice) -> Bool {
        (lhs.startSeconds, lhs.lengthSeconds) < (rhs.startSeconds, rhs.lengthSeconds)
    }

    private func pad(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
