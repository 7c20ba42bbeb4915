import Crypto
import Egress25Core

/// What an egress25-admin bearer token may do.
///
/// - `support`: explain verdicts, find and add customers, grant and revoke exceptions, read the audit log.
/// - `abuse`: the abuse desk: the block log (query, top offenders, timelines, exports), suspects, the audit log.
/// - `ops`: operations: the routers (nodes), explain verdicts.
/// - `admin`: everything.
public enum APIRole: String, Hashable, Sendable, CaseIterable, Codable {
    case support, abuse, ops, admin
}

/// A bearer token of egress25-admin, as stored: never the token itself, only its SHA-256.
public struct APIToken: Hashable, Sendable, Encodable {
    /// Who holds it (the audit log's actor for changes made with it): 1-64 characters from
    /// `A-Z a-z 0-9 . _ - @`.
    public var name: String
    /// What it may do.
    public var role: APIRole
    /// When it was created, UTC seconds.
    public var createdAt: Int64
    /// Who created it (`egress25ctl token create --by`).
    public var createdBy: String
    /// When it stops working (exclusive), UTC seconds; `nil` for never.
    public var expiresAt: Int64?
    /// When it was revoked, UTC seconds; `nil` while not revoked.
    public var revokedAt: Int64?
    /// Who revoked it.
    public var revokedBy: String?

    /// Creates a token record; times are UTC seconds.
    public init(
        name: String, role: APIRole, createdAt: Int64, createdBy: String, expiresAt: Int64?, revokedAt: Int64?,
        revokedBy: String?
    ) {
        self.name = name
        self.role = role
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.revokedBy = revokedBy
    }

    /// `active`, `expired` or `revoked` at `now` (UTC seconds).
    public func status(at now: Int64) -> StoredException.Status {
        if revokedAt != nil { return .revoked }
        if let expiresAt, now >= expiresAt { return .expired }
        return .active
    }

    private enum CodingKeys: String, CodingKey {
        case name, role
        case createdAt = "created_at"
        case createdBy = "created_by"
        case expiresAt = "expires_at"
        case revokedAt = "revoked_at"
        case revokedBy = "revoked_by"
    }

    /// Encodes times as RFC 3339 UTC text (`null` when absent).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(role, forKey: .role)
        try container.encode(UTCTime.format(createdAt), forKey: .createdAt)
        try container.encode(createdBy, forKey: .createdBy)
        try container.encode(expiresAt.map(UTCTime.format), forKey: .expiresAt)
        try container.encode(revokedAt.map(UTCTime.format), forKey: .revokedAt)
        try container.encode(revokedBy, forKey: .revokedBy)
    }
}

/// The SHA-256 of a bearer token: what the store keeps and what authentication compares.
public struct APITokenDigest: Hashable, Sendable {
    /// The 32 bytes of the digest.
    public let bytes: [UInt8]

    /// The digest of `token` (its UTF-8 bytes).
    public init(of token: String) {
        bytes = Array(SHA256.hash(data: Array(token.utf8)))
    }

    init?(hex: String) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var iterator = hex.utf8.makeIterator()
        while let high = iterator.next() {
            guard let low = iterator.next(), let h = Self.nibble(high), let l = Self.nibble(low) else { return nil }
            bytes.append(h << 4 | l)
        }
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// Lowercase hex, 64 characters.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Whether the two digests are equal, in time independent of where they differ (no early exit).
    public func constantTimeEquals(_ other: APITokenDigest) -> Bool {
        guard bytes.count == other.bytes.count else { return false }
        var difference: UInt8 = 0
        for index in bytes.indices { difference |= bytes[index] ^ other.bytes[index] }
        return difference == 0
    }

    private static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return character - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}

/// A token in force (not revoked, not expired at the time it was read) and its digest: what egress25-admin keeps
/// in memory to authenticate requests.
public struct APITokenCredential: Hashable, Sendable {
    /// The token's record.
    public var token: APIToken
    /// The SHA-256 of the token.
    public var digest: APITokenDigest
}

extension ExceptionStore {
    /// The prefix of every token egress25 issues, so a leaked one is recognisable (secret scanners, logs).
    public static let apiTokenPrefix = "e25_"

