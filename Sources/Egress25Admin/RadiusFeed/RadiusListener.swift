import Egress25Configuration
import Egress25Core
import ExceptionStore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RadiusAccounting
import ServiceLifecycle

/// egress25-admin's RADIUS accounting listener (`session_feed.radius`): UDP sockets on every `listen` address,
/// decoding and verifying on the event loop, group commit on ``AccountingCommitter``'s thread, answers after the
/// commit (RFC 2866 §2: the server answers once it has recorded the request).
///
/// egress25 is meant to receive a *copy* of accounting (FreeRADIUS `replicate`, or a second accounting server in
/// the BNG): when it is down or slow, the BNG's own accounting is not affected.
public final class RadiusFeedService: Service, Sendable {
    private let settings: RadiusFeedSettings
    private let clients: RadiusClientTable
    private let committer: AccountingCommitter
    private let metrics: RadiusMetrics
    private let group: any EventLoopGroup
    private let logger: Logger
    private let leaseFallback: Int64
    private let channels: NIOLockedChannels
    static let datagramsPerRead = 32
    static let sliceOctets = 4104

    /// Prepares the listener (nothing is bound until ``bind()``).
    /// - Parameters:
    ///   - store: A store for the feed alone (with PostgreSQL, its own connection).
    ///   - configuration: `session_feed.radius`, `sessions.lease` (the lease when the NAS sends no interim
    ///     interval), and the address plan (`policy.subscriber_ranges`, `sessions.max_prefix`).
    /// - Throws: ``AdminServer/StartupError`` when a secret file cannot be read.
    public init(
        store: ExceptionStore, configuration: Egress25Configuration, metrics: RadiusMetrics,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) throws {
        guard let settings = configuration.sessionFeed.radius else {
            throw AdminServer.StartupError(description: "session_feed.radius is not configured")
        }
        self.settings = settings
        self.clients = try RadiusClientTable(settings)
        self.metrics = metrics
        self.group = group
        self.logger = logger
        self.leaseFallback = configuration.sessions.leaseSeconds
        self.channels = NIOLockedChannels()
        let plan = AddressPlan(
            subscriberRanges: configuration.policy.policy.subscriberRanges,
            shortestIPv4: configuration.sessions.maxPrefixIPv4, shortestIPv6: configuration.sessions.maxPrefixIPv6)
        self.committer = AccountingCommitter(store: store, plan: plan, metrics: metrics, logger: logger)
    }

    /// Binds every `listen` address (before the server starts, so a taken port is one clear start-up error).
    /// - Returns: The bound addresses (the actual ports when a listen address says port 0: tests).
    /// - Throws: ``AdminServer/StartupError`` naming the address and the reason.
    @discardableResult
    public func bind() async throws -> [SocketAddress] {
        var bound: [SocketAddress] = []
        for listen in settings.listen {
            let handler = RadiusRequestHandler(
                clients: clients, subscriberAttribute: settings.subscriberAttribute, committer: committer,
                metrics: metrics,
                lease: { [settings, leaseFallback] interval in
                    settings.lease(interimInterval: interval, fallback: leaseFallback)
                })
            // No SO_REUSEADDR: on UDP it would let a second instance bind the same port and take the requests.
            var bootstrap = DatagramBootstrap(group: group)
                .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
                // recvmmsg: up to 32 datagrams a read, each in its own slice of one buffer (NIO splits the buffer
                // evenly). A slice holds 4104 octets, more than RADIUS's 4096-octet maximum, so a longer datagram
                // arrives cut to 4104 and is counted too_long, never taken for a shorter one.
                .channelOption(.datagramVectorReadMessageCount, value: Self.datagramsPerRead)
                .channelOption(
                    .recvAllocator,
                    value: FixedSizeRecvByteBufferAllocator(capacity: Self.datagramsPerRead * Self.sliceOctets))
            if case .v6 = listen.address {
                bootstrap = bootstrap.channelOption(
                    ChannelOptions.Types.SocketOption(level: .ipv6, name: .ipv6_v6only), value: 1)
            }
            bootstrap = bootstrap.channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            do {
                let channel = try await bootstrap.bind(host: "\(listen.address)", port: Int(listen.port)).get()
                channels.append(channel)
                if let address = channel.localAddress { bound.append(address) }
            } catch {
                await closeAll()
                throw AdminServer.StartupError(
                    description: "session_feed.radius: cannot listen on UDP \(listen): \(error)")
            }
        }
        committer.start()
        logger.notice(
            "RADIUS accounting listener ready",
            metadata: [
                "listen": "\(bound.map { "\($0)" }.joined(separator: ", "))",
                "clients": "\(settings.clients.count)", "subscriber_id": "\(settings.subscriberAttribute)",
            ])
        return bound
    }

