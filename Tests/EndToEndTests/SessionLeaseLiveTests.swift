import Egress25TestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 10 "Show", end to end: the session feed is the truth of who holds an address. A session start for an id
/// the store has never seen takes the address (and the previous holder's exception) away within a second, and an
/// exception stops applying through a session whose lease ended, with no command at all.
@Suite(.serialized, .enabled(if: EndToEnd.enabled, EndToEnd.skipReason))
struct SessionLeaseLiveTests {
    static let subscriber = "100.64.0.10"
    static let employerMX = "198.51.100.25"

    /// Topology (with `extra` configuration), rules, customer c-1001, daemon running; `body`; teardown.
    private func withRouter(extra: String = "", _ body: (Topology) throws -> Void) throws {
        try Topology.withRouter(
            extra: extra,
            prepare: { try $0.ctlSucceeding(["customer", "add", "c-1001", "--name", "Jane Doe"]) }, body)
    }

    /// `check SUBSCRIBER EMPLOYER_MX --format json`.
    private func check(_ topology: Topology) throws -> [String: Any] {
        try #require(
            try topology.ctlJSON(["check", Self.subscriber, Self.employerMX, "--format", "json"]) as? [String: Any])
    }

    @Test func aSessionStartForAnUnknownIdBlocksThePreviousHoldersExceptionWithinOneSecond() throws {
        try withRouter { topology in
            try topology.ctlSucceeding(["session", "start", "c-1001", Self.subscriber, "--by", "radius"])
            let live = try topology.measureChange(Self.employerMX, from: .refused, to: .connected) {
                try topology.ctlSucceeding(
                    [
                        "exception", "grant", "c-1001", "--to", Self.employerMX, "--for", "1h", "--reason",
                        "telecommuter", "--by", "alice",
                    ])
            }
            try #require(live.outcome == .connected, "the exception never went live: \(live)")

            // c-1001's Accounting-Stop is lost; the address goes to c-7777, whom the store has never seen.
            var output = ""
            let blocked = try topology.measureChange(Self.employerMX, from: .connected, to: .refused) {
                output = try topology.ctlSucceeding(["session", "start", "c-7777", Self.subscriber, "--by", "radius"])
            }
            #expect(output.contains("added customer c-7777 (auto-created"), "\(output)")
            #expect(output.contains("ended session c-1001 100.64.0.10/32 (the address moved to c-7777)"), "\(output)")
            #expect(blocked.outcome == .refused, "c-7777 inherited c-1001's exception: \(blocked)")
            #expect(blocked.seconds < 1.0, "blocked \(Int(blocked.seconds * 1000)) ms after the session start began")
            print("unknown holder: blocked \(Int(blocked.seconds * 1000)) ms after `session start c-7777` began")
            for _ in 0..<3 {
                #expect(try topology.probe(Self.employerMX, 25).outcome == .refused, "stays blocked for c-7777")
            }
            let state = try check(topology)
            #expect(state["verdict"] as? String == "block" && state["reason"] as? String == "blocked_no_exception")
            #expect(state["customer"] as? String == "c-7777", "\(state)")
            let customers = try #require(
                try topology.ctlJSON(["customer", "list", "--format", "json"]) as? [[String: Any]])
            let created = customers.first { $0["id"] as? String == "c-7777" }
            #expect(created?["auto_created"] as? Bool == true, "\(customers)")
        }
    }

    @Test func anExceptionStopsApplyingWhenTheSessionLeaseEndsWithoutAnyCommand() throws {
        try withRouter(extra: "sessions: { lease: 4s }") { topology in
            // The grant first (no address yet), then the session: its 4 s lease starts now.
            try topology.ctlSucceeding(
                [
                    "exception", "grant", "c-1001", "--to", Self.employerMX, "--for", "1h", "--reason", "telecommuter",
                    "--by", "alice",
                ])
            try topology.ctlSucceeding(["session", "start", "c-1001", Self.subscriber, "--by", "radius"])
            let sessions = try #require(
                try topology.ctlJSON(["session", "list", "--format", "json"]) as? [[String: Any]])
            let leaseText = try #require(sessions.first?["lease_until"] as? String, "\(sessions)")
            let leaseEnd = try #require(
                ISO8601DateFormatter().date(from: leaseText)?.timeIntervalSince1970, "\(leaseText)")
            #expect(leaseEnd - Date().timeIntervalSince1970 <= 4.5, "lease until \(leaseText)")

            // Before the lease end: the exception applies.
            var before = try topology.probe(Self.employerMX, 25, timeout: 0.5)
            for _ in 0..<10 where before.outcome != .connected && Date().timeIntervalSince1970 < leaseEnd - 1.5 {
                usleep(100_000)
                before = try topology.probe(Self.employerMX, 25, timeout: 0.5)
            }
            #expect(before.outcome == .connected, "\(before)")
            #expect(Date().timeIntervalSince1970 < leaseEnd, "the probe ended after the lease end")

            // After it: refused, with no command, store write or reload in between.
            let reloadsBefore = try topology.metric("egress25_policy_reloads_total")
            sleep(untilWallClock: leaseEnd + 0.05)
            let after = try topology.probe(Self.employerMX, 25, timeout: 0.5)
            #expect(after.outcome == .refused, "the lease ended at \(leaseText): \(after)")
            #expect(try topology.metric("egress25_policy_reloads_total") == reloadsBefore, "judged, not reloaded")
            let state = try check(topology)
            #expect(state["reason"] as? String == "blocked_exception_expired", "\(state)")
            let explanation = state["explanation"] as? String ?? ""
            #expect(explanation.hasPrefix("lease expired: customer c-1001's session on 100.64.0.10/32"), "\(state)")

            // The feed renews: live again within a second.
            let renewed = try topology.measureChange(Self.employerMX, from: .refused, to: .connected) {
                let output = try topology.ctlSucceeding(
                    ["session", "renew", "c-1001", Self.subscriber, "--by", "radius"])
                #expect(output.contains("renewed session c-1001 100.64.0.10/32"), "\(output)")
            }
            #expect(renewed.outcome == .connected && renewed.seconds < 1.0, "after the renewal: \(renewed)")
        }
    }

    @Test func bindingsAndSessionsOutsideTheAddressPlanAreUsageErrors() throws {
        let topology = try Topology()
        defer { topology.tearDown() }
        try topology.writeConfiguration()
        try topology.ctlSucceeding(["customer", "add", "c-1001"])
        // The e2e subscriber ranges are 100.64.0.0/24 and 2001:db8:6400::/64.
        let outside = try topology.ctl(["session", "start", "c-1001", "100.64.1.7", "--by", "radius"])
        #expect(outside.status == 2, "\(outside)")
        #expect(outside.error.contains("100.64.1.7/32 is not inside a subscriber range"), "\(outside.error)")
        let large = try topology.ctl(["customer", "bind", "c-1001", "2001:db8:6400::/40", "--by", "alice"])
        #expect(large.status == 2, "\(large)")
        #expect(large.error.contains("not inside a subscriber range") || large.error.contains("larger"), "\(large)")
        #expect(try topology.ctlSucceeding(["session", "list"]).split(separator: "\n").count == 1, "nothing written")
        try topology.ctlSucceeding(["session", "start", "c-1001", "100.64.1.7", "--force", "--by", "radius"])
        let prune = try topology.ctl(["session", "prune", "--older-than", "7d", "--by", "cron"])
        #expect(prune.status == 2 && prune.error.contains("younger than 90 days"), "\(prune)")
        // reload refuses a pid file whose process is not egress25d.
        try "\(getpid())\n".write(
            toFile: topology.directory + "/state/egress25d.pid", atomically: true, encoding: .utf8)
        let reload = try topology.ctl(["reload"])
        #expect(reload.status == 1 && reload.error.contains("not egress25d"), "\(reload)")
    }
}
