import ArgumentParser
import Egress25Configuration
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
            Finds the daemon through <state_directory>/egress25d.pid. An invalid configuration is rejected by the \
            daemon with file, line and reason, and the policy in force stays; check first with \
            `egress25d --check-config`. Under systemd, `systemctl reload egress25d` does the same.
            """
    )

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let configuration = try global.loadConfiguration()
        let path = configuration.stateDirectory + "/egress25d.pid"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1
        else {
            throw CommandFailure("no running egress25d: \(path) is missing or unreadable")
        }
        guard kill(pid, SIGHUP) == 0 else {
            let reason = errno == ESRCH ? "no such process (stale pid file?)" : String(cString: strerror(errno))
            throw CommandFailure("signalling egress25d (pid \(pid)) failed: \(reason)")
        }
        print("reload requested from egress25d (pid \(pid)); its log reports the result")
    }
}
