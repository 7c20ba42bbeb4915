import Egress25Admin
import Egress25Configuration
import Egress25Core
import Egress25TestSupport
import ExceptionStore
import Foundation
import Logging
import NIOCore
import RadiusAccounting
import Testing

/// The RADIUS accounting listener over real UDP on loopback and a real store: answers only after the commit,
/// drops (and counts) what it must, recognizes retransmits.
@Suite struct RadiusFeedTests {
    static let secret = Array("s3cret-for-the-bng".utf8)

    /// egress25-admin's listener on 127.0.0.1 (an ephemeral port) over the admin fixture's store, clients
    /// 127.0.0.1/32 only.
    struct Feed {
        let fixture: AdminFixture
        let service: RadiusFeedService
        let metrics: RadiusMetrics
        let port: Int

        init(postgres: Bool = false, extraRadiusYAML: String = "") async throws {
            let secrets = TemporaryDirectory(prefix: "egress25-radius-secret")
            try (String(decoding: RadiusFeedTests.secret, as: UTF8.self) + "\n").write(
                toFile: secrets.path + "/secret", atomically: true, encoding: .utf8)
            fixture = try AdminFixture(
                postgres: postgres,
                extraYAML: """
                    session_feed:
                      radius:
                        listen: ["127.0.0.1:\(try freeLoopbackUDPPort())"]
                        clients:
                          - { address: 127.0.0.1/32, secret_file: \(secrets.path)/secret }
                    \(extraRadiusYAML)
                    """)
            metrics = RadiusMetrics()
            let store = try ExceptionStore(location: fixture.configuration.store.location, mode: .readWrite)
            service = try RadiusFeedService(
                store: store, configuration: fixture.configuration, metrics: metrics,
                logger: Logger(label: "radius-test"))
            let bound = try await service.bind()
            port = try #require(bound.first?.port)
            withExtendedLifetime(secrets) {}
        }

        func client(source: String = "127.0.0.1", timeoutMilliseconds: Int = 2000) throws -> UDPTestClient {
            try UDPTestClient(
                source: source, destinationPort: port, receiveTimeoutMilliseconds: timeoutMilliseconds)
        }

        /// The open session bindings of `customer`.
        func sessions(_ customer: String) throws -> [AddressBinding] {
            try fixture.store.bindings(customer: customer, inForceAt: UTCTime.now()).filter { $0.kind == .session }
        }

        func stop() async { await service.shutdown() }
    }

    /// An Accounting-Request as a BNG sends it.
    static func request(
        _ status: AccountingStatusType?, id: UInt8 = 1, session: String = "sess-1", user: String? = "c-3003",
        ipv4: String? = "100.64.2.20", ipv6: [(UInt8, String)] = [], delay: UInt32? = nil, nas: String = "bng-1",
        secret: [UInt8] = secret
    ) throws -> [UInt8] {
        var builder = AccountingRequestBuilder(identifier: id, statusType: status)
        builder.addText(type: RadiusAttributeType.nasIdentifier, nas)
        if status != .accountingOn && status != .accountingOff {
            builder.addText(type: RadiusAttributeType.acctSessionID, session)
        }
        if let user { builder.addText(type: RadiusAttributeType.userName, user) }
        if let ipv4 { builder.addIPv4(type: RadiusAttributeType.framedIPAddress, try IPv4Address(parsing: ipv4)) }
        for (type, prefix) in ipv6 { builder.addIPv6Prefix(type: type, try IPPrefix(parsing: prefix)) }
        if let delay { builder.addInteger(type: RadiusAttributeType.acctDelayTime, delay) }
        return builder.encode(secret: secret)
    }

    @Test func startIsCommittedBeforeItsAnswerAndStopEndsIt() async throws {
        let feed = try await Feed()
        defer { Task { await feed.stop() } }
        let client = try feed.client()
        let start = try Self.request(.start)
        let answer = try #require(await client.answer(start), "no Accounting-Response to a valid Start")
        #expect(AccountingCodec.verifyResponse(answer, to: start, secret: Self.secret))
        // Answered means committed: the session is in the store now, tagged with its NAS and session id.
        let sessions = try feed.sessions("c-3003")
        #expect(sessions.map(\.prefix.description) == ["100.64.2.20/32"])
        #expect(sessions.first?.nas == "bng-1")
        #expect(sessions.first?.accountingSessionID == "sess-1")

        let stop = try Self.request(.stop, id: 2)
        let stopAnswer = try #require(await client.answer(stop))
        #expect(AccountingCodec.verifyResponse(stopAnswer, to: stop, secret: Self.secret))
        #expect(try feed.sessions("c-3003").isEmpty)
        await feed.stop()
    }

