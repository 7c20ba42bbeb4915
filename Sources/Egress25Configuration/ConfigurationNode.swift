import Yams

/// A YAML node with the key path that leads to it (`policy.subscriber_ranges[1]`) and its position, so every
/// error can name file, line, column and key. Internal to the loader.
struct ConfigurationNode {
    let node: Node
    /// Key path from the document root, e.g. `queue.numbers[0]`; empty for the root.
    let path: String
    let file: String

    /// The YAML position of this node (line and column from 1).
    var mark: Mark? { node.mark }

    /// An error positioned at this node, its message prefixed with the key path.
    func error(_ message: String) -> ConfigurationError {
        ConfigurationError(
            file: file,
            line: mark?.line,
            column: mark?.column,
            message: path.isEmpty ? message : "\(path): \(message)"
        )
    }

    func child(_ node: Node, key: String) -> ConfigurationNode {
        ConfigurationNode(node: node, path: path.isEmpty ? key : "\(path).\(key)", file: file)
    }

    func child(_ node: Node, index: Int) -> ConfigurationNode {
        ConfigurationNode(node: node, path: "\(path)[\(index)]", file: file)
    }

    /// `true` for `~`, `null`, `Null`, `NULL` and an empty plain scalar (YAML 1.2 core schema): such a value
    /// counts as absent, so `exceptions:` with nothing after it means "no exceptions".
    var isNull: Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// What kind of YAML value this is, for "expected X, found Y" messages.
    var kindDescription: String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            if isNull { return "nothing (null)" }
            return "\"\(scalar.string)\""
        }
    }

    // MARK: Scalars

    /// The scalar's text exactly as written (a timestamp-looking plain scalar stays text).
    /// - Throws: when the node is a mapping or a list, or null.
    func scalarText(expected: String) throws(ConfigurationError) -> String {
        guard case .scalar(let scalar) = node, !isNull else {
            throw error("expected \(expected), found \(kindDescription)")
        }
        return scalar.string
    }

    /// A non-empty string without control characters.
    func string(expected: String = "a string") throws(ConfigurationError) -> String {
        let text = try scalarText(expected: expected)
        if text.trimmingWhitespace().isEmpty {
            throw error("must not be empty")
        }
        if text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw error("must not contain control characters (such as a newline)")
        }
        return text
    }

    /// `true` or `false` (YAML 1.2; also `True`/`FALSE` etc.).
    func bool() throws(ConfigurationError) -> Bool {
        let text = try scalarText(expected: "true or false")
        switch text.lowercased() {
        case "true": return true
        case "false": return false
        default: throw error("expected true or false, found \"\(text)\"")
        }
    }

    /// A decimal integer (or hex `0x…` when `allowHex`) in `range`.
    func integer(
        in range: ClosedRange<Int64>, allowHex: Bool = false, what: String = "an integer"
    )
        throws(ConfigurationError) -> Int64
    {
        let text = try scalarText(expected: what)
        guard let value = ValueParsers.integer(text, allowHex: allowHex) else {
            throw error("expected \(what), found \"\(text)\"")
        }
        guard range.contains(value) else {
            throw error("\(text) is out of range (\(range.lowerBound)...\(range.upperBound))")
        }
        return value
    }

    /// One of `allowed` (exact, case-sensitive), with a did-you-mean for near misses.
    func choice<T: RawRepresentable & CaseIterable>(_ type: T.Type) throws(ConfigurationError) -> T
    where T.RawValue == String {
        let names = T.allCases.map(\.rawValue)
        let text = try scalarText(expected: "one of \(names.joined(separator: ", "))")
        if let value = T(rawValue: text) { return value }
        var message = "\"\(text)\" is not one of \(names.joined(separator: ", "))"
        if let suggestion = ValueParsers.suggestion(for: text, among: names) {
            message += " (did you mean \(suggestion)?)"
        }
        throw error(message)
    }

    // MARK: Collections

    /// The elements of a list, each with its index in the path. A single scalar counts as a one-element list
    /// only when `scalarAsList` is set.
    func list(scalarAsList: Bool = false) throws(ConfigurationError) -> [ConfigurationNode] {
        switch node {
        case .sequence(let sequence):
            return sequence.enumerated().map { child($1, index: $0) }
        case .scalar where scalarAsList && !isNull:
            return [ConfigurationNode(node: node, path: path, file: file)]
        default:
            throw error("expected a list, found \(kindDescription)")
        }
    }

    /// Reads this node as a mapping whose keys must all be in `allowed`.
    func mapping(allowed: [String]) throws(ConfigurationError) -> MappingReader {
        try MappingReader(self, allowed: allowed)
    }
}

/// The keys of one YAML mapping. Unknown keys are rejected when the reader is made (with a did-you-mean).
struct MappingReader {
    let owner: ConfigurationNode
    private var entries: [String: (key: ConfigurationNode, value: ConfigurationNode)] = [:]

    init(_ owner: ConfigurationNode, allowed: [String]) throws(ConfigurationError) {
        self.owner = owner
        guard case .mapping(let mapping) = owner.node else {
            throw owner.error("expected a mapping (key: value), found \(owner.kindDescription)")
        }
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                let position = ConfigurationNode(node: keyNode, path: owner.path, file: owner.file)
                throw position.error("a key must be a plain name, found \(position.kindDescription)")
            }
            let key = keyScalar.string
            guard allowed.contains(key) else {
                var message = "unknown key \"\(key)\""
                if let suggestion = ValueParsers.suggestion(for: key, among: allowed) {
                    message += " (did you mean \(suggestion)?)"
                } else {
                    let scope = owner.path.isEmpty ? "at the top level" : "in \(owner.path)"
                    message += "; keys allowed \(scope): \(allowed.joined(separator: ", "))"
                }
                throw ConfigurationNode(node: keyNode, path: owner.path, file: owner.file).error(message)
            }
            entries[key] = (owner.child(keyNode, key: key), owner.child(valueNode, key: key))
        }
    }

    /// The value of `key`, or `nil` when the key is absent or its value is null.
    subscript(_ key: String) -> ConfigurationNode? {
        guard let entry = entries[key], !entry.value.isNull else { return nil }
        return entry.value
    }

    /// The key itself (its position, path `OWNER.KEY`) when the mapping holds `key`, whatever its value (even
    /// null); `nil` when absent.
    func key(_ key: String) -> ConfigurationNode? {
        entries[key]?.key
    }

    /// The value of a required `key`.
    /// - Throws: naming the key and pointing at the mapping (or at the key when its value is null).
    func required(_ key: String) throws(ConfigurationError) -> ConfigurationNode {
        if let value = self[key] { return value }
        let path = owner.path.isEmpty ? key : "\(owner.path).\(key)"
        if let entry = entries[key] {
            throw ConfigurationError(
                file: owner.file, line: entry.value.mark?.line ?? entry.key.mark?.line,
                column: entry.value.mark?.column ?? entry.key.mark?.column,
                message: "\(path): a value is required"
            )
        }
        throw ConfigurationError(
            file: owner.file, line: owner.mark?.line, column: owner.mark?.column,
            message: "\(path): required key is missing"
        )
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> SubSequence {
        var slice = self[...]
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return slice
    }
}
