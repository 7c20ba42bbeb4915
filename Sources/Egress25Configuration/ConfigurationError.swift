import Egress25System

/// A configuration file that cannot be read, is not valid YAML, or holds a wrong, unknown or missing value.
///
/// `description` is `FILE:LINE:COLUMN: MESSAGE` (as compilers print it, so editors jump to the spot), e.g.
/// `/etc/egress25/egress25.yaml:7:23: policy.subscriber_ranges[1]: 100.64.0.1/10 has host bits set
/// (did you mean 100.64.0.0/10?)`. Line and column count from 1; the column counts Unicode scalars.
/// `MESSAGE` starts with the key path (`queue.numbers[2]`) when the problem belongs to a key.
public struct ConfigurationError: Egress25Error, Hashable {
    /// What is wrong. Extensible: switch with a `default` case.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable { case unreadable, syntax, invalidValue }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The file cannot be opened or read, is larger than 16 MiB, or is not UTF-8 text.
        public static let unreadable = Code(.unreadable)
        /// The text is not valid YAML (libyaml's position), or a mapping repeats a key.
        public static let syntax = Code(.syntax)
        /// A value is wrong, a key unknown, or a required key missing (the message starts with the key path).
        public static let invalidValue = Code(.invalidValue)

        /// The code's name, e.g. `invalidValue`.
        public var description: String { base.rawValue }
    }

    /// What is wrong.
    public var code: Code
    /// The file, as given to the loader.
    public var file: String
    /// Line of the offending key or value (from 1); `nil` when the whole file is concerned (unreadable).
    public var line: Int?
    /// Column of the offending key or value (from 1, in Unicode scalars); `nil` with `line == nil`.
    public var column: Int?
    /// What is wrong, starting with the key path.
    public var message: String

    /// The operation that failed: loading the configuration `file`.
    public var operation: String { "load \(file)" }

    /// Creates an error at `line`:`column` (both from 1; `nil` for the whole file) of `file`.
    public init(_ code: Code = .invalidValue, file: String, line: Int?, column: Int?, message: String) {
        self.code = code
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// `FILE:LINE:COLUMN: MESSAGE`, or `FILE: MESSAGE` without a position.
    public var description: String {
        switch (line, column) {
        case (let line?, let column?): "\(file):\(line):\(column): \(message)"
        case (let line?, nil): "\(file):\(line): \(message)"
        default: "\(file): \(message)"
        }
    }
}

/// Something valid but probably not meant, e.g. an exception whose sources lie outside every subscriber range.
/// `egress25d --check-config` prints these; they never stop the daemon.
///
/// `description` is `FILE:LINE:COLUMN: warning: MESSAGE`.
public struct ConfigurationWarning: Sendable, Hashable, CustomStringConvertible {
    /// The file, as given to the loader.
    public var file: String
    /// Line of the suspicious key or value (from 1); `nil` when the whole file is concerned.
    public var line: Int?
    /// Column of the suspicious key or value (from 1, in Unicode scalars); `nil` with `line == nil`.
    public var column: Int?
    /// What is suspicious, starting with the key path.
    public var message: String

    /// `FILE:LINE:COLUMN: warning: MESSAGE`, or `FILE: warning: MESSAGE` without a position.
    public var description: String {
        ConfigurationError(file: file, line: line, column: column, message: "warning: " + message).description
    }
}

// Only the loader makes warnings: with the synthesized (internal) memberwise initializer, or this one.
extension ConfigurationWarning {
    init(_ node: ConfigurationNode, _ message: String) {
        let error = node.error(message)
        self.init(file: error.file, line: error.line, column: error.column, message: error.message)
    }
}
