import Egress25Configuration
import Hummingbird
import Logging
import ServiceLifecycle

/// What the metrics endpoint serves: ``DaemonMetrics`` in the daemon, a stand-in in tests.
protocol MetricsEndpointSource: Sendable {
    /// The exposition text for `/metrics` (Prometheus text format 0.0.4).
    func render() -> String
    /// For `/healthz`: whether the daemon is healthy, and the text to answer with (the reasons when not).
    func health() -> (healthy: Bool, text: String)
}

extension DaemonMetrics: MetricsEndpointSource {}

/// The HTTP endpoint on `metrics.listen`: `GET /metrics` (Prometheus text format) and `GET /healthz`
/// (200 when every queue is bound and the policy is loaded, else 503 with the reasons).
enum MetricsServer {
    static func application(
        metrics: some MetricsEndpointSource, listen: ListenAddress, logger: Logger
    )
        -> some ApplicationProtocol
    {
        let router = Router()
        router.get("metrics") { _, _ -> Response in
            let body = metrics.render()
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
        router.get("healthz") { _, _ -> Response in
            let health = metrics.health()
            return Response(
                status: health.healthy ? .ok : .serviceUnavailable,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: health.text)))
        }
        var serverLogger = logger
        serverLogger.logLevel = max(logger.logLevel, .warning)
        return Application(
            router: router,
            configuration: .init(
                address: .hostname("\(listen.address)", port: Int(listen.port)), serverName: "egress25d"),
            logger: serverLogger)
    }
}

/// Runs the metrics application and says, in one error line, when it cannot serve (the port is taken, the
/// address is not local): the daemon judges on, but `/metrics` and `/healthz` are unavailable.
struct MetricsListenerService<Application: ApplicationProtocol & Service>: Service {
    let application: Application
    let listen: ListenAddress
    let logger: Logger

    func run() async throws {
        do {
            try await application.run()
        } catch {
            guard !Task.isShuttingDownGracefully, !Task.isCancelled else { return }
            logger.error(
                "the metrics listener on \(listen) failed; /metrics and /healthz are unavailable, judging goes on",
                metadata: ["error": "\(error)"])
            // Stay a running service until the daemon stops, so the group sees nothing unexpected.
            try? await gracefulShutdown()
        }
    }
}
