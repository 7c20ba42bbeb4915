/// A bar chart of blocked attempts over time, drawn as SVG on the server (the console's Content-Security-Policy
/// allows no script-drawn charts and no inline styles: colours and fonts are SVG presentation attributes).
///
/// One bar per bucket from the first bucket to the last, missing buckets drawn as zero; a y-axis with 3 to 5 round
/// ticks; x-axis labels in UTC (`HH:MM` when the chart spans at most two days, else `MM-DD`); a `<title>` per bar
/// for hover (`2026-12-01 14:00 UTC: 312 attempts`); `role="img"` and an `aria-label` summing it up. All text is
/// escaped, so the result can go into a page as is.
public enum TimelineChart {
    /// At most this many bars are drawn: a longer range puts several buckets into one bar (its start is the first
    /// bucket's), so a year of minutes still makes a page of reasonable size.
    public static let maximumBars = 1000

    /// The sentence shown instead of bars when there are no buckets.
    public static let emptyMessage = "no blocked attempts in this range"

    /// Draws the chart.
    /// - Parameters:
    ///   - buckets: Bucket starts (UTC seconds) and their blocked attempts, in any order; a start given twice is
    ///     summed, negative counts are drawn as zero.
    ///   - bucketSeconds: The width of one bucket, seconds (a value below 1 is taken as 1).
    ///   - title: The chart's title, shown above it and in the `aria-label`.
    ///   - width: The chart's width, pixels (at least 240).
    ///   - height: The chart's height, pixels (at least 120).
    /// - Returns: An `<svg>` element, well-formed XML.
    public static func svg(
        buckets: [(start: Int64, attempts: Int64)],
        bucketSeconds: Int64,
        title: String,
        width: Int = 720,
        height: Int = 240
    ) -> String {
        let width = max(width, 240)
        let height = max(height, 120)
        let frame = Frame(width: Double(width), height: Double(height))
        let escapedTitle = escape(title)
        let series = Series(buckets: buckets, bucketSeconds: bucketSeconds)
        let heading =
            "<title>\(escapedTitle)</title>\n<text class=\"chart-title\" x=\"\(number(frame.left))\" y=\"18\""
            + " font-weight=\"bold\">\(escapedTitle)</text>\n"

        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"\(width)\" height=\"\(height)\""
        svg += " viewBox=\"0 0 \(width) \(height)\" role=\"img\" font-family=\"system-ui, sans-serif\""
        svg += " font-size=\"12\" fill=\"#1f2933\""
        guard let series else {
            svg += " aria-label=\"\(escapedTitle): \(emptyMessage)\">\n"
            svg += heading
            svg += "<text class=\"chart-empty\" x=\"\(number(frame.width / 2))\" y=\"\(number(frame.height / 2))\""
            svg += " text-anchor=\"middle\" fill=\"#52606d\">\(emptyMessage)</text>\n"
            return svg + "</svg>"
        }

        let summary =
            "\(ConsoleText.grouped(series.total)) blocked \(series.total == 1 ? "attempt" : "attempts"), "
            + "\(ConsoleText.minuteUTC(series.start(of: 0))) to \(ConsoleText.minuteUTC(series.end))"
        svg += " aria-label=\"\(escapedTitle): \(escape(summary))\">\n"
        svg += heading

        // The y-axis: grid lines and labels at round values.
        let scale = Scale(maximum: series.values.max() ?? 0)
        let top = scale.step * Double(scale.intervals)
        for tick in 0...scale.intervals {
            let value = scale.step * Double(tick)
            let y = frame.bottom - value / top * frame.plotHeight
            svg += "<line x1=\"\(number(frame.left))\" x2=\"\(number(frame.right))\" y1=\"\(number(y))\""
            svg += " y2=\"\(number(y))\" stroke=\"\(tick == 0 ? "#52606d" : "#d9e2ec")\" stroke-width=\"1\"/>\n"
            svg += "<text class=\"y-label\" x=\"\(number(frame.left - 6))\" y=\"\(number(y + 4))\""
            svg += " text-anchor=\"end\">\(compact(value))</text>\n"
        }

        // The bars, each with its hover text.
        let slot = frame.plotWidth / Double(series.values.count)
        let gap = slot >= 4 ? slot * 0.15 : 0
        for (index, value) in series.values.enumerated() {
            let barHeight = Double(value) / top * frame.plotHeight
            let x = frame.left + Double(index) * slot + gap / 2
            svg += "<rect class=\"bar\" x=\"\(number(x))\" y=\"\(number(frame.bottom - barHeight))\""
            svg += " width=\"\(number(slot - gap))\" height=\"\(number(barHeight))\" fill=\"#2f6fb0\">"
            svg += "<title>\(ConsoleText.minuteUTC(series.start(of: index))): \(ConsoleText.grouped(value))"
            svg += " \(value == 1 ? "attempt" : "attempts")</title></rect>\n"
        }

        // The x-axis labels, at most one per 64 pixels, under the middle of their bar.
        let shortRange = series.spanSeconds <= 2 * 86400
        let maximumLabels = max(2, Int(frame.plotWidth / 64))
        let every = (series.values.count + maximumLabels - 1) / maximumLabels
        for index in stride(from: 0, to: series.values.count, by: max(1, every)) {
            let x = frame.left + (Double(index) + 0.5) * slot
            let start = series.start(of: index)
            let label = shortRange ? ConsoleText.hourMinute(start) : ConsoleText.monthDay(start)
            svg += "<line x1=\"\(number(x))\" x2=\"\(number(x))\" y1=\"\(number(frame.bottom))\""
            svg += " y2=\"\(number(frame.bottom + 4))\" stroke=\"#52606d\" stroke-width=\"1\"/>\n"
            svg += "<text class=\"x-label\" x=\"\(number(x))\" y=\"\(number(frame.bottom + 18))\""
            svg += " text-anchor=\"middle\">\(label)</text>\n"
        }
        svg += "<text x=\"\(number(frame.right))\" y=\"\(number(frame.height - 4))\" text-anchor=\"end\""
        svg += " fill=\"#52606d\">UTC</text>\n"
        return svg + "</svg>"
    }

