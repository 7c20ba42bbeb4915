import Egress25TestSupport
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 4 "Show", end to end: exceptions granted, moved and revoked with the real `egress25ctl` take effect in the
/// running `egress25d` within a second, follow the customer (not the address), and expire at their second.
/// `egress25ctl check` agrees with what the kernel path does in every state.
@Suite(.serialized, .enabled(if: EndToEnd.enabled, EndToEnd.skipReason))
struct ExceptionLiveTests {
    static let subscriber = "100.64.0.10"
    static let employerMX = "198.51.100.25"
    static let otherMX = "198.51.100.26"

    /// Topology, rules, customers c-1001 and c-2002, daemon running; `body`; teardown.
    private func withRouter(_ body: (Topology) throws -> Void) throws {
        try Topology.withRouter(
            prepare: { topology in
                try topology.ctlSucceeding([
                    "customer", "add", "c-1001", "--name", "Jane Doe", "--note", "telecommuter",
                ])
                try topology.ctlSucceeding(["customer", "add", "c-2002", "--name", "John Roe"])
            }, body)
    }

    /// `egress25ctl check SOURCE DESTINATION --format json` as (verdict, reason, customer, exception id).
    private func check(
        _ topology: Topology, _ destination: String, at: String? = nil
    ) throws -> (verdict: String, reason: String, customer: String?, exception: String?) {
        var arguments = ["check", Self.subscriber, destination, "--format", "json"]
        if let at { arguments += ["--at", at] }
        let object = try #require(try topology.ctlJSON(arguments) as? [String: Any])
        let exception = (object["exception"] as? [String: Any])?["id"] as? String
        return (
            object["verdict"] as? String ?? "?", object["reason"] as? String ?? "?", object["customer"] as? String,
            exception
        )
    }

    /// Runs `change` (egress25ctl commands) while a ``LiveProber`` connects to `host`:25 every 20 ms. Requires
    /// the outcome before the change to be `before`; returns the first outcome `after` (or the last outcome when
    /// 1 s has passed since the change started), and the seconds from the START of the change (before its first
    /// egress25ctl process is started) to the end of that connect: an upper bound of the time from the commit to
    /// the kernel path that includes egress25ctl's own run time (reported as `command`).
    private func measure(
        _ topology: Topology, _ host: String, from before: ProbeResult.Outcome, to after: ProbeResult.Outcome,
        _ change: () throws -> Void
    ) throws -> (outcome: ProbeResult.Outcome, seconds: Double, command: Double) {
        let prober = try LiveProber(topology, host, 25, until: after)
        try #require(prober.first == before, "before the change: \(prober.first)")
        let started = Date().timeIntervalSince1970
        try change()
        let returned = Date().timeIntervalSince1970
        let result = try prober.finish(deadline: started + 1.0)
        return (result.outcome, result.end - started, returned - started)
    }

    private func grant(
        _ topology: Topology, _ customer: String, to destination: String, _ validity: [String]
    )
        throws -> String
    {
        let output = try topology.ctlSucceeding(
            ["exception", "grant", customer, "--to", destination] + validity
                + ["--reason", "telecommuter: employer's SMTP server", "--ticket", "T-4711", "--by", "alice"])
        let id = output.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(id.hasPrefix("exc-"), "grant printed \(output)")
        return id
    }

