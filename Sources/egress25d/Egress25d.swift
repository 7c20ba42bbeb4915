import ArgumentParser
import Egress25Daemon
import Egress25System
import Logging

#if canImport(Glibc)
import Glibc
#endif

@main
struct Egress25d: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "egress25d",
        abstract: "Judge outbound TCP/25 SYNs from subscriber ranges through NFQUEUE (OP25B).",
        discussion: """
            Binds the NFQUEUE queues named in the configuration, accepts SYNs to the ISP's relay hosts and SYNs \
            covered by a customer's exception, and blocks the rest (reject via mark + TCP reset, or drop). \
            SIGHUP reloads the policy; SIGTERM stops receiving, flushes the block log and exits.
            Install the kernel rules first: egress25ctl rules apply.
            """,
        version: Egress25Release.version
    )

    @Option(name: .long, help: "The configuration file (YAML).")
    var config: String = "/etc/egress25/egress25.yaml"

    @Flag(
        name: .long,
        help: "Validate the configuration and the exception store, print a summary, and exit (0 valid, 1 not).")
    var checkConfig = false

    @Flag(name: .long, help: .hidden)
    var faultInjection = false

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        // Until the services install their handlers, a SIGHUP (systemctl reload), SIGUSR1 or SIGUSR2 must not
        // take the default action, which terminates the process. The handlers (dispatch signal sources) work
        // with the signals ignored.
        for number in [SIGHUP, SIGUSR1, SIGUSR2] { signal(number, SIG_IGN) }
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "egress25d")
        do {
            if checkConfig {
                print(try Daemon.checkConfiguration(path: config, logger: logger))
                return
            }
            let daemon = try Daemon(configurationPath: config, logger: logger)
            try await daemon.run(faultInjection: faultInjection)
        } catch let error as DaemonStartupError {
            printError(error.description)
            throw ExitCode(1)
        }
    }

    private func printError(_ message: String) {
        let line = "egress25d: error: \(message)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
