/// Reads which egress25 kernel rules are installed and whether they are the ones a configuration renders
/// (rules drift): egress25d runs this on its watchdog tick, `egress25ctl rules status` on demand.
///
/// The queue rules carry ``KernelRuleSet/fingerprintComment`` (`egress25 rules FINGERPRINT q=… mark=…`), a
/// hash of everything the rules encode (sets, ports, queues, fail policy, mark, mask). The check lists the
/// installed rules with the real tools and requires, for the backend found:
/// - nftables: `table inet egress25` with chains `judge` and `enforce` on the forward hook, the queue rule with
///   the expected fingerprint;
/// - iptables: both jumps from FORWARD (mangle and filter, IPv4 and IPv6), the queue rule with the expected
///   fingerprint in `EGRESS25-JUDGE`, the reject rule in `EGRESS25-ENFORCE`, and the four ipsets.
public struct KernelRulesInspector: Sendable {
    /// Runs the listing commands.
    public var runner: CommandRunner

    public init(runner: CommandRunner = CommandRunner(timeoutSeconds: 10)) {
        self.runner = runner
    }

    /// The outcome of one check.
    public struct Status: Sendable, Hashable, CustomStringConvertible {
        /// The backend whose rules were found (`nil`: neither backend has egress25 rules).
        public var backend: RulesBackend?
        /// What is missing or different; empty when the rules are in place and current.
        public var problems: [String]

        /// Whether the rules are in place and match the configuration.
        public var isCurrent: Bool { backend != nil && problems.isEmpty }

        public var description: String {
            guard let backend else { return "no egress25 kernel rules installed" }
            if problems.isEmpty { return "\(backend) rules installed and current" }
            return "\(backend) rules: " + problems.joined(separator: "; ")
        }
    }

    /// Checks the installed rules against `expected`. Never throws: a tool that cannot run is a problem.
    public func check(_ expected: KernelRuleSet) -> Status {
        let nftables = inspectNftables(expected)
        if nftables.backend != nil { return nftables }
        let iptables = inspectIptables(expected)
        if iptables.backend != nil { return iptables }
        return Status(backend: nil, problems: nftables.problems + iptables.problems)
    }

    func inspectNftables(_ expected: KernelRuleSet) -> Status {
        guard CommandRunner.which("nft") != nil || !runner.prefix.isEmpty else {
            return Status(backend: nil, problems: [])
        }
        guard let listing = try? runner.run(["nft", "list", "table", "inet", NftablesRenderer.tableName]),
            listing.succeeded
        else { return Status(backend: nil, problems: []) }
        let text = listing.standardOutput
        var problems: [String] = []
        for chain in ["judge", "enforce"] where !text.contains("chain \(chain) {") {
            problems.append("chain \(chain) is missing")
        }
        if !text.contains("hook forward") { problems.append("no chain is attached to the forward hook") }
        problems += fingerprintProblems(text, expected)
        return Status(backend: .nftables, problems: problems)
    }

    func inspectIptables(_ expected: KernelRuleSet) -> Status {
        var problems: [String] = []
        var found = false
        for family in IptablesRenderer.Family.allCases {
            guard CommandRunner.which(family.iptables) != nil || !runner.prefix.isEmpty else { continue }
            let judge = try? runner.run([family.iptables, "-w", "-t", "mangle", "-S", IptablesRenderer.judgeChain])
            let enforce = try? runner.run(
                [family.iptables, "-w", "-t", "filter", "-S", IptablesRenderer.enforceChain])
            guard let judge, let enforce, judge.succeeded || enforce.succeeded else {
                problems.append("\(family.iptables): chains \(IptablesRenderer.judgeChain) and "
                    + "\(IptablesRenderer.enforceChain) are missing")
                continue
            }
            found = true
            if judge.succeeded {
                problems += fingerprintProblems(judge.standardOutput, expected).map { "\(family.iptables): \($0)" }
            } else {
                problems.append("\(family.iptables): chain mangle \(IptablesRenderer.judgeChain) is missing")
            }
            if !enforce.succeeded || !enforce.standardOutput.contains("REJECT") {
                problems.append("\(family.iptables): the reject rule in filter \(IptablesRenderer.enforceChain) is missing")
            }
            for jump in IptablesRenderer.jumps {
                let present = (try? runner.run([family.iptables, "-w"] + jump.arguments("-C")))?.succeeded ?? false
                if !present {
                    problems.append("\(family.iptables): the jump from \(jump.table) FORWARD to \(jump.chain) is missing")
                }
            }
        }
        guard found else { return Status(backend: nil, problems: problems) }
        if let sets = try? runner.run(["ipset", "list", "-n"]), sets.succeeded {
            let names = Set(sets.standardOutput.split(separator: "\n").map(String.init))
            for family in IptablesRenderer.Family.allCases {
                for name in [IptablesRenderer.subscriberSet(family), IptablesRenderer.relaySet(family)]
                where !names.contains(name) {
                    problems.append("ipset \(name) is missing")
                }
            }
        } else {
            problems.append("ipset list failed")
        }
        return Status(backend: .iptables, problems: problems)
    }

    /// The fingerprint comment in `listing` compared with `expected`'s: missing, or another configuration's
    /// (the comment names its queues and mark, which the message repeats).
    func fingerprintProblems(_ listing: String, _ expected: KernelRuleSet) -> [String] {
        if listing.contains(expected.fingerprintComment) { return [] }
        let marker = "egress25 rules "
        guard let line = listing.split(separator: "\n").first(where: { $0.contains(marker) }),
            let start = line.firstIndex(of: "\"")
        else {
            return ["the queue rule (with comment \"egress25 rules …\") is missing"]
        }
        let installed = line[line.index(after: start)...].prefix { $0 != "\"" }
        return ["installed rules are \"\(installed)\", this configuration renders \"\(expected.fingerprintComment)\""
            + " (rules not re-applied after a configuration change?)"]
    }
}
