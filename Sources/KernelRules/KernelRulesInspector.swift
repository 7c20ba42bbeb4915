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

    /// Creates an inspector; the listing commands time out after 10 s by default.
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

        /// One line: no rules, rules current, or the backend and its problems joined by `; `.
        public var description: String {
            guard let backend else { return "no egress25 kernel rules installed" }
            if problems.isEmpty { return "\(backend) rules installed and current" }
            return "\(backend) rules: " + problems.joined(separator: "; ")
        }
    }

    /// Checks the installed rules against `expected`, and, when `appliedListing` (what ``listing(_:)`` returned
    /// right after the last apply) is given, that nobody edited them since: a rule deleted or inserted in one of
    /// egress25's chains, an element added to or removed from one of its sets. Never throws: a tool that cannot
    /// run is a problem.
    public func check(_ expected: KernelRuleSet, appliedListing: String? = nil) -> Status {
        var status = inspectNftables(expected)
        if status.backend == nil {
            let iptables = inspectIptables(expected)
            guard iptables.backend != nil else {
                return Status(backend: nil, problems: status.problems + iptables.problems)
            }
            status = iptables
        }
        if status.problems.isEmpty, let appliedListing, let backend = status.backend,
            let current = listing(backend), current != appliedListing
        {
            status.problems.append(Self.firstDifference(applied: appliedListing, current: current))
        }
        return status
    }

    /// The installed rules of `backend` as text that changes when any rule or set element of egress25 changes
    /// (rule order included; set members sorted): nftables, `nft list table inet egress25`; iptables, `-S` of
    /// the EGRESS25-* chains of both families and the sorted members of the egress25-* ipsets. `nil` when the
    /// tools cannot list them.
    public func listing(_ backend: RulesBackend) -> String? {
        switch backend {
        case .nftables:
            guard let result = try? runner.run(["nft", "list", "table", "inet", NftablesRenderer.tableName]),
                result.succeeded
            else { return nil }
            return result.standardOutput
        case .iptables:
            var out = ""
            for family in IptablesRenderer.Family.allCases {
                for (table, chain) in IptablesRenderer.chains {
                    guard let result = try? runner.run([family.iptables, "-w", "-t", table, "-S", chain]),
                        result.succeeded
                    else { return nil }
                    out += "# \(family.iptables) \(table)\n" + result.standardOutput
                }
                for name in [IptablesRenderer.subscriberSet(family), IptablesRenderer.relaySet(family)] {
                    guard let result = try? runner.run(["ipset", "list", name]), result.succeeded else { return nil }
                    let members = result.standardOutput.split(separator: "\n")
                        .drop { $0 != "Members:" }.dropFirst().map(String.init).sorted()
                    out += "# ipset \(name)\n" + members.map { $0 + "\n" }.joined()
                }
            }
            return out
        }
    }

    /// `the rules were edited since they were applied: …` with the first line that differs.
    static func firstDifference(applied: String, current: String) -> String {
        let old = applied.split(separator: "\n", omittingEmptySubsequences: false)
        let new = current.split(separator: "\n", omittingEmptySubsequences: false)
        var section = ""
        for index in 0..<max(old.count, new.count) {
            let before = index < old.count ? String(old[index]) : "(nothing)"
            let after = index < new.count ? String(new[index]) : "(nothing)"
            if before.hasPrefix("# ") && before == after { section = String(before.dropFirst(2)) + ": " }
            if before != after {
                let (expected, found) = (
                    before.trimmingWhitespaceAndNewlines(), after.trimmingWhitespaceAndNewlines()
                )
                return "the rules were edited since they were applied: \(section)expected "
                    + "\"\(expected)\", found \"\(found)\""
            }
        }
        return "the rules were edited since they were applied"
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
                problems.append(
                    "\(family.iptables): chains \(IptablesRenderer.judgeChain) and "
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
                problems.append(
                    "\(family.iptables): the reject rule in filter \(IptablesRenderer.enforceChain) is missing")
            }
            for jump in IptablesRenderer.jumps {
                let present = (try? runner.run([family.iptables, "-w"] + jump.arguments("-C")))?.succeeded ?? false
                if !present {
                    problems.append(
                        "\(family.iptables): the jump from \(jump.table) FORWARD to \(jump.chain) is missing")
                } else if jump.insertFirst,
                    let forward = try? runner.run([family.iptables, "-w", "-t", jump.table, "-S", "FORWARD"]),
                    let first = forward.standardOutput.split(separator: "\n").first(where: { $0.hasPrefix("-A ") }),
                    first != "-A FORWARD -j \(jump.chain)"
                {
                    // A rule before the jump that accepts ends the filter table for what it matches: the reject
                    // and the drop of unjudged SYNs would never run for it.
                    problems.append(
                        "\(family.iptables): \"\(first)\" comes before the jump to \(jump.chain) in \(jump.table) "
                            + "FORWARD: what it accepts skips egress25's reject")
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
        return [
            "installed rules are \"\(installed)\", this configuration renders \"\(expected.fingerprintComment)\""
                + " (rules not re-applied after a configuration change?)"
        ]
    }
}