    /// Runs until graceful shutdown, then closes the sockets and ends the committer after its current batch.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Closes the sockets and stops the committer (idempotent).
    public func shutdown() async {
        await closeAll()
        committer.stop()
    }

    private func closeAll() async {
        for channel in channels.takeAll() {
            try? await channel.close()
        }
    }
}

/// The bound channels, for closing them.
final class NIOLockedChannels: Sendable {
    private let channels = NIOLockedValueBox<[any Channel]>([])

    func append(_ channel: any Channel) { channels.withLockedValue { $0.append(channel) } }

    func takeAll() -> [any Channel] {
        channels.withLockedValue { channels in
            defer { channels = [] }
            return channels
        }
    }
}

/// Decodes and verifies each datagram on the event loop and queues the valid ones for the committer. Every
/// datagram it drops is counted by reason; none is answered.
final class RadiusRequestHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    let clients: RadiusClientTable
    let subscriberAttribute: SubscriberAttribute
    let committer: AccountingCommitter
    let metrics: RadiusMetrics
    let lease: @Sendable (UInt32?) -> Int64

    init(
        clients: RadiusClientTable, subscriberAttribute: SubscriberAttribute, committer: AccountingCommitter,
        metrics: RadiusMetrics, lease: @escaping @Sendable (UInt32?) -> Int64
    ) {
        self.clients = clients
        self.subscriberAttribute = subscriberAttribute
        self.committer = committer
        self.metrics = metrics
        self.lease = lease
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        switch Self.pending(
            envelope, clients: clients, subscriberAttribute: subscriberAttribute, lease: lease,
            channel: context.channel, now: UTCTime.now())
        {
        case .success(let request): committer.submit(request)
        case .failure(let reason): metrics.invalid(reason)
        }
    }

    /// A read error on a UDP socket (an ICMP port unreachable for an earlier answer, say) concerns one peer, not
    /// the listener: it is ignored and the socket keeps serving.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {}

    /// One datagram → the committer's request, or why it is dropped.
    static func pending(
        _ envelope: AddressedEnvelope<ByteBuffer>, clients: RadiusClientTable, subscriberAttribute: SubscriberAttribute,
        lease: (UInt32?) -> Int64, channel: any Channel, now: Int64
    ) -> Result<PendingAccounting, RadiusInvalidReason> {
        guard let text = envelope.remoteAddress.ipAddress, let source = IPAddress(text),
            let secret = clients.secret(for: source)
        else {
            return .failure(.unknownClient)
        }
        let decoded = envelope.data.withUnsafeReadableBytes { bytes in
            Result { () throws(RadiusInvalidReason) -> AccountingRequest in
                try AccountingCodec.decodeRequest(bytes, secret: secret, subscriberAttribute: subscriberAttribute)
            }
        }
        let request: AccountingRequest
        switch decoded {
        case .success(let value): request = value
        case .failure(let reason): return .failure(reason)
        }
        let nas = request.nas ?? source.description
        let eventTime = now - Int64(request.delaySeconds)
        let event: AccountingEvent
        switch request.statusType {
        case .start, .interimUpdate:
            guard let sessionID = request.sessionID else { return .failure(.missingSessionID) }
            guard let customer = request.subscriberID else { return .failure(.missingSubscriberID) }
            // 0.0.0.0 is no address (a NAS that has not assigned one yet); the rest is checked against the address
            // plan by the store (subscriber ranges, sessions.max_prefix: no /0 can hold a whole family).
            var prefixes = request.framedIPv4.flatMap { $0.value == 0 ? nil : [IPPrefix(host: .v4($0))] } ?? []
            prefixes += request.ipv6Prefixes
            let session = AccountingSession(
                nas: nas, sessionID: sessionID, customer: customer, prefixes: prefixes,
                leaseSeconds: lease(request.interimIntervalSeconds))
            event = request.statusType == .start ? .start(session) : .interim(session)
        case .stop:
            guard let sessionID = request.sessionID else { return .failure(.missingSessionID) }
            event = .stop(nas: nas, sessionID: sessionID)
        case .accountingOn, .accountingOff:
            // Every session of the NAS that started before the reboot, up to and including the second of the event
            // on our clock (receipt minus Acct-Delay-Time): not the NAS's Event-Timestamp, whose clock may run
            // behind ours and spare a session that must end. A Start later in the same batch is applied after this
            // and stays.
            event = .nasRestart(nas: nas, before: eventTime + 1)
        }
        return .success(
            PendingAccounting(
                event: event, nas: nas, digest: request.contentDigest, eventTime: eventTime,
                identifier: request.identifier, authenticator: request.authenticator, secret: secret,
                channel: channel, remote: envelope.remoteAddress))
    }
}
