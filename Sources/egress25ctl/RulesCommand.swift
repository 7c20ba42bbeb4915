import ArgumentParser
import Egress25Configuration
import KernelRules

#if canImport(Glibc)
    import Glibc
#endif

/// `egress25ctl rules show|apply|remove`: the kernel side of egress25, rendered from the configuration.
struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract:
            "Show, apply or remove the kernel rules (nftables, or iptables + ipset) that queue SYNs to egress25d.",
        discussion: """
            The rules come from the configuration file: subscriber ranges, relay hosts without a port \
            restriction (accepted in the kernel, before the queue), policed ports, queue numbers, fail_policy \
            and reject_mark. Only SYNs without ACK from subscribers to policed ports reach egress25d, plus TCP \
            first fragments that may lack the TCP header (RFC 1858); IPv4 fragments at offset 1 are dropped.
            """,
        subcommands: [RulesShowCommand.self, RulesApplyCommand.self, RulesRemoveCommand.self]
    )
}

/// `--backend` of `rules show`.
enum RulesShowBackend: String, CaseIterable, ExpressibleByArgument {
    case nftables, iptables
}

/// `--backend` of `rules apply`.
enum RulesApplyBackend: String, CaseIterable, ExpressibleByArgument {
    case auto, nftables, iptables
}

struct RulesShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print the rules rendered from the configuration (an nft script, or a shell script for iptables)."
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "The rule form to print: nftables (nft -f script) or iptables (sh script with ipset).")
    var backend: RulesShowBackend = .nftables

    func run() throws {
        let configuration = try global.loadConfiguration()
        let rules = KernelRuleSet(configuration: configuration)
        switch backend {
        case .nftables: print(NftablesRenderer.render(rules, source: configuration.sourcePath), terminator: "")
        case .iptables: print(IptablesRenderer.renderScript(rules, source: configuration.sourcePath), terminator: "")
        }
    }
}

struct RulesApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Install or atomically replace the rules (needs root). Idempotent.",
        discussion: """
            auto picks nftables when the kernel has the nftables queue expression (checked with \
            `nft --check`, which changes nothing), else iptables + ipset, and says which on stderr. \
            After a successful apply, egress25's rules of the other backend are removed, so exactly one \
            copy judges the SYNs.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "auto, nftables or iptables (iptables + ipset).")
    var backend: RulesApplyBackend = .auto

    func run() throws {
        let configuration = try global.loadConfiguration()
        try requireRoot("rules apply")
        let rules = KernelRuleSet(configuration: configuration)
        let installer = KernelRulesInstaller()
        let chosen: RulesBackend
        switch backend {
        case .nftables: chosen = .nftables
        case .iptables: chosen = .iptables
        case .auto:
            let detection = installer.detectBackend()
            chosen = detection.backend
            FileHandleStderr.write("egress25ctl: backend auto: using \(chosen): \(detection.reason)\n")
        }
        do {
            try installer.apply(rules, backend: chosen)
        } catch {
            throw CommandFailure("applying the \(chosen) rules failed: \(error)")
        }
        let other = RulesBackend.allCases.filter { $0 != chosen }
        do {
            let removal = try installer.remove(backends: other)
            for item in removal.removed {
                FileHandleStderr.write("egress25ctl: removed stale \(item)\n")
            }
        } catch {
            FileHandleStderr.write("egress25ctl: warning: could not remove stale \(other[0]) rules: \(error)\n")
        }
        let queues =
            rules.queueNumbers.count == 1
            ? "queue \(rules.queueNumbers.lowerBound)"
            : "queues \(rules.queueNumbers.lowerBound)-\(rules.queueNumbers.upperBound)"
        print(
            "applied \(chosen) rules: \(rules.subscribersV4.count + rules.subscribersV6.count) subscriber ranges, "
                + "\(rules.relaysV4.count + rules.relaysV6.count) kernel relay prefixes, ports "
                + rules.ports.map(String.init).joined(separator: ",")
                + ", \(queues), fail_policy \(configuration.queue.failPolicy.rawValue)")
    }
}

struct RulesRemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove egress25's kernel rules of both backends (needs root). Succeeds when none are installed.",
        discussion: """
            Deletes only table inet egress25, the FORWARD jumps to EGRESS25-JUDGE and EGRESS25-ENFORCE, \
            those chains, and the egress25-* ipsets. The configuration file is not read, so this works \
            even when it is broken.
            """
    )

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try requireRoot("rules remove")
        let removal: KernelRulesInstaller.Removal
        do {
            removal = try KernelRulesInstaller().remove()
        } catch {
            throw CommandFailure("removing the rules failed: \(error)")
        }
        if removal.removed.isEmpty {
            print("no egress25 rules were installed")
        } else {
            for item in removal.removed { print("removed \(item)") }
        }
    }
}

/// - Throws: ``CommandFailure`` unless running as root.
private func requireRoot(_ command: String) throws {
    guard geteuid() == 0 else {
        throw CommandFailure(
            "\(command) changes the kernel's firewall rules and needs root (CAP_NET_ADMIN); run it with sudo "
                + "or through egress25-rules.service")
    }
}
