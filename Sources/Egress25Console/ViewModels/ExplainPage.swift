/// Explain (`GET /explain?source=&destination=&port=`): why a connection from a customer's address would be
/// accepted or blocked.
public struct ExplainPage: Sendable, Hashable {
    /// Title, user, navigation, flash messages.
    public var layout: ConsoleLayout
    /// The source address entered, e.g. `192.0.2.7`.
    public var source: String
    /// The destination address entered, e.g. `203.0.113.25`.
    public var destination: String
    /// The destination port entered; `25` unless the agent changed it.
    public var port: String
    /// What is wrong with the source, e.g. `"192.0.2" is not an address.`
    public var sourceError: String?
    /// What is wrong with the destination.
    public var destinationError: String?
    /// What is wrong with the port.
    public var portError: String?
    /// The policy's answer; `nil` before a question was asked or when the form had errors.
    public var answer: ExplainAnswer?

    /// Creates the explain page.
    public init(
        layout: ConsoleLayout,
        source: String = "",
        destination: String = "",
        port: String = "25",
        sourceError: String? = nil,
        destinationError: String? = nil,
        portError: String? = nil,
        answer: ExplainAnswer? = nil
    ) {
        self.layout = layout
        self.source = source
        self.destination = destination
        self.port = port
        self.sourceError = sourceError
        self.destinationError = destinationError
        self.portError = portError
        self.answer = answer
    }
}

/// Accepted or blocked; shown as a badge.
public enum ExplainVerdict: String, Sendable, Hashable, CaseIterable {
    /// The connection would be let through.
    case accept
    /// The connection would be blocked.
    case block
}

/// The policy's answer to an explain question.
public struct ExplainAnswer: Sendable, Hashable {
    /// Accept or block.
    public var verdict: ExplainVerdict
    /// One sentence, e.g. `Blocked: customer c-1001 has no exception for 203.0.113.25.`
    public var reason: String
    /// The customer holding the source address, linked to their page; `nil` when the address is nobody's.
    public var customerID: String?
    /// That customer's display name, when they have one.
    public var customerName: String?
    /// The exception that decided (or that matched but had expired or did not cover the destination).
    public var exception: ExplainException?
    /// The relay the destination is, e.g. `smtp.isp.example (203.0.113.10)`, when it is one.
    public var relay: String?

    /// Creates an answer.
    public init(
        verdict: ExplainVerdict,
        reason: String,
        customerID: String? = nil,
        customerName: String? = nil,
        exception: ExplainException? = nil,
        relay: String? = nil
    ) {
        self.verdict = verdict
        self.reason = reason
        self.customerID = customerID
        self.customerName = customerName
        self.exception = exception
        self.relay = relay
    }
}

/// The exception an explain answer refers to.
public struct ExplainException: Sendable, Hashable {
    /// The exception id, e.g. `exc-7k2mq9tz`.
    public var id: String
    /// Active, expired or revoked.
    public var status: ExceptionStatus
    /// Where the customer may connect, e.g. `any`.
    public var destinations: String
    /// When it ends, e.g. `2026-12-08 14:00 UTC`, or `never`.
    public var expires: String
    /// The support ticket; empty when there is none.
    public var ticket: String
    /// Why it was granted.
    public var reason: String

    /// Creates the exception part of an answer.
    public init(
        id: String,
        status: ExceptionStatus,
        destinations: String,
        expires: String,
        ticket: String,
        reason: String
    ) {
        self.id = id
        self.status = status
        self.destinations = destinations
        self.expires = expires
        self.ticket = ticket
        self.reason = reason
    }
}
