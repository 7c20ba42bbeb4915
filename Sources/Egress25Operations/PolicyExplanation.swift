import Egress25Configuration
import Egress25Core
import ExceptionStore
import Foundation

/// A decision in words, for support staff.
public struct PolicyExplanation: Sendable {
    /// The verdict and its reason.
    public let decision: Decision
    /// The policy snapshot that decided.
    public let snapshot: PolicySnapshot
    /// The SYN judged.
    public let flow: Flow
    /// When it was judged, UTC seconds.
    public let time: Int64
    /// The configuration the policy came from.
    public let configuration: Egress25Configuration

    /// Creates an explanation of `decision`, which `snapshot` gave `flow` at `time` (UTC seconds).
    public init(
        decision: Decision, snapshot: PolicySnapshot, flow: Flow, time: Int64, configuration: Egress25Configuration
    ) {
        self.decision = decision
        self.snapshot = snapshot
        self.flow = flow
        self.time = time
        self.configuration = configuration
    }

    /// The customer holding the source address, if any.
    public var customer: String? {
        let index = snapshot.customerIndex(for: flow.source)
        return index >= 0 ? snapshot.customer(at: index) : nil
    }

    /// The exception that allowed the SYN, or that would have but expired or is out of scope.
    public var exception: ExceptionRule? {
        switch decision.reason {
        case .exception(let index), .blockedExceptionExpired(let index), .blockedOutsideScope(let index):
            return snapshot.exception(at: index)
        default:
            return nil
        }
    }

    /// The session lease through which `rule` covers the flow's source: the most specific leased source prefix
    /// containing it and its lease end (UTC seconds), or `nil` when the source is not held by a session lease.
    public func lease(of rule: ExceptionRule) -> (prefix: IPPrefix, end: Int64)? {
        let source = flow.source.unmapped
        return rule.sourceLeaseEnds
            .filter { $0.key.unmapped.contains(source) }
            .max { $0.key.length < $1.key.length }
            .map { (prefix: $0.key, end: $0.value) }
    }

    /// The relay host that allowed the SYN.
    public var relay: RelayHost? {
        if case .relay(let index) = decision.reason { return snapshot.relay(at: index) }
        return nil
    }

    /// `accept`, `block (rejected with a TCP reset)`, … for people.
    public var verdictText: String {
        if decision.shadow { return "accept (shadow mode: would have been blocked)" }
        switch decision.verdict {
        case .accept: return "accept"
        case .block:
            switch configuration.policy.blockAction {
            case .reject: return "block (rejected with a TCP reset)"
            case .drop: return "block (dropped silently)"
            }
        }
    }

    /// The reason as one sentence for support staff.
    public var reasonText: String {
        switch decision.reason {
        case .relay: return "the destination is one of the ISP's relay hosts"
        case .exception(let index): return "exception \(snapshot.exception(at: index).id) allows it"
        case .blockedNoException: return "no exception covers \(flow.source)"
        case .blockedExceptionExpired(let index):
            let rule = snapshot.exception(at: index)
            if let notBefore = rule.notBefore, time < notBefore {
                return "exception \(rule.id) is not valid before \(UTCTime.format(notBefore))"
            }
            if let lease = lease(of: rule), lease.end <= time, rule.expiresAt.map({ time < $0 }) ?? true {
                return "lease expired: customer \(rule.customer)'s session on \(lease.prefix) was not renewed by the "
                    + "session feed and its lease ended at \(UTCTime.format(lease.end)), so exception \(rule.id) "
                    + "no longer applies to \(flow.source) (renew: egress25ctl session renew \(rule.customer) "
                    + "\(lease.prefix))"
            }
            return "exception \(rule.id) expired at \(rule.expiresAt.map(UTCTime.format) ?? "?")"
        case .blockedOutsideScope(let index):
            return "destination \(flow.destination) is outside exception \(snapshot.exception(at: index).id)'s scope"
        case .notSubscriber: return "\(flow.source) is not in a subscriber range: egress25 does not police it"
        case .notPolicedPort: return "port \(flow.destinationPort) is not policed (policy.ports)"
        case .notInitialSYN: return "not an initial SYN"
        case .malformed: return "malformed packet"
        }
    }

    /// `any destination` or the prefixes, comma separated.
    public static func scopeText(_ scope: DestinationScope) -> String {
        switch scope {
        case .any: return "any destination"
        case .prefixes(let prefixes): return prefixes.map(\.description).joined(separator: ", ")
        }
    }

    /// The explanation as `egress25ctl check` prints it (aligned lines).
    public var text: String {
        var lines = [
            "verdict:     \(verdictText)",
            "reason:      \(reasonText) (\(decision.reason.label))",
            "source:      \(flow.source)" + (customer.map { " (customer \($0))" } ?? ""),
            "destination: \(flow.destination) port \(flow.destinationPort)",
        ]
        if let rule = exception {
            lines.append("exception:   \(rule.id) for customer \(rule.customer)")
            lines.append("  scope:     \(Self.scopeText(rule.destinations))")
            lines.append("  sources:   \(rule.sources.map(\.description).joined(separator: ", "))")
            lines.append("  expires:   \(rule.expiresAt.map(UTCTime.format) ?? "never (permanent)")")
            if let lease = lease(of: rule) {
                let state = lease.end <= time ? "expired" : "valid"
                lines.append("  lease:     \(lease.prefix) session lease until \(UTCTime.format(lease.end)) (\(state))")
            }
            if let ticket = rule.ticket { lines.append("  ticket:    \(ticket)") }
            if let reason = rule.reason { lines.append("  granted:   \(reason)") }
        }
        if let relay {
            let ports = relay.ports.map { $0.map(String.init).joined(separator: ",") } ?? "every policed port"
            lines.append("relay:       \(relay.prefix) (\(ports))")
        }
        lines.append(
            "policy:      mode \(snapshot.policy.mode.rawValue), judged at \(UTCTime.format(time)), "
                + "config \(configuration.sourcePath)")
        return lines.joined(separator: "\n")
    }

