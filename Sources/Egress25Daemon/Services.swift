import Atomics
import BlockLog
import Egress25System
import Foundation
import Logging
import NetfilterQueue
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Runs the queue workers: starts one thread per (already bound) queue, and on graceful shutdown stops them.
/// Listed last in the service group, so it is shut down first: no verdict is pending when the block log flushes.
struct QueueWorkersService: Service {
    let workers: [QueueWorker]
    let notifier: SystemdNotifier

    func run() async throws {
        for worker in workers { worker.start() }
        try? await gracefulShutdown()
        notifier.notify("STOPPING=1")
        for worker in workers { worker.stop() }
    }
}

/// Runs the block-log writer threads; on graceful shutdown (after the queue workers stopped, since services
/// shut down in reverse order) flushes what is pending and stops them.
struct BlockLogService: Service {
    let writer: BlockLogWriter?

    func run() async throws {
        writer?.start()
        try? await gracefulShutdown()
        writer?.shutdown()
    }
}

/// Reloads on SIGHUP and when the exception store changes (polled every 250 ms).
struct PolicyReloadService: Service {
    /// Rebuilds and publishes the policy (``Daemon/reload(from:reason:)``).
    let reload: @Sendable (Daemon.ReloadSource, String) -> Bool
    let policySource: PolicySource
    let notifier: SystemdNotifier

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in signals.cancelOnGracefulShutdown() {
                    notifier.notifyReloading()
                    _ = reload(.configurationFile, "SIGHUP")
                    notifier.notify("READY=1")
                }
            }
            group.addTask {
                var lastPrune: Int64?
                var lastRebuild = SystemClock.monotonicMilliseconds()
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    let now = SystemClock.monotonicMilliseconds()
                    if lastPrune.map({ now - $0 >= 86_400_000 }) ?? true {
                        lastPrune = now
                        policySource.pruneSessionHistory()
                    }
                    if policySource.storeChanged() {
                        _ = reload(.exceptionStore, "exception store changed")
                        lastRebuild = now
                    } else if now - lastRebuild >= 3_600_000 {
                        // Hourly: drop exceptions that expired more than 30 days ago from the snapshot.
                        _ = reload(.exceptionStore, "hourly refresh")
                        lastRebuild = now
                    }
                }
            }
            await group.waitForAll()
        }
    }
}

/// Watches every queue (every 250 ms) and keeps systemd's watchdog fed only while all are healthy.
///
/// A queue is dead when the kernel no longer lists it as bound to the worker's socket
/// (`/proc/net/netfilter/nfnetlink_queue`), or when packets wait in the kernel queue while the worker's
/// verdict count has not moved for 1 s. The worker is then told to close the socket and bind again.
/// A worker that has not come back from a receive call for 5 s is stuck: `/healthz` reports it and the
/// systemd keep-alive is withheld, so systemd restarts the service (`WatchdogSec=`). What it finds goes into
/// ``Health``, which both `/healthz` and the keep-alive read.
struct WatchdogService: Service {
    let workers: [QueueWorker]
    let health: Health
    let notifier: SystemdNotifier
    let logger: Logger

    private struct QueueProgress {
        var judged: UInt64 = 0
        var since: Int64 = 0
        /// Consecutive polls that found the queue unbound in the kernel.
        var unboundPolls = 0
    }

    func run() async throws {
        let systemdInterval = SystemdNotifier.watchdogInterval().map { max($0 / 2_000, 100) }  // ms
        var lastKeepAlive: Int64 = 0
        var progress = [QueueProgress](repeating: QueueProgress(), count: workers.count)
        var lastPoll = SystemClock.monotonicMilliseconds()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(250))
            let now = SystemClock.monotonicMilliseconds()
            if now - lastPoll > 750 {
                // The whole process was stopped (SIGSTOP) or starved: the workers get a fresh second.
                for index in progress.indices { progress[index].since = now }
            }
            lastPoll = now
            // Unreadable (the shipped unit: not root, no CAP_DAC_READ_SEARCH): the kernel-side checks are skipped;
            // the workers' own socket errors still trigger rebinds.
            let kernelView = KernelQueueCounters.readIfPermitted()
            let kernel = kernelView ?? []
            var findings: [String] = []
            for (index, worker) in workers.enumerated() {
                let statistics = worker.statistics
                guard statistics.bound.load(ordering: .relaxed) else { continue }  // Health reports it
                let judged = statistics.judged.load(ordering: .relaxed)
                if judged != progress[index].judged || progress[index].since == 0 {
                    progress[index] = QueueProgress(judged: judged, since: now)
                }
                guard kernelView != nil else { continue }
                let entry = kernel.first { $0.queueNumber == worker.queueNumber }
                if entry != nil && entry?.portID == statistics.portID.load(ordering: .relaxed) {
                    progress[index].unboundPolls = 0
                }
                let portID = statistics.portID.load(ordering: .relaxed)
                if entry == nil || entry?.portID != portID {
                    // Two polls in a row, so a rebind racing with this read is not mistaken for a dead queue.
                    progress[index].unboundPolls += 1
                    findings.append("queue \(worker.queueNumber) is not bound to our socket in the kernel")
                    guard progress[index].unboundPolls >= 2 else { continue }
                    progress[index].unboundPolls = 0
                    logger.error(
                        "queue is not bound to our socket in the kernel; binding it again",
                        metadata: ["queue": "\(worker.queueNumber)", "port_id": "\(portID)"])
                    worker.requestRebind()
                } else if let entry, entry.queueTotal > 0, now - progress[index].since >= 1_000 {
                    findings.append("queue \(worker.queueNumber) holds packets but its worker judged none for 1 s")
                    logger.error(
                        "queue holds packets but the worker judged none for 1 s; binding it again",
                        metadata: ["queue": "\(worker.queueNumber)", "waiting": "\(entry.queueTotal)"])
                    worker.requestRebind()
                    progress[index].since = now
                }
            }
            health.recordWatchdogFindings(findings)
            if let systemdInterval, health.report().queuesHealthy, now - lastKeepAlive >= systemdInterval {
                notifier.notify("WATCHDOG=1")
                lastKeepAlive = now
            }
        }
    }
}

