import Egress25Configuration
import Egress25Core
import Egress25TestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NetfilterQueue
import Testing

@testable import Egress25Daemon

/// `/metrics` and `/healthz` in process: the daemon's router (``MetricsServer/application``), requests sent
/// straight to it by HummingbirdTesting (`.router`: no socket, no namespace, no Python).
@Suite struct MetricsServerTests {
    /// A stand-in for ``DaemonMetrics``: fixed exposition text and health.
    struct FixedSource: MetricsEndpointSource {
        var text = "# TYPE egress25_policy_generation gauge\negress25_policy_generation 7\n"
        var healthy = true
        var healthText = "ok: 1 queue(s) bound, policy generation 7\n"
        func render() -> String { text }
        func health() -> (healthy: Bool, text: String) { (healthy, healthText) }
    }

    static let listen = ListenAddress(address: try! IPAddress(parsing: "127.0.0.1"), port: 9325)

    static func application(_ source: some MetricsEndpointSource) -> some ApplicationProtocol {
        MetricsServer.application(metrics: source, listen: listen, logger: Logger(label: "metrics-test"))
    }

    /// The value of the sample `series` (name and labels as rendered) in exposition text; nil when absent.
    static func sample(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test func healthyAnswers200WithTheText() async throws {
        try await Self.application(FixedSource()).test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/plain; charset=utf-8")
                #expect(String(buffer: response.body) == "ok: 1 queue(s) bound, policy generation 7\n")
            }
        }
    }

    @Test func unhealthyAnswers503WithTheReasons() async throws {
        let source = FixedSource(
            healthy: false, healthText: "queue 0 is not bound\nkernel rules: the queue rule is missing\n")
        try await Self.application(source).test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.contentType] == "text/plain; charset=utf-8")
                #expect(
                    String(buffer: response.body) == "queue 0 is not bound\nkernel rules: the queue rule is missing\n")
            }
        }
    }

    @Test func metricsAnswersThePrometheusTextFormat() async throws {
        try await Self.application(FixedSource()).test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
                #expect(String(buffer: response.body) == FixedSource().text)
            }
            try await client.execute(uri: "/nothing-here", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    /// A real ``Daemon`` (configuration, policy, exception store and block log in a temporary state directory)
    /// behind the real ``DaemonMetrics``. Building a Daemon needs CAP_NET_ADMIN, and binding its queue (an unusual
    /// number, no traffic, as NetfilterQueueSocketTests do) too.
    @Test(.enabled(if: Capabilities.hasNetAdmin, "needs CAP_NET_ADMIN (run as root): builds a Daemon, binds a queue"))
    func realDaemonMetrics() async throws {
        let directory = TemporaryDirectory(prefix: "egress25-metrics-test")
        defer { directory.cleanup() }
        let queue = 54_327
        let configuration = directory.path + "/egress25.yaml"
        try """
        node_name: metrics-test
        state_directory: \(directory.path)/state
        queue: { numbers: [\(queue)] }
        policy:
          subscriber_ranges: [100.64.0.0/24]
          relay_hosts: [192.0.2.25]
        """.write(toFile: configuration, atomically: true, encoding: .utf8)
        let daemon = try Daemon(configurationPath: configuration, logger: Logger(label: "metrics-test"))
        let application = Self.application(DaemonMetrics(daemon: daemon))

        try await application.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body) == "queue \(queue) is not bound\n")
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
                let body = String(buffer: response.body)
                #expect(Self.sample(body, "egress25_queue_bound{queue=\"\(queue)\"}") == 0, "\(body)")
                #expect(Self.sample(body, "egress25_policy_generation") == 1, "\(body)")
                #expect(body.contains("# TYPE egress25_verdict_latency_seconds histogram"), "\(body)")
            }
        }

        let worker = try #require(daemon.workers.first)
        try worker.bind()
        // Running, the worker stays alive however slow the machine is (a bound worker that never returns from a
        // receive for 5 s is reported as stuck, as a loaded CI machine showed).
        worker.start()
        defer { worker.stop() }
        try await application.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "ok: 1 queue(s) bound, policy generation 1\n")
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let body = String(buffer: response.body)
                #expect(Self.sample(body, "egress25_queue_bound{queue=\"\(queue)\"}") == 1, "\(body)")
            }
        }
    }
}
