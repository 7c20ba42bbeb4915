import Egress25Core

/// Text parsers for configuration values: integers, byte sizes, durations, queue number ranges and
/// listen addresses, plus the did-you-mean suggestion. Pure functions; errors are reasons without a position.
enum ValueParsers {
    /// A decimal integer (optional `-`, `_` separators allowed between digits) or, with `allowHex`,
    /// `0x`/`0X` followed by hex digits. `nil` when not a number or beyond `Int64`.
    static func integer(_ text: String, allowHex: Bool = false) -> Int64? {
        var body = Substring(text)
        var negative = false
        if body.hasPrefix("-") {
            negative = true
            body = body.dropFirst()
        } else if body.hasPrefix("+") {
            body = body.dropFirst()
        }
        var radix: Int64 = 10
        if allowHex, body.hasPrefix("0x") || body.hasPrefix("0X") {
            radix = 16
            body = body.dropFirst(2)
        }
        guard !body.isEmpty, body.first != "_", body.last != "_" else { return nil }
        var value: Int64 = 0
        for character in body {
            if character == "_" { continue }
            guard let digit = character.hexDigitValue, Int64(digit) < radix else { return nil }
            let (times, overflow1) = value.multipliedReportingOverflow(by: radix)
            let (sum, overflow2) = times.addingReportingOverflow(Int64(digit))
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return negative ? -value : value
    }

    /// A byte size: an integer followed by `B`, `KiB`, `MiB`, `GiB` or `TiB` (powers of 1024; `K`, `M`, `G`,
    /// `KB`, `MB`, `GB` are refused as ambiguous), or a bare integer meaning bytes.
    /// - Returns: bytes, or a reason.
    static func byteSize(_ text: String) -> Result<Int64, ReasonError> {
        let units: [(String, Int64)] = [
            ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1),
        ]
        let trimmed = String(text.trimmingWhitespace())
        var number = Substring(trimmed)
        var multiplier: Int64 = 1
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            number = trimmed.dropLast(suffix.count)
            multiplier = factor
            break
        }
        number = Substring(String(number).trimmingWhitespace())
        guard let value = integer(String(number)), value >= 0, number.first?.isNumber == true else {
            return .failure(
                ReasonError("expected a size such as 64MiB (units B, KiB, MiB, GiB, TiB), found \"\(text)\""))
        }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: multiplier)
        if overflow { return .failure(ReasonError("\(text) is too large")) }
        return .success(bytes)
    }

    /// A duration in milliseconds: `250ms`, or anything `UTCTime.parseDuration` accepts (`1s`, `2m`, `1h30m`).
    static func milliseconds(_ text: String) -> Result<Int64, ReasonError> {
        if text.hasSuffix("ms"), let value = integer(String(text.dropLast(2))), value >= 0,
            text.first?.isNumber == true
        {
            return .success(value)
        }
        switch seconds(text) {
        case .success(let seconds):
            let (milliseconds, overflow) = seconds.multipliedReportingOverflow(by: 1000)
            return overflow ? .failure(ReasonError("\(text) is too large")) : .success(milliseconds)
        case .failure(let error):
            return .failure(error)
        }
    }

    /// A duration in seconds (`45s`, `90m`, `12h`, `30d`, `2w`, combinations like `1h30m`).
    static func seconds(_ text: String) -> Result<Int64, ReasonError> {
        do {
            return .success(try UTCTime.parseDuration(text))
        } catch {
            return .failure(ReasonError("expected a duration such as 60s, 1h or 30d: \(error.reason)"))
        }
    }

    /// Queue numbers written as `"A-B"` (inclusive); `nil` when the text is not of that shape.
    static func queueRange(_ text: String) -> (Int64, Int64)? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let low = integer(String(parts[0].trimmingWhitespace())),
            let high = integer(String(parts[1].trimmingWhitespace())), low >= 0, high >= 0
        else { return nil }
        return (low, high)
    }

    /// Checks `ADDRESS:PORT` / `[IPV6]:PORT` with an IP literal and a port 1...65535.
    static func listenAddress(_ text: String) -> Result<ListenAddress, ReasonError> {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                return .failure(ReasonError("expected [IPV6]:PORT such as [::1]:9325, found \"\(text)\""))
            }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon else {
                return .failure(
                    ReasonError(
                        "expected ADDRESS:PORT such as 127.0.0.1:9325 (IPv6 in brackets: [::1]:9325), found \"\(text)\""
                    ))
            }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        let address: IPAddress
        do {
            address = try IPAddress(parsing: String(host))
        } catch {
            return .failure(ReasonError("\"\(host)\" is not an IP address: \(error.reason)"))
        }
        guard let number = integer(String(port)), (1...65535).contains(number), port.allSatisfy(\.isNumber) else {
            return .failure(ReasonError("port \"\(port)\" is not a number in 1...65535"))
        }
        return .success(ListenAddress(address: address, port: UInt16(number)))
    }

    /// The closest of `candidates` to `word` when it is a near miss (edit distance at most 2, or 1 for
    /// words of up to 4 characters, ignoring case and `-`/`_`), else `nil`.
    static func suggestion(for word: String, among candidates: [String]) -> String? {
        func normalized(_ text: String) -> [Character] {
            Array(text.lowercased().map { $0 == "-" ? "_" : $0 })
        }
        let target = normalized(word)
        var best: (String, Int)?
        for candidate in candidates {
            let distance = editDistance(target, normalized(candidate))
            if best.map({ distance < $0.1 }) ?? true { best = (candidate, distance) }
        }
        guard let (candidate, distance) = best else { return nil }
        let limit = target.count <= 4 ? 1 : 2
        return distance <= limit ? candidate : nil
    }

    /// Levenshtein distance with adjacent transpositions (optimal string alignment).
    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previousPrevious = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], previousPrevious[j - 2] + 1)
                }
            }
            (previousPrevious, previous, current) = (previous, current, previousPrevious)
        }
        return previous[b.count]
    }
}

/// A reason without a position; the loader attaches file, line and key path.
struct ReasonError: Error {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}