    /// The chart's margins and plot area, pixels.
    struct Frame {
        let width: Double
        let height: Double
        var left: Double { 64 }
        var right: Double { width - 16 }
        var top: Double { 32 }
        var bottom: Double { height - 40 }
        var plotWidth: Double { right - left }
        var plotHeight: Double { bottom - top }
    }

    /// The buckets laid out in equal slots from the first start to the last, missing ones as zero.
    struct Series {
        /// The first bucket's start, UTC seconds.
        let first: Int64
        /// Seconds per slot: the bucket width, or a multiple of it when there would be more than `maximumBars`.
        let slotSeconds: UInt64
        /// Attempts per slot (saturating at `Int64.max`).
        let values: [Int64]
        /// All attempts (saturating).
        let total: Int64

        init?(buckets: [(start: Int64, attempts: Int64)], bucketSeconds: Int64) {
            guard let first = buckets.map(\.start).min(), let last = buckets.map(\.start).max() else { return nil }
            let bucket = UInt64(max(1, bucketSeconds))
            // Exact even when the starts are Int64.min and Int64.max: last >= first, so the difference fits UInt64.
            let span = UInt64(bitPattern: last &- first)
            let factor = span / bucket / UInt64(TimelineChart.maximumBars) + 1
            let slotSeconds = bucket * factor
            var values = [Int64](repeating: 0, count: Int(span / slotSeconds) + 1)
            var total: Int64 = 0
            for bucket in buckets {
                let index = Int(UInt64(bitPattern: bucket.start &- first) / slotSeconds)
                let attempts = max(0, bucket.attempts)
                values[index] = Self.saturatingSum(values[index], attempts)
                total = Self.saturatingSum(total, attempts)
            }
            self.first = first
            self.slotSeconds = slotSeconds
            self.values = values
            self.total = total
        }

        /// The start of slot `index`, UTC seconds (never past the last bucket's start).
        func start(of index: Int) -> Int64 {
            first &+ Int64(bitPattern: UInt64(index) &* slotSeconds)
        }

        /// Seconds from the first slot's start to the last slot's end (saturating).
        var spanSeconds: UInt64 {
            let (span, overflow) = UInt64(values.count).multipliedReportingOverflow(by: slotSeconds)
            return overflow ? UInt64.max : span
        }

        /// The last slot's end, UTC seconds (saturating at `Int64.max`).
        var end: Int64 {
            let start = start(of: values.count - 1)
            let (end, overflow) = start.addingReportingOverflow(Int64(clamping: slotSeconds))
            return overflow ? Int64.max : end
        }

        static func saturatingSum(_ a: Int64, _ b: Int64) -> Int64 {
            let (sum, overflow) = a.addingReportingOverflow(b)
            return overflow ? Int64.max : sum
        }
    }

    /// A y-axis of 2 to 4 intervals (3 to 5 ticks) of 1, 2 or 5 times a power of ten, covering `maximum`.
    struct Scale {
        let step: Double
        let intervals: Int

        init(maximum: Int64) {
            let maximum = Double(max(0, maximum))
            guard maximum > 2 else {
                self.step = 1
                self.intervals = 2
                return
            }
            let raw = maximum / 4
            var magnitude = 1.0
            while magnitude * 10 <= raw { magnitude *= 10 }
            let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? magnitude * 10
            self.step = step
            self.intervals = min(4, max(2, Int((maximum / step).rounded(.up))))
        }
    }

    /// Escapes text for XML and drops the control characters XML 1.0 does not allow (section 2.2).
    static func escape(_ text: String) -> String {
        let allowed = String(
            String.UnicodeScalarView(
                text.unicodeScalars.filter { $0.value >= 0x20 || $0 == "\t" || $0 == "\n" || $0 == "\r" }
                    .filter { !(0xFFFE...0xFFFF).contains($0.value) }
            ))
        return ConsoleText.escapeMarkup(allowed)
    }

    /// A coordinate with at most two decimals: `12`, `12.5`, `12.25`.
    static func number(_ value: Double) -> String {
        let scaled = (value * 100).rounded()
        guard scaled.isFinite, abs(scaled) < 1e15 else { return "0" }
        let hundredths = Int64(scaled)
        let sign = hundredths < 0 ? "-" : ""
        let whole = hundredths.magnitude / 100
        let fraction = hundredths.magnitude % 100
        if fraction == 0 { return "\(sign)\(whole)" }
        if fraction % 10 == 0 { return "\(sign)\(whole).\(fraction / 10)" }
        return "\(sign)\(whole).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    /// A whole, non-negative axis value: as is below 10,000, else with an SI prefix (`25k`, `1.5M`, `10E`).
    static func compact(_ value: Double) -> String {
        if value < 10_000 { return String(Int64(value)) }
        let prefixes: [(Double, String)] = [(1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (size, prefix) in prefixes where value >= size {
            return number((value / size * 10).rounded() / 10) + prefix
        }
        return String(Int64(value))
    }
}
