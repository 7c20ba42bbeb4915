import Egress25Configuration
import Hummingbird
import Logging
import ServiceLifecycle

/// The HTTP endpoint on `metrics.listen`: `GET /metrics` (Prometheus text format) and `GET /healthz`
/// (200 when every queue is bound and the policy is loaded, else 503 with the reasons).
enum MetricsServer {
    static func application(metrics: DaemonMetrics, listen: ListenAddress, logger: Logger)
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
