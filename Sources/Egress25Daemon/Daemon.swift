import Atomics
import BlockLog
import Egress25Configuration
import Egress25Core
import Egress25System
import ExceptionStore
import Foundation
import KernelRules
import Logging
import NetfilterQueue
import ServiceLifecycle
import Synchronization
import UnixSignals

/// An error that stops the daemon at start-up; its description is the one line printed to stderr.
public struct DaemonStartupError: Error, CustomStringConvertible {
    /// The one line printed to stderr.
    public var description: String
    /// Creates an error with the line printed to stderr.
    public init(_ description: String) { self.description = description }
}

/// egress25d: binds the configured NFQUEUE queues, judges every queued SYN against the policy snapshot,
/// hands blocked attempts to the block log, and reloads the policy on SIGHUP or when the exception store
/// changes. SIGTERM/SIGINT stop receiving, flush the block log and exit.
public final class Daemon: Sendable {
    let configuration: Egress25Configuration
    let publisher: PolicyPublisher
    let workers: [QueueWorker]
    let policySource: PolicySource
    let blockLog: BlockLogWriter?
    /// Fleet mode with a block log: ships its rows to the fleet store.
    let shipper: BlockLogShipper?
    let logger: Logger
    let notifier = SystemdNotifier()
    /// `policy.block_action` in force (reloadable); the reject mark stays as started, matching the kernel rules.
    let blockVerdict: BlockVerdictSetting
    /// The kernel rules the configuration renders and the last check of the installed ones.
    let kernelRules: KernelRulesState
    /// What `/healthz` and the systemd watchdog both read.
    let health: Health
    private let reloadLock = Mutex(())

    /// Loads the configuration, builds the first policy snapshot, and prepares (but does not bind) the queues.
    ///
    /// - Throws: ``DaemonStartupError`` naming the file, line and problem, or what could not be opened.
    public init(configurationPath: String, logger: Logger) throws {
        let configuration: Egress25Configuration
        do {
            configuration = try ConfigurationLoader.load(path: configurationPath)
        } catch {
            throw DaemonStartupError("\(error)")
        }
        self.configuration = configuration
        self.logger = logger
        for warning in configuration.warnings {
            logger.warning("configuration: \(warning)")
        }
        // Before anything is created on disk: without CAP_NET_ADMIN no queue can be bound.
        if !Capabilities.hasNetAdmin, let first = configuration.queue.numbers.first {
            throw DaemonStartupError(
                "\(NetfilterQueueError(code: .missingCapability, queue: first, operation: "bind", errno: EPERM))")
        }
        let source = try PolicySource(configuration: configuration, logger: logger)
        self.policySource = source
        let snapshot = try source.buildSnapshot(policy: configuration.policy.policy, generation: 1)
        let publisher = PolicyPublisher(initial: snapshot)
        self.publisher = publisher

        var blockLog: BlockLogWriter?
        var shipper: BlockLogShipper?
        if configuration.blockLog.enabled {
            try Self.checkBlockLogMemory(configuration.blockLog)
            var ledger: ShippingLedger?
            if case .postgresql(let location) = configuration.store.location {
                let shippingLedger = ShippingLedger()
                ledger = shippingLedger
                shipper = BlockLogShipper(
                    directory: configuration.state.blockLog,
                    configuration: BlockLogConfiguration(configuration.blockLog), ledger: shippingLedger,
                    openStore: { try ExceptionStore(location: .postgresql(location), mode: .readWrite) },
                    nodeName: configuration.store.nodeName, logger: logger)
            }
            do {
                blockLog = try BlockLogWriter(
                    directory: configuration.state.blockLog,
                    configuration: BlockLogConfiguration(configuration.blockLog),
                    nodeName: configuration.nodeName,
                    resolver: publisher,
                    logger: logger,
                    shippingLedger: ledger
                )
            } catch {
                throw DaemonStartupError("block log in \(configuration.stateDirectory)/blocklog: \(error)")
            }
        }
        self.blockLog = blockLog
        self.shipper = shipper

        let queue = configuration.queue
        let blockVerdict = BlockVerdictSetting(
            BlockVerdictPolicy(
                action: configuration.policy.blockAction, rejectMark: configuration.policy.rejectMark,
                acceptMark: configuration.policy.acceptMark, rejectMask: configuration.policy.rejectMask))
        self.blockVerdict = blockVerdict
        let kernelRules = KernelRulesState(configuration: configuration)
        self.kernelRules = kernelRules
        self.workers = queue.numbers.map { number in
            let ring = blockLog.map { writer in
                // Sized by the block log's memory budget: at most 2^17 attempts (about 500 ms of a 250,000 SYN/s
                // flood, 9 MiB) absorb a burst while the writer catches up; beyond that attempts are counted as
                // lost, never waited for.
                let ring = BlockLogRing(capacity: writer.memoryPlan.ringCapacity(queues: queue.numbers.count))
                writer.attach(ring)
                return ring
            }
            return QueueWorker(
                socketConfiguration: NetfilterQueueConfiguration(
                    queueNumber: number,
                    maxLength: queue.maxLength,
                    failOpen: queue.failPolicy == .open,
                    receiveBufferBytes: queue.receiveBufferBytes,
                    batchSize: queue.batchSize
                ),
                publisher: publisher,
                blockVerdict: blockVerdict,
                ring: ring,
                logger: logger
            )
        }
        self.health = Health(workers: workers, kernelRules: kernelRules, fleet: source.fleet)
    }

