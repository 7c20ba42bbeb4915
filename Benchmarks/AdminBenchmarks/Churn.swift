import Egress25Core
import ExceptionStore
import Foundation

/// `churn`: a session feed's interim updates on the store at `rate` a second, from another process (as egress25ctl
/// `session renew` writes them): each one renews a held session, which moves the store's change token. First
/// starts `sessions` sessions of customers s-0..s-(N-1) on 100.120.0.0 + i (outside the seeded customers'
/// addresses) in one import.
func runChurn(_ options: BenchOptions) {
    let path = options.string("store")
    let rate = options.double("rate", 20)
    let seconds = options.double("seconds", 25)
    let sessions = options.int("sessions", 1000)
    let store: ExceptionStore
    do {
        store = try ExceptionStore(path: path, mode: .readWrite)
    } catch {
        fatalError("cannot open \(path): \(error)")
    }
    func prefix(_ index: Int) -> IPPrefix {
        try! IPPrefix(parsing: BenchData.dotted(0x6478_0000 + UInt32(index)) + "/32")
    }
    do {
        try store.importSessions(
            (0..<sessions).map { SessionLease(customer: "s-\($0)", prefix: prefix($0)) }, actor: "bench-feed")
    } catch {
        fatalError("churn: cannot start the sessions: \(error)")
    }
    let clock = ContinuousClock()
    let start = clock.now
    let total = Int(rate * seconds)
    var late = 0
    for index in 0..<total {
        let due = start + .seconds(Double(index) / rate)
        if clock.now < due {
            let (whole, fraction) = (due - clock.now).components
            Thread.sleep(forTimeInterval: Double(whole) + Double(fraction) / 1e18)
        }
        if clock.now - due > .milliseconds(100) { late += 1 }
        do {
            try store.startSession(
                customer: "s-\(index % sessions)", prefix: prefix(index % sessions), actor: "bench-feed",
                mayTakeOver: false)
        } catch {
            fatalError("churn: renewal: \(error)")
        }
    }
    print("churn: \(total) session renewals at \(format(rate))/s, \(late) more than 100 ms late")
}
