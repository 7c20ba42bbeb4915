import Egress25Core
import Egress25Operations
import ExceptionStore
import Foundation
import Synchronization
import Testing

@testable import Egress25Admin

/// The check service's snapshot cache: one build for many concurrent requests, changes seen in time.
@Suite struct CheckServiceTests {
    @Test func concurrentRequestsOnAColdCacheShareOneBuild() async throws {
        let fixture = try AdminFixture()
        defer { fixture.cleanup() }
        let executor = StoreExecutor(stores: [fixture.store])
        let check = CheckService(configuration: fixture.configuration, executor: executor)
        let verdicts = try await withThrowingTaskGroup(of: Verdict.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    let explanation = try await check.explain(
                        source: AdminFixture.subscriber, destination: AdminFixture.employerMX, port: 25, at: nil)
                    return explanation.decision.verdict
                }
            }
            return try await group.reduce(into: [Verdict]()) { $0.append($1) }
        }
        #expect(verdicts.count == 64)
        #expect(verdicts.allSatisfy { $0 == .accept })
        #expect(check.builds.load(ordering: .relaxed) == 1)
        try await executor.shutdown()
    }

    /// Grants an exception for the fixture's subscriber to `destination` straight in the store, as egress25ctl in
    /// another process would (nothing tells the service).
    static func grantElsewhere(_ fixture: AdminFixture, to destination: String) throws {
        _ = try fixture.store.grantException(
            ExceptionGrant(
                customer: "c-1001", destinations: .prefixes([try IPPrefix(parsing: destination + "/32")]),
                expiresAt: UTCTime.now() + 3600, reason: "another server", ticket: nil, grantedBy: "test"))
    }

    static func verdict(_ check: CheckService, _ destination: String) async throws -> Verdict {
        try await check.explain(source: AdminFixture.subscriber, destination: destination, port: 25, at: nil)
            .decision.verdict
    }

    @Test func aChangeMadeThroughTheServerIsInTheNextAnswer() async throws {
        let fixture = try AdminFixture()
        defer { fixture.cleanup() }
        let executor = StoreExecutor(stores: [fixture.store])
        let check = CheckService(configuration: fixture.configuration, executor: executor)
        #expect(try await Self.verdict(check, AdminFixture.otherMX) == .block)
        try Self.grantElsewhere(fixture, to: AdminFixture.otherMX)
        check.invalidate()  // what AdminState.write does after the change
        #expect(try await Self.verdict(check, AdminFixture.otherMX) == .accept)
        #expect(check.builds.load(ordering: .relaxed) == 2)
        try await executor.shutdown()
    }

    @Test func aChangeMadeElsewhereIsInTheFirstAnswerAfterATokenCheckInterval() async throws {
        let fixture = try AdminFixture()
        defer { fixture.cleanup() }
        let executor = StoreExecutor(stores: [fixture.store])
        let check = CheckService(configuration: fixture.configuration, executor: executor)
        #expect(try await Self.verdict(check, "198.51.100.99") == .block)
        try Self.grantElsewhere(fixture, to: "198.51.100.99")
        try await Task.sleep(for: .milliseconds(CheckService.tokenCheckMilliseconds + 20))
        #expect(try await Self.verdict(check, "198.51.100.99") == .accept)
        #expect(check.builds.load(ordering: .relaxed) == 2)
        // Unchanged token: no rebuild.
        try await Task.sleep(for: .milliseconds(CheckService.tokenCheckMilliseconds + 20))
        #expect(try await Self.verdict(check, "198.51.100.99") == .accept)
        #expect(check.builds.load(ordering: .relaxed) == 2)
        try await executor.shutdown()
    }

    @Test func requestsDuringARefreshShareItAndAnswerFromTheCachedSnapshot() async throws {
        let fixture = try AdminFixture()
        defer { fixture.cleanup() }
        let executor = StoreExecutor(stores: [fixture.store])
        let check = CheckService(configuration: fixture.configuration, executor: executor)
        #expect(try await Self.verdict(check, "198.51.100.97") == .block)
        try Self.grantElsewhere(fixture, to: "198.51.100.97")
        try await Task.sleep(for: .milliseconds(CheckService.tokenCheckMilliseconds + 20))
        // The request that finds the cache stale starts the refresh and waits for it (so it sees the change); those
        // arriving meanwhile may get the snapshot from before the change (confirmed current a moment ago), never a
        // rebuild of their own.
        let verdicts = try await withThrowingTaskGroup(of: Verdict.self) { group in
            for _ in 0..<32 { group.addTask { try await Self.verdict(check, "198.51.100.97") } }
            return try await group.reduce(into: [Verdict]()) { $0.append($1) }
        }
        #expect(verdicts.count == 32)
        #expect(verdicts.contains(.accept))
        #expect(check.builds.load(ordering: .relaxed) == 2)
        #expect(try await Self.verdict(check, "198.51.100.97") == .accept)
        try await executor.shutdown()
    }
}
