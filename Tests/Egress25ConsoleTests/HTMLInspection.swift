/// Just enough HTML reading for the tests: the console's markup always quotes attribute values and escapes `<`,
/// `>` and `"` in text and values, so tags and attributes can be found with regular expressions.
enum HTML {
    /// Every start tag, e.g. `<input type="hidden" name="csrf_token" value="…">`.
    static func startTags(_ html: String) -> [String] {
        matches(of: "<[A-Za-z][^>]*>", in: html)
    }

    /// The attribute names of a start tag, lowercased, values left out.
    static func attributeNames(_ tag: String) -> [String] {
        let withoutValues = tag.replacing(try! Regex("\"[^\"]*\"|'[^']*'"), with: "\"\"")
        let body = withoutValues.drop { $0 != " " && $0 != "\n" && $0 != ">" }
        return matches(of: "[A-Za-z_:][-A-Za-z0-9_:.]*", in: String(body)).map { $0.lowercased() }
    }

    /// The value of `attribute` in a start tag, as written (escaped).
    static func attribute(_ attribute: String, of tag: String) -> String? {
        guard let match = tag.firstMatch(of: try! Regex("\\s\(attribute)=\"([^\"]*)\"")) else { return nil }
        return match.output[1].substring.map(String.init)
    }

    /// The start tags of element `name` whose attributes include every one of `having` (`name="value"` text).
    static func tags(_ name: String, in html: String, having: [String] = []) -> [String] {
        startTags(html).filter { tag in
            tag.hasPrefix("<\(name) ") || tag.hasPrefix("<\(name)>") ? having.allSatisfy { tag.contains($0) } : false
        }
    }

    /// Every `<form …>…</form>` (the console never nests forms).
    static func forms(_ html: String) -> [String] {
        matches(of: "(?s)<form\\b[^>]*>.*?</form>", in: html)
    }

    /// The elements `<name …>…</name>` (not nested in each other) whose start tag contains `marker`.
    static func elements(_ name: String, in html: String, marker: String = "") -> [String] {
        matches(of: "(?s)<\(name)\\b[^>]*>.*?</\(name)>", in: html).filter { $0.hasPrefix("<") && $0.contains(marker) }
    }

    /// How often `needle` occurs in `haystack`.
    static func count(_ needle: String, in haystack: String) -> Int {
        haystack.ranges(of: needle).count
    }

    static func matches(of pattern: String, in text: String) -> [String] {
        text.matches(of: try! Regex(pattern)).map { String(text[$0.range]) }
    }
}
