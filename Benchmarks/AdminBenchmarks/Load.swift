import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// What one run recorded: every latency (ms from the request's due time to its response's last byte), the
/// statuses, the failures.
struct LoadResults: Sendable {
    var latencies: [Double] = []
    var statuses: [UInt: Int] = [:]
    var failures = 0
    var failureSamples: [String] = []
    /// The latest a request was handed to the client after its due time, ms (the generator's own lag).
    var maximumSendLag = 0.0
    /// When the last response ended, seconds after the start.
    var lastCompletion = 0.0
}

/// `load`: an open-loop run at a fixed rate (see main.swift).
func runLoad(_ options: BenchOptions) async {
    let urls: [String]
    if let file = options.optional("urls") {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { fatalError("cannot read \(file)") }
        urls = text.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    } else {
        urls = [options.string("url")]
    }
    precondition(!urls.isEmpty, "no URLs")
    let rate = options.double("rate", 500)
    let seconds = options.double("seconds", 20)
    let warmup = options.double("warmup", 0)
    let connections = options.int("connections", 16)
    let timeout = options.double("timeout", 10)
    var headers = HTTPHeaders()
    for header in options.all("header") {
        guard let colon = header.firstIndex(of: ":") else { fatalError("--header takes 'Name: value'") }
        headers.add(
            name: String(header[..<colon]),
            value: header[header.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }
    if let cookie = options.optional("cookie") { headers.add(name: "Cookie", value: cookie) }

    // One event-loop thread: the generator shares the machine with the server it measures.
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    var configuration = HTTPClient.Configuration(
        redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(Int64(timeout))),
        connectionPool: .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: connections))
    configuration.httpVersion = .http1Only
    let client = HTTPClient(eventLoopGroup: group, configuration: configuration)

    if warmup > 0 {
        let results = await openLoop(
            client: client, urls: urls, headers: headers, rate: rate, seconds: warmup, timeout: timeout, offset: 0)
        print("warmup: \(results.latencies.count) requests in \(format(warmup)) s, not counted")
    }
    let offset = Int((warmup * rate).rounded())
    let results = await openLoop(
        client: client, urls: urls, headers: headers, rate: rate, seconds: seconds, timeout: timeout, offset: offset)
    try? await client.shutdown()
    try? await group.shutdownGracefully()
    report(results, rate: rate, seconds: seconds, connections: connections, urls: urls.count)
}

/// Sends request i at start + i / rate for `seconds` (URLs from index `offset` on, cycling), each in its own task
/// so that nothing waits for an earlier answer, and records each latency from its due time.
func openLoop(
    client: HTTPClient, urls: [String], headers: HTTPHeaders, rate: Double, seconds: Double, timeout: Double,
    offset: Int
) async -> LoadResults {
    let total = Int((seconds * rate).rounded())
    let clock = ContinuousClock()
    let recorder = Recorder()
    recorder.results.withLock { $0.latencies.reserveCapacity(total) }
    let interval = Duration.seconds(1 / rate)
    let start = clock.now + .milliseconds(50)
    func milliseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
    await withDiscardingTaskGroup { tasks in
        for index in 0..<total {
            let due = start + interval * index
            try? await clock.sleep(until: due, tolerance: .zero)
            let lag = milliseconds(clock.now - due)
            var prepared = HTTPClientRequest(url: urls[(offset + index) % urls.count])
            prepared.headers = headers
            let request = prepared
            tasks.addTask {
                var status: UInt?
                var failure: String?
                do {
                    let response = try await client.execute(request, timeout: .seconds(Int64(timeout)))
                    _ = try await response.body.collect(upTo: 64 << 20)
                    status = response.status.code
                } catch {
                    failure = "\(error)"
                }
                let end = clock.now
                let latency = milliseconds(end - due)
                recorder.results.withLock { results in
                    results.latencies.append(latency)
                    results.maximumSendLag = max(results.maximumSendLag, lag)
                    results.lastCompletion = max(results.lastCompletion, milliseconds(end - start) / 1000)
                    if let status {
                        results.statuses[status, default: 0] += 1
                    } else {
                        results.failures += 1
                        if results.failureSamples.count < 3, let failure { results.failureSamples.append(failure) }
                    }
                }
            }
        }
    }
    return recorder.results.withLock { $0 }
}

/// The results, shared by the request tasks.
final class Recorder: Sendable {
    let results = Mutex(LoadResults())
}

func report(_ results: LoadResults, rate: Double, seconds: Double, connections: Int, urls: Int) {
    let sorted = results.latencies.sorted()
    let count = sorted.count
    let nonSuccess = results.statuses.filter { !(200..<300).contains($0.key) }.values.reduce(0, +)
    let statuses = results.statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
    print(
        "open loop at \(format(rate))/s for \(format(seconds)) s over \(urls) URLs, at most \(connections) connections")
    print(
        "requests \(count), errors \(nonSuccess + results.failures) (non-2xx \(nonSuccess), failed "
            + "\(results.failures)); statuses \(statuses)")
    print(
        "achieved \(format(Double(count) / max(results.lastCompletion, 1e-9)))/s (the last response "
            + "\(format(results.lastCompletion)) s after the start); generator send lag max "
            + "\(format(results.maximumSendLag)) ms")
    print(
        "latency ms from the due time: p50 \(format(quantile(sorted: sorted, 0.5))) p90 "
            + "\(format(quantile(sorted: sorted, 0.9))) p99 \(format(quantile(sorted: sorted, 0.99))) p99.9 "
            + "\(format(quantile(sorted: sorted, 0.999))) max \(format(sorted.last ?? 0))")
    for sample in results.failureSamples { print("failure: \(sample)") }
}
