import Egress25Core
import ExceptionStore
import Foundation

/// `FleetBenchmarks accounting (--url URL | --sqlite PATH) [--preload N] [--batches B] [--batch E]`: the store side
/// of the RADIUS accounting feed (issue 15), ExceptionStore.applyAccounting as the listener calls it (one
/// transaction per batch):
/// 1. preload: N sessions (bng-1, one IPv4 address each, customers p-0..) in batches of E Starts;
/// 2. starts: B batches of E Accounting-Starts of new sessions of new customers on free addresses (a BNG reboot's
///    login storm);
/// 3. interims: B batches of E Interim-Updates of preloaded sessions (their leases move);
/// 4. moves: B batches of E Starts of new customers on addresses preloaded sessions hold (each ends one binding).
/// Prints events/s per phase (median batch and overall).
func runAccounting(_ options: BenchOptions) {
    let store: ExceptionStore
    do {
        if let path = options.values["sqlite"] {
            store = try ExceptionStore(path: path, mode: .create)
        } else {
            let url = options.string("url")
            _ = try ExceptionStore.migrateSchema(at: .postgresql(try PostgresLocation.parse(url: url)))
            store = openStore(url)
        }
    } catch {
        fatalError("cannot open the store: \(error)")
    }
    let preload = options.int("preload", 100_000)
    let batches = options.int("batches", 10)
    let size = options.int("batch", 1_000)
    var now = Int64(Date().timeIntervalSince1970)
    let run = options.int("run", 0)  // distinct customer and session names for repeated runs on one store
    func session(_ id: String, _ customer: String, _ address: Int) -> AccountingSession {
        AccountingSession(
            nas: "bng-1", sessionID: id, customer: customer, prefixes: [IPPrefix(host: subscriberAddress(address))],
            leaseSeconds: 3_600)
    }
    func phase(_ name: String, _ count: Int, _ events: (Int) -> [AccountingEvent]) {
        var durations: [Double] = []
        var total = 0
        var outcomes: [String: Int] = [:]
        for index in 0..<count {
            let batch = events(index)
            now += 1
            let began = monotonicSeconds()
            let result: [AccountingOutcome]
            do {
                result = try store.applyAccounting(batch, actor: "bench", now: now)
            } catch {
                fatalError("applyAccounting: \(error)")
            }
            durations.append(monotonicSeconds() - began)
            total += batch.count
            for outcome in result {
                let kind: String
                switch outcome {
                case .applied: kind = "applied"
                case .duplicate: kind = "duplicate"
                case .rejected: kind = "rejected"
                }
                outcomes[kind, default: 0] += 1
            }
        }
        let seconds = durations.reduce(0, +)
        let median = quantile(durations, 0.5)
        print(
            "\(name): \(total) events in \(count) batches of \(size): \(format(Double(total) / seconds, 0)) events/s "
                + "overall, median batch \(format(median * 1000, 1)) ms (\(format(Double(size) / median, 0)) events/s), "
                + "\(outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
    }
    let preloadBatches = (preload + size - 1) / size
    phase("preload", preloadBatches) { batch in
        (batch * size..<min((batch + 1) * size, preload)).map { index in
            .start(session("r\(run)-p\(index)", "r\(run)-p\(index)", index))
        }
    }
    // New customers on addresses past the preloaded ones.
    phase("starts", batches) { batch in
        (0..<size).map { offset in
            let index = batch * size + offset
            return .start(session("r\(run)-n\(index)", "r\(run)-n\(index)", preload + index))
        }
    }
    phase("interims", batches) { batch in
        (0..<size).map { offset in
            let index = (batch * size + offset) % max(preload, 1)
            return .interim(session("r\(run)-p\(index)", "r\(run)-p\(index)", index))
        }
    }
    phase("moves", batches) { batch in
        (0..<size).map { offset in
            let index = (batch * size + offset) % max(preload, 1)
            return .start(session("r\(run)-m\(index)", "r\(run)-m\(index)", index))
        }
    }
    do {
        print("active sessions: \(try store.activeAccountingSessionCount(now: now))")
        let began = monotonicSeconds()
        for _ in 0..<10 { _ = try store.activeAccountingSessionCount(now: now) }
        print("activeAccountingSessionCount: \(format((monotonicSeconds() - began) * 100, 2)) ms per call")
    } catch {
        fatalError("activeAccountingSessionCount: \(error)")
    }
}
