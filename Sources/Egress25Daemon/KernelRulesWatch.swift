import Atomics
import Egress25Configuration
import Foundation
import KernelRules
import Logging
import ServiceLifecycle
import Synchronization

/// What egress25d knows about the kernel rules it depends on (rules drift): the rules its configuration
/// renders, and the result of the last check of the installed ones. Read by `/healthz` and `/metrics`.
final class KernelRulesState: Sendable {
    /// The rules the configuration in force renders (replaced on a configuration reload).
    let expected: Mutex<KernelRuleSet>
    /// `rules.reapply` and `rules.check_interval` in force (replaced on a configuration reload).
    let settings: Mutex<RulesSettings>
    /// Where the last apply recorded the rules and their listing.
    let state: StateDirectory
    /// The last check's result; `nil` until the first check ran.
    let lastStatus = Mutex<KernelRulesInspector.Status?>(nil)
    /// Checks that found the rules missing or different.
    let failedChecks = ManagedAtomic<UInt64>(0)
    /// Successful re-applies (`rules.reapply: true`).
    let reapplies = ManagedAtomic<UInt64>(0)
    /// Failed re-applies.
    let reapplyFailures = ManagedAtomic<UInt64>(0)

    init(configuration: Egress25Configuration) {
        expected = Mutex(KernelRuleSet(configuration: configuration))
        settings = Mutex(configuration.rules)
        state = configuration.state
    }

    /// Takes the rules and the `rules` settings of a reloaded configuration.
    func update(_ configuration: Egress25Configuration) {
        expected.withLock { $0 = KernelRuleSet(configuration: configuration) }
        settings.withLock { $0 = configuration.rules }
    }

    /// `nil` while healthy (or not checked yet), else one line saying what is wrong.
    var problem: String? {
        guard let status = lastStatus.withLock({ $0 }), !status.isCurrent else { return nil }
        return "kernel rules: \(status)"
    }
}

/// Checks the installed kernel rules every `rules.check_interval` (default 5 s), off the hot path: present,
/// and rendered from the same configuration (the fingerprint in the queue rule's comment). When they are
/// not, `/healthz` answers 503 and says what is missing, `egress25_kernel_rules_ok` is 0, one log line is
/// written per change of state, and with `rules.reapply: true` the rules are installed again.
///
/// It also tells the queue workers which backend is installed: with nftables a block is answered with
/// `NF_REPEAT` and the reject mark, so the reset comes from the top of chain `judge` before any other chain
/// could rewrite the mark.
struct KernelRulesWatchService: Service {
    let state: KernelRulesState
    let blockVerdict: BlockVerdictSetting
    let logger: Logger
    var inspector = KernelRulesInspector()
    var installer = KernelRulesInstaller(runner: CommandRunner(timeoutSeconds: 30))

    func run() async throws {
        var lastLine: String?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            lastLine = checkOnce(previousLine: lastLine)
            // Woken by a graceful shutdown, so SIGTERM never waits for the next check.
            _ = try? await cancelWhenGracefulShutdown {
                try await Task.sleep(for: .milliseconds(state.settings.withLock { $0.checkIntervalMilliseconds }))
            }
        }
    }

    /// One check (and re-apply when configured); returns the state line logged, to log changes only.
    func checkOnce(previousLine: String?) -> String {
        let expected = state.expected.withLock { $0 }
        let listing = try? String(contentsOfFile: state.state.appliedRulesListing, encoding: .utf8)
        var status = inspector.check(expected, appliedListing: listing)
        if !status.isCurrent {
            state.failedChecks.wrappingIncrement(ordering: .relaxed)
            if state.settings.withLock({ $0.reapply }) {
                let backend = status.backend ?? installer.detectBackend().backend
                do {
                    let warnings = try installer.applyAndRecord(expected, backend: backend, state: state.state)
                    for warning in warnings { logger.warning("\(warning)") }
                    state.reapplies.wrappingIncrement(ordering: .relaxed)
                    logger.warning("kernel rules were not in place (\(status)); re-applied them (rules.reapply)")
                    let listing = try? String(contentsOfFile: state.state.appliedRulesListing, encoding: .utf8)
                    status = inspector.check(expected, appliedListing: listing)
                } catch {
                    state.reapplyFailures.wrappingIncrement(ordering: .relaxed)
                    logger.error("re-applying the kernel rules failed: \(error)")
                }
            }
        }
        state.lastStatus.withLock { $0 = status }
        blockVerdict.setRepeatInJudgeChain(status.backend == .nftables && status.isCurrent)
        let line = status.description
        if line != previousLine {
            if status.isCurrent {
                logger.notice("kernel rules: \(line)")
            } else {
                logger.error(
                    """
                    kernel rules: \(line): port 25 may be open or unjudged; run `egress25ctl rules apply` \
                    (or set rules.reapply: true)
                    """)
            }
        }
        return line
    }
}
