import Egress25Core

/// One entry of the append-only audit log: every change to the store writes one, in the same transaction.
public struct AuditEntry: Hashable, Sendable, Encodable {
    /// Increasing sequence number.
    public var sequence: Int64
    /// When, UTC seconds.
    public var at: Int64
    /// Who (`--by`, or the login name running `egress25ctl`).
    public var actor: String
    /// What: `customer.add`, `binding.add`, `binding.end`, `session.start`, `session.end`, `exception.grant`,
    /// `exception.revoke`, `session.prune`.
    public var action: String
    /// The customer concerned, if any.
    public var customer: String?
    /// The object changed: an exception id (`exc-...`), a binding id (`binding-42`) or a customer id.
    public var objectID: String?
    /// The object before the change, as JSON text; `nil` for a creation.
    public var before: String?
    /// The object after the change, as JSON text.
    public var after: String?
    /// The operating-system user that ran the command (login name of the effective uid); `nil` in entries written
    /// before schema 2.
    public var osUser: String?
    /// `$SUDO_USER` of the command, when run through sudo; `nil` otherwise.
    public var sudoUser: String?
    /// The egress25-admin role of the API token that made the change (`support`, `abuse`, `ops`, `admin`; the
    /// token's name is the ``actor``); `nil` for changes made with egress25ctl.
    public var role: String?

    /// Creates an entry; `at` is UTC seconds.
    public init(
        sequence: Int64,
        at: Int64,
        actor: String,
        action: String,
        customer: String?,
        objectID: String?,
        before: String?,
        after: String?,
        osUser: String? = nil,
        sudoUser: String? = nil,
        role: String? = nil
    ) {
        self.role = role
        self.osUser = osUser
        self.sudoUser = sudoUser
        self.sequence = sequence
        self.at = at
        self.actor = actor
        self.action = action
        self.customer = customer
        self.objectID = objectID
        self.before = before
        self.after = after
    }

    private enum CodingKeys: String, CodingKey {
        case sequence, at, actor, action, customer, before, after
        case objectID = "object_id"
        case osUser = "os_user"
        case sudoUser = "sudo_user"
        case role
    }

    /// Encodes `at` as RFC 3339 UTC text; `before`/`after` stay JSON text.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sequence, forKey: .sequence)
        try container.encode(UTCTime.format(at), forKey: .at)
        try container.encode(actor, forKey: .actor)
        try container.encode(action, forKey: .action)
        try container.encode(customer, forKey: .customer)
        try container.encode(objectID, forKey: .objectID)
        try container.encode(before, forKey: .before)
        try container.encode(after, forKey: .after)
        try container.encode(osUser, forKey: .osUser)
        try container.encode(sudoUser, forKey: .sudoUser)
        try container.encode(role, forKey: .role)
    }

    /// `os_user`, with ` (sudo by SUDO_USER)` when run through sudo; `-` when unknown (old entries).
    public var operatingSystemUserText: String {
        guard let osUser else { return "-" }
        return sudoUser.map { "\(osUser) (sudo by \($0))" } ?? osUser
    }
}
