/// A customer (`/customers/{id}`): who they are, the addresses they hold, their exceptions with a revoke form for
/// each active one, and a form to grant a new one.
public struct CustomerPage: Sendable, Hashable {
    /// Title, user, navigation, flash messages and the CSRF token the forms carry.
    public var layout: ConsoleLayout
    /// Id, name, note, when added and by whom.
    public var customer: CustomerDetails
    /// Addresses and prefixes assigned to the customer by staff.
    public var staticBindings: [StaticBindingRow]
    /// Addresses the session feed (RADIUS, DHCP) gave the customer.
    public var sessions: [SessionRow]
    /// All the customer's exceptions, in the order given (newest first reads best).
    public var exceptions: [ExceptionRow]
    /// The grant form: empty, or what was entered with the errors found in it.
    public var grantForm: GrantExceptionForm

    /// Creates a customer page.
    public init(
        layout: ConsoleLayout,
        customer: CustomerDetails,
        staticBindings: [StaticBindingRow] = [],
        sessions: [SessionRow] = [],
        exceptions: [ExceptionRow] = [],
        grantForm: GrantExceptionForm = GrantExceptionForm()
    ) {
        self.layout = layout
        self.customer = customer
        self.staticBindings = staticBindings
        self.sessions = sessions
        self.exceptions = exceptions
        self.grantForm = grantForm
    }
}

/// The customer page's header.
public struct CustomerDetails: Sendable, Hashable {
    /// The customer id, e.g. `c-1001`; the forms' URLs are built from it.
    public var id: String
    /// The display name; empty when the customer has none.
    public var name: String
    /// Staff's note; empty when there is none.
    public var note: String
    /// When the customer was added, e.g. `2026-11-29 07:45 UTC`.
    public var added: String
    /// Who added the customer, e.g. `staff` or `feed`.
    public var origin: String

    /// Creates a customer header.
    public init(id: String, name: String, note: String, added: String, origin: String) {
        self.id = id
        self.name = name
        self.note = note
        self.added = added
        self.origin = origin
    }
}

/// An address or prefix assigned to the customer by staff.
public struct StaticBindingRow: Sendable, Hashable {
    /// The prefix, e.g. `198.51.100.0/29`.
    public var prefix: String
    /// Since when, e.g. `2026-11-29 07:45 UTC`.
    public var from: String
    /// Until when, e.g. `2027-01-01 00:00 UTC`, or `open-ended`.
    public var until: String

    /// Creates a static binding row.
    public init(prefix: String, from: String, until: String) {
        self.prefix = prefix
        self.from = from
        self.until = until
    }
}

/// An address the session feed gave the customer.
public struct SessionRow: Sendable, Hashable {
    /// The address or prefix, e.g. `192.0.2.7/32`.
    public var prefix: String
    /// Since when, e.g. `2026-12-01 06:12 UTC`.
    public var from: String
    /// When the lease runs out unless renewed, e.g. `2026-12-01 18:12 UTC`.
    public var leaseUntil: String

    /// Creates a session row.
    public init(prefix: String, from: String, leaseUntil: String) {
        self.prefix = prefix
        self.from = from
        self.leaseUntil = leaseUntil
    }
}

/// Where an exception stands; shown as a badge. Only active exceptions get a revoke form.
public enum ExceptionStatus: String, Sendable, Hashable, CaseIterable {
    /// In force now.
    case active
    /// Past its expiry.
    case expired
    /// Revoked by staff.
    case revoked
}

/// One of the customer's exceptions.
public struct ExceptionRow: Sendable, Hashable {
    /// The exception id, e.g. `exc-7k2mq9tz`; the revoke form's URL is built from it.
    public var id: String
    /// Active, expired or revoked.
    public var status: ExceptionStatus
    /// Where the customer may connect, e.g. `any` or `203.0.113.25/32, 2001:db8::25/128`.
    public var destinations: String
    /// When it ends, e.g. `2026-12-08 14:00 UTC`, or `never`.
    public var expires: String
    /// The support ticket; empty when there is none.
    public var ticket: String
    /// Why it was granted.
    public var reason: String
    /// Who granted it.
    public var grantedBy: String
    /// The revoke reason entered before, when a revoke of this exception was refused; else empty.
    public var revokeReason: String
    /// Why a revoke of this exception was refused, shown beside its revoke form; else `nil`.
    public var revokeError: String?

    /// Creates an exception row.
    public init(
        id: String,
        status: ExceptionStatus,
        destinations: String,
        expires: String,
        ticket: String,
        reason: String,
        grantedBy: String,
        revokeReason: String = "",
        revokeError: String? = nil
    ) {
        self.id = id
        self.status = status
        self.destinations = destinations
        self.expires = expires
        self.ticket = ticket
        self.reason = reason
        self.grantedBy = grantedBy
        self.revokeReason = revokeReason
        self.revokeError = revokeError
    }
}

/// The lifetimes the grant form offers; the `duration` field posts the raw value.
public enum GrantDuration: String, Sendable, Hashable, CaseIterable {
    /// One day, `1d`.
    case oneDay = "1d"
    /// Seven days, `7d`.
    case sevenDays = "7d"
    /// Thirty days, `30d`.
    case thirtyDays = "30d"
    /// Ninety days, `90d`.
    case ninetyDays = "90d"
    /// A year, `365d`.
    case oneYear = "365d"

    /// The option's text, e.g. `7 days`.
    public var label: String {
        switch self {
        case .oneDay: return "1 day"
        case .sevenDays: return "7 days"
        case .thirtyDays: return "30 days"
        case .ninetyDays: return "90 days"
        case .oneYear: return "365 days"
        }
    }
}

/// The grant form's values and errors: empty on a first visit; after a refused grant, what was entered and, per
/// field, why it was refused.
public struct GrantExceptionForm: Sendable, Hashable {
    /// Addresses or CIDR prefixes, comma or newline separated, as entered.
    public var destinations: String
    /// Whether "any destination" was checked (the destinations field is then disabled and not posted).
    public var anyDestination: Bool
    /// The selected lifetime.
    public var duration: GrantDuration
    /// An end date (`YYYY-MM-DD`, as a date input posts it) that takes the place of `duration` when not empty.
    public var expiresAt: String
    /// Why the exception is granted.
    public var reason: String
    /// The support ticket, may be empty.
    public var ticket: String
    /// What is wrong with the destinations, e.g. `"300.1.1.1" is not an address or prefix.`
    public var destinationsError: String?
    /// What is wrong with the duration.
    public var durationError: String?
    /// What is wrong with the end date, e.g. `The date is in the past.`
    public var expiresAtError: String?
    /// What is wrong with the reason, e.g. `A reason is required.`
    public var reasonError: String?
    /// What is wrong with the ticket.
    public var ticketError: String?

    /// Creates the grant form's state; all defaults give the empty form with 7 days selected.
    public init(
        destinations: String = "",
        anyDestination: Bool = false,
        duration: GrantDuration = .sevenDays,
        expiresAt: String = "",
        reason: String = "",
        ticket: String = "",
        destinationsError: String? = nil,
        durationError: String? = nil,
        expiresAtError: String? = nil,
        reasonError: String? = nil,
        ticketError: String? = nil
    ) {
        self.destinations = destinations
        self.anyDestination = anyDestination
        self.duration = duration
        self.expiresAt = expiresAt
        self.reason = reason
        self.ticket = ticket
        self.destinationsError = destinationsError
        self.durationError = durationError
        self.expiresAtError = expiresAtError
        self.reasonError = reasonError
        self.ticketError = ticketError
    }
}
