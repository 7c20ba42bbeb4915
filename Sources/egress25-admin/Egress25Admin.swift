import ArgumentParser
import AsyncHTTPClient
import Egress25Admin
import Egress25Configuration
import Egress25Core
import Egress25Operations
import Egress25System
import ExceptionStore
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// `egress25-admin --config FILE`: the control-plane server.
@main
struct Egress25AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "egress25-admin",
        abstract: "The egress25 control plane: HTTP API (/api/v1), web console (/) and suspect notifications.",
        discussion: """
            Reads the same configuration as egress25d (admin:, abuse:, store:, policy:). Listens on admin.listen \
            (default 127.0.0.1:8025). Tokens come from `egress25ctl token create`. Stops on SIGTERM or SIGINT.
            """,
        version: Egress25Release.version)

    @Option(help: "The egress25 configuration file (YAML).")
    var config: String = {
        if let path = ProcessInfo.processInfo.environment["EGRESS25_CONFIG"], !path.isEmpty { return path }
        return "/etc/egress25/egress25.yaml"
    }()

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Flag(help: "Check the configuration and the store, print what would be served, and exit.")
    var checkConfig = false

    func run() async throws {
        var logger = Logger(label: "egress25-admin")
        logger.logLevel = logLevel
        let configuration: Egress25Configuration
        do {
            configuration = try Self.loadConfiguration(config)
        } catch {
            throw Self.fail("\(error)")
        }
        let stores: [ExceptionStore]
        do {
            stores = try AdminServer.openStores(configuration)
        } catch {
            throw Self.fail("\(error)")
        }
        if let tls = configuration.admin.tls {
            // Loading the certificate and key here makes --check-config (the unit's ExecStartPre) catch them.
            do {
                try AdminServer.checkTLSFiles(tls)
            } catch {
                throw Self.fail("\(error)")
            }
        }
        var feedStore: ExceptionStore?
        if let radius = configuration.sessionFeed.radius {
            do {
                // The secrets are read here, so --check-config catches a missing or empty secret file.
                _ = try RadiusClientTable(radius)
                // The feed commits on a store of its own (with PostgreSQL, its own connection): a login storm never
                // waits behind API requests, nor they behind it.
                feedStore = try AdminServer.openStores(configuration, connections: 1)[0]
            } catch {
                throw Self.fail("\(error)")
            }
        }
        if checkConfig {
            if let radius = configuration.sessionFeed.radius {
                print(
                    "ok: RADIUS accounting on UDP \(radius.listen.map(\.description).joined(separator: ", ")) from "
                        + "\(radius.clients.map(\.prefix.description).joined(separator: ", ")), subscriber id "
                        + "\(radius.subscriberAttribute)")
            }
            print(
                "ok: \(configuration.sourcePath): API and console on \(configuration.admin.tls == nil ? "http" : "https")://"
                    + "\(configuration.admin.listen), store \(stores[0].backendDescription)")
            return
        }
        let executor = StoreExecutor(stores: stores)
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        let state = AdminState(configuration: configuration, executor: executor, httpClient: httpClient, logger: logger)
        let router = try AdminServer.router(state: state)
        let application: any ApplicationProtocol
        // Suspects are recorded (and, with abuse.webhook.url, announced) whatever the console shows; a router
        // that has blocked nothing yet has no block log, which is no suspect.
        let notifier = SuspectNotifier(
            store: executor.primary, executor: executor, settings: configuration.abuse,
            nodeName: configuration.nodeName, logger: logger,
            detect: { since, until in
                do {
                    return try await state.suspects(since: since, until: until)
                } catch let error as OperationError where error.kind == .notFound {
                    return []
                }
            })
        var services: [any Service] = [notifier]
        if let feedStore {
            do {
                let feed = try RadiusFeedService(
                    store: feedStore, configuration: configuration, metrics: state.radiusMetrics, logger: logger)
                try await feed.bind()
                services.append(feed)
            } catch {
                try? await httpClient.shutdown()
                throw Self.fail("\(error)")
            }
        }
        do {
            application = try AdminServer.application(
                router: router, configuration: configuration, services: services, logger: logger)
        } catch {
            try? await httpClient.shutdown()
            throw Self.fail("\(error)")
        }
        logger.notice(
            "egress25-admin listening",
            metadata: [
                "listen": "\(configuration.admin.listen)", "tls": "\(configuration.admin.tls != nil)",
                "store": "\(stores[0].backendDescription)",
            ])
        do {
            try await application.runService()
        } catch {
            try? await httpClient.shutdown()
            throw Self.fail("cannot serve on \(configuration.admin.listen): \(error)")
        }
        try await httpClient.shutdown()
        try await executor.shutdown()
    }

    /// Prints `egress25-admin: message` on stderr; the exit code 1 to throw.
    static func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("egress25-admin: \(message)\n".utf8))
        return ExitCode(1)
    }

    /// A router's configuration file, or an admin machine's (`store:` only, with `store.url`).
    static func loadConfiguration(_ path: String) throws -> Egress25Configuration {
        do {
            return try ConfigurationLoader.load(path: path)
        } catch let routerError {
            if let configuration = try? ConfigurationLoader.load(path: path, purpose: .storeClient) {
                return configuration
            }
            throw routerError
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