    /// Validates the configuration and everything the policy is built from, without binding queues.
    ///
    /// - Returns: A one-line summary for `egress25d --check-config`.
    /// - Throws: ``DaemonStartupError``.
    public static func checkConfiguration(path: String, logger: Logger) throws -> String {
        let configuration: Egress25Configuration
        do {
            configuration = try ConfigurationLoader.load(path: path)
        } catch {
            throw DaemonStartupError("\(error)")
        }
        let source = try PolicySource(configuration: configuration, logger: logger, readOnly: true)
        let snapshot = try source.buildSnapshot(policy: configuration.policy.policy, generation: 1)
        let policy = configuration.policy.policy
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: configuration.stateDirectory, isDirectory: &isDirectory),
            !isDirectory.boolValue
        {
            throw DaemonStartupError("state_directory \(configuration.stateDirectory) exists but is not a directory")
        }
        if configuration.blockLog.enabled { try checkBlockLogMemory(configuration.blockLog) }
        var notes = configuration.warnings.map(\.description)
        if case .postgresql = configuration.store.location {
            // An unreachable fleet store is not a configuration error: the router starts from its cache.
            let status = ExceptionStore.status(of: configuration.store.location)
            if let problem = status.problem {
                notes.append("fleet store \(status.location): \(problem) (egress25d would start from its policy cache)")
            }
        }
        let warnings = notes.map { "\($0)\n" }.joined()
        return warnings + "\(path): OK: queues \(configuration.queue.numbers.map(String.init).joined(separator: ",")), "
            + "\(policy.subscriberRanges.count) subscriber ranges, \(policy.relayHosts.count) relay hosts, "
            + "\(snapshot.exceptionCount) exceptions, mode \(policy.mode.rawValue), "
            + "block_action \(configuration.policy.blockAction.rawValue)"
    }

    /// Refuses a block-log memory budget above half of this machine's physical memory
    /// (``SystemMemory/physicalBytes``): the writer reserves its pool at start, and a budget the machine
    /// cannot hold would abort the daemon instead of failing with a message.
    ///
    /// - Throws: ``DaemonStartupError`` naming the budget and the machine's memory.
    static func checkBlockLogMemory(_ settings: BlockLogSettings) throws {
        guard let physical = SystemMemory.physicalBytes, settings.maxMemoryBytes > physical / 2 else { return }
        throw DaemonStartupError(
            "block_log.max_memory (\(settings.maxMemoryBytes >> 20) MiB) is more than half of this machine's memory "
                + "(\(physical >> 20) MiB); lower it")
    }

    /// Binds every queue, then runs until SIGTERM/SIGINT.
    ///
    /// - Throws: ``DaemonStartupError`` when a queue cannot be bound (no queue stays bound then).
    public func run(faultInjection: Bool = false) async throws {
        for worker in workers {
            do {
                try worker.bind()
            } catch {
                for bound in workers { bound.stop() }
                throw DaemonStartupError("\(error)")
            }
        }
        let pidFile = configuration.state.pidFile
        do {
            try "\(getpid())\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        } catch {
            logger.warning(
                "cannot write the pid file; egress25ctl reload will not find the daemon",
                metadata: ["path": "\(pidFile)", "error": "\(error)"])
        }
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        // The queues and mark in force, so `egress25ctl rules apply` can refuse rules this daemon cannot serve.
        let kernelSettingsFile = configuration.state.runningKernelSettings
        do {
            let settings = RunningDaemonKernelSettings(
                pid: getpid(), rules: KernelRuleSet(configuration: configuration))
            try JSONEncoder().encode(settings).write(to: URL(fileURLWithPath: kernelSettingsFile), options: .atomic)
        } catch {
            logger.warning(
                "cannot write the running settings; rules apply will not compare queues and mark",
                metadata: ["path": "\(kernelSettingsFile)", "error": "\(error)"])
        }
        defer { try? FileManager.default.removeItem(atPath: kernelSettingsFile) }
        let snapshot = publisher.current
        logger.notice(
            "egress25d ready",
            metadata: [
                "version": "\(Egress25Release.version)",
                "node": "\(configuration.nodeName)",
                "queues": "\(configuration.queue.numbers)",
                "fail_policy": "\(configuration.queue.failPolicy.rawValue)",
                "mode": "\(snapshot.policy.mode.rawValue)",
                "exceptions": "\(snapshot.exceptionCount)",
            ])
        notifier.notify("READY=1\nSTATUS=judging SYNs on queues \(configuration.queue.numbers)")

        let metrics = DaemonMetrics(daemon: self)
        let metricsServer = MetricsServer.application(
            metrics: metrics, listen: configuration.metrics.listen, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if faultInjection {
            logger.warning("fault injection enabled: SIGUSR2 kills the queue sockets (tests only)")
            services.append(
                .init(service: FaultInjectionService(workers: workers, logger: logger), serviceName: "fault-injection"))
        }
        // A service group shuts its services down in reverse order: the queue workers (last) stop first, so no
        // verdict is pending when the block log (first) flushes.
        if let fleet = policySource.fleet {
            services.append(
                .init(
                    service: FleetSyncService(
                        fleet: fleet, shipper: shipper,
                        reload: { [self] source, reason in reload(from: source, reason: reason) }),
                    serviceName: "fleet-sync"))
        }
        if let shipper {
            services.append(.init(service: BlockLogShippingService(shipper: shipper), serviceName: "blocklog-ship"))
        }
        services += [
            .init(service: BlockLogService(writer: blockLog), serviceName: "block-log"),
            // A metrics endpoint that cannot listen is logged, but never stops the judging.
            .init(
                service: MetricsListenerService(
                    application: metricsServer, listen: configuration.metrics.listen, logger: logger),
                successTerminationBehavior: .ignore,
                failureTerminationBehavior: .ignore, serviceName: "metrics-http"),
            .init(
                service: PolicyReloadService(
                    reload: { [self] source, reason in reload(from: source, reason: reason) },
                    policySource: policySource, notifier: notifier),
                serviceName: "policy-reload"),
            .init(service: StatisticsDumpService(workers: workers), serviceName: "statistics-dump"),
            .init(
                service: WatchdogService(workers: workers, health: health, notifier: notifier, logger: logger),
                serviceName: "watchdog"),
            .init(
                service: KernelRulesWatchService(state: kernelRules, blockVerdict: blockVerdict, logger: logger),
                serviceName: "kernel-rules-watch"),
            .init(service: QueueWorkersService(workers: workers, notifier: notifier), serviceName: "queue-workers"),
        ]
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.notice("egress25d stopped")
    }

    /// What a policy rebuild starts from.
    enum ReloadSource {
        /// Re-read the configuration file (SIGHUP, `egress25ctl reload`).
        case configurationFile
        /// Keep the policy in force; re-read only the exception store (a store change, the hourly refresh).
        case exceptionStore
    }

    /// Rebuilds the policy snapshot off the hot path and publishes it. Reloads are serialized, so generations
    /// increase by one per published snapshot. An invalid configuration or store error is logged (with file
    /// and line for the configuration) and counted; the policy in force stays.
    ///
    /// - Returns: Whether a new snapshot was published.
    @discardableResult
    func reload(from source: ReloadSource, reason: String) -> Bool {
        reloadLock.withLock { _ in
            var policy = publisher.current.policy
            if case .configurationFile = source {
                let configuration: Egress25Configuration
                do {
                    configuration = try ConfigurationLoader.load(path: self.configuration.sourcePath)
                } catch {
                    return rejectReload(error)
                }
                // The kernel rules match the queues and the mark the daemon started with. Taking a new mark or
                // queue set while the kernel still has the old one would forward every blocked SYN (or leave
                // the new queues unserved), so such a reload is refused as a whole.
                if let change = Self.restartOnlyChange(from: self.configuration, to: configuration) {
                    return rejectReload(
                        DaemonStartupError(
                            "\(change) changed in \(configuration.sourcePath): this needs a restart (systemctl stop "
                                + "egress25d; systemctl reload egress25-rules; systemctl start egress25d); the policy "
                                + "in force stays"))
                }
                let startOnly = Self.startOnlyChanges(from: self.configuration, to: configuration)
                if !startOnly.isEmpty {
                    let keys = startOnly.joined(separator: ", ")
                    logger.warning(
                        """
                        \(keys) changed in \(configuration.sourcePath): read only when egress25d starts, so in effect \
                        after the next systemctl restart egress25d; the rest of this reload applies now
                        """)
                }
                if configuration.policy.blockAction != blockVerdict.current.action {
                    blockVerdict.setAction(configuration.policy.blockAction)
                    logger.notice("block_action is now \(configuration.policy.blockAction.rawValue)")
                }
                policy = configuration.policy.policy
                kernelRules.update(configuration)
            }
            do {
                let next = try policySource.buildSnapshot(policy: policy, generation: publisher.current.generation + 1)
                publisher.publish(next)
                policySource.reloads.wrappingIncrement(ordering: .relaxed)
                policySource.lastReloadSucceeded.store(true, ordering: .relaxed)
                logger.notice(
                    "policy reloaded",
                    metadata: [
                        "reason": "\(reason)", "generation": "\(next.generation)",
                        "exceptions": "\(next.exceptionCount)",
                    ])
                return true
            } catch {
                return rejectReload(error)
            }
        }
    }

    /// The first setting that differs between `old` and `new` and can only change with a restart (it must
    /// match the kernel rules), e.g. `policy.reject_mark (0x25 -> 0x40)`; `nil` when none does.
    static func restartOnlyChange(from old: Egress25Configuration, to new: Egress25Configuration) -> String? {
        func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16) }
        // Each such setting: its key, and its value in the words of the message (equal words, equal values).
        let settings: [(key: String, value: (Egress25Configuration) -> String)] = [
            ("queue.numbers", { "\($0.queue.numbers)" }),
            ("queue.fail_policy", { $0.queue.failPolicy.rawValue }),
            ("queue.max_length", { "\($0.queue.maxLength)" }),
            ("policy.reject_mark", { hex($0.policy.rejectMark) }),
            ("policy.accept_mark", { hex($0.policy.acceptMark) }),
            ("policy.reject_mask", { hex($0.policy.rejectMask) }),
        ]
        for (key, value) in settings where value(old) != value(new) {
            return "\(key) (\(value(old)) -> \(value(new)))"
        }
        return nil
    }

    /// The settings egress25d reads only when it starts (the block log, the metrics listener, the store, the node
    /// name, the state directory, the queue sockets' buffer and batch) that differ between `old` and `new`, by
    /// key, e.g. `["block_log", "metrics"]`. A reload applies the rest and names these in a warning, so a change
    /// that waits for a restart is never silent.
    static func startOnlyChanges(from old: Egress25Configuration, to new: Egress25Configuration) -> [String] {
        let settings: [(key: String, value: (Egress25Configuration) -> String)] = [
            ("node_name", { $0.nodeName }),
            ("state_directory", { $0.stateDirectory }),
            ("queue.receive_buffer", { "\($0.queue.receiveBufferBytes)" }),
            ("queue.batch_size", { "\($0.queue.batchSize)" }),
            ("block_log", { "\($0.blockLog)" }),
            ("metrics", { "\($0.metrics)" }),
            ("store", { "\($0.store)" }),
        ]
        return settings.filter { $0.value(old) != $0.value(new) }.map(\.key)
    }

    private func rejectReload(_ error: any Error) -> Bool {
        policySource.reloadFailures.wrappingIncrement(ordering: .relaxed)
        policySource.lastReloadSucceeded.store(false, ordering: .relaxed)
        logger.error("reload rejected, the policy in force stays", metadata: ["error": "\(error)"])
        return false
    }
}

extension BlockLogConfiguration {
    init(_ settings: BlockLogSettings) {
        self.init(
            segmentSeconds: settings.segmentSeconds,
            flushIntervalMilliseconds: settings.flushIntervalMilliseconds,
            aggregationWindowSeconds: settings.aggregationWindowSeconds,
            retentionSeconds: settings.retentionSeconds,
            maxBytes: settings.maxBytes,
            maxMemoryBytes: Int(settings.maxMemoryBytes),
            checkpointIntervalMilliseconds: settings.checkpointIntervalMilliseconds
        )
    }
}
