import Hummingbird
import Logging

/// The HTTP endpoint on `metrics.listen`: `GET /metrics` (Prometheus text format) and `GET /healthz`
/// (200 when every queue is bound and the policy is loaded, else 503 with the reasons).
enum MetricsServer {
    /// Splits `host:port` or `[v6]:port`.
    ///
    /// - Throws: ``DaemonStartupError`` when the address has no valid port.
    static func parseListen(_ text: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port)
        else {
            throw DaemonStartupError("metrics.listen \(text) is not HOST:PORT")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    static func application(metrics: DaemonMetrics, listen: String, logger: Logger) throws
        -> some ApplicationProtocol
    {
        let (host, port) = try parseListen(listen)
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
            configuration: .init(address: .hostname(host, port: port), serverName: "egress25d"),
            logger: serverLogger)
    }
}
