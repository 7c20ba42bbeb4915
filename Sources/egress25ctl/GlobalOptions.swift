import ArgumentParser
import Egress25Configuration
import Foundation

/// Options every `egress25ctl` command takes.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The egress25 configuration file (YAML); also accepted before the subcommand.",
            discussion: "Default: $EGRESS25_CONFIG when set, else /etc/egress25/egress25.yaml."))
    var config: String = {
        // An empty $EGRESS25_CONFIG counts as unset.
        if let path = ProcessInfo.processInfo.environment["EGRESS25_CONFIG"], !path.isEmpty { return path }
        return "/etc/egress25/egress25.yaml"
    }()

    /// Loads and validates the configuration named by `--config`.
    ///
    /// - Throws: ``CommandFailure`` (exit code 1) naming the file, line and problem.
    func loadConfiguration() throws -> Egress25Configuration {
        do {
            return try ConfigurationLoader.load(path: config)
        } catch {
            throw CommandFailure("\(error)")
        }
    }

    /// Loads the configuration for a command that needs only the store (customer, session, exception, audit,
    /// store, node): a router's file, or an admin machine's file that holds only `store:` (with `store.url`).
    ///
    /// - Throws: ``CommandFailure`` (exit code 1) with the router reading's message when neither reading accepts the
    ///   file.
    func loadStoreConfiguration() throws -> Egress25Configuration {
        do {
            return try ConfigurationLoader.load(path: config)
        } catch let routerError {
            if let configuration = try? ConfigurationLoader.load(path: config, purpose: .storeClient) {
                return configuration
            }
            throw CommandFailure("\(routerError)")
        }
    }
}

/// `--by NAME` of the commands that change the store without requiring a name: who makes the change.
struct ActorOptions: ParsableArguments {
    @Option(help: "Who makes the change, for the audit log (default: $SUDO_USER or your login name).")
    var by: String?

    /// The actor recorded in the audit log: `--by`, else ``StoreCommandSupport/defaultActor``.
    var actor: String { by ?? StoreCommandSupport.defaultActor }
}

/// A usage error: the operator typed something wrong (bad address, bad time, unknown option value).
///
/// `egress25ctl` prints `error: <message>` on one line to stderr and exits with code 2. Nothing is written.
struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A runtime error: the command was well-formed but could not be carried out (unknown customer,
/// exception already revoked, store locked, newer schema, I/O error).
///
/// `egress25ctl` prints `error: <message>` on one line to stderr and exits with code 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
