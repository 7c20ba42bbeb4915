import Egress25Core
import ExceptionStore
import Foundation
import GRDB
import Synchronization
import Testing

/// Several connections on one file, as several egress25ctl processes and the daemon would be.
@Suite struct ConcurrencyTests {
    @Test func twoWritersGrantingAtOnceBothSucceed() throws {
        let fixture = StoreFixture()
        let setup = try fixture.open()
        try setup.addCustomer(id: "c-1001", actor: "alice", now: t0)
        try setup.startSession(customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "radius", now: t0)
        // Two independent stores: separate connections and SQLite locks, like two processes.
        let stores = [try fixture.open(), try fixture.open()]
        let perWriter = 100
        final class Failures: Sendable { let list = Mutex<[String]>([]) }
        let failures = Failures()
        // Each writer on a thread of its own, both started together.
        let threads = stores.indices.map { writer in
            Thread {
                for n in 0..<perWriter {
                    do {
                        _ = try stores[writer].grantException(
                            ExceptionGrant(
                                customer: "c-1001", destinations: .any, expiresAt: nil,
                                reason: "writer \(writer) #\(n)", grantedBy: "writer-\(writer)"),
                            now: t0 + 1)
                    } catch {
                        failures.list.withLock { $0.append("\(error)") }
                    }
                }
            }
        }
        threads.forEach { $0.start() }
        while !threads.allSatisfy(\.isFinished) { usleep(1000) }
        #expect(failures.list.withLock { $0 } == [])
        #expect(try setup.exceptions(status: .all, now: t0 + 2).count == 2 * perWriter)
        #expect(try setup.auditEntries(objectID: nil).filter { $0.action == "exception.grant" }.count == 2 * perWriter)
        #expect(try setup.changeToken() == 2 + 2 * Int64(perWriter))
    }

    @Test func aHeldWriteLockTimesOutWithAClearError() throws {
        let fixture = StoreFixture()
        let store = try fixture.open(busyTimeoutSeconds: 0.2)
        try store.addCustomer(id: "c-1001", actor: "alice", now: t0)
        // Another process holds the write lock.
        var configuration = Configuration()
        configuration.allowsUnsafeTransactions = true
        let holder = try DatabaseQueue(path: fixture.path, configuration: configuration)
        try holder.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }
        let started = ContinuousClock.now
        let error = #expect(throws: ExceptionStoreError.self) {
            _ = try store.grantException(
                ExceptionGrant(customer: "c-1001", destinations: .any, expiresAt: nil, reason: "r", grantedBy: "a"),
                now: t0)
        }
        let waited = ContinuousClock.now - started
        #expect(error?.code == .locked)
        #expect(error?.message.contains("another process held its write lock for longer than the busy timeout") == true)
        #expect(waited >= .milliseconds(150) && waited < .seconds(3), "\(waited)")
        try holder.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
        #expect(try store.exceptions(status: .all).isEmpty)
        // Once the lock is free, writing works.
        _ = try store.grantException(
            ExceptionGrant(customer: "c-1001", destinations: .any, expiresAt: nil, reason: "r", grantedBy: "a"), now: t0
        )
    }

    @Test func changeTokenSeesWritesFromAnotherConnection() throws {
        let fixture = StoreFixture()
        let daemon = try fixture.open()
        let ctl = try fixture.open()
        let initial = try daemon.changeToken()
        try ctl.addCustomer(id: "c-1001", actor: "alice", now: t0)
        let afterAdd = try daemon.changeToken()
        #expect(afterAdd > initial)
        // A failed write leaves it alone.
        _ = try? ctl.addCustomer(id: "c-1001", actor: "alice", now: t0)
        #expect(try daemon.changeToken() == afterAdd)
        // So does a read.
        _ = try ctl.policyInputs(now: t0)
        #expect(try daemon.changeToken() == afterAdd)
        try ctl.startSession(customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "radius", now: t0)
        #expect(try daemon.changeToken() > afterAdd)
    }

    /// A reader polling during address moves sees exactly one holder of the address every time: never the old
    /// session ended without the new one started, never both.
    @Test func readersNeverSeeAHalfAppliedMove() throws {
        let fixture = StoreFixture()
        let writer = try fixture.open()
        for id in ["c-1001", "c-2002"] { try writer.addCustomer(id: id, actor: "alice", now: t0) }
        try writer.startSession(customer: "c-1001", prefix: prefix("100.64.1.7"), actor: "radius", now: t0)
        let reader = try fixture.open(.readOnly)
        let moves = 200
        final class Shared: Sendable {
            let state = Mutex<(reads: Int, bad: [String], done: Bool)>((0, [], false))
        }
        let shared = Shared()
        // Two threads of their own (not a thread pool that might run both roles one after the other).
        let readerThread = Thread {
            repeat {
                do {
                    let bindings = try reader.policyInputs(now: t0).bindings
                    shared.state.withLock {
                        $0.reads += 1
                        if bindings.count != 1 { $0.bad.append("\(bindings)") }
                    }
                } catch {
                    shared.state.withLock { $0.bad.append("\(error)") }
                }
            } while !shared.state.withLock { $0.done }
        }
        readerThread.start()
        // Start moving once the reader is reading, so that the two overlap even on a loaded machine.
        while shared.state.withLock({ $0.reads }) == 0 { sched_yield() }
        for n in 0..<moves {
            let customer = n % 2 == 0 ? "c-2002" : "c-1001"
            try writer.startSession(customer: customer, prefix: prefix("100.64.1.7"), actor: "r", now: t0)
        }
        let readsDuringMoves = shared.state.withLock { state in
            state.done = true
            return state.reads
        }
        while !readerThread.isFinished { sched_yield() }
        let seen = shared.state.withLock { $0 }
        #expect(seen.bad == [])
        #expect(readsDuringMoves > 1)
        #expect(try writer.auditEntries().filter { $0.action == "session.start" }.count == moves + 1)
    }
}
