import Testing

@testable import Egress25Console

@Suite struct TimelineChartTests {
    static let hour: Int64 = 3600
    static let day: Int64 = 86400
    /// 2026-12-01 14:00 UTC.
    static let afternoon: Int64 = 1_796_133_600

    func chart(
        _ buckets: [(start: Int64, attempts: Int64)], bucketSeconds: Int64 = hour, title: String = "Attempts"
    )
        throws -> (svg: String, document: SVGDocument)
    {
        let svg = TimelineChart.svg(buckets: buckets, bucketSeconds: bucketSeconds, title: title)
        let document = try #require(SVGDocument.parse(svg), "not well-formed XML:\n\(svg)")
        return (svg, document)
    }

    func height(_ bar: SVGDocument.Element) -> Double {
        Double(bar.attributes["height"] ?? "") ?? -1
    }

    @Test func theChartIsAnAccessibleImageWithOneBarPerBucket() throws {
        let (svg, document) = try chart([
            (Self.afternoon, 312), (Self.afternoon + Self.hour, 20), (Self.afternoon + 2 * Self.hour, 7),
        ])
        let root = try #require(document.root)
        #expect(root.name == "svg")
        #expect(root.attributes["xmlns"] == "http://www.w3.org/2000/svg")
        #expect(root.attributes["role"] == "img")
        #expect(root.attributes["width"] == "720" && root.attributes["height"] == "240")
        #expect(root.attributes["viewBox"] == "0 0 720 240")
        #expect(
            root.attributes["aria-label"]
                == "Attempts: 339 blocked attempts, 2026-12-01 14:00 UTC to 2026-12-01 17:00 UTC")
        #expect(document.bars.count == 3)
        #expect(
            document.barTitles == [
                "2026-12-01 14:00 UTC: 312 attempts", "2026-12-01 15:00 UTC: 20 attempts",
                "2026-12-01 16:00 UTC: 7 attempts",
            ])
        #expect(!svg.contains("style"))
        #expect(!svg.contains("<script"))
    }

    @Test func barHeightsAreProportionalToAttempts() throws {
        let (_, document) = try chart([
            (Self.afternoon, 400), (Self.afternoon + Self.hour, 100), (Self.afternoon + 2 * Self.hour, 300),
        ])
        let heights = document.bars.map(height)
        try #require(heights.count == 3)
        #expect(heights.allSatisfy { $0 > 0 })
        #expect(abs(heights[0] / heights[1] - 4) < 0.01)
        #expect(abs(heights[2] / heights[1] - 3) < 0.01)
        // Bars stand on the x-axis: y + height is the same for all.
        let feet = document.bars.map { (Double($0.attributes["y"] ?? "") ?? 0) + height($0) }
        #expect(Set(feet).count == 1)
        // And none is taller than the axis (the top tick is at or above the largest count).
        let axis = try #require(document.texts(class: "y-label").last)
        #expect(axis == "400")
    }

    @Test func missingBucketsAreDrawnAsZero() throws {
        let (_, document) = try chart([(Self.afternoon + 4 * Self.hour, 5), (Self.afternoon, 10)])
        #expect(document.bars.count == 5)
        let heights = document.bars.map(height)
        #expect(heights[1] == 0 && heights[2] == 0 && heights[3] == 0)
        #expect(abs(heights[0] / heights[4] - 2) < 0.01)
        #expect(document.barTitles[2] == "2026-12-01 16:00 UTC: 0 attempts")
    }

    @Test func bucketsGivenTwiceAreSummedAndNegativeOnesAreZero() throws {
        let (_, document) = try chart([(Self.afternoon, 2), (Self.afternoon, 3), (Self.afternoon + Self.hour, -8)])
        #expect(document.barTitles == ["2026-12-01 14:00 UTC: 5 attempts", "2026-12-01 15:00 UTC: 0 attempts"])
    }

    @Test func noBucketsSaysSo() throws {
        let (svg, document) = try chart([], title: "Blocked attempts from 192.0.2.7")
        #expect(document.bars.isEmpty)
        #expect(document.elements(named: "rect").isEmpty)
        #expect(document.texts(class: "chart-empty") == ["no blocked attempts in this range"])
        #expect(document.root?.attributes["role"] == "img")
        #expect(
            document.root?.attributes["aria-label"]
                == "Blocked attempts from 192.0.2.7: no blocked attempts in this range")
        #expect(!svg.contains("style"))
    }

    @Test func oneBucketFillsThePlot() throws {
        let (_, document) = try chart([(Self.afternoon, 1)])
        #expect(document.bars.count == 1)
        #expect(document.barTitles == ["2026-12-01 14:00 UTC: 1 attempt"])
        let bar = try #require(document.bars.first)
        #expect(height(bar) > 0)
        #expect(document.texts(class: "x-label") == ["14:00"])
        let ticks = document.texts(class: "y-label")
        #expect((3...5).contains(ticks.count))
    }

    @Test func aZeroBucketDrawsAFlatBar() throws {
        let (_, document) = try chart([(Self.afternoon, 0)])
        #expect(document.bars.count == 1)
        #expect(document.bars.map(height) == [0])
        #expect(document.texts(class: "y-label") == ["0", "1", "2"])
    }

    @Test(arguments: [Int64(1), 2, 3, 4, 5, 9, 10, 99, 101, 312, 1000, 4001, 123_456_789, Int64.max / 3, Int64.max])
    func theYAxisHasThreeToFiveRoundTicksCoveringTheLargestCount(maximum: Int64) throws {
        let (_, document) = try chart([(Self.afternoon, maximum), (Self.afternoon + Self.hour, maximum / 2)])
        let labels = document.texts(class: "y-label")
        #expect((3...5).contains(labels.count), "\(labels)")
        #expect(labels.first == "0")
        let scale = TimelineChart.Scale(maximum: maximum)
        #expect(scale.step * Double(scale.intervals) >= Double(maximum))
        #expect((2...4).contains(scale.intervals))
        let leading = String(Int64(scale.step).description.first!)
        #expect(
            ["1", "2", "5"].contains(leading) && Int64(scale.step).description.dropFirst().allSatisfy { $0 == "0" })
        let heights = document.bars.map(height)
        #expect(heights[0] <= 240 - 40 - 32)
        #expect(heights[0] > 0)
        if maximum >= 100 {
            #expect(abs(heights[0] / heights[1] - 2) < 0.05)
        }
    }

    @Test func hugeCountsAreDrawnAndLabelledCompactly() throws {
        let (_, document) = try chart([
            (Self.afternoon, Int64.max), (Self.afternoon, Int64.max), (Self.afternoon + Self.hour, 12),
        ])
        #expect(document.barTitles[0] == "2026-12-01 14:00 UTC: 9,223,372,036,854,775,807 attempts")
        #expect(document.texts(class: "y-label") == ["0", "5E", "10E"])
        #expect(document.root?.attributes["aria-label"]?.contains("9,223,372,036,854,775,807 blocked attempts") == true)
    }

    @Test func axisLabelsAreTimesUpToTwoDaysAndDatesBeyond() throws {
        let twoDays = (0..<48).map { (start: Self.afternoon + Int64($0) * Self.hour, attempts: Int64($0)) }
        let short = try chart(twoDays).document.texts(class: "x-label")
        #expect(!short.isEmpty && short.count <= 12)
        #expect(short.first == "14:00")
        #expect(short.allSatisfy { $0.wholeMatch(of: try! Regex("[0-2][0-9]:[0-5][0-9]")) != nil })

        let week = (0..<(7 * 24)).map { (start: Self.afternoon + Int64($0) * Self.hour, attempts: Int64(1)) }
        let long = try chart(week).document.texts(class: "x-label")
        #expect(long.first == "12-01")
        #expect(long.allSatisfy { $0.wholeMatch(of: try! Regex("(0[1-9]|1[0-2])-[0-3][0-9]")) != nil })
        #expect(long.count <= 12)
    }

    @Test func textIsEscapedAndReadsBackUnchanged() throws {
        let title = "<script>alert(1)</script> \"Q&A\" 'quoted'"
        let (svg, document) = try chart([(Self.afternoon, 3)], title: title)
        #expect(!svg.contains("<script>"))
        #expect(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt; &quot;Q&amp;A&quot; &#39;quoted&#39;"))
        #expect(document.texts(class: "chart-title") == [title])
        #expect(document.root?.attributes["aria-label"]?.hasPrefix(title + ": ") == true)

        let (_, empty) = try chart([], title: "a\u{0}b & c")
        #expect(empty.texts(class: "chart-title") == ["ab & c"])
    }

    @Test func aVeryLongRangeIsDrawnWithAtMostTheMaximumNumberOfBars() throws {
        let (svg, document) = try chart([(Self.afternoon, 5), (Self.afternoon + 365 * Self.day, 7)], bucketSeconds: 60)
        #expect(document.bars.count <= TimelineChart.maximumBars)
        #expect(document.bars.count > 100)
        #expect(svg.utf8.count < 400_000)
        let total = document.barTitles.compactMap { Int($0.split(separator: " ").dropLast().last ?? "") }.reduce(0, +)
        #expect(total == 12)
    }

    @Test func extremeStartsAndWidthsDoNotTrap() throws {
        let (_, document) = try chart([(Int64.min, 1), (Int64.max, 2)], bucketSeconds: 1)
        #expect((1...TimelineChart.maximumBars).contains(document.bars.count))
        let (_, zeroWidth) = try chart([(Self.afternoon, 1), (Self.afternoon + 2, 1)], bucketSeconds: 0)
        #expect(zeroWidth.bars.count == 3)
        let (_, huge) = try chart([(0, 1), (Int64.max, 1)], bucketSeconds: Int64.max)
        #expect(huge.bars.count == 2)
    }
}
