/// A time or duration that could not be parsed. `reason` names the offending part,
/// e.g. `month 13 is out of range 1...12` or `unknown unit "y" (use s, m, h, d or w)`.
public struct TimeParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The text that was rejected.
    public var input: String
    /// What is wrong with it.
    public var reason: String

    /// Creates an error for the rejected `input` and what is wrong with it.
    public init(input: String, reason: String) {
        self.input = input
        self.reason = reason
    }

    /// `invalid time "INPUT": REASON`.
    public var description: String {
        "invalid time \"\(input)\": \(reason)"
    }
}
