import Egress25Core

/// Text helpers the console's contexts and the timeline chart share: escaping for markup the console builds itself
/// (Mustache escapes everything else), percent-encoding for the URLs it builds, and number and UTC formatting.
enum ConsoleText {
    /// Escapes `&`, `<`, `>`, `"` and `'` for XML and HTML text and attribute values, as Mustache's `{{ }}` does.
    static func escapeMarkup(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// Percent-encodes one URL path segment or query value (RFC 3986 section 2.1): every UTF-8 byte other than the
    /// unreserved characters (`A-Z a-z 0-9 - . _ ~`, section 2.3) and `:` and `@` (allowed in both a segment and a
    /// query, section 3.3 and 3.4) becomes `%XX`. Customer ids (`A-Z a-z 0-9 . _ - : @`), exception ids and
    /// addresses therefore appear unchanged; `/`, `?`, `#`, `&`, `=`, `+`, `%` and spaces never do.
    static func percentEncode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"), UInt8(ascii: ":"), UInt8(ascii: "@"):
                bytes.append(byte)
            default:
                bytes.append(UInt8(ascii: "%"))
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A path followed by a query string built from `parameters`, each name and value percent-encoded; parameters
    /// with an empty value are left out. E.g. `/abuse/timeline?source=192.0.2.7&since=24h`.
    static func url(_ path: String, _ parameters: [(name: String, value: String)]) -> String {
        let query = parameters.filter { !$0.value.isEmpty }.map {
            percentEncode($0.name) + "=" + percentEncode($0.value)
        }
        return query.isEmpty ? path : path + "?" + query.joined(separator: "&")
    }

    /// A whole number with a comma between groups of three digits: `1,234,567`, `-42`.
    static func grouped<Number: BinaryInteger>(_ value: Number) -> String {
        let digits = Array(String(value.magnitude))
        var text = value < 0 ? "-" : ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { text.append(",") }
            text.append(digit)
        }
        return text
    }

    /// The UTC date and time of Unix seconds: year, month, day, hour and minute.
    static func civil(_ seconds: Int64) -> (year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64) {
        var (days, secondOfDay) = seconds.quotientAndRemainder(dividingBy: 86400)
        if secondOfDay < 0 {
            days -= 1
            secondOfDay += 86400
        }
        let (year, month, day) = UTCTime.civilFromDays(days)
        return (year, month, day, secondOfDay / 3600, secondOfDay / 60 % 60)
    }

    /// Unix seconds as `2026-12-01 14:00 UTC`.
    static func minuteUTC(_ seconds: Int64) -> String {
        let time = civil(seconds)
        return "\(pad(time.year, 4))-\(pad(time.month))-\(pad(time.day)) \(pad(time.hour)):\(pad(time.minute)) UTC"
    }

    /// Unix seconds as `14:00` (UTC hour and minute).
    static func hourMinute(_ seconds: Int64) -> String {
        let time = civil(seconds)
        return "\(pad(time.hour)):\(pad(time.minute))"
    }

    /// Unix seconds as `12-01` (UTC month and day).
    static func monthDay(_ seconds: Int64) -> String {
        let time = civil(seconds)
        return "\(pad(time.month))-\(pad(time.day))"
    }

    /// A non-negative number left-padded with zeros to `width` digits.
    static func pad(_ value: Int64, _ width: Int = 2) -> String {
        let text = String(value.magnitude)
        let padded = String(repeating: "0", count: max(0, width - text.count)) + text
        return value < 0 ? "-" + padded : padded
    }
}
