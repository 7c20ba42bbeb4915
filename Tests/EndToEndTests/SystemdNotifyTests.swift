import Egress25TestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The sd_notify protocol as systemd sees it (Type=notify, WatchdogSec=), with a stand-in notify socket.
@Suite(.serialized, .enabled(if: EndToEnd.enabled, EndToEnd.skipReason))
struct SystemdNotifyTests {
    @Test func readyWatchdogReloadingAndStopping() throws {
        let topology = try Topology()
        defer { topology.tearDown() }
        try topology.writeConfiguration()
        try #require(try topology.ctl(["rules", "apply"]).status == 0)
        let socketPath = topology.directory + "/notify.sock"
        let messagesPath = topology.directory + "/notify.log"
        let listener = Process()
        listener.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        listener.arguments = ["python3", EndToEnd.scripts + "/notify_listener.py", socketPath, messagesPath, "30"]
        try listener.run()
        defer { if listener.isRunning { kill(listener.processIdentifier, SIGKILL) } }
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: socketPath) { usleep(20_000) }

        func messages() -> [String] {
            ((try? String(contentsOfFile: messagesPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        func waitFor(_ prefix: String, after count: Int = 0, seconds: Double = 3) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if messages().dropFirst(count).contains(where: { $0.hasPrefix(prefix) }) { return true }
                usleep(20_000)
            }
            return false
        }

        // WatchdogSec=1s: systemd expects a keep-alive at least every second.
        try topology.startDaemon(environment: ["NOTIFY_SOCKET": socketPath, "WATCHDOG_USEC": "1000000"])
        #expect(waitFor("READY=1"), "\(messages())")
        let pid = try #require(topology.daemonPID)
        usleep(2_000_000)
        let keepAlives = messages().filter { $0 == "WATCHDOG=1" }.count
        #expect(keepAlives >= 3, "keep-alives in 2 s with WatchdogSec=1s: \(keepAlives)")

        let beforeReload = messages().count
        kill(pid, SIGHUP)
        #expect(waitFor("RELOADING=1|MONOTONIC_USEC=", after: beforeReload), "\(messages())")
        #expect(waitFor("READY=1", after: beforeReload))

        let beforeTerm = messages().count
        topology.daemonStoppedOnPurpose = true
        kill(pid, SIGTERM)
        topology.daemon?.waitUntilExit()
        #expect(waitFor("STOPPING=1", after: beforeTerm), "\(messages())")
        #expect(topology.daemon?.terminationStatus == 0)
    }
}