/// Test-only fault injection (`egress25d --fault-injection`): SIGUSR2 kills every queue socket under its
/// worker, to exercise the watchdog and the rebind path.
struct FaultInjectionService: Service {
    let workers: [QueueWorker]
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sigusr2)
        for await _ in signals.cancelOnGracefulShutdown() {
            logger.warning("fault injection: killing the queue sockets")
            for worker in workers { worker.injectSocketFailure() }
        }
    }
}

/// SIGUSR1 prints the cumulative verdict counters on stdout as one line,
/// `judged=N allowed=N blocked=N malformed=N lost=N`, for benchmarks and quick checks.
struct StatisticsDumpService: Service {
    let workers: [QueueWorker]

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sigusr1)
        for await _ in signals.cancelOnGracefulShutdown() {
            var judged: UInt64 = 0
            var accepted: UInt64 = 0
            var blocked: UInt64 = 0
            var malformed: UInt64 = 0
            var lost: UInt64 = 0
            for worker in workers {
                judged &+= worker.statistics.judged.load(ordering: .relaxed)
                accepted &+= worker.statistics.accepted.load(ordering: .relaxed)
                blocked &+= worker.statistics.blocked.load(ordering: .relaxed)
                malformed &+= worker.statistics.malformed.load(ordering: .relaxed)
                lost &+= worker.statistics.lostBlockLogEvents.load(ordering: .relaxed)
            }
            print("judged=\(judged) allowed=\(accepted) blocked=\(blocked) malformed=\(malformed) lost=\(lost)")
            fflush(nil)
        }
    }
}

/// The daemon's health, judged once from one set of inputs for `/healthz` and for the systemd watchdog
/// keep-alive: every queue bound and its worker alive, the watchdog's kernel-side findings (a queue unbound in
/// the kernel, a backlog nobody judges), the kernel rules check (missing or stale rules), and in fleet mode the age
/// of the policy data (older than `store.max_staleness`, or none).
final class Health: Sendable {
    let workers: [QueueWorker]
    let kernelRules: KernelRulesState
    /// Fleet mode: the age of the policy data (beyond `store.max_staleness` the router is unhealthy).
    let fleet: FleetPolicy?
    private let watchdogFindings = Mutex<[String]>([])

    init(workers: [QueueWorker], kernelRules: KernelRulesState, fleet: FleetPolicy? = nil) {
        self.workers = workers
        self.kernelRules = kernelRules
        self.fleet = fleet
    }

    /// One evaluation.
    struct Report: Sendable {
        /// Problems of the queues and their workers: systemd's keep-alive is withheld while there are any
        /// (restarting the daemon can fix them).
        var queueProblems: [String]
        /// Everything `/healthz` reports: the queue problems and the kernel rules problem.
        var problems: [String]

        var queuesHealthy: Bool { queueProblems.isEmpty }
        var healthy: Bool { problems.isEmpty }
    }

    /// Replaces the watchdog's findings of its last poll.
    func recordWatchdogFindings(_ findings: [String]) {
        watchdogFindings.withLock { $0 = findings }
    }

    /// The health now (monotonic ms, for the workers' liveness).
    func report(now: Int64 = SystemClock.monotonicMilliseconds()) -> Report {
        var queueProblems: [String] = []
        for worker in workers {
            if !worker.statistics.bound.load(ordering: .relaxed) {
                queueProblems.append("queue \(worker.queueNumber) is not bound")
            } else if !worker.statistics.isAlive(now: now) {
                queueProblems.append("queue \(worker.queueNumber) worker has not returned from a receive for over 5 s")
            }
        }
        queueProblems += watchdogFindings.withLock { $0 }
        var problems = queueProblems
        if let rules = kernelRules.problem { problems.append(rules) }
        // Not a queue problem: restarting the daemon cannot make the fleet store answer.
        if let data = fleet?.problem() { problems.append(data) }
        return Report(queueProblems: queueProblems, problems: problems)
    }
}
