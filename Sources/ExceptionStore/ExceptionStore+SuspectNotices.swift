import Egress25Core

/// One suspect source in one detection window, as egress25-admin's webhook notifier keeps it: the evidence it
/// announces and where the delivery stands.
public struct SuspectNotice: Hashable, Sendable {
    /// The suspect source address (canonical text).
    public var source: String
    /// The start of the detection window, UTC seconds (a multiple of the window length).
    public var windowStart: Int64
    /// When egress25-admin first saw the source cross a threshold in this window, UTC seconds.
    public var detectedAt: Int64
    /// The JSON document the webhook receives.
    public var evidence: String
    /// When the webhook acknowledged it (2xx), UTC seconds; `nil` while pending.
    public var deliveredAt: Int64?
    /// Delivery attempts made.
    public var attempts: Int
    /// When the next attempt is due, UTC seconds.
    public var nextAttemptAt: Int64
    /// Why the last attempt failed, if it did.
    public var lastError: String?

    /// Creates a notice; times are UTC seconds.
    public init(
        source: String, windowStart: Int64, detectedAt: Int64, evidence: String, deliveredAt: Int64? = nil,
        attempts: Int = 0, nextAttemptAt: Int64, lastError: String? = nil
    ) {
        self.source = source
        self.windowStart = windowStart
        self.detectedAt = detectedAt
        self.evidence = evidence
        self.deliveredAt = deliveredAt
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
    }
}

extension ExceptionStore {
    static let suspectNoticeColumns =
        "source, window_start, detected_at, evidence, delivered_at, attempts, next_attempt_at, last_error"

    static func suspectNotice(_ row: SQLRow) throws -> SuspectNotice {
        SuspectNotice(
            source: try row.text(0), windowStart: try row.int64(1), detectedAt: try row.int64(2),
            evidence: try row.text(3), deliveredAt: try row.optionalInt64(4), attempts: Int(try row.int64(5)),
            nextAttemptAt: try row.int64(6), lastError: try row.optionalText(7))
    }

    /// Records suspects not seen before (by source and window) as pending notices, due at `now`; a suspect already
    /// recorded is left as it is, so announcing is idempotent across restarts and across several egress25-admin
    /// processes on one store.
    /// - Returns: The notices that were new.
    /// - Throws: ``ExceptionStoreError`` (`io`, `locked`, `permissionDenied`).
    @discardableResult
    public func recordSuspectNotices(
        _ notices: [SuspectNotice], now: Int64 = UTCTime.now()
    ) throws(ExceptionStoreError) -> [SuspectNotice] {
        guard !notices.isEmpty else { return [] }
        return try write("record suspects in", policyLock: false) { db in
            var new: [SuspectNotice] = []
            for notice in notices {
                let inserted = try db.execute(
                    """
                    INSERT INTO suspect_notice (source, window_start, detected_at, evidence, next_attempt_at)
                    VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, window_start) DO NOTHING
                    """,
                    [
                        .text(notice.source), .integer(notice.windowStart), .integer(now), .text(notice.evidence),
                        .integer(now),
                    ])
                if inserted > 0 {
                    var recorded = notice
                    recorded.detectedAt = now
                    recorded.nextAttemptAt = now
                    new.append(recorded)
                }
            }
            return new
        }
    }

    /// Notices not yet delivered whose next attempt is due at `now`, oldest first.
    /// - Throws: ``ExceptionStoreError`` (`io`, `permissionDenied`).
    public func dueSuspectNotices(now: Int64, limit: Int = 100) throws(ExceptionStoreError) -> [SuspectNotice] {
        try read("read suspects of") { db in
            try db.rows(
                """
                SELECT \(Self.suspectNoticeColumns) FROM suspect_notice
                WHERE delivered_at IS NULL AND next_attempt_at <= ?
                ORDER BY next_attempt_at, window_start, source LIMIT ?
                """, [.integer(now), .integer(Int64(max(0, limit)))]
            ).map(Self.suspectNotice)
        }
    }

    /// How many notices are not delivered yet, due or waiting for a retry (the notifier's `pending`).
    /// - Throws: ``ExceptionStoreError`` (`io`, `permissionDenied`).
    public func pendingSuspectNoticeCount() throws(ExceptionStoreError) -> Int {
        try read("count suspects of") { db in
            Int(try db.rows("SELECT count(*) FROM suspect_notice WHERE delivered_at IS NULL").first?.int64(0) ?? 0)
        }
    }

    /// Notices whose window started at or after `since` (UTC seconds), delivered or not, oldest window first.
    /// - Throws: ``ExceptionStoreError`` (`io`, `permissionDenied`).
    public func suspectNotices(since: Int64) throws(ExceptionStoreError) -> [SuspectNotice] {
        try read("read suspects of") { db in
            try db.rows(
                """
                SELECT \(Self.suspectNoticeColumns) FROM suspect_notice WHERE window_start >= ?
                ORDER BY window_start, source
                """, [.integer(since)]
            ).map(Self.suspectNotice)
        }
    }

    /// Records the outcome of one delivery attempt: delivered at `now` (`error == nil`), or failed with `error`
    /// and due again at `retryAt` (UTC seconds).
    /// - Throws: ``ExceptionStoreError`` (`io`, `locked`, `permissionDenied`).
    public func recordSuspectDelivery(
        source: String, windowStart: Int64, now: Int64, error: String?, retryAt: Int64
    ) throws(ExceptionStoreError) {
        _ = try write("record a webhook delivery in", policyLock: false) { db in
            if let error {
                try db.execute(
                    """
                    UPDATE suspect_notice SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?
                    WHERE source = ? AND window_start = ? AND delivered_at IS NULL
                    """, [.text(String(error.prefix(500))), .integer(retryAt), .text(source), .integer(windowStart)])
            } else {
                try db.execute(
                    """
                    UPDATE suspect_notice SET attempts = attempts + 1, last_error = NULL, delivered_at = ?
                    WHERE source = ? AND window_start = ? AND delivered_at IS NULL
                    """, [.integer(now), .text(source), .integer(windowStart)])
            }
        }
    }

    /// Deletes notices whose window started before `before` (UTC seconds): the notifier's retention.
    /// - Returns: How many were deleted.
    /// - Throws: ``ExceptionStoreError`` (`io`, `locked`, `permissionDenied`).
    @discardableResult
    public func pruneSuspectNotices(before: Int64) throws(ExceptionStoreError) -> Int {
        try write("prune suspects of", policyLock: false) { db in
            try db.execute("DELETE FROM suspect_notice WHERE window_start < ?", [.integer(before)])
        }
    }
}
