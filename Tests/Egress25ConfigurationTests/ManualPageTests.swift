import Egress25Configuration
import Foundation
import Testing

/// Keeps `packaging/man/egress25.yaml.5` complete: every key the loader accepts is documented there, and every key
/// documented there is one the loader accepts.
///
/// The keys are not listed here. They are discovered from the loader's real behaviour: a mapping rejects an unknown
/// key with the list of the keys it allows (`…; keys allowed in queue: numbers, fail_policy, …`). The crawl puts the
/// nonsense key `zzqqxx` into the top level, then tries each allowed key as a mapping (`{zzqqxx: 1}`) and as a list
/// of mappings (`[{zzqqxx: 1}]`): a key whose probe answers with another list of allowed keys is a section, and is
/// crawled in turn. Every probe is made inside a valid document (``base``), so a key's probe fails at that key and
/// nowhere else; a probe answered by an error elsewhere fails the test, so a section cannot hide behind a required
/// sibling.
///
/// The page marks each key with one line `.It Cm PATH`, PATH the key's full dotted path, `[]` after a key whose
/// value is a list of mappings: `.It Cm session_feed.radius.clients[].secret_file`. No other line starts with
/// `.It Cm`.
@Suite("egress25.yaml(5)")
struct ManualPageTests {
    /// The page, found from this file: `Tests/Egress25ConfigurationTests/` is two levels below the package root.
    static let pagePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("packaging/man/egress25.yaml.5").path

    /// The unknown key every probe uses: far from every real key, so no did-you-mean replaces the list.
    static let probeKey = "zzqqxx"

    /// How deep the crawl goes (the deepest key today is 4 levels: `session_feed.radius.clients[].address`).
    static let maximumDepth = 8

    /// A valid document holding every key that is required inside its section (and the siblings a later key's
    /// check reads first), so each probe below fails at the probed key.
    static var base: YAMLValue {
        [
            "node_name": "edge-1",
            "policy": [
                "subscriber_ranges": ["100.64.0.0/10"],
                "relay_hosts": [["host": "192.0.2.0/28", "ports": ["25"]], "192.0.2.25"],
                "ports": ["25"],
                "exceptions": [
                    [
                        "id": "e-1", "customer": "c-1", "sources": ["100.64.0.1"], "destinations": "any",
                        "reason": "test",
                    ]
                ],
            ],
            "store": [
                "url": "postgresql://edge_1@db.example.net/egress25",
                "password_file": "/etc/egress25/db-password",
            ],
            "admin": ["tls": ["certificate_file": "/etc/egress25/tls.pem", "key_file": "/etc/egress25/tls.key"]],
            "abuse": ["webhook": ["url": "https://soc.example.net/hooks/egress25"]],
            "session_feed": [
                "radius": [
                    "clients": [["address": "198.18.0.0/24", "secret_file": "/etc/egress25/radius-secret"]]
                ]
            ],
        ]
    }

    @Test("the page documents every key the loader accepts, and no other")
    func everyKeyIsDocumented() throws {
        let crawl = Self.crawl()
        #expect(
            crawl.problems.isEmpty, "the crawl could not classify some keys:\n\(crawl.problems.joined(separator: "\n"))"
        )
        // Not vacuous: the crawl went through sections and lists of mappings (79 keys when this test was written).
        #expect(crawl.keys.count >= 70, "the crawl found only \(crawl.keys.count) keys: \(crawl.keys)")
        for deep in [
            "sessions.max_prefix.ipv6", "policy.exceptions[].expires_at", "session_feed.radius.clients[].secret_file",
        ] {
            #expect(crawl.keys.contains(deep), "the crawl did not reach \(deep)")
        }

        let page = try String(contentsOfFile: Self.pagePath, encoding: .utf8)
        let documented = try Self.documentedKeys(page)
        let duplicates = Dictionary(grouping: documented, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
        #expect(
            duplicates.isEmpty, "\(Self.pagePath) documents these keys twice: \(duplicates.joined(separator: ", "))")

