import Egress25Core
import ExceptionStore
import Foundation

/// `seed`: a router's store of `customers` named customers with a static binding each, and exceptions for
/// `with-exceptions` of them, written through the ExceptionStore API one change a transaction.
func runSeed(_ options: BenchOptions) {
    let path = options.string("store")
    let customers = options.int("customers", 100_000)
    let withExceptions = options.int("with-exceptions", 20_000)
    precondition(customers <= 200_000, "at most 200,000 customers fit the address layout")
    let store: ExceptionStore
    do {
        store = try ExceptionStore(path: path, mode: .create)
    } catch {
        fatalError("cannot open \(path): \(error)")
    }
    let now = UTCTime.now()
    let began = Date()
    var exceptions = 0
    do {
        for index in 0..<customers {
            let id = BenchData.customerID(index)
            try store.addCustomer(
                id: id, name: "Subscriber \(index)", note: index % 10 == 0 ? "business line" : nil, actor: "bench-seed",
                now: now)
            try store.bind(
                customer: id, prefix: try IPPrefix(parsing: BenchData.address(index) + "/32"), actor: "bench-seed",
                now: now)
            if BenchData.hasException(index, customers: customers, withExceptions: withExceptions) {
                _ = try store.grantException(
                    ExceptionGrant(
                        customer: id,
                        destinations: .prefixes([try IPPrefix(parsing: BenchData.exceptionServer(index) + "/32")]),
                        expiresAt: now + 30 * 86_400, reason: "employer mail server", ticket: "T-\(index)",
                        grantedBy: "bench-seed"), now: now)
                exceptions += 1
                if BenchData.hasSecondException(index, customers: customers, withExceptions: withExceptions) {
                    _ = try store.grantException(
                        ExceptionGrant(
                            customer: id,
                            destinations: .prefixes([try IPPrefix(parsing: BenchData.exceptionNetwork(index))]),
                            expiresAt: now + 90 * 86_400, reason: "hosted mail relay", ticket: "T-\(index)-2",
                            grantedBy: "bench-seed"), now: now)
                    exceptions += 1
                }
            }
            if (index + 1) % 20_000 == 0 {
                print(
                    "seed: \(index + 1) customers, \(exceptions) exceptions, \(Int(Date().timeIntervalSince(began))) s")
            }
        }
    } catch {
        fatalError("seed: \(error)")
    }
    print(
        "seed: \(customers) customers with a static binding each, \(exceptions) exceptions; "
            + "\(String(format: "%.1f", Date().timeIntervalSince(began))) s")
}

/// `urls`: the URL file `load --urls` cycles through.
func runURLs(_ options: BenchOptions) {
    let kind = options.string("kind")
    let base = options.string("base")
    let customers = options.int("customers", 100_000)
    let withExceptions = options.int("with-exceptions", 20_000)
    let count = options.int("count", 10_000)
    var random = FastRandom(seed: UInt64(options.int("seed", 1)))
    var lines: [String] = []
    lines.reserveCapacity(count)
    for _ in 0..<count {
        let index = random.below(customers)
        switch kind {
        case "check":
            var destination = BenchData.otherServer(&random)
            if BenchData.hasException(index, customers: customers, withExceptions: withExceptions),
                random.below(2) == 0
            {
                destination = BenchData.exceptionServer(index)
            }
            lines.append("\(base)/api/v1/check?source=\(BenchData.address(index))&destination=\(destination)")
        case "customer-page":
            lines.append("\(base)/customers/\(BenchData.customerID(index))")
        case "customer-api":
            lines.append("\(base)/api/v1/customers/\(BenchData.customerID(index))")
        default:
            fatalError("--kind is check, customer-page or customer-api")
        }
    }
    print(lines.joined(separator: "\n"))
}
