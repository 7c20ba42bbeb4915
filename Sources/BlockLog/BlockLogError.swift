import Egress25System

/// An error of the block log: a segment that cannot be opened, read or written, or a bad setting.
public struct BlockLogError: Egress25Error, Hashable {
    /// What failed.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// A ``BlockLogConfiguration`` value is out of range.
        public static let invalidConfiguration = Code(name: "invalid configuration")
        /// The block-log directory cannot be created, listed or written.
        public static let directory = Code(name: "directory")
        /// A segment file cannot be opened, created or is of a newer schema.
        public static let segment = Code(name: "segment")
        /// SQLite failed while writing or reading.
        public static let sqlite = Code(name: "sqlite")
        /// A query argument is invalid (bucket size, limit).
        public static let invalidQuery = Code(name: "invalid query")
        /// The code's name, e.g. `invalid configuration`.
        public var description: String { name }
    }

    /// What failed.
    public var code: Code
    /// The block-log operation that failed: the function that found the failure, e.g. `timeline(_:bucketSeconds:)`.
    public var operation: String
    /// A one-line message naming the file or field and the reason.
    public var message: String

    /// Creates an error with `code` and a one-line `message`; `operation` defaults to the calling function.
    public init(_ code: Code, _ message: String, operation: String = #function) {
        self.code = code
        self.operation = operation
        self.message = message
    }
    /// The message.
    public var description: String { message }
}
