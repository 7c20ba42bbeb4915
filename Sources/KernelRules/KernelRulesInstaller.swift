/// Applies and removes the egress25 kernel rules with the real tools (`nft`, `ipset`, `iptables[-restore]`,
/// `ip6tables[-restore]`), touching only egress25's own table, sets, chains and jumps.
///
/// Needs `CAP_NET_ADMIN` (root). Every operation is idempotent: apply twice leaves one copy of each rule,
/// remove succeeds when nothing is installed.
public struct KernelRulesInstaller: Sendable {
    /// Runs the commands (its prefix can place them in a network namespace).
    public var runner: CommandRunner

    /// Creates an installer; commands time out after 120 s by default.
    public init(runner: CommandRunner = CommandRunner()) {
        self.runner = runner
    }

    /// The backend `auto` chose, and why.
    public struct Detection: Sendable, Hashable {
        /// The backend chosen.
        public var backend: RulesBackend
        /// One line, e.g. `the kernel lacks the nftables queue expression (CONFIG_NFT_QUEUE): nft --check: …`.
        public var reason: String
    }

    /// A throwaway table using `queue`, only ever checked (`nft --check`), never committed.
    static let probeScript = """
        table inet egress25_probe {
        \tchain probe {
        \t\ttype filter hook forward priority mangle; policy accept;
        \t\tmeta l4proto tcp queue num 0 bypass
        \t}
        }

        """

    /// Picks nftables when the kernel has the nft `queue` expression, else iptables + ipset.
    ///
    /// Checks a throwaway table that uses `queue` with `nft --check -f -`: nft sends the whole transaction
    /// to the kernel, which validates every expression, and then aborts it, so nothing is changed. A kernel
    /// without `CONFIG_NFT_QUEUE` answers `Could not process rule: No such file or directory`.
    public func detectBackend() -> Detection {
        let result: CommandRunner.Result
        do {
            result = try runner.run(["nft", "--check", "-f", "-"], input: KernelRulesInstaller.probeScript)
        } catch {
            return Detection(backend: .iptables, reason: "nftables is not usable: \(error.message)")
        }
        if result.succeeded {
            return Detection(backend: .nftables, reason: "the kernel accepts the nftables queue expression")
        }
        let detail = result.firstErrorLine
        if detail.contains("No such file or directory") {
            return Detection(
                backend: .iptables,
                reason: "the kernel lacks the nftables queue expression (CONFIG_NFT_QUEUE): nft --check: \(detail)")
        }
        return Detection(backend: .iptables, reason: "nftables cannot queue here: nft --check: \(detail)")
    }

    // MARK: - apply

    /// Installs `rules` with `backend`, replacing any previous egress25 rules of that backend atomically.
    /// - Throws: ``KernelRulesError`` naming the failing command and its stderr. On failure the previous rules of
    ///   the backend stay in place (nft transaction / iptables-restore commit) except that ipsets may already
    ///   hold the new elements.
    public func apply(_ rules: KernelRuleSet, backend: RulesBackend) throws(KernelRulesError) {
        switch backend {
        case .nftables:
            do {
                try runner.check(["nft", "-f", "-"], input: NftablesRenderer.render(rules))
            } catch {
                // Say why when the kernel cannot queue from nftables at all (the common case for this error).
                guard error.message.contains("No such file or directory"), detectBackend().backend == .iptables else {
                    throw error
                }
                throw KernelRulesError(
                    .unsupported,
                    "\(error.message) (this kernel lacks the nftables queue expression, CONFIG_NFT_QUEUE: "
                        + "use --backend iptables or auto)",
                    command: error.command)
            }
        case .iptables:
            try applyIptables(rules)
        }
    }

    /// iptables + ipset, in an order that leaves the previous rules in force when any step fails:
    /// 1. the new set contents are staged in temporary sets (the live sets are untouched);
    /// 2. both chain sets are validated with `iptables-restore --test` / `ip6tables-restore --test`;
    /// 3. our chains are replaced, IPv4 then IPv6, each in one commit; when the IPv6 commit fails, the IPv4
    ///    chains saved before step 3 are restored;
    /// 4. the staged sets are swapped in (atomically per set) and the jumps added when missing.
    func applyIptables(_ rules: KernelRuleSet) throws(KernelRulesError) {
        let families = IptablesRenderer.Family.allCases
        try runner.check(["ipset", "restore"], input: IptablesRenderer.ipsetStageInput(rules))
        for family in families {
            try runner.check(
                [family.iptablesRestore, "-w", "--noflush", "--test"],
                input: IptablesRenderer.iptablesRestoreInput(rules, family: family))
        }
        var committed: [(IptablesRenderer.Family, String)] = []
        for family in families {
            let previous = try savedChains(family)
            do {
                try runner.check(
                    [family.iptablesRestore, "-w", "--noflush"],
                    input: IptablesRenderer.iptablesRestoreInput(rules, family: family))
            } catch {
                for (done, saved) in committed {
                    _ = try? runner.run([done.iptablesRestore, "-w", "--noflush"], input: saved)
                }
                throw error
            }
            committed.append((family, previous))
        }
        try runner.check(["ipset", "restore"], input: IptablesRenderer.ipsetSwapInput)
        for family in families {
            for jump in IptablesRenderer.jumps {
                let check = try runner.run([family.iptables, "-w"] + jump.arguments("-C"))
                if !check.succeeded {
                    try runner.check([family.iptables, "-w"] + jump.arguments(jump.addOperation))
                } else if jump.insertFirst {
                    try moveJumpFirst(jump, family)
                }
            }
        }
    }

