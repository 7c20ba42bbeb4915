import ArgumentParser

/// `egress25-admin --config FILE`: the control-plane server.
@main
struct Egress25AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "egress25-admin",
        abstract: "The egress25 control plane: HTTP API, web console and suspect notifications.")

    @Option(help: "The egress25 configuration file (YAML).")
    var config: String = "/etc/egress25/egress25.yaml"

    func run() async throws {}
}
