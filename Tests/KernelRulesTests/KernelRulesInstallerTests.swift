import Egress25Configuration
import Egress25Core
import Egress25TestSupport
import Foundation
import KernelRules
import Testing

#if canImport(Glibc)
import Glibc
#endif

func occurrences(of needle: String, in text: String) -> Int {
    text.components(separatedBy: needle).count - 1
}

@Suite(
    "KernelRulesInstaller in a throwaway network namespace",
    .serialized,
    .enabled(
        if: TestEnvironment.isRoot, "needs root: creates network namespaces (ip netns add) and installs rules in them")
)
struct KernelRulesInstallerTests {
    static let exampleRules: KernelRuleSet = {
        let configuration = try! ConfigurationLoader.load(path: packageRoot + "/deploy/egress25.yaml")
        return KernelRuleSet(configuration: configuration)
    }()

    @Test("iptables + ipset: applying twice leaves one copy of each rule; a foreign rule stays")
    func iptablesApplyTwice() throws {
        let namespace = try NetworkNamespace()
        try namespace.check("iptables", "-A", "FORWARD", "-s", "10.9.9.0/24", "-j", "ACCEPT")
        try namespace.check("ip6tables", "-A", "FORWARD", "-s", "fd00:9::/64", "-j", "ACCEPT")
        let installer = KernelRulesInstaller(runner: namespace.runner)

        try installer.apply(Self.exampleRules, backend: .iptables)
        try installer.apply(Self.exampleRules, backend: .iptables)

        // IPv4 judge: offset-1 fragment drop, first-fragment check, marked SYN, relay, SYN queue; IPv6: no
        // offset-1 rule.
        for (tool, save, foreign, judgeRules) in [
            ("iptables", "iptables-save", "-A FORWARD -s 10.9.9.0/24 -j ACCEPT", 5),
            ("ip6tables", "ip6tables-save", "-A FORWARD -s fd00:9::/64 -j ACCEPT", 4),
        ] {
            let rules = try namespace.check(save)
            #expect(occurrences(of: "-A FORWARD -j EGRESS25-JUDGE\n", in: rules) == 1, "\(tool)")
            #expect(occurrences(of: "-A FORWARD -j EGRESS25-ENFORCE\n", in: rules) == 1, "\(tool)")
            #expect(occurrences(of: "-A EGRESS25-JUDGE ", in: rules) == judgeRules, "\(tool)")
            #expect(occurrences(of: "-j NFQUEUE --queue-balance 0:3\n", in: rules) == 1, "\(tool)")
            #expect(occurrences(of: "-A EGRESS25-FIRSTFRAG ", in: rules) == (tool == "iptables" ? 3 : 4), "\(tool)")
            // Reject marked, pass relays, drop what lacks the accept mark (fail_policy closed).
            #expect(occurrences(of: "-A EGRESS25-ENFORCE ", in: rules) == 3, "\(tool)")
            #expect(occurrences(of: "-m mark --mark 0x25/0x25 -j REJECT --reject-with tcp-reset", in: rules) == 1)
            #expect(occurrences(of: foreign, in: rules) == 1, "\(tool)")
            // filter: our jump is first, before the router's own accept rules.
            let filterForward = try namespace.check(tool, "-t", "filter", "-S", "FORWARD")
                .split(separator: "\n").filter { $0.hasPrefix("-A ") }
            #expect(filterForward == ["-A FORWARD -j EGRESS25-ENFORCE", Substring(foreign)], "\(tool)")
        }
        let inspector = KernelRulesInspector(runner: namespace.runner)
        let status = inspector.check(Self.exampleRules)
        #expect(status.backend == .iptables && status.isCurrent, "\(status)")
        // Another tool deletes a jump: the check says which one is missing.
        try namespace.check("ip6tables", "-t", "filter", "-D", "FORWARD", "-j", "EGRESS25-ENFORCE")
        let drift = inspector.check(Self.exampleRules)
        #expect(drift.description.contains("ip6tables: the jump from filter FORWARD to EGRESS25-ENFORCE is missing"))
        try installer.apply(Self.exampleRules, backend: .iptables)
        #expect(inspector.check(Self.exampleRules).isCurrent)
        let sets = try namespace.check("ipset", "list", "-n").split(separator: "\n").sorted()
        #expect(
            sets == [
                "egress25-relays-v4", "egress25-relays-v6", "egress25-subscribers-v4", "egress25-subscribers-v6",
            ])
        let subscribers = try namespace.check("ipset", "list", "egress25-subscribers-v4")
        #expect(subscribers.contains("\n100.64.0.0/10\n") || subscribers.hasSuffix("\n100.64.0.0/10"))
        #expect(subscribers.contains("203.0.113.0/24"))
        #expect(try namespace.check("ipset", "list", "egress25-relays-v6").contains("2001:db8:25::25"))
    }

    @Test("iptables + ipset: re-applying a changed configuration replaces the set contents")
    func iptablesSetSwap() throws {
        let namespace = try NetworkNamespace()
        let installer = KernelRulesInstaller(runner: namespace.runner)
        try installer.apply(Self.exampleRules, backend: .iptables)
        var changed = Self.exampleRules
        changed.subscribersV4 = [try IPPrefixParsing.prefix("198.18.0.0/15")]
        changed.relaysV4 = []
        try installer.apply(changed, backend: .iptables)
        let subscribers = try namespace.check("ipset", "list", "egress25-subscribers-v4")
        #expect(subscribers.contains("198.18.0.0/15"))
        #expect(!subscribers.contains("100.64.0.0/10"))
        #expect(try namespace.check("ipset", "list", "egress25-relays-v4").contains("Number of entries: 0"))
        #expect(!(try namespace.check("ipset", "list", "-n")).contains("-new"))
    }

    @Test("remove deletes only our jumps, chains and sets, and succeeds when nothing is installed")
    func iptablesRemove() throws {
        let namespace = try NetworkNamespace()
        try namespace.check(
            "iptables", "-t", "mangle", "-A", "FORWARD", "-p", "tcp", "-j", "TCPMSS", "--clamp-mss-to-pmtu",
            "--tcp-flags", "SYN,RST", "SYN")
        try namespace.check("iptables", "-A", "FORWARD", "-s", "10.9.9.0/24", "-j", "ACCEPT")
        try namespace.check("ipset", "create", "foreign-set", "hash:ip")
        let installer = KernelRulesInstaller(runner: namespace.runner)
        let before = try namespace.check("iptables-save")

        #expect(try installer.remove(backends: [.iptables]).removed.isEmpty)
        try installer.apply(Self.exampleRules, backend: .iptables)
        // mangle: our jump comes after the TCPMSS clamp already there.
        let mangle = try namespace.check("iptables", "-t", "mangle", "-S", "FORWARD")
        let mssIndex = try #require(mangle.range(of: "TCPMSS")).lowerBound
        let judgeIndex = try #require(mangle.range(of: "-j EGRESS25-JUDGE")).lowerBound
        #expect(mssIndex < judgeIndex)

        let removal = try installer.remove()
        #expect(removal.removed.contains("ipset egress25-subscribers-v4"))
        for save in ["iptables-save", "ip6tables-save"] {
            #expect(!(try namespace.check(save)).contains("EGRESS25"))
        }
        #expect(try namespace.check("ipset", "list", "-n") == "foreign-set\n")
        #expect(stripCounters(try namespace.check("iptables-save")) == stripCounters(before))
        #expect(try installer.remove().removed.isEmpty)
    }

    @Test("nftables: the transaction replaces the table atomically, twice leaves one copy, remove leaves others")
    func nftablesTransaction() throws {
        let namespace = try NetworkNamespace()
        try namespace.check(
            "nft", "-f", "-",
            input: "table inet foreign {\n\tchain c {\n\t\ttype filter hook forward priority 0;\n\t}\n}\n")
        let installer = KernelRulesInstaller(runner: namespace.runner)
        let detection = installer.detectBackend()
        var script = NftablesRenderer.render(Self.exampleRules)
        if detection.backend == .iptables {
            // This kernel lacks the nft queue expression: the real script must fail on exactly that, and with
            // the queue statements swapped for a counter everything else (sets, chains, reject) must load.
            let failure = try namespace.runner.run(["nft", "-f", "-"], input: script)
            #expect(!failure.succeeded)
            #expect(failure.standardError.contains("Could not process rule: No such file or directory"))
            // Two queue statements: SYNs, IPv4 and IPv6.
            #expect(occurrences(of: "Error:", in: failure.standardError) == 2)
            #expect(occurrences(of: "^^^^^", in: failure.standardError) == 2)
            #expect(failure.standardError.contains("queue num 0-3"))
            script = script.replacingOccurrences(of: "queue num 0-3", with: "counter")
            try namespace.check("nft", "-f", "-", input: script)
            try namespace.check("nft", "-f", "-", input: script)
        } else {
            try installer.apply(Self.exampleRules, backend: .nftables)
            try installer.apply(Self.exampleRules, backend: .nftables)
        }
        let ruleset = try namespace.check("nft", "list", "ruleset")
        #expect(occurrences(of: "table inet egress25 {", in: ruleset) == 1)
        #expect(occurrences(of: "chain judge {", in: ruleset) == 1)
        #expect(occurrences(of: "chain enforce {", in: ruleset) == 1)
        // At the top of judge (a block answered with NF_REPEAT) and in enforce (NF_ACCEPT), both families.
        #expect(occurrences(of: "reject with tcp reset", in: ruleset) == 4)
        #expect(ruleset.contains("table inet foreign {"))
        #expect(try installer.nftablesTableExists())
        // The drift check finds them current, and names what differs for another configuration.
        let inspector = KernelRulesInspector(runner: namespace.runner)
        let status = inspector.check(Self.exampleRules)
        #expect(status.backend == .nftables && status.isCurrent, "\(status)")
        var changed = Self.exampleRules
        changed.rejectMark = 0x40
        changed.rejectMask = 0x40
        let drift = inspector.check(changed)
        #expect(!drift.isCurrent)
        #expect(
            drift.description.contains("mark=0x25/0x25") && drift.description.contains("mark=0x40/0x40"), "\(drift)")

        let removal = try installer.remove()
        #expect(removal.removed == ["nftables table inet egress25"])
        let after = try namespace.check("nft", "list", "ruleset")
        #expect(!after.contains("egress25"))
        #expect(after.contains("table inet foreign {"))
        #expect(try installer.remove().removed.isEmpty)
    }

    @Test("auto detection agrees with what the kernel accepts")
    func detection() throws {
        let namespace = try NetworkNamespace()
        let installer = KernelRulesInstaller(runner: namespace.runner)
        let detection = installer.detectBackend()
        let probe = try namespace.runner.run(
            ["nft", "-f", "-"],
            input: "table inet e25probe {\n\tchain c {\n\t\ttype filter hook forward priority 0;\n"
                + "\t\tqueue num 0 bypass\n\t}\n}\n")
        #expect((detection.backend == .nftables) == probe.succeeded, "\(detection.reason)")
        // The check changed nothing.
        if detection.backend == .iptables {
            #expect(detection.reason.contains("CONFIG_NFT_QUEUE"))
            #expect(!(try namespace.check("nft", "list", "ruleset")).contains("egress25_probe"))
        }
    }

    /// `iptables-save` output without comment lines and counters.
    func stripCounters(_ text: String) -> [Substring] {
        text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            line.hasPrefix(":") ? line.split(separator: " ").prefix(2).joined(separator: " ")[...] : line
        }
    }
}

enum IPPrefixParsing {
    static func prefix(_ text: String) throws -> Egress25Core.IPPrefix { try Egress25Core.IPPrefix(parsing: text) }
}
