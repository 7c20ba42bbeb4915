import Atomics
import BlockLog
import Foundation
import Logging
import NetfilterQueue
import ServiceLifecycle
import UnixSignals

/// Runs the queue worker threads; on graceful shutdown stops receiving (first of all services).
struct QueueWorkersService: Service {
    let daemon: Daemon

    func run() async throws {
        try? await gracefulShutdown()
        daemon.stopWorkers()
    }
}

/// Flushes the block log after the workers stopped (services shut down in reverse order).
struct BlockLogService: Service {
    let writer: BlockLogWriter?

    func run() async throws {
        try? await gracefulShutdown()
        writer?.shutdown()
    }
}

/// Reloads on SIGHUP and when the exception store changes (polled every 250 ms).
struct PolicyReloadService: Service {
    let daemon: Daemon

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in signals.cancelOnGracefulShutdown() {
                    daemon.notifier.notifyReloading()
                    daemon.reload(from: .configurationFile, reason: "SIGHUP")
                    daemon.notifier.notify("READY=1")
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
                        daemon.policySource.pruneSessionHistory()
                    }
                    if daemon.policySource.storeChanged() {
                        daemon.reload(from: .exceptionStore, reason: "exception store changed")
                        lastRebuild = now
                    } else if now - lastRebuild >= 3_600_000 {
                        // Hourly: drop exceptions that expired more than 30 days ago from the snapshot.
                        daemon.reload(from: .exceptionStore, reason: "hourly refresh")
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
/// systemd keep-alive is withheld, so systemd restarts the service (`WatchdogSec=`).
struct WatchdogService: Service {
    let daemon: Daemon

    private struct QueueProgress {
        var judged: UInt64 = 0
        var since: Int64 = 0
        /// Consecutive polls that found the queue unbound in the kernel.
        var unboundPolls = 0
    }

    func run() async throws {
        let systemdInterval = SystemdNotifier.watchdogInterval().map { max($0 / 2_000, 100) }  // ms
        var lastKeepAlive: Int64 = 0
        var progress = [QueueProgress](repeating: QueueProgress(), count: daemon.workers.count)
        var lastPoll = SystemClock.monotonicMilliseconds()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(250))
            let now = SystemClock.monotonicMilliseconds()
            if now - lastPoll > 750 {
                // The whole process was stopped (SIGSTOP) or starved: the workers get a fresh second.
                for index in progress.indices { progress[index].since = now }
            }
            lastPoll = now
            let kernel = KernelQueueCounters.read()
            var healthy = true
            for (index, worker) in daemon.workers.enumerated() {
                let statistics = worker.statistics
                guard statistics.bound.load(ordering: .relaxed) else {
                    healthy = false
                    continue
                }
                if !statistics.isAlive(now: now) { healthy = false }
                let judged = statistics.judged.load(ordering: .relaxed)
                if judged != progress[index].judged || progress[index].since == 0 {
                    progress[index] = QueueProgress(judged: judged, since: now)
                }
                let entry = kernel.first { $0.queueNumber == worker.queueNumber }
                if entry != nil && entry?.portID == statistics.portID.load(ordering: .relaxed) {
                    progress[index].unboundPolls = 0
                }
                let portID = statistics.portID.load(ordering: .relaxed)
                if entry == nil || entry?.portID != portID {
                    // Two polls in a row, so a rebind racing with this read is not mistaken for a dead queue.
                    progress[index].unboundPolls += 1
                    healthy = false
                    guard progress[index].unboundPolls >= 2 else { continue }
                    progress[index].unboundPolls = 0
                    daemon.logger.error(
                        "queue is not bound to our socket in the kernel; binding it again",
                        metadata: ["queue": "\(worker.queueNumber)", "port_id": "\(portID)"])
                    worker.requestRebind()
                } else if let entry, entry.queueTotal > 0, now - progress[index].since >= 1_000 {
                    daemon.logger.error(
                        "queue holds packets but the worker judged none for 1 s; binding it again",
                        metadata: ["queue": "\(worker.queueNumber)", "waiting": "\(entry.queueTotal)"])
                    worker.requestRebind()
                    progress[index].since = now
                    healthy = false
                }
            }
            if let systemdInterval, healthy, now - lastKeepAlive >= systemdInterval {
                daemon.notifier.notify("WATCHDOG=1")
                lastKeepAlive = now
            }
        }
    }
}

/// Test-only fault injection (`egress25d --fault-injection`): SIGUSR2 kills every queue socket under its
/// worker, to exercise the watchdog and the rebind path.
struct FaultInjectionService: Service {
    let daemon: Daemon

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sigusr2)
        for await _ in signals.cancelOnGracefulShutdown() {
            daemon.logger.warning("fault injection: killing the queue sockets")
            for worker in daemon.workers { worker.injectSocketFailure() }
        }
    }
}

/// SIGUSR1 prints the cumulative verdict counters on stdout as one line,
/// `judged=N allowed=N blocked=N malformed=N lost=N`, for benchmarks and quick checks.
struct StatisticsDumpService: Service {
    let daemon: Daemon

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sigusr1)
        for await _ in signals.cancelOnGracefulShutdown() {
            var judged: UInt64 = 0
            var accepted: UInt64 = 0
            var blocked: UInt64 = 0
            var malformed: UInt64 = 0
            var lost: UInt64 = 0
            for worker in daemon.workers {
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
