import Egress25Configuration
import Foundation

extension KernelRulesInstaller {
    /// Applies `rules` with `backend` (``apply(_:backend:)``), then records under `state` what was applied: the
    /// rules themselves (``StateDirectory/lastAppliedRules``, which `rules apply --fail-closed` restores at a boot
    /// with a broken configuration) and their listing (``StateDirectory/appliedRulesListing``, against which
    /// egress25d notices later edits by other tools).
    /// - Returns: Warnings for what could not be recorded (the rules are in force all the same).
    /// - Throws: ``KernelRulesError`` when the apply fails; the rules in force then stay, and nothing is recorded.
    public func applyAndRecord(
        _ rules: KernelRuleSet, backend: RulesBackend, state: StateDirectory
    )
        throws(KernelRulesError) -> [String]
    {
        try apply(rules, backend: backend)
        var warnings: [String] = []
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(rules).write(to: URL(fileURLWithPath: state.lastAppliedRules), options: .atomic)
        } catch {
            warnings.append(
                "could not save the applied rules to \(state.lastAppliedRules) (a boot with a broken configuration "
                    + "will close port 25 to everyone instead of restoring them): \(error.localizedDescription)")
        }
        let inspector = KernelRulesInspector(runner: runner)
        do {
            guard let listing = inspector.listing(backend) else {
                throw KernelRulesError(.commandFailed, "the installed rules could not be listed")
            }
            try listing.write(toFile: state.appliedRulesListing, atomically: true, encoding: .utf8)
        } catch {
            warnings.append(
                "could not save the rules listing to \(state.appliedRulesListing) (edits of the rules by other tools "
                    + "will not be noticed): \(error)")
        }
        return warnings
    }
}
