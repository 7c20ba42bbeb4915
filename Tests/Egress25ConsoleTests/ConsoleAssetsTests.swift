import Testing

@testable import Egress25Console

@Suite struct ConsoleAssetsTests {
    @Test func theStylesheetIsSelfContainedAndShort() {
        let css = ConsoleAssets.css
        #expect(css.split(separator: "\n").count <= 250)
        #expect(!css.contains("@import"))
        #expect(!css.contains("url("))
        #expect(!css.contains("@font-face"))
        #expect(HTML.count("{", in: css) == HTML.count("}", in: css))
        for selector in [
            ":focus-visible", ".data tbody tr:nth-child(even)", ".badge-active", ".badge-revoked", "@media",
        ] {
            #expect(css.contains(selector), "\(selector)")
        }
    }

    @Test func theScriptConfirmsAndTogglesAndLoadsNothing() {
        let js = ConsoleAssets.javascript
        #expect(js.contains("form[data-confirm]"))
        #expect(js.contains("window.confirm("))
        #expect(js.contains("event.preventDefault()"))
        #expect(js.contains("data-disables"))
        for forbidden in ["import ", "fetch(", "XMLHttpRequest", "eval(", "innerHTML", "document.write", "http"] {
            #expect(!js.contains(forbidden), "\(forbidden)")
        }
        #expect(HTML.count("(", in: js) == HTML.count(")", in: js))
        #expect(HTML.count("{", in: js) == HTML.count("}", in: js))
    }

    @Test func textHelpers() {
        #expect(ConsoleText.grouped(0) == "0")
        #expect(ConsoleText.grouped(999) == "999")
        #expect(ConsoleText.grouped(1000) == "1,000")
        #expect(ConsoleText.grouped(-1_234_567) == "-1,234,567")
        #expect(ConsoleText.grouped(Int64.min) == "-9,223,372,036,854,775,808")
        #expect(ConsoleText.percentEncode("c-1001:a@b.c_~") == "c-1001:a@b.c_~")
        #expect(ConsoleText.percentEncode("a b/c?d#e&f=g+h%é") == "a%20b%2Fc%3Fd%23e%26f%3Dg%2Bh%25%C3%A9")
        #expect(ConsoleText.url("/x", [("a", "1"), ("b", ""), ("c", "2 3")]) == "/x?a=1&c=2%203")
        #expect(ConsoleText.minuteUTC(1_796_133_600) == "2026-12-01 14:00 UTC")
        #expect(ConsoleText.minuteUTC(-1) == "1969-12-31 23:59 UTC")
        #expect(TimelineChart.number(12) == "12")
        #expect(TimelineChart.number(12.5) == "12.5")
        #expect(TimelineChart.number(12.057) == "12.06")
        #expect(TimelineChart.number(-0.5) == "-0.5")
        #expect(TimelineChart.compact(9999) == "9999")
        #expect(TimelineChart.compact(25000) == "25k")
        #expect(TimelineChart.compact(1_500_000) == "1.5M")
    }
}
