import Atomics
import BlockLog
import Egress25Core
import KernelRules
import NetfilterQueue
import Prometheus
import Synchronization

/// The daemon's Prometheus metrics, refreshed at scrape time from the workers' atomics, the kernel's
/// NFQUEUE counters, the block log and the policy publisher. Nothing here runs on the hot path.
///
/// Families (all prefixed `egress25_`): `verdicts_total{reason,family}`, `verdicts_by_action_total{verdict}`,
/// `shadow_would_block_total`, `malformed_packets_total`, `verdict_latency_seconds` (histogram),
/// `queue_bound{queue}`, `queue_rebinds_total{queue}`, `kernel_queue_waiting{queue}`,
/// `kernel_queue_dropped_total{queue}`, `kernel_user_dropped_total{queue}`, `kernel_id_sequence{queue}`,
/// `block_log_*`, `policy_*`, `active_exceptions`.
final class DaemonMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let daemon: Daemon
    /// Last values mirrored into monotonic counters, keyed by series.
    private let mirrored = Mutex<[String: UInt64]>([:])

    init(daemon: Daemon) {
        self.daemon = daemon
    }

    /// Adds the growth of `value` since the last scrape to the counter `name{labels}`.
    private func mirror(_ name: String, _ labels: [(String, String)] = [], help: String, _ value: UInt64) {
        let key = name + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        let delta = mirrored.withLock { last -> UInt64 in
            let previous = last[key] ?? 0
            last[key] = value
            return value >= previous ? value - previous : value
        }
        let counter = registry.makeCounter(descriptor: Self.descriptor(name, help: help), labels: labels)
        if delta > 0 { counter.increment(by: Int64(clamping: delta)) }
    }

    private func gauge(_ name: String, _ labels: [(String, String)] = [], help: String, _ value: Double) {
        registry.makeGauge(descriptor: Self.descriptor(name, help: help), labels: labels).set(value)
    }

    /// `name` whole (the unit is already part of egress25's metric names, e.g. `_total`) and its `# HELP` text.
    private static func descriptor(_ name: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// The exposition text for `/metrics` (Prometheus text format 0.0.4).
    func render() -> String {
        let workers = daemon.workers
        for slot in 0..<ReasonCounter.slots {
            let total = workers.reduce(UInt64(0)) { $0 &+ $1.statistics.byReason[slot].load(ordering: .relaxed) }
            mirror(
                "egress25_verdicts_total",
                [("reason", ReasonCounter.labels[slot / 2]), ("family", slot % 2 == 0 ? "ipv4" : "ipv6")],
                help: "Verdicts by decision reason and address family.", total)
        }
        func sum(_ field: (WorkerStatistics) -> ManagedAtomic<UInt64>) -> UInt64 {
            workers.reduce(UInt64(0)) { $0 &+ field($1.statistics).load(ordering: .relaxed) }
        }
        mirror(
            "egress25_verdicts_by_action_total", [("verdict", "accept")], help: "Verdicts by action.", sum(\.accepted))
        mirror("egress25_verdicts_by_action_total", [("verdict", "block")], help: "Verdicts by action.", sum(\.blocked))
        mirror(
            "egress25_shadow_would_block_total", help: "SYNs accepted in shadow mode that enforce mode would block.",
            sum(\.shadowBlocked))
        mirror(
            "egress25_malformed_packets_total", help: "Queued packets whose headers could not be parsed (blocked).",
            sum(\.malformed))
        mirror(
            "egress25_block_log_ring_lost_total", help: "Blocked attempts dropped because a worker's ring was full.",
            sum(\.lostBlockLogEvents))

        let kernelView = KernelQueueCounters.readIfPermitted()
        let kernel = kernelView ?? []
        gauge(
            "egress25_kernel_queue_counters_readable",
            help: "1 when /proc/net/netfilter/nfnetlink_queue is readable (root only: mode 0440), so the "
                + "egress25_kernel_queue_* series are exported.",
            kernelView == nil ? 0 : 1)
        for worker in workers {
            let queue = [("queue", "\(worker.queueNumber)")]
            gauge(
                "egress25_queue_bound", queue, help: "1 when the queue is bound by this daemon.",
                worker.statistics.bound.load(ordering: .relaxed) ? 1 : 0)
            mirror(
                "egress25_queue_rebinds_total", queue, help: "Times a failed queue socket was bound again.",
                worker.statistics.rebinds.load(ordering: .relaxed))
            if let counters = kernel.first(where: { $0.queueNumber == worker.queueNumber }) {
                gauge(
                    "egress25_kernel_queue_waiting", queue, help: "Packets waiting for a verdict (kernel queue_total).",
                    Double(counters.queueTotal))
                mirror(
                    "egress25_kernel_queue_dropped_total", queue,
                    help: "Packets the kernel dropped because the queue was full (queue_dropped).",
                    counters.queueDropped)
                mirror(
                    "egress25_kernel_user_dropped_total", queue,
                    help: "Packets the kernel could not deliver to the socket (queue_user_dropped).",
                    counters.userDropped)
                gauge(
                    "egress25_kernel_id_sequence", queue, help: "Last packet id the kernel handed out on the queue.",
                    Double(counters.idSequence))
            }
        }

        if let statistics = daemon.blockLog?.statistics {
            mirror(
                "egress25_block_log_rows_written_total", help: "Rows inserted into block-log segments.",
                statistics.rowsWritten)
            mirror(
                "egress25_block_log_syns_recorded_total", help: "Blocked SYNs committed to the block log.",
                statistics.synsRecorded)
            mirror(
                "egress25_block_log_lost_events_total", help: "Blocked attempts the block log could not store.",
                statistics.lostEvents)
            mirror(
                "egress25_block_log_write_errors_total", help: "Failed block-log commits (retried).",
                statistics.writeErrors)
            mirror(
                "egress25_block_log_segments_deleted_total", help: "Segment files deleted by retention.",
                statistics.segmentsDeleted)
            gauge(
                "egress25_block_log_bytes", help: "Bytes of block-log segment files on disk.",
                Double(statistics.bytesOnDisk))
            gauge(
                "egress25_block_log_lag_seconds",
                help: "Age of the oldest block-log row not yet in a segment (what a kill -9 would lose).",
                Double(statistics.lagMilliseconds) / 1000)
            mirror(
                "egress25_block_log_row_updates_total", help: "Block-log row updates (checkpoints and final counts).",
                statistics.rowUpdates)
            mirror(
                "egress25_block_log_rows_closed_early_total",
                help: "Block-log rows closed before their aggregation window ended, to stay within max_memory.",
                statistics.rowsClosedEarly)
            mirror(
                "egress25_block_log_coarse_syns_total",
                help: "Blocked SYNs counted per source without their destination because max_memory was full.",
                statistics.synsInCoarseRows)
            gauge(
                "egress25_block_log_rows_in_memory", help: "Block-log rows in memory (open or waiting for commit).",
                Double(statistics.rowsInMemory))
            gauge(
                "egress25_block_log_row_capacity", help: "The most block-log rows max_memory allows.",
                Double(statistics.rowCapacity))
        }

        let snapshot = daemon.publisher.current
        let now = UTCTime.now()
        var active = 0
        for index in 0..<snapshot.exceptionCount {
            let rule = snapshot.exception(at: Int32(index))
            if (rule.notBefore ?? .min) <= now && now < (rule.expiresAt ?? .max) { active += 1 }
        }
        if let fleet = daemon.policySource.fleet {
            gauge(
                "egress25_store_connected", help: "1 when the last call to the fleet store succeeded.",
                fleet.connected.load(ordering: .relaxed) ? 1 : 0)
            gauge(
                "egress25_policy_data_age_seconds",
                help: "Age of the policy data in force (from the fleet store or its cache), s; -1 for none.",
                Double(fleet.dataAgeSeconds() ?? -1))
            gauge(
                "egress25_policy_store_generation", help: "The fleet store's change token of the policy data in force.",
                Double(fleet.dataGeneration.load(ordering: .relaxed)))
            mirror(
                "egress25_store_errors_total", help: "Calls to the fleet store that failed.",
                fleet.errors.load(ordering: .relaxed))
        }
        if let shipper = daemon.shipper {
            mirror(
                "egress25_blocklog_shipped_rows_total", help: "Block-log rows shipped to the fleet store.",
                shipper.shippedRows.load(ordering: .relaxed))
            mirror(
                "egress25_blocklog_shipped_syns_total", help: "SYNs of the block-log rows shipped to the fleet store.",
                shipper.shippedSyns.load(ordering: .relaxed))
            mirror(
                "egress25_blocklog_shipping_errors_total", help: "Shipping passes that failed (retried).",
                shipper.errors.load(ordering: .relaxed))
            gauge(
                "egress25_blocklog_shipping_lag_seconds",
                help: "Age of the oldest final block-log row not yet shipped, s (0: caught up; -1: no pass yet).",
                Double(shipper.lagSeconds.load(ordering: .relaxed)))
            mirror(
                "egress25_blocklog_segments_lost_unshipped_total",
                help: "Segments max_bytes deleted before they were shipped (their unshipped rows are lost).",
                shipper.ledger.segmentsLostUnshipped.load(ordering: .relaxed))
        }
        gauge(
            "egress25_policy_generation", help: "Generation of the policy snapshot in force.",
            Double(snapshot.generation))
        gauge(
            "egress25_policy_exceptions", help: "Exceptions in the policy snapshot (active or recently expired).",
            Double(snapshot.exceptionCount))
        gauge("egress25_active_exceptions", help: "Exceptions active now.", Double(active))
        gauge(
            "egress25_policy_subscriber_ranges", help: "Subscriber CIDR prefixes.",
            Double(snapshot.policy.subscriberRanges.count))
        gauge("egress25_policy_relay_hosts", help: "Relay host entries.", Double(snapshot.policy.relayHosts.count))
        gauge(
            "egress25_policy_shadow_mode", help: "1 when policy.mode is shadow.",
            snapshot.policy.mode == .shadow ? 1 : 0)
        mirror(
            "egress25_policy_reloads_total", help: "Policy snapshots published after the first.",
            daemon.policySource.reloads.load(ordering: .relaxed))
        mirror(
            "egress25_policy_reload_failures_total", help: "Reloads rejected; the previous policy stayed in force.",
            daemon.policySource.reloadFailures.load(ordering: .relaxed))
        gauge(
            "egress25_policy_last_reload_success", help: "1 when the last reload attempt succeeded.",
            daemon.policySource.lastReloadSucceeded.load(ordering: .relaxed) ? 1 : 0)

        let rules = daemon.kernelRules
        let status = rules.lastStatus.withLock { $0 }
        gauge(
            "egress25_kernel_rules_ok",
            help: "1 when egress25's kernel rules are installed and rendered from this configuration (0: rules drift).",
            status.map { $0.isCurrent ? 1 : 0 } ?? 1)
        mirror(
            "egress25_kernel_rules_check_failures_total",
            help: "Rule checks that found the rules missing or different.",
            rules.failedChecks.load(ordering: .relaxed))
        mirror(
            "egress25_kernel_rules_reapplied_total", help: "Times the rules were installed again (rules.reapply).",
            rules.reapplies.load(ordering: .relaxed))

        return registry.emitToString() + latencyHistogram(workers)
    }

    /// The verdict latency histogram, rendered from the workers' fixed atomic buckets.
    private func latencyHistogram(_ workers: [QueueWorker]) -> String {
        let name = "egress25_verdict_latency_seconds"
        var lines = [
            "# HELP \(name) Time from a batch's arrival in user space to its verdicts being sent, per packet.",
            "# TYPE \(name) histogram",
        ]
        var cumulative: UInt64 = 0
        let bounds = VerdictLatency.boundsMicroseconds
        for bucket in 0...bounds.count {
            cumulative &+= workers.reduce(UInt64(0)) {
                $0 &+ $1.statistics.latencyBuckets[bucket].load(ordering: .relaxed)
            }
            let bound = bucket < bounds.count ? "\(Double(bounds[bucket]) / 1_000_000)" : "+Inf"
            lines.append("\(name)_bucket{le=\"\(bound)\"} \(cumulative)")
        }
        let sum = workers.reduce(UInt64(0)) { $0 &+ $1.statistics.latencySumNanoseconds.load(ordering: .relaxed) }
        lines.append("\(name)_sum \(Double(sum) / 1_000_000_000)")
        lines.append("\(name)_count \(cumulative)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `/healthz`: healthy only when every queue is bound and its worker alive, the watchdog found nothing wrong
    /// in the kernel's queue table, and the kernel rules are in place (``Health``).
    func health() -> (healthy: Bool, text: String) {
        let report = daemon.health.report()
        if report.healthy {
            let generation = daemon.publisher.current.generation
            return (true, "ok: \(daemon.workers.count) queue(s) bound, policy generation \(generation)\n")
        }
        return (false, report.problems.joined(separator: "\n") + "\n")
    }
}