    /// The explanation as JSON text (`egress25ctl check --format json`; the API's `CheckResult`).
    public var json: String {
        var object: [String: Any] = [
            "verdict": decision.verdict == .accept ? "accept" : "block",
            "shadow": decision.shadow,
            "reason": "\(decision.reason.label)",
            "explanation": reasonText,
            "source": flow.source.description,
            "destination": flow.destination.description,
            "port": Int(flow.destinationPort),
            "at": UTCTime.format(time),
            "mode": snapshot.policy.mode.rawValue,
            "block_action": configuration.policy.blockAction.rawValue,
        ]
        if let customer { object["customer"] = customer }
        if let rule = exception {
            var entry: [String: Any] = [
                "id": rule.id, "customer": rule.customer,
                "sources": rule.sources.map(\.description),
            ]
            switch rule.destinations {
            case .any: entry["destinations"] = "any"
            case .prefixes(let prefixes): entry["destinations"] = prefixes.map(\.description)
            }
            entry["expires_at"] = rule.expiresAt.map(UTCTime.format) ?? NSNull()
            if let lease = lease(of: rule) {
                entry["lease"] = [
                    "prefix": lease.prefix.description, "until": UTCTime.format(lease.end),
                    "expired": lease.end <= time,
                ]
            }
            entry["ticket"] = rule.ticket ?? NSNull()
            entry["reason"] = rule.reason ?? NSNull()
            object["exception"] = entry
        }
        if let relay {
            object["relay"] = ["host": relay.prefix.description, "ports": relay.ports.map { $0.map(Int.init) } ?? []]
        }
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

extension PolicyExplanation {
    /// Explains the verdict egress25d gives a SYN from `source` to `destination`:`port` at `at` (default now): the
    /// one answer `egress25ctl check` prints and `GET /api/v1/check` returns.
    ///
    /// - Parameters:
    ///   - source: The subscriber's address, e.g. `100.64.12.34`.
    ///   - destination: The mail server's address, of the same family.
    ///   - port: The destination TCP port, 1-65535.
    ///   - at: RFC 3339, or a duration ago such as `2h`; `nil` for now.
    ///   - label: How messages name a field (`--port` for the CLI, `port` for the API).
    ///   - snapshot: Builds the policy snapshot for a time (UTC seconds); default: read the store now.
    /// - Throws: ``OperationError``: `invalidInput` (field `source`, `destination`, `port`, `at`), `failed` (no
    ///   `policy:` in the configuration), `unavailable` (the store).
    public static func explain(
        configuration: Egress25Configuration, source: String, destination: String, port: Int = 25,
        at: String? = nil, now: Int64 = UTCTime.now(), label: (String) -> String = { $0 },
        snapshot: ((Int64) throws(OperationError) -> PolicySnapshot)? = nil
    ) throws(OperationError) -> PolicyExplanation {
        let sourceAddress: IPAddress
        let destinationAddress: IPAddress
        do {
            sourceAddress = try IPAddress(parsing: source)
        } catch {
            throw .invalid("source", "\(label("source")): \(error)")
        }
        do {
            destinationAddress = try IPAddress(parsing: destination)
        } catch {
            throw .invalid("destination", "\(label("destination")): \(error)")
        }
        guard sourceAddress.unmapped.isIPv4 == destinationAddress.unmapped.isIPv4 else {
            throw .invalid(
                "destination",
                "\(source) and \(destination) are of different address families: a SYN has one family")
        }
        guard (1...65535).contains(port) else {
            throw .invalid("port", "\(label("port")) \(port) is not a TCP port (1-65535)")
        }
        var time = now
        if let at {
            do {
                time = try UTCTime.parseInstant(at, now: now, durationIsPast: true)
            } catch {
                throw .invalid("at", "\(label("at")): \(error)")
            }
        }
        if configuration.policy.policy.subscriberRanges.isEmpty {
            throw OperationError(
                .failed,
                "\(configuration.sourcePath) has no policy: section; check explains the routers' decision, so it "
                    + "needs their policy (subscriber ranges, relays, ports): copy it into this configuration")
        }
        let policySnapshot: PolicySnapshot
        if let snapshot {
            policySnapshot = try snapshot(time)
        } else {
            policySnapshot = try Self.snapshot(configuration: configuration, now: time)
        }
        let flow = Flow(
            source: sourceAddress, destination: destinationAddress, sourcePort: 49152, destinationPort: UInt16(port),
            flags: .syn)
        return PolicyExplanation(
            decision: policySnapshot.decide(flow, now: time), snapshot: policySnapshot, flow: flow, time: time,
            configuration: configuration)
    }

    /// The policy snapshot the daemon would build at `now` (UTC seconds): the configuration's policy plus the
    /// store's exceptions resolved to the customers' bindings in force at `now`.
    /// - Throws: ``OperationError`` (`unavailable`) naming the store or the policy.
    public static func snapshot(
        configuration: Egress25Configuration, now: Int64
    ) throws(OperationError) -> PolicySnapshot {
        do {
            let builder = try PolicySnapshotBuilder(location: configuration.store.location, mode: .readOnly)
            return try builder.build(policy: configuration.policy.policy, generation: 0, now: now).snapshot
        } catch {
            throw OperationError(.unavailable, error.description)
        }
    }
}