    /// Puts `jump` back at position 1 when another rule was inserted before it (a rule there that accepts would
    /// skip egress25's reject): inserts a new copy first, then deletes the old one by its position, so the jump
    /// is never missing.
    func moveJumpFirst(_ jump: IptablesRenderer.Jump, _ family: IptablesRenderer.Family) throws(KernelRulesError) {
        let rule = "-A FORWARD -j \(jump.chain)"
        let rules = try runner.check([family.iptables, "-w", "-t", jump.table, "-S", "FORWARD"])
            .standardOutput.split(separator: "\n").filter { $0.hasPrefix("-A ") }
        guard let position = rules.firstIndex(where: { $0 == rule }), position > 0 else { return }
        try runner.check([family.iptables, "-w"] + jump.arguments("-I"))
        // After the insert the old copy is one further down; positions count from 1.
        try runner.check([family.iptables, "-w", "-t", jump.table, "-D", "FORWARD", "\(position + 2)"])
    }

    /// `iptables-restore --noflush` input that recreates egress25's chains of `family` as they are now (empty
    /// chains when none exist, which is what an absent chain amounts to for the jumps).
    func savedChains(_ family: IptablesRenderer.Family) throws(KernelRulesError) -> String {
        var out = ""
        for table in ["mangle", "filter"] {
            out += "*\(table)\n"
            var rules = ""
            for (chainTable, chain) in IptablesRenderer.chains where chainTable == table {
                out += ":\(chain) - [0:0]\n"
                let listing = try runner.run([family.iptables, "-w", "-t", table, "-S", chain])
                guard listing.succeeded else { continue }
                for line in listing.standardOutput.split(separator: "\n") where line.hasPrefix("-A ") {
                    rules += line + "\n"
                }
            }
            out += rules + "COMMIT\n"
        }
        return out
    }

    // MARK: - remove

    /// What ``remove(backends:)`` found and deleted, for the operator.
    public struct Removal: Sendable, Hashable {
        /// Human-readable items removed, e.g. `nftables table inet egress25`, `iptables mangle FORWARD jump`.
        public var removed: [String] = []
        /// Backends skipped because their tools are not installed.
        public var skipped: [String] = []
    }

    /// Removes egress25's rules of `backends` (default: both): the nft table; the FORWARD jumps (every copy),
    /// the EGRESS25-* chains and the egress25-* ipsets. Succeeds when nothing is installed; a backend whose
    /// tools are not installed is skipped (nothing of it can be installed).
    /// - Throws: ``KernelRulesError`` naming the failing command and its stderr.
    @discardableResult
    public func remove(backends: [RulesBackend] = RulesBackend.allCases) throws(KernelRulesError) -> Removal {
        var removal = Removal()
        for backend in backends {
            switch backend {
            case .nftables: try removeNftables(&removal)
            case .iptables: try removeIptables(&removal)
            }
        }
        return removal
    }

    /// Whether `table inet egress25` exists (`false` also when nft is not installed).
    ///
    /// - Throws: ``KernelRulesError`` `.toolMissing` when the runner's prefix tool is not installed, or
    ///   `.commandFailed` when `nft` cannot be started or runs longer than the runner's timeout.
    public func nftablesTableExists() throws(KernelRulesError) -> Bool {
        guard CommandRunner.which("nft") != nil || !runner.prefix.isEmpty else { return false }
        return try runner.run(["nft", "list", "table", "inet", NftablesRenderer.tableName]).succeeded
    }

    func removeNftables(_ removal: inout Removal) throws(KernelRulesError) {
        guard CommandRunner.which("nft") != nil else {
            removal.skipped.append("nftables (nft not installed)")
            return
        }
        guard try nftablesTableExists() else { return }
        try runner.check(["nft", "-f", "-"], input: NftablesRenderer.removalScript)
        removal.removed.append("nftables table inet \(NftablesRenderer.tableName)")
    }

    func removeIptables(_ removal: inout Removal) throws(KernelRulesError) {
        for family in IptablesRenderer.Family.allCases {
            guard CommandRunner.which(family.iptables) != nil else {
                removal.skipped.append("\(family.iptables) (not installed)")
                continue
            }
            for jump in IptablesRenderer.jumps {
                // Delete every copy of the jump (an older, non-idempotent install may have added several).
                while try runner.run([family.iptables, "-w"] + jump.arguments("-C")).succeeded {
                    try runner.check([family.iptables, "-w"] + jump.arguments("-D"))
                    removal.removed.append("\(family.iptables) \(jump.table) FORWARD jump to \(jump.chain)")
                }
            }
            // Flush every chain first (the judge chain jumps to the first-fragment chain), then delete them.
            var declared: [(table: String, chain: String)] = []
            for (table, chain) in IptablesRenderer.chains {
                let listing = try runner.run([family.iptables, "-w", "-t", table, "-S"])
                guard listing.succeeded else { continue }  // table not available: nothing of ours in it
                guard listing.standardOutput.split(separator: "\n").contains(where: { $0 == "-N \(chain)" }) else {
                    continue
                }
                try runner.check([family.iptables, "-w", "-t", table, "-F", chain])
                declared.append((table, chain))
            }
            for (table, chain) in declared {
                try runner.check([family.iptables, "-w", "-t", table, "-X", chain])
                removal.removed.append("\(family.iptables) \(table) chain \(chain)")
            }
        }
        // Sets last: a set still referenced by a rule cannot be destroyed.
        guard CommandRunner.which("ipset") != nil else {
            removal.skipped.append("ipset (not installed)")
            return
        }
        let existing = Set(
            try runner.check(["ipset", "list", "-n"]).standardOutput.split(separator: "\n").map(String.init))
        for name in IptablesRenderer.allSetNames where existing.contains(name) {
            try runner.check(["ipset", "destroy", name])
            removal.removed.append("ipset \(name)")
        }
    }
}
