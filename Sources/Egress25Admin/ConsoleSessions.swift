import Crypto
import Egress25Core
import ExceptionStore
import Synchronization

/// One console login: who signed in, its CSRF token, and when it ends.
public struct ConsoleSession: Hashable, Sendable {
    /// The session id (the cookie's value): 256 random bits, base64url.
    public var id: String
    /// Who signed in (the token's name and role at login).
    public var principal: Principal
    /// The token the console presents on the user's behalf; kept only in memory, never logged, so revoking it
    /// ends the session at the next request.
    var token: String
    /// The form token every POST must carry (`csrf_token`): 256 random bits, base64url.
    public var csrfToken: String
    /// When the session ends, UTC seconds.
    public var expiresAt: Int64
}

/// The console's login sessions, in memory: a restart signs everyone out (a token signs them in again), and no
/// session secret is ever written to disk. The session cookie is `HttpOnly`, `SameSite=Strict`, and `Secure`
/// under TLS.
public final class ConsoleSessions: Sendable {
    /// The cookie's name.
    public static let cookieName = "egress25_session"
    /// The most sessions kept; the oldest are dropped beyond it.
    static let maximumSessions = 10_000

    let lifetimeSeconds: Int64
    private let sessions = Mutex([String: ConsoleSession]())

    /// - Parameter lifetimeSeconds: How long a login lasts (`admin.session_lifetime`), seconds.
    public init(lifetimeSeconds: Int64) {
        self.lifetimeSeconds = lifetimeSeconds
    }

    /// Starts a session for `principal`, who presented `token`.
    public func create(principal: Principal, token: String, now: Int64 = UTCTime.now()) -> ConsoleSession {
        var expiresAt = now + lifetimeSeconds
        if let tokenExpiry = principal.expiresAt { expiresAt = min(expiresAt, tokenExpiry) }
        let session = ConsoleSession(
            id: Self.randomToken(), principal: principal, token: token, csrfToken: Self.randomToken(),
            expiresAt: expiresAt)
        sessions.withLock { sessions in
            if sessions.count >= Self.maximumSessions {
                sessions = sessions.filter { $0.value.expiresAt > now }
                if sessions.count >= Self.maximumSessions,
                    let oldest = sessions.min(by: { $0.value.expiresAt < $1.value.expiresAt })
                {
                    sessions[oldest.key] = nil
                }
            }
            sessions[session.id] = session
        }
        return session
    }

    /// The session with this id, if it exists and has not ended.
    public func session(id: String, now: Int64 = UTCTime.now()) -> ConsoleSession? {
        sessions.withLock { sessions in
            guard let session = sessions[id] else { return nil }
            if session.expiresAt <= now {
                sessions[id] = nil
                return nil
            }
            return session
        }
    }

    /// Ends the session (logout, or its token was refused).
    public func end(id: String) {
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }

    /// Whether `presented` is the session's CSRF token (constant-time comparison).
    public static func csrfMatches(_ session: ConsoleSession, _ presented: String?) -> Bool {
        guard let presented else { return false }
        let expected = Array(SHA256.hash(data: Array(session.csrfToken.utf8)))
        let given = Array(SHA256.hash(data: Array(presented.utf8)))
        var difference: UInt8 = 0
        for index in expected.indices { difference |= expected[index] ^ given[index] }
        return difference == 0
    }

    /// 256 random bits from the system's CSPRNG, base64url without padding.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<4 { withUnsafeBytes(of: generator.next()) { bytes.append(contentsOf: $0) } }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var text: [UInt8] = []
        var value: UInt32 = 0
        var bits = 0
        for byte in bytes {
            value = value << 8 | UInt32(byte)
            bits += 8
            while bits >= 6 {
                bits -= 6
                text.append(alphabet[Int((value >> UInt32(bits)) & 0x3f)])
            }
        }
        if bits > 0 { text.append(alphabet[Int((value << UInt32(6 - bits)) & 0x3f)]) }
        return String(decoding: text, as: UTF8.self)
    }
}
