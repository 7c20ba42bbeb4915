import ArgumentParser
import Egress25Configuration
import Egress25System
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `egress25ctl reload`: asks the running egress25d to rebuild its policy (as SIGHUP does).
struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Make the running egress25d reload its configuration and exceptions (sends SIGHUP).",
        discussion: """
            Finds the daemon through <state_directory>/egress25d.pid, and signals that process only when it \
            really is egress25d (/proc/PID/comm or the name of /proc/PID/exe): a stale pid file whose number \
            now belongs to another program is an error (exit status 1), and nothing is signalled. An invalid \
            configuration is rejected by the \
            daemon with file, line and reason, and the policy in force stays; check first with \
            `egress25d --check-config`. Under systemd, `systemctl reload egress25d` does the same.
            """
    )

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let configuration = try global.loadConfiguration()
        let path = configuration.state.pidFile
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1
        else {
            throw CommandFailure("no running egress25d: \(path) is missing or unreadable")
        }
        if let problem = Self.notEgress25d(pid: pid) {
            throw CommandFailure("not signalling pid \(pid) from \(path): \(problem) (stale pid file?)")
        }
        guard kill(pid, SIGHUP) == 0 else {
            let reason = errno == ESRCH ? "no such process (stale pid file?)" : SystemCallError.describe(errno)
            throw CommandFailure("signalling egress25d (pid \(pid)) failed: \(reason)")
        }
        print("reload requested from egress25d (pid \(pid)); its log reports the result")
    }

    /// Why process `pid` is not egress25d, or `nil` when it is: its `/proc/PID/comm` is `egress25d`, or its
    /// `/proc/PID/exe` link names a file `egress25d` (also ` (deleted)` after an upgrade replaced the binary).
    static func notEgress25d(pid: pid_t, proc: String = "/proc") -> String? {
        let commPath = "\(proc)/\(pid)/comm"
        guard let comm = try? String(contentsOfFile: commPath, encoding: .utf8) else {
            return "no such process (\(commPath) is unreadable)"
        }
        let name = comm.trimmingCharacters(in: .whitespacesAndNewlines)
        if name == "egress25d" { return nil }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(proc)/\(pid)/exe") {
            let base = (exe as NSString).lastPathComponent
            if base == "egress25d" || base == "egress25d (deleted)" { return nil }
        }
        return "it is \"\(name)\", not egress25d"
    }
}
