import Egress25Core
import ExceptionStore
import HTTPTypes
import Logging
import Synchronization

/// Checks bearer tokens against the store's tokens in force, and limits failed attempts per client address.
///
/// - The tokens in force (name, role, SHA-256) are cached and re-read when older than ``refreshMilliseconds``,
///   so a token created or revoked with egress25ctl works or stops working within a second, and a request costs
///   no store round trip.
/// - A presented token is hashed and compared with every cached digest in constant time (no early exit), so the
///   time taken says nothing about how close a guess was. Tokens are never logged.
/// - More than `failuresPerMinute` failed authentications from one address within a minute get 429 until the
///   minute has passed, whatever the token.
public final class TokenAuthenticator: Sendable {
    /// How old the cached tokens may get before they are read again, ms.
    public static let refreshMilliseconds: Int64 = 1000

    struct Cache {
        var credentials: [APITokenCredential] = []
        var loadedAtMilliseconds: Int64?
    }

    struct Failures {
        /// Per client address: the start of its current minute (ms) and the failures in it.
        var byAddress: [String: (windowStart: Int64, count: Int64)] = [:]
    }

    let executor: StoreExecutor
    let failuresPerMinute: Int64
    /// The window failures are counted in, ms: a minute (tests stretch it, so a starved run cannot slip past it).
    let failureWindowMilliseconds: Int64
    let logger: Logger
    private let cache = Mutex(Cache())
    private let failures = Mutex(Failures())
    /// The most client addresses the rate limit tracks; the oldest are forgotten beyond it.
    static let maximumTrackedAddresses = 10_000

    /// - Parameters:
    ///   - failuresPerMinute: Failed authentications allowed per client address per minute.
    ///   - failureWindowMilliseconds: The window the failures are counted in (a minute).
    public init(
        executor: StoreExecutor, failuresPerMinute: Int64, failureWindowMilliseconds: Int64 = 60_000, logger: Logger
    ) {
        self.executor = executor
        self.failuresPerMinute = failuresPerMinute
        self.failureWindowMilliseconds = failureWindowMilliseconds
        self.logger = logger
    }

    /// The principal `token` authenticates, for a request from `client`.
    /// - Throws: ``APIProblem``: 401 for a missing, unknown, revoked or expired token; 429 (with `Retry-After`)
    ///   while `client` is over its failure limit; 503 when the tokens cannot be read.
    public func authenticate(token: String?, client: String) async throws -> Principal {
        let now = UTCTime.nowMilliseconds()
        if let retryAfter = limitedFor(client, now: now) {
            throw APIProblem(
                .tooManyRequests, title: "Too many failed authentications",
                detail: "too many failed authentications from \(client); retry in \(retryAfter) s",
                headers: [.retryAfter: String(retryAfter)])
        }
        guard let token, !token.isEmpty else {
            recordFailure(client, now: now)
            throw APIProblem.unauthorized("a bearer token is required (Authorization: Bearer TOKEN)")
        }
        let credentials = try await currentCredentials(now: now)
        let digest = APITokenDigest(of: token)
        var match: APITokenCredential?
        for credential in credentials where credential.digest.constantTimeEquals(digest) {
            match = credential
        }
        let nowSeconds = now / 1000
        guard let match, match.token.expiresAt.map({ nowSeconds < $0 }) ?? true else {
            recordFailure(client, now: now)
            logger.notice("authentication failed", metadata: ["client": "\(client)"])
            throw APIProblem.unauthorized("the token is unknown, revoked or expired")
        }
        return Principal(name: match.token.name, role: match.token.role, expiresAt: match.token.expiresAt)
    }

    /// Forgets the cached tokens, so the next request reads them again (after a change made through this
    /// server).
    public func invalidate() {
        cache.withLock { $0.loadedAtMilliseconds = nil }
    }

    func currentCredentials(now: Int64) async throws -> [APITokenCredential] {
        let cached = cache.withLock { cache -> [APITokenCredential]? in
            guard let loadedAt = cache.loadedAtMilliseconds, now - loadedAt < Self.refreshMilliseconds else {
                return nil
            }
            return cache.credentials
        }
        if let cached { return cached }
        let loaded: [APITokenCredential]
        do {
            loaded = try await executor.run { store in try store.apiTokenCredentials(now: now / 1000) }
        } catch let error as ExceptionStoreError {
            logger.error("cannot read the API tokens", metadata: ["error": "\(error)"])
            throw APIProblem(
                .serviceUnavailable, title: "Store unavailable", detail: "cannot read the API tokens: \(error.message)",
                headers: [.retryAfter: "5"])
        }
        cache.withLock { cache in
            cache.credentials = loaded
            cache.loadedAtMilliseconds = now
        }
        return loaded
    }

    /// Seconds until `client` may try again, or `nil` when it is under the limit.
    func limitedFor(_ client: String, now: Int64) -> Int64? {
        failures.withLock { failures in
            guard let entry = failures.byAddress[client], now - entry.windowStart < failureWindowMilliseconds,
                entry.count >= failuresPerMinute
            else { return nil }
            return max(1, (entry.windowStart + failureWindowMilliseconds - now + 999) / 1000)
        }
    }

    func recordFailure(_ client: String, now: Int64) {
        failures.withLock { failures in
            if failures.byAddress.count >= Self.maximumTrackedAddresses {
                failures.byAddress = failures.byAddress.filter {
                    now - $0.value.windowStart < failureWindowMilliseconds
                }
                if failures.byAddress.count >= Self.maximumTrackedAddresses { failures.byAddress.removeAll() }
            }
            if let entry = failures.byAddress[client], now - entry.windowStart < failureWindowMilliseconds {
                failures.byAddress[client] = (entry.windowStart, entry.count + 1)
            } else {
                failures.byAddress[client] = (now, 1)
            }
        }
    }
}
