import AsyncHTTPClient
import Egress25AdminAPI
import Egress25Configuration
import ExceptionStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOSSL
import OpenAPIHummingbird
import ServiceLifecycle

/// Assembles egress25-admin: the router (API under `/api/v1`, the console at `/`, `/healthz`, `/metrics`), its
/// middleware, and the Hummingbird application on `admin.listen`, with TLS when `admin.tls` is set.
public enum AdminServer {
    /// Why the server cannot start: one line for the operator.
    public struct StartupError: Error, CustomStringConvertible {
        /// The message.
        public var description: String
    }

    /// The router with every route and middleware, over `state`.
    /// - Throws: What registering the generated handlers throws (a bug if it does).
    public static func router(state: AdminState) throws -> Router<AdminRequestContext> {
        let router = Router(context: AdminRequestContext.self)
        router.add(middleware: SecurityHeadersMiddleware())
        router.add(middleware: ProblemMiddleware(logger: state.logger))
        router.add(middleware: BodyLimitMiddleware(maximumBytes: Int(state.configuration.admin.maxBodyBytes)))
        router.add(middleware: APIAuthenticationMiddleware(authenticator: state.authenticator))
        router.get("healthz") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        router.get("metrics") { _, _ -> Response in
            // Prometheus text format, without a token (like egress25d's): counters only, no customer data. Keep it
            // off a reverse proxy's public paths.
            var active: Int?
            if state.configuration.sessionFeed.radius != nil {
                active = try? await state.executor.run { store in try store.activeAccountingSessionCount() }
            }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: state.radiusMetrics.render(activeSessions: active))))
        }
        try AdminAPI(state: state).registerHandlers(on: router, serverURL: URL(string: "/api/v1")!)
        MethodNotAllowed.register(on: router, under: "/api/v1/")
        Console.register(on: router, state: state)
        return router
    }

    /// Opens the stores `configuration` names: the SQLite file (one store: GRDB pools its connections), or
    /// `connections` PostgreSQL connections.
    /// - Throws: ``StartupError`` naming the store and the reason (missing, unreachable, refused).
    public static func openStores(
        _ configuration: Egress25Configuration, connections: Int = 4
    ) throws -> [ExceptionStore] {
        do {
            switch configuration.store.location {
            case .sqlite(let path):
                guard try ExceptionStore.storeExists(at: path) else {
                    throw StartupError(
                        description: "no exception store at \(path): create the first token with `egress25ctl "
                            + "--config \(configuration.sourcePath) token create --name NAME --role admin`, which "
                            + "creates it")
                }
                return [try ExceptionStore(path: path, mode: .readWrite)]
            case .postgresql:
                return try (0..<max(1, connections)).map { _ in
                    try ExceptionStore(location: configuration.store.location, mode: .readWrite)
                }
            }
        } catch let error as ExceptionStoreError {
            throw StartupError(description: error.message)
        }
    }

    /// Loads the PEM certificate chain and key of `admin.tls`.
    /// - Throws: ``StartupError`` naming the files and why they cannot be used.
    public static func checkTLSFiles(_ tls: AdminSettings.TLSFiles) throws {
        _ = try tlsConfiguration(tls)
    }

    static func tlsConfiguration(_ tls: AdminSettings.TLSFiles) throws -> TLSConfiguration {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(tls.certificateFile).map {
                NIOSSLCertificateSource.certificate($0)
            }
            guard !chain.isEmpty else { throw StartupError(description: "no certificate in the file") }
            let key = try NIOSSLPrivateKey(file: tls.keyFile, format: .pem)
            return TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        } catch {
            throw StartupError(
                description: "admin.tls: cannot use \(tls.certificateFile) and \(tls.keyFile): \(error)")
        }
    }

    /// How long a connection may sit idle (no request, or a request body that stopped arriving) before it is
    /// closed: a slow client cannot hold connections, nor delay a shutdown, longer than this.
    public static let idleTimeoutSeconds: Int64 = 15

    /// The application serving `router` on `admin.listen`, with TLS from `admin.tls`.
    /// - Throws: ``StartupError`` when the certificate or key cannot be read.
    public static func application(
        router: Router<AdminRequestContext>, configuration: Egress25Configuration, services: [any Service],
        logger: Logger
    ) throws -> some ApplicationProtocol {
        let listen = configuration.admin.listen
        let http1: HTTPServerBuilder = .http1(
            configuration: .init(idleTimeout: .seconds(idleTimeoutSeconds)))
        var server = http1
        if let tls = configuration.admin.tls {
            server = try .tls(
                .http1(configuration: .init(idleTimeout: .seconds(idleTimeoutSeconds))),
                tlsConfiguration: try tlsConfiguration(tls))
        }
        return Application(
            router: router, server: server,
            configuration: .init(
                address: .hostname("\(listen.address)", port: Int(listen.port)), serverName: "egress25-admin"),
            services: services, logger: logger)
    }
}
