import KernelRules

/// The tests' one process runner is KernelRules' ``CommandRunner`` (`posix_spawn`, pipes served by one `poll`
/// loop, a timeout that kills). Foundation's `Process` hangs for ever in a network namespace whose loopback is
/// down ("Could not create wakeup socket pair for CFSocket"), which is where the namespace tests run their
/// commands. swift-subprocess was tried and not adopted; `KernelRules/CommandRunner.swift` says why.
///
/// What stays on Foundation `Process`: processes a test starts and leaves running (egress25d, the SMTP listener,
/// the continuous prober), which `CommandRunner` does not do; they run in namespaces whose loopback is up.

/// The output of a finished command.
package struct CommandResult: Sendable {
    /// Exit status, or 128 + the signal number when a signal ended it.
    package var status: Int32
    /// Everything the command wrote to stdout.
    package var output: String
    /// Everything the command wrote to stderr.
    package var error: String
}

/// Runs `arguments` (no shell; the tool is looked up in `PATH` and the sbin directories) with the environment
/// `PATH`, `LC_ALL=C` and `HOME`, and captures its output.
/// - Throws: `KernelRulesError` when the tool is missing, cannot be started, or runs longer than `timeout`
///   seconds (it is then killed).
@discardableResult
package func run(_ arguments: [String], timeout: Double = 60) throws -> CommandResult {
    let runner = CommandRunner(timeoutSeconds: max(1, Int(timeout.rounded(.up))))
    let result = try runner.run(arguments)
    return CommandResult(status: result.status, output: result.standardOutput, error: result.standardError)
}
