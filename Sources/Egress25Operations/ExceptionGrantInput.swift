import Egress25Core
import ExceptionStore

/// An exception grant as support staff type it (egress25ctl's options, the API's body, the console's form),
/// checked and turned into an ``ExceptionGrant``: one parser, so the three cannot drift.
public enum ExceptionGrantInput {
    /// The longest duration a grant accepts: 100 years (longer is `permanent`).
    public static let maximumDurationSeconds: Int64 = 100 * 366 * 86400

    /// Checks the input and returns the grant, with warnings for support staff (e.g. a `/0` scope).
    ///
    /// - Parameters:
    ///   - customer: The customer id.
    ///   - destinations: Addresses or CIDR prefixes, each may hold several separated by commas or whitespace;
    ///     empty for any destination.
    ///   - duration: Valid this long from `now` (`90m`, `12h`, `30d`, `2w`).
    ///   - expires: Valid until: RFC 3339, a duration from now, or a date (the end of that day, UTC).
    ///   - permanent: Never expires. Exactly one of `duration`, `expires`, `permanent` must be given.
    ///   - now: UTC seconds.
    ///   - label: How messages name a field (`--for` for the CLI, `duration` for the API).
    /// - Throws: ``OperationError`` (`invalidInput`, field `destinations`, `duration`, `expires_at`).
    public static func grant(
        customer: String, destinations: [String], duration: String?, expires: String?, permanent: Bool,
        reason: String, ticket: String?, grantedBy: String, now: Int64, label: (String) -> String = { $0 }
    ) throws(OperationError) -> (grant: ExceptionGrant, warnings: [String]) {
        let choices = [duration != nil, expires != nil, permanent].filter { $0 }.count
        guard choices == 1 else {
            throw .invalid(
                "duration",
                "give exactly one of \(label("duration")), \(label("expires_at"))\(permanent ? "" : " or \(label("permanent"))")"
                    + (choices == 0 ? "" : " (got \(choices))"))
        }
        var expiresAt: Int64?
        if let duration {
            let seconds: Int64
            do {
                seconds = try UTCTime.parseDuration(duration)
            } catch {
                throw .invalid("duration", "\(label("duration")): \(error)")
            }
            guard seconds > 0 else {
                throw .invalid("duration", "\(label("duration")) \(duration) must be longer than 0 seconds")
            }
            guard seconds <= maximumDurationSeconds else {
                throw .invalid(
                    "duration", "\(label("duration")) \(duration) is longer than 100 years; grant it permanently")
            }
            expiresAt = now + seconds
        } else if let expires {
            do {
                expiresAt = try UTCTime.parseExpiry(expires, now: now)
            } catch {
                throw .invalid("expires_at", "\(label("expires_at")): \(error)")
            }
            if let expiresAt, expiresAt <= now {
                throw .invalid("expires_at", "\(label("expires_at")) \(expires) is not in the future")
            }
        }
        var prefixes: [IPPrefix] = []
        for entry in destinations {
            for part in entry.split(whereSeparator: { $0 == "," || $0.isWhitespace }) {
                do {
                    prefixes.append(try IPPrefix(parsing: String(part)))
                } catch {
                    throw .invalid("destinations", "\(label("destinations")): \(error)")
                }
            }
        }
        if !destinations.isEmpty && prefixes.isEmpty {
            throw .invalid("destinations", "\(label("destinations")) needs an address or CIDR prefix")
        }
        var warnings: [String] = []
        for prefix in prefixes where prefix.length == 0 {
            let family = prefix.address.isIPv4 ? "IPv4" : "IPv6"
            warnings.append(
                "\(label("destinations")) \(prefix) covers every \(family) destination: customer \(customer) may "
                    + "reach any mail server over \(family)")
        }
        let grant = ExceptionGrant(
            customer: customer, destinations: prefixes.isEmpty ? .any : .prefixes(prefixes), expiresAt: expiresAt,
            reason: reason, ticket: ticket, grantedBy: grantedBy)
        return (grant, warnings)
    }
}
