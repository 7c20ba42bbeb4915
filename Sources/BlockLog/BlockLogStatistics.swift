/// Counters of the block-log writer, for metrics. All counts are since the writer was created.
public struct BlockLogStatistics: Sendable, Hashable {
    /// Rows inserted into segments (one per aggregate).
    public var rowsWritten: UInt64
    /// Row updates committed (an open aggregate's newer counts written again).
    public var rowUpdates: UInt64
    /// Blocked SYNs committed to a segment (sum of the committed rows' `syns`).
    public var synsRecorded: UInt64
    /// Blocked SYNs that will never be in any row: ring overflow, ``BlockLogWriter/recordLost(_:)``, rows
    /// dropped because the disk failed for too long or at shutdown.
    public var lostEvents: UInt64
    /// Failed commits or segment opens (each retried).
    public var writeErrors: UInt64
    /// Bytes of all segment files with their `-wal` and `-shm` files, at the last retention scan.
    public var bytesOnDisk: Int64
    /// Segment files deleted by retention.
    public var segmentsDeleted: UInt64
    /// Milliseconds since the oldest SYN not yet committed was drained; 0 when everything is committed.
    public var lagMilliseconds: Int64

    /// Creates statistics; every counter defaults to 0.
    public init(
        rowsWritten: UInt64 = 0, rowUpdates: UInt64 = 0, synsRecorded: UInt64 = 0, lostEvents: UInt64 = 0,
        writeErrors: UInt64 = 0, bytesOnDisk: Int64 = 0, segmentsDeleted: UInt64 = 0, lagMilliseconds: Int64 = 0
    ) {
        self.rowsWritten = rowsWritten
        self.rowUpdates = rowUpdates
        self.synsRecorded = synsRecorded
        self.lostEvents = lostEvents
        self.writeErrors = writeErrors
        self.bytesOnDisk = bytesOnDisk
        self.segmentsDeleted = segmentsDeleted
        self.lagMilliseconds = lagMilliseconds
    }
}
