import AsyncHTTPClient
import Egress25Admin
import Egress25Configuration
import Egress25TestSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import ServiceLifecycle
import Testing

/// `admin.tls`: the real listener answers TLS with the configured certificate, and the session cookie is Secure.
@Suite struct AdminTLSTests {
    @Test func theListenerAnswersTLSAndTheSessionCookieIsSecure() async throws {
        let port = Int.random(in: 20_000...29_999)
        let scratch = try AdminFixture()
        let directory = scratch.directory.path
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-keyout", directory + "/tls.key", "-out", directory + "/tls.pem",
        ]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0, "openssl could not make a test certificate")
        let fixture = try AdminFixture(
            extraYAML:
                "  listen: 127.0.0.1:\(port)\n  tls: {certificate_file: \(directory)/tls.pem, key_file: \(directory)/tls.key}"
        )
        defer {
            scratch.cleanup()
            fixture.cleanup()
        }
        #expect(fixture.configuration.admin.tls != nil)
        var logger = Logger(label: "tls-test")
        logger.logLevel = .warning
        let executor = StoreExecutor(stores: [fixture.store])
        let serverClient = HTTPClient(eventLoopGroupProvider: .singleton)
        let state = AdminState(
            configuration: fixture.configuration, executor: executor, httpClient: serverClient, logger: logger)
        let application = try AdminServer.application(
            router: try AdminServer.router(state: state), configuration: fixture.configuration, services: [],
            logger: logger)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(tlsConfiguration: tls, redirectConfiguration: .disallow))
        let group = ServiceGroup(configuration: .init(services: [application], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var health: HTTPClientResponse?
            for _ in 0..<300 where health == nil {
                health = try? await client.execute(
                    HTTPClientRequest(url: "https://127.0.0.1:\(port)/healthz"), timeout: .seconds(2))
                if health == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(health?.status == .ok)
            var login = HTTPClientRequest(url: "https://127.0.0.1:\(port)/login")
            login.method = .POST
            login.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            login.body = .bytes(ByteBuffer(string: "token=\(fixture.tokens["support"]!)"))
            let response = try await client.execute(login, timeout: .seconds(10))
            let cookie = response.headers["Set-Cookie"].first ?? ""
            #expect(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
            // Plain HTTP on the TLS port gets no page.
            let plain = try? await client.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz"), timeout: .seconds(2))
            #expect(plain?.status != .ok)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        try await client.shutdown()
        try await serverClient.shutdown()
        try await executor.shutdown()
    }
}
