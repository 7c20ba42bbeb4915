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

/// Assembles egress25-admin: the router (API under `/api/v1`, the console at `/`, `/healthz`), its middleware,
/// and the Hummingbird application on `admin.listen`, with TLS when `admin.tls` is set.
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

    /// The application serving `router` on `admin.listen`, with TLS from `admin.tls`.
    /// - Throws: ``StartupError`` when the certificate or key cannot be read.
    public static func application(
        router: Router<AdminRequestContext>, configuration: Egress25Configuration, services: [any Service],
        logger: Logger
    ) throws -> some ApplicationProtocol {
        let listen = configuration.admin.listen
        var server: HTTPServerBuilder = .http1()
        if let tls = configuration.admin.tls {
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(tls.certificateFile).map {
                    NIOSSLCertificateSource.certificate($0)
                }
                let key = try NIOSSLPrivateKey(file: tls.keyFile, format: .pem)
                let tlsConfiguration = TLSConfiguration.makeServerConfiguration(
                    certificateChain: chain, privateKey: .privateKey(key))
                server = try .tls(.http1(), tlsConfiguration: tlsConfiguration)
            } catch {
                throw StartupError(
                    description: "admin.tls: cannot use \(tls.certificateFile) and \(tls.keyFile): \(error)")
            }
        }
        return Application(
            router: router, server: server,
            configuration: .init(
                address: .hostname("\(listen.address)", port: Int(listen.port)), serverName: "egress25-admin"),
            services: services, logger: logger)
    }
}
