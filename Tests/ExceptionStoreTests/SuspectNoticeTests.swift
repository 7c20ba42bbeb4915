import Egress25Core
import ExceptionStore
import Testing

/// The `suspect_notice` table: what egress25-admin's webhook notifier announced, on both backends.
@Suite struct SuspectNoticeTests {
    static func notice(_ source: String, window: Int64 = t0) -> SuspectNotice {
        SuspectNotice(
            source: source, windowStart: window, detectedAt: 0, evidence: "{\"s\":\"\(source)\"}", nextAttemptAt: 0)
    }

    @Test(arguments: TestBackend.available) func noticesAreRecordedOnceDeliveredOrRetriedCountedAndPruned(
        backend: TestBackend
    ) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        let new = try store.recordSuspectNotices([Self.notice("192.0.2.1"), Self.notice("2001:db8::1")], now: t0 + 5)
        #expect(new.map(\.source) == ["192.0.2.1", "2001:db8::1"])
        #expect(new.map(\.detectedAt) == [t0 + 5, t0 + 5])
        // Again, with a new window for one of them: only that one is new; the evidence recorded first stays.
        var changed = Self.notice("192.0.2.1")
        changed.evidence = "{}"
        let again = try store.recordSuspectNotices([changed, Self.notice("192.0.2.1", window: t0 + 600)], now: t0 + 9)
        #expect(again.map(\.windowStart) == [t0 + 600])
        #expect(try store.pendingSuspectNoticeCount() == 3)

        #expect(try store.dueSuspectNotices(now: t0 + 4).isEmpty)
        #expect(try store.dueSuspectNotices(now: t0 + 5).map(\.source) == ["192.0.2.1", "2001:db8::1"])
        #expect(try store.dueSuspectNotices(now: t0 + 9, limit: 1).count == 1)

        try store.recordSuspectDelivery(
            source: "192.0.2.1", windowStart: t0, now: t0 + 10, error: nil, retryAt: t0 + 10)
        try store.recordSuspectDelivery(
            source: "2001:db8::1", windowStart: t0, now: t0 + 10, error: "HTTP 503", retryAt: t0 + 15)
        #expect(try store.pendingSuspectNoticeCount() == 2)
        #expect(try store.dueSuspectNotices(now: t0 + 14).map(\.windowStart) == [t0 + 600])
        #expect(try store.dueSuspectNotices(now: t0 + 15).map(\.source) == ["192.0.2.1", "2001:db8::1"])

        let all = try store.suspectNotices(since: 0)
        try #require(all.map(\.source) == ["192.0.2.1", "2001:db8::1", "192.0.2.1"])
        #expect(all[0].evidence == "{\"s\":\"192.0.2.1\"}")
        #expect((all[0].deliveredAt, all[0].attempts, all[0].lastError) == (t0 + 10, 1, nil))
        #expect((all[1].deliveredAt, all[1].attempts, all[1].lastError) == (nil, 1, "HTTP 503"))
        #expect(all[1].nextAttemptAt == t0 + 15)

        #expect(try store.pruneSuspectNotices(before: t0 + 600) == 2)
        #expect(try store.suspectNotices(since: 0).map(\.windowStart) == [t0 + 600])
        #expect(try store.pendingSuspectNoticeCount() == 1)
    }
}