    /// Creates a bearer token for egress25-admin and returns it with its record. The token (`e25_` and 43
    /// characters of base64url: 256 random bits from the system's CSPRNG) is returned once and stored only as its
    /// SHA-256. Audit action `token.create` (the record, never the token).
    ///
    /// - Parameters:
    ///   - name: Who holds it: 1-64 characters from `A-Z a-z 0-9 . _ - @`; unique among tokens not revoked.
    ///   - expiresAt: UTC seconds (exclusive), after `now`; `nil` for never.
    ///   - actor: Who creates it.
    /// - Throws: ``ExceptionStoreError``: `invalidArgument` (name, expiry, actor), `conflict` (a token of this name
    ///   is in force: revoke it first), `locked`, `io`, `permissionDenied`.
    public func createAPIToken(
        name: String, role: APIRole, expiresAt: Int64?, actor: String, now: Int64 = UTCTime.now()
    ) throws(ExceptionStoreError) -> (token: String, record: APIToken) {
        try Self.validateTokenName(name)
        let actor = try Self.validateActor(actor)
        if let expiresAt, expiresAt <= now {
            throw ExceptionStoreError(.invalidArgument, "the expiry \(UTCTime.format(expiresAt)) is not in the future")
        }
        var generator = SystemRandomNumberGenerator()
        var random: [UInt8] = []
        for _ in 0..<4 { withUnsafeBytes(of: generator.next()) { random.append(contentsOf: $0) } }
        let token = Self.apiTokenPrefix + Self.base64URL(random)
        let digest = APITokenDigest(of: token)
        let record = APIToken(
            name: name, role: role, createdAt: now, createdBy: actor, expiresAt: expiresAt, revokedAt: nil,
            revokedBy: nil)
        return try write("create token \(name) in") { db in
            if try db.firstRow("SELECT 1 FROM api_token WHERE name = ? AND revoked_at IS NULL", [.text(name)]) != nil {
                throw ExceptionStoreError(
                    .conflict,
                    "a token named \(name) exists already; revoke it first (egress25ctl token revoke \(name))")
            }
            try db.execute(
                """
                INSERT INTO api_token (name, role, token_hash, created_at, created_by, expires_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(name), .text(role.rawValue), .text(digest.hex), .integer(now), .text(actor),
                    expiresAt.map { .integer($0) } ?? .null,
                ])
            try appendAudit(
                db, at: now, actor: actor, action: "token.create", customer: nil, objectID: "token:\(name)",
                before: APIToken?.none, after: record)
            return (token, record)
        }
    }

    /// Every token record, newest first; revoked ones too when `includeRevoked`.
    /// - Throws: ``ExceptionStoreError`` (`io`, `permissionDenied`).
    public func apiTokens(includeRevoked: Bool = false) throws(ExceptionStoreError) -> [APIToken] {
        try read("read the tokens of") { db in
            let filter = includeRevoked ? "" : " WHERE revoked_at IS NULL"
            return try db.rows(
                "SELECT \(Self.tokenColumns) FROM api_token\(filter) ORDER BY created_at DESC, id DESC"
            ).map(Self.tokenRecord)
        }
    }

    /// The tokens in force at `now` with their digests, for authentication.
    /// - Throws: ``ExceptionStoreError`` (`io`, `permissionDenied`).
    public func apiTokenCredentials(now: Int64 = UTCTime.now()) throws(ExceptionStoreError) -> [APITokenCredential] {
        try read("read the tokens of") { db in
            try db.rows(
                """
                SELECT \(Self.tokenColumns), token_hash FROM api_token
                WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
                """, [.integer(now)]
            ).compactMap { row in
                guard let digest = APITokenDigest(hex: try row.text(7)) else { return nil }
                return APITokenCredential(token: try Self.tokenRecord(row), digest: digest)
            }
        }
    }

    /// Revokes the token in force named `name`: it stops working within a second on every egress25-admin. Audit
    /// action `token.revoke`.
    /// - Throws: ``ExceptionStoreError``: `notFound` (no token of that name in force), `invalidArgument`, `locked`,
    ///   `io`, `permissionDenied`.
    @discardableResult
    public func revokeAPIToken(
        name: String, actor: String, now: Int64 = UTCTime.now()
    ) throws(ExceptionStoreError) -> APIToken {
        let actor = try Self.validateActor(actor)
        return try write("revoke token \(name) in") { db in
            guard
                let row = try db.firstRow(
                    "SELECT \(Self.tokenColumns) FROM api_token WHERE name = ? AND revoked_at IS NULL", [.text(name)])
            else {
                throw ExceptionStoreError(.notFound, "no token named \(name) is in force (egress25ctl token list)")
            }
            let before = try Self.tokenRecord(row)
            var after = before
            after.revokedAt = now
            after.revokedBy = actor
            try db.execute(
                "UPDATE api_token SET revoked_at = ?, revoked_by = ? WHERE name = ? AND revoked_at IS NULL",
                [.integer(now), .text(actor), .text(name)])
            try appendAudit(
                db, at: now, actor: actor, action: "token.revoke", customer: nil, objectID: "token:\(name)",
                before: before, after: after)
            return after
        }
    }

    static let tokenColumns = "name, role, created_at, created_by, expires_at, revoked_at, revoked_by"

    static func tokenRecord(_ row: SQLRow) throws -> APIToken {
        let roleText = try row.text(1)
        guard let role = APIRole(rawValue: roleText) else {
            throw ExceptionStoreError(.io, "api_token row with unknown role \(roleText)")
        }
        return APIToken(
            name: try row.text(0), role: role, createdAt: try row.int64(2), createdBy: try row.text(3),
            expiresAt: try row.optionalInt64(4), revokedAt: try row.optionalInt64(5),
            revokedBy: try row.optionalText(6))
    }

    static func validateTokenName(_ name: String) throws(ExceptionStoreError) {
        let allowed = name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"),
                UInt8(ascii: "@"):
                return true
            default: return false
            }
        }
        guard (1...64).contains(name.utf8.count), allowed else {
            throw ExceptionStoreError(
                .invalidArgument, "token name \(name.debugDescription) must be 1-64 characters from A-Z a-z 0-9 . _ - @"
            )
        }
    }

    /// RFC 4648 §5 base64url without padding.
    static func base64URL(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var text: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value: UInt32 = 0
            for byte in chunk { value = value << 8 | UInt32(byte) }
            value <<= UInt32(8 * (3 - chunk.count))
            for position in 0..<(chunk.count + 1) {
                text.append(alphabet[Int((value >> UInt32(18 - 6 * position)) & 0x3f)])
            }
            index += 3
        }
        return String(decoding: text, as: UTF8.self)
    }
}