        let missing = crawl.keys.filter { !documented.contains($0) }
        #expect(
            missing.isEmpty,
            "\(Self.pagePath) does not document these keys (add an `.It Cm KEY` entry for each):\n\(missing.joined(separator: "\n"))"
        )
        let stale = documented.filter { !crawl.keys.contains($0) }
        #expect(
            stale.isEmpty,
            "\(Self.pagePath) documents keys the loader does not accept:\n\(stale.joined(separator: "\n"))")
    }

    @Test("every example in the page's EXAMPLES section is a valid configuration")
    func examplesAreValid() throws {
        let page = try String(contentsOfFile: Self.pagePath, encoding: .utf8)
        let examples = Self.literalBlocks(page, section: "EXAMPLES")
        #expect(examples.count >= 2, "EXAMPLES holds \(examples.count) literal blocks; expected the two examples")
        for (index, yaml) in examples.enumerated() {
            #expect(throws: Never.self, "example \(index + 1) of EXAMPLES") {
                _ = try ConfigurationLoader.parse(yaml: yaml, path: "egress25.yaml(5) example \(index + 1)")
            }
        }
    }

    // MARK: - The crawl

    /// One step of a key path: a key, and whether its value is a list of mappings (the crawl descends into the
    /// first element).
    struct Step {
        var key: String
        var isList: Bool
    }

    /// `policy.exceptions[].id`: the dotted path, `[]` after a key whose value is a list of mappings.
    static func display(_ steps: [Step]) -> String {
        var text = ""
        for (index, step) in steps.enumerated() {
            if index > 0 { text += "." }
            text += step.key
            if step.isList && index < steps.count - 1 { text += "[]" }
        }
        return text
    }

    /// The loader's key path with list indexes written as `[]` (`policy.exceptions[0].id` -> `policy.exceptions[].id`).
    static func normalized(_ path: Substring) -> String {
        var result = ""
        var insideIndex = false
        for character in path {
            if character == "[" {
                insideIndex = true
                result += "[]"
            } else if character == "]" {
                insideIndex = false
            } else if !insideIndex {
                result.append(character)
            }
        }
        return result
    }

    /// Every key the loader accepts (display paths, in crawl order) and what could not be classified.
    static func crawl() -> (keys: [String], problems: [String]) {
        var keys: [String] = []
        var problems: [String] = []

        func explore(_ section: [Step]) {
            let scope = display(section) + (section.last?.isList == true ? "[]" : "")
            let probe = base.setting(.scalar("1"), at: section + [Step(key: probeKey, isList: false)])
            let message = errorMessage(probe)
            guard let allowed = allowedKeys(message, scope: scope) else {
                problems.append(
                    "\(scope.isEmpty ? "the top level" : scope): an unknown key got \(message ?? "no error")")
                return
            }
            for key in allowed {
                let keyPath = section + [Step(key: key, isList: false)]
                let path = display(keyPath)
                keys.append(path)
                guard keyPath.count < maximumDepth else {
                    problems.append("\(path): deeper than \(maximumDepth) levels")
                    continue
                }
                let unknown: YAMLValue = [probeKey: "1"]
                let asMapping = errorMessage(base.setting(unknown, at: keyPath))
                if allowedKeys(asMapping, scope: path) != nil {
                    explore(keyPath)
                    continue
                }
                let asList = errorMessage(base.setting(.list([unknown]), at: keyPath))
                if allowedKeys(asList, scope: path + "[]") != nil {
                    explore(section + [Step(key: key, isList: true)])
                    continue
                }
                // A leaf: both probes must be refused at this key, not at a required sibling.
                for (kind, answer) in [("a mapping", asMapping), ("a list of mappings", asList)] {
                    guard let answer, answer.hasPrefix(path + ":") || answer.hasPrefix(path + "[]") else {
                        problems.append("\(path) as \(kind): answered elsewhere (\(answer ?? "accepted")); extend base")
                        continue
                    }
                }
            }
        }
        explore([])
        return (keys, problems)
    }

    /// The loader's message for `document` with list indexes normalized, or `nil` when it parses.
    static func errorMessage(_ document: YAMLValue) -> String? {
        do {
            _ = try ConfigurationLoader.parse(yaml: document.rendered, path: "probe.yaml")
            return nil
        } catch {
            return normalized(error.message[...])
        }
    }

    /// The keys an unknown-key message lists for `scope` ("" for the top level); `nil` for any other message.
    static func allowedKeys(_ message: String?, scope: String) -> [String]? {
        let expected =
            (scope.isEmpty ? "" : "\(scope): ") + "unknown key \"\(probeKey)\"; keys allowed "
            + (scope.isEmpty ? "at the top level: " : "in \(scope): ")
        guard let message, message.hasPrefix(expected) else { return nil }
        let keys = message.dropFirst(expected.count).components(separatedBy: ", ")
        return keys.isEmpty || keys.contains(where: \.isEmpty) ? nil : keys
    }

    // MARK: - The page

    /// The argument of every `.It Cm` line.
    /// - Throws: when such a line does not name exactly one key.
    static func documentedKeys(_ page: String) throws -> [String] {
        var keys: [String] = []
        for (number, line) in page.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where line.hasPrefix(".It Cm ") {
            let arguments = line.dropFirst(".It Cm ".count).split(separator: " ")
            guard arguments.count == 1 else {
                throw PageError(description: "line \(number + 1): `\(line)` must name exactly one key")
            }
            keys.append(String(arguments[0]))
        }
        return keys
    }

    /// The text of each `.Bd -literal` … `.Ed` block in section `section` (`.Sh NAME` up to the next `.Sh`), with
    /// the roff escapes an example may use (`\&` at a line's start, `\e`) undone.
    static func literalBlocks(_ page: String, section: String) -> [String] {
        var blocks: [String] = []
        var inSection = false
        var current: [String]?
        for line in page.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(".Sh ") {
                inSection = line == ".Sh \(section)"
                continue
            }
            guard inSection else { continue }
            if line.hasPrefix(".Bd -literal") {
                current = []
            } else if line == ".Ed", let block = current {
                blocks.append(block.joined(separator: "\n") + "\n")
                current = nil
            } else if current != nil {
                var text = String(line)
                if text.hasPrefix("\\&") { text.removeFirst(2) }
                current?.append(text.replacingOccurrences(of: "\\e", with: "\\"))
            }
        }
        return blocks
    }

    struct PageError: Error, CustomStringConvertible {
        var description: String
    }
}

