/// An IP address or CIDR prefix that could not be parsed, or a prefix that is not canonical.
///
/// `input` is the text exactly as given; `reason` says precisely which part is wrong, e.g.
/// `octet 2 "010" has a leading zero` or `100.64.0.1/10 has host bits set (did you mean 100.64.0.0/10?)`.
public struct AddressParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The text that was rejected.
    public var input: String
    /// What is wrong with it.
    public var reason: String

    /// Creates an error for the rejected `input` and what is wrong with it.
    public init(input: String, reason: String) {
        self.input = input
        self.reason = reason
    }

    /// `invalid address "INPUT": REASON`.
    public var description: String {
        "invalid address \"\(input)\": \(reason)"
    }
}
