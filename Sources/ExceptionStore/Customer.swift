import Egress25Core

/// A subscriber account: exceptions are granted to customers, never to addresses.
public struct Customer: Hashable, Sendable, Encodable {
    /// The ISP's own id, e.g. the account number (`c-1001`): 1...64 characters from `A-Z a-z 0-9 . _ - : @`.
    public var id: String
    /// Display name, for support staff.
    public var name: String?
    /// Free text, for support staff.
    public var note: String?
    /// When the customer was added, UTC seconds.
    public var createdAt: Int64
    /// Whether the session feed created this customer (a `session start`, `renew` or `import` for an id the store
    /// had never seen) rather than support staff (`customer add`). Such a customer has no exceptions until
    /// someone grants one.
    public var autoCreated: Bool

    /// Creates a customer; `createdAt` is UTC seconds.
    public init(id: String, name: String? = nil, note: String? = nil, createdAt: Int64, autoCreated: Bool = false) {
        self.autoCreated = autoCreated
        self.id = id
        self.name = name
        self.note = note
        self.createdAt = createdAt
    }

    private enum CodingKeys: String, CodingKey {
        case id, name, note
        case createdAt = "created_at"
        case autoCreated = "auto_created"
    }

    /// Encodes times as RFC 3339 UTC text.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(note, forKey: .note)
        try container.encode(UTCTime.format(createdAt), forKey: .createdAt)
        try container.encode(autoCreated, forKey: .autoCreated)
    }
}
