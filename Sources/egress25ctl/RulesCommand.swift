import ArgumentParser
import Egress25Configuration
import Foundation
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
            and reject_mark. Only SYNs without ACK from subscribers to policed ports reach egress25d. A \
            subscriber's first fragment that does not hold the whole TCP header (RFC 1858, RFC 7112) and an \
            IPv4 fragment at offset 1 (RFC 3128) are dropped in the kernel.
            """,
        subcommands: [RulesShowCommand.self, RulesApplyCommand.self, RulesStatusCommand.self, RulesRemoveCommand.self]
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
            copy judges the SYNs, and the rules are saved to <state_directory>/kernel-rules.last.json.

            A failed apply never changes the rules in force. With --fail-closed (egress25-rules.service \
            passes it), when the configuration cannot be read and no egress25 rules are installed (a boot \
            with a broken file), the last applied rules are installed again from --last-applied, or, when \
            none were saved, rules that close port 25 to everyone; the command still exits 1.

            While egress25d runs, rules whose queues, fail_policy, reject_mark or reject_mask differ from \
            the daemon's are refused (the daemon would keep writing the old mark, and every blocked SYN \
            would be forwarded): stop egress25d first, or pass --force.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "auto, nftables or iptables (iptables + ipset).")
    var backend: RulesApplyBackend = .auto

    @Flag(help: "Apply even when the running egress25d uses other queues or another reject mark.")
    var force = false

    @Flag(
        help: """
            When the configuration is invalid and no egress25 rules are installed, install --last-applied, \
            or rules closing port 25 to everyone.
            """)
    var failClosed = false

    @Option(
        help: ArgumentHelp(
            """
            The rules --fail-closed installs (saved by the last successful apply). Default: \
            kernel-rules.last.json in the state_directory the file names, if it can be read, else \
            /var/lib/egress25/kernel-rules.last.json.
            """, valueName: "file"))
    var lastApplied: String?

    func run() throws {
        let configuration: Egress25Configuration
        do {
            configuration = try global.loadConfiguration()
        } catch {
            guard failClosed else { throw CommandFailure("\(error); nothing was changed") }
            try requireRoot("rules apply")
            throw CommandFailure("\(error); " + keepPortClosed())
        }
        try requireRoot("rules apply")
        let rules = KernelRuleSet(configuration: configuration)
        if !force, let running = RunningDaemon.kernelSettings(configuration), !running.matches(rules) {
            throw CommandFailure(
                "egress25d (pid \(running.pid)) runs with \(running.summary), but \(configuration.sourcePath) "
                    + "gives \(RunningDaemonKernelSettings(pid: running.pid, rules: rules).summary): the daemon "
                    + "would not serve these rules and blocked SYNs would be forwarded. Stop egress25d, apply, "
                    + "then start it (or pass --force); the rules in force stay")
        }
        let installer = KernelRulesInstaller()
        let chosen = chooseBackend(installer)
        let warnings: [String]
        do {
            // The state directory may not exist yet on a first boot (systemd's StateDirectory= creates it for the
            // daemon and gives it to the service user).
            try? FileManager.default.createDirectory(
                atPath: configuration.stateDirectory, withIntermediateDirectories: true)
            warnings = try installer.applyAndRecord(rules, backend: chosen, state: configuration.state)
        } catch {
            throw CommandFailure("applying the \(chosen) rules failed, the rules in force stay: \(error)")
        }
        removeOtherBackend(installer, chosen)
        for warning in warnings { FileHandleStderr.write("egress25ctl: warning: \(warning)\n") }
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

    private func chooseBackend(_ installer: KernelRulesInstaller) -> RulesBackend {
        switch backend {
        case .nftables: return .nftables
        case .iptables: return .iptables
        case .auto:
            let detection = installer.detectBackend()
            FileHandleStderr.write("egress25ctl: backend auto: using \(detection.backend): \(detection.reason)\n")
            return detection.backend
        }
    }

    private func removeOtherBackend(_ installer: KernelRulesInstaller, _ chosen: RulesBackend) {
        let other = RulesBackend.allCases.filter { $0 != chosen }
        do {
            let removal = try installer.remove(backends: other)
            for item in removal.removed {
                FileHandleStderr.write("egress25ctl: removed stale \(item)\n")
            }
        } catch {
            FileHandleStderr.write("egress25ctl: warning: could not remove stale \(other[0]) rules: \(error)\n")
        }
    }

    /// The configuration is invalid: leave the rules in force alone, or, when none are, install the last applied
    /// rules or the lockdown rules. Returns what was done, for the error message.
    private func keepPortClosed() -> String {
        let installer = KernelRulesInstaller()
        let installed = KernelRulesInspector().check(.lockdown).backend
        if let installed {
            return "the \(installed) rules in force stay"
        }
        let lastApplied =
            self.lastApplied
            ?? ConfigurationLoader.stateDirectoryHint(path: global.config).map { StateDirectory($0).lastAppliedRules }
            ?? StateDirectory.defaultLastAppliedRules
        var rules = KernelRuleSet.lockdown
        var what =
            "no rules were saved (\(lastApplied)), so port 25 is now closed to everyone (every SYN to port "
            + "25 is dropped, relays included) until the configuration is fixed and applied"
        if let distrust = Self.untrusted(lastApplied) {
            // The state directory belongs to the daemon's user; root must not install rules that user could have
            // written (relays 0.0.0.0/0 would open port 25 to everyone).
            what =
                "\(lastApplied) \(distrust), so it is not trusted and port 25 is now closed to everyone until the "
                + "configuration is fixed and applied"
        } else if let data = FileManager.default.contents(atPath: lastApplied) {
            do {
                rules = try JSONDecoder().decode(KernelRuleSet.self, from: data)
                what =
                    "no egress25 rules were installed, so the last applied rules were installed again from "
                    + lastApplied
            } catch {
                what =
                    "\(lastApplied) is unreadable (\(error)), so port 25 is now closed to everyone until the "
                    + "configuration is fixed and applied"
            }
        }
        let chosen = chooseBackend(installer)
        do {
            try installer.apply(rules, backend: chosen)
        } catch {
            return "no egress25 rules are installed and installing fallback rules failed: \(error)"
        }
        return what
    }

    /// Why the saved rules at `path` cannot be trusted, or `nil` when they can (or do not exist): they must be a
    /// regular file (not a symbolic link) owned by this process's user (root, who wrote them) and writable by
    /// nobody else.
    static func untrusted(_ path: String) -> String? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }  // absent: the lockdown rules
        if status.st_mode & S_IFMT != S_IFREG { return "is not a regular file" }
        if status.st_uid != geteuid() {
            return "is owned by uid \(status.st_uid), not by uid \(geteuid()) who saved it"
        }
        if status.st_mode & (S_IWGRP | S_IWOTH) != 0 { return "is writable by others than its owner" }
        return nil
    }
}

/// The running egress25d of a configuration, found through its pid file.
enum RunningDaemon {
    /// The process id in `<state_directory>/egress25d.pid` when that process is alive and is egress25d
    /// (``ReloadCommand/notEgress25d(pid:proc:)``); `nil` otherwise.
    static func pid(_ configuration: Egress25Configuration) -> pid_t? {
        guard let text = try? String(contentsOfFile: configuration.state.pidFile, encoding: .utf8),
            let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1,
            ReloadCommand.notEgress25d(pid: pid) == nil
        else { return nil }
        return pid
    }

    /// The kernel-facing settings of the running egress25d, when one runs and wrote them.
    static func kernelSettings(_ configuration: Egress25Configuration) -> RunningDaemonKernelSettings? {
        guard let pid = pid(configuration),
            let data = FileManager.default.contents(atPath: configuration.state.runningKernelSettings),
            let settings = try? JSONDecoder().decode(RunningDaemonKernelSettings.self, from: data),
            settings.pid == pid
        else { return nil }
        return settings
    }
}

/// `egress25ctl rules status`: whether the installed rules are the ones the configuration renders.
struct RulesStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Check that egress25's kernel rules are installed and match the configuration (exit 0 or 1).",
        discussion: """
            The same check egress25d runs on its watchdog tick: the backend found, the chains and jumps, \
            and the fingerprint of the rendered rules (sets, ports, queues, fail policy, mark) in the queue \
            rule's comment.
            """
    )

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let configuration = try global.loadConfiguration()
        try requireRoot("rules status")
        let listing = try? String(contentsOfFile: configuration.state.appliedRulesListing, encoding: .utf8)
        let status = KernelRulesInspector().check(KernelRuleSet(configuration: configuration), appliedListing: listing)
        guard status.isCurrent else { throw CommandFailure("\(status)") }
        print(status.description)
    }
}

struct RulesRemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove egress25's kernel rules of both backends (needs root). Succeeds when none are installed.",
        discussion: """
            Deletes only table inet egress25, the FORWARD jumps to EGRESS25-JUDGE and EGRESS25-ENFORCE, \
            the EGRESS25-* chains, and the egress25-* ipsets. The configuration file is not read, so this \
            works even when it is broken. This opens port 25 to every subscriber: stopping \
            egress25-rules.service does not run it, only this explicit command does.
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