    @Test func grantIsLiveWithinOneSecondFollowsTheCustomerAndRevokeBlocksAgain() throws {
        try withRouter { topology in
            try topology.ctlSucceeding(["session", "start", "c-1001", Self.subscriber, "--by", "radius"])
            // The session reached the daemon (checked through `check`'s customer, then the kernel path).
            #expect(try topology.probe(Self.employerMX, 25).outcome == .refused)
            var state = try check(topology, Self.employerMX)
            #expect(
                state.verdict == "block" && state.reason == "blocked_no_exception" && state.customer == "c-1001",
                "\(state)")

            // Grant: live within 1 s of the committed grant, only for the granted destination.
            var id = ""
            let live = try measure(topology, Self.employerMX, from: .refused, to: .connected) {
                id = try grant(topology, "c-1001", to: Self.employerMX, ["--for", "1h"])
            }
            #expect(live.outcome == .connected, "\(live) \(topology.daemonOutput)")
            #expect(live.seconds < 1.0, "exception live \(Int(live.seconds * 1000)) ms after the grant started")
            print(
                "exception live \(Int(live.seconds * 1000)) ms after the grant started "
                    + "(the grant command took \(Int(live.command * 1000)) ms)")
            let banner = try topology.probe(Self.employerMX, 25)
            #expect(banner.outcome == .connected && banner.banner.hasPrefix("220 198.51.100.25"), "\(banner)")
            let other = try topology.probe(Self.otherMX, 25)
            #expect(other.outcome == .refused, "outside the exception's scope: \(other)")
            #expect(try topology.synsArrived(at: Self.otherMX) == 0)
            state = try check(topology, Self.employerMX)
            #expect(state.verdict == "accept" && state.reason == "exception" && state.exception == id, "\(state)")
            state = try check(topology, Self.otherMX)
            #expect(
                state.verdict == "block" && state.reason == "blocked_outside_scope" && state.exception == id,
                "\(state)")

