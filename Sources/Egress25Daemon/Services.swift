import Atomics
import BlockLog
import Foundation
import Logging
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
                    daemon.reload(reason: "SIGHUP")
                    daemon.notifier.notify("READY=1")
                }
            }
            group.addTask {
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    if daemon.policySource.storeChanged() {
                        daemon.reload(reason: "exception store changed")
                    }
                }
            }
            await group.waitForAll()
        }
    }
}

/// Feeds systemd's watchdog only while every queue worker is alive (came back from a receive call within
/// the last few seconds); a stalled worker stops the keep-alives and systemd restarts the service.
struct WatchdogService: Service {
    let daemon: Daemon

    func run() async throws {
        guard let interval = SystemdNotifier.watchdogInterval() else {
            try? await gracefulShutdown()
            return
        }
        let period = Duration.microseconds(max(interval / 2, 100_000))
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: period)
            let now = SystemClock.monotonicMilliseconds()
            let healthy = daemon.workers.allSatisfy { worker in
                worker.statistics.bound.load(ordering: .relaxed)
                    && now - worker.statistics.lastAliveMilliseconds.load(ordering: .relaxed) < 5_000
            }
            if healthy {
                daemon.notifier.notify("WATCHDOG=1")
            } else {
                daemon.logger.warning("a queue worker is not alive; withholding the systemd watchdog keep-alive")
            }
        }
    }
}
