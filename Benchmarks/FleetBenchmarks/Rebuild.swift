import Egress25Core
import ExceptionStore
import Foundation

/// `FleetBenchmarks rebuild --bindings N [--exceptions E] [--runs R]`: the CPU a fleet router spends on one
/// republish after a change, without a database: a replica of N session bindings (customers c-0..c-(N-1), one
/// address each in 100.64.0.0/10) and E exceptions (of customers c-0, c-7, c-14, ...), loaded from a policy cache
/// file written for the purpose; then R times `PolicyReplica.policyInputs` + `PolicySnapshot.init`, the work of
/// `Daemon.reload` in fleet mode. Prints ms per rebuild (median, p90) and the thread CPU time.
func runRebuild(_ options: BenchOptions) {
    let count = options.int("bindings", 100_000)
    let exceptionCount = options.int("exceptions", 1_000)
    let runs = options.int("runs", 20)
    let now = Int64(Date().timeIntervalSince1970)
    var text = "egress25-policy-cache 1\n"
    var exceptions: [String] = []
    for index in 0..<exceptionCount {
        exceptions.append(
            "{\"id\":\"exc-\(index)\",\"customer\":\"c-\(index * 7 % count)\",\"destinations\":[\"192.0.2.25/32\"],"
                + "\"expiresAt\":\(now + 86_400),\"reason\":\"bench\",\"grantedBy\":\"bench\",\"createdAt\":\(now - 60)}"
        )
    }
    text +=
        "{\"changeSequence\":1,\"generation\":1,\"fetchedAt\":\(now),\"store\":\"bench\",\"exceptions\":["
        + exceptions.joined(separator: ",") + "]}\n"
    for index in 0..<count {
        let address = UInt32(0x6440_0000) + UInt32(index)
        let dotted = "\(address >> 24).\((address >> 16) & 255).\((address >> 8) & 255).\(address & 255)"
        text += "\(index + 1)\tc-\(index)\t\(dotted)/32\t\(now + 93_600)\n"
    }
    let path = NSTemporaryDirectory() + "/egress25-rebuild-bench-\(getpid())"
    defer { unlink(path) }
    FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    guard let replica = try? PolicyReplicaCache.load(from: path, store: "bench") else {
        print("cannot load the generated cache")
        exit(1)
    }
    let policy = Policy(
        subscriberRanges: [try! IPPrefix(parsing: "100.64.0.0/10")], relayHosts: [], ports: [25], mode: .enforce,
        exceptions: [])
    var milliseconds: [Double] = []
    let cpuBefore = threadCPUSeconds()
    for run in 0..<runs {
        let start = ContinuousClock.now
        let inputs = replica.policyInputs(now: now)
        let snapshot = try! PolicySnapshot(
            policy: policy, exceptions: inputs.exceptions, bindings: inputs.bindings, generation: UInt64(run))
        let elapsed = ContinuousClock.now - start
        precondition(snapshot.exceptionCount == exceptionCount)
        milliseconds.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
    }
    let cpu = (threadCPUSeconds() - cpuBefore) / Double(runs) * 1000
    milliseconds.sort()
    print(
        String(
            format:
                "rebuild of %d bindings, %d exceptions: median %.1f ms, p90 %.1f ms, CPU %.1f ms per rebuild (%d runs)",
            count, exceptionCount, milliseconds[runs / 2], milliseconds[runs * 9 / 10], cpu, runs))
}

/// This thread's CPU time (user + system), s.
private func threadCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