            // The address moves to c-2002: c-1001's exception must not leak to it.
            let blocked = try measure(topology, Self.employerMX, from: .connected, to: .refused) {
                try topology.ctlSucceeding(["session", "stop", "c-1001", Self.subscriber, "--by", "radius"])
                try topology.ctlSucceeding(["session", "start", "c-2002", Self.subscriber, "--by", "radius"])
            }
            #expect(blocked.outcome == .refused, "c-2002 got c-1001's exception: \(blocked)")
            #expect(blocked.seconds < 1.0, "blocked \(Int(blocked.seconds * 1000)) ms after the move started")
            print(
                "no leak: blocked \(Int(blocked.seconds * 1000)) ms after session stop + start began "
                    + "(the two commands took \(Int(blocked.command * 1000)) ms)")
            for _ in 0..<3 {
                #expect(try topology.probe(Self.employerMX, 25).outcome == .refused, "stays blocked for c-2002")
            }
            state = try check(topology, Self.employerMX)
            #expect(
                state.verdict == "block" && state.reason == "blocked_no_exception" && state.customer == "c-2002",
                "\(state)")

            // Back to c-1001 (a new session ends c-2002's): the exception follows the customer.
            var back = ""
            let followed = try measure(topology, Self.employerMX, from: .refused, to: .connected) {
                back = try topology.ctlSucceeding(["session", "start", "c-1001", Self.subscriber, "--by", "radius"])
            }
            #expect(back.contains("ended session c-2002"), "\(back)")
            #expect(
                followed.outcome == .connected && followed.seconds < 1.0,
                "exception follows c-1001 back: \(followed)")

            // Revoke: blocked again within 1 s.
            let again = try measure(topology, Self.employerMX, from: .connected, to: .refused) {
                try topology.ctlSucceeding(
                    ["exception", "revoke", id, "--reason", "employer moved to 587", "--by", "bob"])
            }
            #expect(again.outcome == .refused, "\(again)")
            #expect(again.seconds < 1.0, "blocked \(Int(again.seconds * 1000)) ms after the revoke started")
            print(
                "revoke live \(Int(again.seconds * 1000)) ms after the revoke started "
                    + "(the revoke command took \(Int(again.command * 1000)) ms)")
            state = try check(topology, Self.employerMX)
            #expect(
                state.verdict == "block" && state.reason == "blocked_no_exception" && state.customer == "c-1001",
                "\(state)")
            #expect(try topology.probe("192.0.2.25", 25).outcome == .connected, "the relay is unaffected")
            let audit = try topology.ctlSucceeding(["exception", "show", id])
            #expect(audit.contains("revoked") && audit.contains("bob"), "\(audit)")
            #expect(try topology.metric("egress25_policy_reload_failures_total") == 0)

            // The block log names the exception whose scope the blocked SYN to the other MX was outside of.
            let rows = try #require(
                try topology.ctlJSON(["blocked", "query", "--destination", Self.otherMX, "--format", "json"])
                    as? [[String: Any]])
            #expect(rows.count == 1 && rows.first?["reason"] as? String == "outside_scope", "\(rows)")
            #expect(rows.first?["exception_id"] as? String == id && rows.first?["customer"] as? String == "c-1001")
        }
    }

    @Test func expiredExceptionBlocksAtTheSecondItExpires() throws {
        try withRouter { topology in
            try topology.ctlSucceeding(["customer", "bind", "c-1001", Self.subscriber, "--by", "alice"])
            // Expiry 4 to 5 s ahead, on a whole second (exclusive: blocked from that second on).
            let expiry = Int64(Date().timeIntervalSince1970) + 5
            var id = ""
            let live = try measure(topology, Self.employerMX, from: .refused, to: .connected) {
                id = try grant(topology, "c-1001", to: Self.employerMX, ["--expires", rfc3339(expiry)])
            }
            #expect(live.outcome == .connected && live.seconds < 1.0, "\(live)")

            var state = try check(topology, Self.employerMX)
            #expect(state.verdict == "accept" && state.exception == id, "\(state)")
            state = try check(topology, Self.employerMX, at: rfc3339(expiry - 1))
            #expect(state.verdict == "accept" && state.exception == id, "last second of validity: \(state)")
            state = try check(topology, Self.employerMX, at: rfc3339(expiry))
            #expect(
                state.verdict == "block" && state.reason == "blocked_exception_expired" && state.exception == id,
                "the expiry second: \(state)")

            // Just before the expiry second: still connects.
            sleep(untilWallClock: Double(expiry) - 0.8)
            let before = try topology.probe(Self.employerMX, 25, timeout: 0.5)
            let beforeEnd = Date().timeIntervalSince1970
            #expect(before.outcome == .connected, "\(before)")
            #expect(beforeEnd < Double(expiry), "the probe ended \(beforeEnd - Double(expiry)) s after the expiry")

            // Just after it starts: refused, without any store change or reload.
            let reloadsBefore = try topology.metric("egress25_policy_reloads_total")
            sleep(untilWallClock: Double(expiry) + 0.05)
            let afterStart = Date().timeIntervalSince1970
            let after = try topology.probe(Self.employerMX, 25, timeout: 0.5)
            #expect(afterStart >= Double(expiry))
            #expect(after.outcome == .refused, "expired at \(rfc3339(expiry)), probed at \(afterStart): \(after)")
            #expect(try topology.metric("egress25_policy_reloads_total") == reloadsBefore, "judged, not reloaded")
            #expect(
                try topology.metric(
                    "egress25_verdicts_total", ["reason": "blocked_exception_expired", "family": "ipv4"]) == 1)
            state = try check(topology, Self.employerMX)
            #expect(
                state.verdict == "block" && state.reason == "blocked_exception_expired" && state.exception == id,
                "\(state)")
            let expired = try topology.ctlSucceeding(["exception", "list", "--customer", "c-1001", "--expired"])
            #expect(expired.contains(id), "\(expired)")
            // The block log records the expired exception and the customer, within 2 s.
            var rows: [[String: Any]] = []
            let logged = Date()
            for _ in 0..<20 where rows.isEmpty && Date().timeIntervalSince(logged) < 2 {
                usleep(100_000)
                let all = try #require(
                    try topology.ctlJSON(["blocked", "query", "--source", Self.subscriber, "--format", "json"])
                        as? [[String: Any]])
                rows = all.filter { $0["reason"] as? String == "exception_expired" }
            }
            #expect(rows.count == 1 && rows.first?["syns"] as? Int == 1, "\(rows)")
            #expect(rows.first?["exception_id"] as? String == id && rows.first?["customer"] as? String == "c-1001")
        }
    }

    @Test func ipv6PrefixBindingAndExceptionGoLive() throws {
        try withRouter { topology in
            let source = "2001:db8:6400::10"
            try topology.ctlSucceeding(["customer", "bind", "c-1001", "2001:db8:6400::/64", "--by", "alice"])
            var id = ""
            let live = try measure(topology, "2001:db8:99::25", from: .refused, to: .connected) {
                id = try grant(topology, "c-1001", to: "2001:db8:99::/64", ["--for", "90m"])
            }
            #expect(live.outcome == .connected && live.seconds < 1.0, "IPv6 exception: \(live)")
            let banner = try topology.probe("2001:db8:99::25", 25)
            #expect(banner.outcome == .connected && banner.banner.hasPrefix("220 2001:db8:99::25"), "\(banner)")
            let object = try #require(
                try topology.ctlJSON(["check", source, "2001:db8:99::25", "--format", "json"]) as? [String: Any])
            #expect(object["verdict"] as? String == "accept" && object["customer"] as? String == "c-1001")
            #expect((object["exception"] as? [String: Any])?["id"] as? String == id, "\(object)")
            // The IPv4 address is not the customer's: no exception there.
            #expect(try topology.probe(Self.employerMX, 25).outcome == .refused)
            #expect(try topology.probe("192.0.2.25", 25).outcome == .connected)
        }
    }

    @Test func twoParallelGrantsBothSucceedAndBothGoLive() throws {
        try withRouter { topology in
            try topology.ctlSucceeding(["customer", "bind", "c-1001", Self.subscriber, "--by", "alice"])
            let destinations = [Self.employerMX, Self.otherMX]
            let probers = try destinations.map { try LiveProber(topology, $0, 25, until: .connected) }
            for (destination, prober) in zip(destinations, probers) {
                try #require(prober.first == .refused, "\(destination) before the grants: \(prober.first)")
            }
            let prefix = ["ip", "netns", "exec", topology.rtr, EndToEnd.binaries + "/egress25ctl"]
            let config = ["--config", topology.configPath]
            let results = Mutex<[Int: CommandResult]>([:])
            let failures = Mutex<[String]>([])
            let started = Date().timeIntervalSince1970
            DispatchQueue.concurrentPerform(iterations: destinations.count) { index in
                do {
                    let result = try run(
                        prefix + [
                            "exception", "grant", "c-1001", "--to", destinations[index], "--for", "1h",
                            "--reason", "parallel grant \(index)", "--by", "agent-\(index)",
                        ] + config)
                    results.withLock { $0[index] = result }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
            // Both live within 1 s of the start of the grants (the probers start when both grants returned).
            let returned = Date().timeIntervalSince1970
            for prober in probers { prober.start(deadline: started + 1.0) }
            let live = try probers.map { try $0.result(deadline: started + 1.0) }
            for (destination, result) in zip(destinations, live) {
                #expect(
                    result.outcome == .connected && result.end - started < 1.0,
                    "\(destination): \(result.outcome) \(result.end - started) s after the grants started")
            }
            print(
                "parallel grants live after \(live.map { Int(($0.end - started) * 1000) }) ms "
                    + "(the two grant commands took \(Int((returned - started) * 1000)) ms)")

            #expect(failures.withLock { $0 }.isEmpty)
            let finished = results.withLock { $0 }
            var ids: [String] = []
            for index in destinations.indices {
                let result = try #require(finished[index])
                #expect(result.status == 0, "grant \(index): \(result.error)")
                ids.append(result.output.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            #expect(Set(ids).count == 2 && ids.allSatisfy { $0.hasPrefix("exc-") }, "\(ids)")
            let listed = try topology.ctlSucceeding(["exception", "list", "--customer", "c-1001"])
            for id in ids { #expect(listed.contains(id), "\(listed)") }
            #expect(try topology.metric("egress25_active_exceptions") == 2)
        }
    }
}
