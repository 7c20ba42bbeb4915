import Hummingbird
import NIOCore

/// The request context of egress25-admin: Hummingbird's core storage, the client's address (for the
/// authentication rate limit) and the principal the request was authenticated as.
public struct AdminRequestContext: RequestContext, RemoteAddressRequestContext {
    /// Hummingbird's per-request storage.
    public var coreContext: CoreRequestContextStorage
    /// The connected client (the reverse proxy's address behind one); `nil` in router-level tests.
    public let remoteAddress: SocketAddress?
    /// Who made the request, once authenticated.
    public var principal: Principal?
    /// The console session, once the session cookie was checked.
    public var consoleSession: ConsoleSession?

    /// Creates the context of a request arriving on `source`'s channel.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The client's address as text (`unknown` without one): the key of the authentication rate limit.
    public var clientAddress: String {
        remoteAddress?.ipAddress ?? "unknown"
    }
}
