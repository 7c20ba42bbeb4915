import BlockLog
import Egress25Core
import ExceptionStore
import Foundation

func runQueries(_ options: BenchOptions) {
    let store = openStore(options.string("url"))
    let sources = options.string("sources").split(separator: ",").map { String($0) }
    let runs = options.int("runs", 7)
    let limitOption = options.int("limit", 100)
    let limit: Int? = limitOption == 0 ? nil : limitOption
    let now = Int64(Date().timeIntervalSince1970 * 1000)

    for source in sources {
        guard let prefix = IPPrefix(source) else { fatalError("not an address: \(source)") }
        var times: [Double] = []
        var count = 0
        for _ in 0..<runs {
            let filter = BlockLogFilter(source: prefix, sinceMilliseconds: now - 30 * 86_400_000)
            let began = monotonicSeconds()
            do {
                count = try store.blockedAttempts(filter, limit: limit).count
            } catch {
                fatalError("blockedAttempts: \(error)")
            }
            times.append((monotonicSeconds() - began) * 1000)
        }
        print(
            "history \(source) since 30 d (limit \(limit.map(String.init) ?? "none")): \(count) rows; ms "
                + "first \(format(times[0])) median \(format(quantile(times, 0.5))) "
                + "[\(format(times.min()!))..\(format(times.max()!))] over \(runs) runs")
    }

    var times: [Double] = []
    var top: [BlockLogTopEntry] = []
    for _ in 0..<runs {
        let filter = BlockLogFilter(sinceMilliseconds: now - 86_400_000)
        let began = monotonicSeconds()
        do {
            top = try store.topBlocked(by: .source, filter: filter, limit: 20)
        } catch {
            fatalError("topBlocked: \(error)")
        }
        times.append((monotonicSeconds() - began) * 1000)
    }
    print(
        "top 20 sources of 24 h: first \(top.first.map { "\($0.key) \($0.syns) SYNs" } ?? "none"); ms "
            + "first \(format(times[0])) median \(format(quantile(times, 0.5))) "
            + "[\(format(times.min()!))..\(format(times.max()!))] over \(runs) runs")
}