/// A YAML value written as flow YAML (`{a: [b, "c"]}`), every scalar double-quoted (the loader reads a quoted
/// scalar's text as written), so probes can be built and changed at a key path.
indirect enum YAMLValue: ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    case scalar(String)
    case list([YAMLValue])
    case mapping([(String, YAMLValue)])

    init(stringLiteral value: String) { self = .scalar(value) }
    init(arrayLiteral elements: YAMLValue...) { self = .list(elements) }
    init(dictionaryLiteral elements: (String, YAMLValue)...) { self = .mapping(elements) }

    var rendered: String {
        switch self {
        case .scalar(let text):
            let escaped = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            return "\"\(escaped)\""
        case .list(let items):
            return "[" + items.map(\.rendered).joined(separator: ", ") + "]"
        case .mapping(let entries):
            return "{" + entries.map { "\($0.0): \($0.1.rendered)" }.joined(separator: ", ") + "}"
        }
    }

    /// This value with `value` at `path`: a key is replaced or added; a list step descends into the first element
    /// (made a mapping when it is not one); a missing section is created.
    func setting(_ value: YAMLValue, at path: [ManualPageTests.Step]) -> YAMLValue {
        guard let step = path.first else { return value }
        var entries: [(String, YAMLValue)] = []
        if case .mapping(let existing) = self { entries = existing }
        let index = entries.firstIndex { $0.0 == step.key }
        let rest = Array(path.dropFirst())
        let child: YAMLValue
        if rest.isEmpty {
            child = value
        } else if step.isList {
            var items: [YAMLValue] = []
            if let index, case .list(let existing) = entries[index].1 { items = existing }
            let first = items.first ?? .mapping([])
            let element = (first.isMapping ? first : .mapping([])).setting(value, at: rest)
            child = .list([element] + items.dropFirst())
        } else {
            child = (index.map { entries[$0].1 } ?? .mapping([])).setting(value, at: rest)
        }
        if let index { entries[index].1 = child } else { entries.append((step.key, child)) }
        return .mapping(entries)
    }

    var isMapping: Bool {
        if case .mapping = self { return true }
        return false
    }
}
