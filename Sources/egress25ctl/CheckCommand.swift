import ArgumentParser
import Egress25Configuration
import Egress25Core
import Egress25Operations
import Foundation

/// `egress25ctl check SOURCE DESTINATION`: support staff's "why is my mail blocked?".
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Explain the verdict egress25d gives a SYN from SOURCE to DESTINATION.",
        discussion: """
            Computed from the same configuration and exception store the daemon uses. Prints the verdict, the \
            reason, and the exception (id, customer, scope, expiry, ticket) or relay that decided it. \
            Exit status 0 whatever the verdict; 2 for a malformed address or time.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The subscriber's address, e.g. 100.64.12.34 or 2001:db8:6400::10.")
    var source: String

    @Argument(help: "The mail server's address the customer tries to reach.")
    var destination: String

    @Option(help: "Destination TCP port.")
    var port: Int = 25

    @Option(help: "Judge at this time (RFC 3339, or a duration ago such as 2h) instead of now.")
    var at: String?

    @Option(help: "Output format: text or json.")
    var format: Format = .text

    func run() throws {
        let configuration = try global.loadStoreConfiguration()
        let explanation: PolicyExplanation
        do {
            explanation = try PolicyExplanation.explain(
                configuration: configuration, source: source, destination: destination, port: port, at: at,
                label: { ["port": "--port", "at": "--at"][$0] ?? $0 })
        } catch {
            switch error.kind {
            case .invalidInput: throw UsageError(error.message)
            default: throw CommandFailure(error.message)
            }
        }
        switch format {
        case .text: print(explanation.text)
        case .json: print(explanation.json)
        }
    }
}