    @Test func retransmitWithNewIdentifierIsRecognizedByContent() async throws {
        let feed = try await Feed()
        defer { Task { await feed.stop() } }
        let client = try feed.client()
        #expect(await client.answer(try Self.request(.start, id: 7)) != nil)
        let bindingsBefore = try feed.fixture.store.bindings(customer: "c-3003").count
        // The NAS got no answer in time and sends it again with a new Identifier and Acct-Delay-Time (RFC 2866 §5.2).
        let retransmit = try Self.request(.start, id: 8, delay: 5)
        let answer = try #require(await client.answer(retransmit))
        #expect(AccountingCodec.verifyResponse(answer, to: retransmit, secret: Self.secret))
        #expect(try feed.fixture.store.bindings(customer: "c-3003").count == bindingsBefore)
        // A Stop, then the Start once more (late): the session stays stopped.
        #expect(await client.answer(try Self.request(.stop, id: 9)) != nil)
        #expect(await client.answer(try Self.request(.start, id: 10, delay: 30)) != nil)
        #expect(try feed.sessions("c-3003").isEmpty)
        let text = feed.metrics.render(activeSessions: nil)
        #expect(
            RadiusMetrics.value(of: #"egress25_radius_requests_total{status="applied",nas="bng-1"}"#, in: text) == 2)
        #expect(
            RadiusMetrics.value(of: #"egress25_radius_requests_total{status="duplicate",nas="bng-1"}"#, in: text) == 2)
        await feed.stop()
    }

    @Test func anotherSubscribersStartOnTheAddressEndsTheFirst() async throws {
        let feed = try await Feed()
        defer { Task { await feed.stop() } }
        let client = try feed.client()
        #expect(await client.answer(try Self.request(.start, session: "a", user: "c-3003")) != nil)
        #expect(await client.answer(try Self.request(.start, id: 2, session: "b", user: "c-4004")) != nil)
        #expect(try feed.sessions("c-3003").isEmpty)
        #expect(try feed.sessions("c-4004").map(\.prefix.description) == ["100.64.2.20/32"])
        await feed.stop()
    }

    /// The address moved even when the store cannot record the new holder: a Start with a subscriber id that is
    /// no customer id, or a Start reusing the id of a session that ended (a NAS counting from 1 again after a
    /// reboot), ends the previous holder's session, so its exceptions stop applying there.
    @Test func aStartTheStoreCannotRecordStillTakesTheAddressFromThePreviousHolder() async throws {
        let feed = try await Feed()
        defer { Task { await feed.stop() } }
        let client = try feed.client()
        #expect(await client.answer(try Self.request(.start, session: "a1", user: "c-3003")) != nil)
        #expect(try feed.sessions("c-3003").count == 1)
        // "new user" is no customer id: refused (answered, counted), but c-3003 no longer holds the address.
        #expect(await client.answer(try Self.request(.start, id: 2, session: "b1", user: "new user")) != nil)
        #expect(try feed.sessions("c-3003").isEmpty, "the previous holder kept the address")

        // A session id reused after its session ended: it opens nothing, but takes the address from c-5005.
        #expect(
            await client.answer(try Self.request(.start, id: 3, session: "k1", user: "c-4004", ipv4: "100.64.2.30"))
                != nil)
        #expect(
            await client.answer(try Self.request(.stop, id: 4, session: "k1", user: "c-4004", ipv4: "100.64.2.30"))
                != nil)
        #expect(
            await client.answer(try Self.request(.start, id: 5, session: "c1", user: "c-5005", ipv4: "100.64.2.31"))
                != nil)
        #expect(try feed.sessions("c-5005").count == 1)
        #expect(
            await client.answer(try Self.request(.start, id: 6, session: "k1", user: "c-6006", ipv4: "100.64.2.31"))
                != nil)
        #expect(try feed.sessions("c-5005").isEmpty, "the previous holder kept the address")
        #expect(
            try feed.fixture.store.bindings(inForceAt: UTCTime.now()).filter {
                $0.prefix.description == "100.64.2.31/32"
            }.isEmpty)
        await feed.stop()
    }

    @Test func interimAddsADelegatedPrefixAndAccountingOnEndsTheNASsSessions() async throws {
        let feed = try await Feed()
        defer { Task { await feed.stop() } }
        let client = try feed.client()
        #expect(await client.answer(try Self.request(.start)) != nil)
        #expect(
            await client.answer(
                try Self.request(.start, id: 2, session: "x", user: "c-5005", ipv4: "100.64.2.21", nas: "bng-2")) != nil
        )
        let interim = try Self.request(
            .interimUpdate, id: 3, ipv6: [(RadiusAttributeType.delegatedIPv6Prefix, "2001:db8:6400:100::/56")])
        #expect(await client.answer(interim) != nil)
        #expect(
            try feed.sessions("c-3003").map(\.prefix.description).sorted()
                == ["100.64.2.20/32", "2001:db8:6400:100::/56"])
        let on = try Self.request(.accountingOn, id: 4, user: nil, ipv4: nil)
        let answer = try #require(await client.answer(on))
        #expect(AccountingCodec.verifyResponse(answer, to: on, secret: Self.secret))
        #expect(try feed.sessions("c-3003").isEmpty)
        // Only bng-1 rebooted.
        #expect(try feed.sessions("c-5005").count == 1)
        await feed.stop()
    }

    @Test func badDatagramsAreDroppedUnansweredAndCountedByReason() async throws {
        let feed = try await Feed()
        defer { Task { await feed.stop() } }
        let client = try feed.client(timeoutMilliseconds: 300)
        let good = try Self.request(.start)
        var cases: [(RadiusInvalidReason, [UInt8])] = []
        cases.append((.badAuthenticator, try Self.request(.start, secret: Array("wrong".utf8))))
        cases.append((.tooShort, Array(good.prefix(19))))
        var mismatch = good
        mismatch[3] &+= 10  // Length says more than arrived
        cases.append((.lengthMismatch, mismatch))
        var code = good
        code[0] = 1  // Access-Request: not for an accounting port
        cases.append((.unknownCode, code))
        cases.append((.missingStatusType, try Self.request(nil)))
        cases.append((.noAddress, try Self.request(.start, ipv4: nil)))
        cases.append((.tooLong, good + [UInt8](repeating: 0, count: 4100)))
        for (reason, datagram) in cases {
            #expect(await client.answer(datagram) == nil, "\(reason): answered")
        }
        let unknown = try feed.client(source: "127.0.0.2", timeoutMilliseconds: 300)
        #expect(await unknown.answer(good) == nil, "unknown client answered")
        try await Task.sleep(for: .milliseconds(100))
        for (reason, _) in cases {
            #expect(feed.metrics.invalidCount(reason) == 1, "\(reason)")
        }
        #expect(feed.metrics.invalidCount(.unknownClient) == 1)
        // Nothing reached the store; a valid request is still served.
        #expect(throws: ExceptionStoreError.self) { try feed.sessions("c-3003") }
        client.setTimeout(milliseconds: 2000)
        #expect(await client.answer(good) != nil)
        await feed.stop()
    }

    @Test func aStoreThatCannotCommitGetsNoAnswerAndTheRetransmitIsRecorded() async throws {
        let feed = try await Feed()
        defer { Task { await feed.stop() } }
        let client = try feed.client(timeoutMilliseconds: 500)
        // Break the store under the listener: the binding table is gone, so the batch's transaction fails.
        guard case .sqlite(let path) = feed.fixture.configuration.store.location else {
            Issue.record("expected the SQLite store")
            return
        }
        try Self.sqlite(path, "ALTER TABLE binding RENAME TO binding_away")
        let start = try Self.request(.start)
        #expect(await client.answer(start) == nil, "answered although nothing was committed")
        try Self.sqlite(path, "ALTER TABLE binding_away RENAME TO binding")
        client.setTimeout(milliseconds: 3000)
        // The NAS retransmits; now it is recorded and answered.
        let answer = try #require(await client.answer(try Self.request(.start, id: 2, delay: 3)))
        #expect(
            AccountingCodec.verifyResponse(answer, to: try Self.request(.start, id: 2, delay: 3), secret: Self.secret))
        #expect(try feed.sessions("c-3003").count == 1)
        #expect(
            RadiusMetrics.value(
                of: #"egress25_radius_requests_total{status="store_error",nas="bng-1"}"#,
                in: feed.metrics.render(activeSessions: nil)) >= 1)
        await feed.stop()
    }

    /// Runs one statement on the SQLite file with Python's sqlite3 (another process, as an operator would).
    static func sqlite(_ path: String, _ statement: String) throws {
        let script = "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()"
        let result = try run(["python3", "-c", script, path, statement])
        guard result.status == 0 else { throw TestFailure("sqlite3: \(result.error)") }
    }
}
