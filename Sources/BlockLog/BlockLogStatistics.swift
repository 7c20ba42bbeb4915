/// The block-log writer's counters, cumulative since it was created (except the gauges `bytesOnDisk`,
/// `rowsInMemory` and `lagMilliseconds`).
public struct BlockLogStatistics: Sendable, Hashable {
    /// Rows inserted into segments (one per aggregate).
    public var rowsWritten: UInt64
    /// Row updates committed (an open aggregate's newer counts written again, or a closed one's final counts).
    public var rowUpdates: UInt64
    /// Blocked SYNs committed to a segment (sum of the committed rows' `syns`).
    public var synsRecorded: UInt64
    /// Blocked SYNs that will never be in any row: ring overflow, ``BlockLogWriter/recordLost(_:)``, SYNs
    /// without room even in a coarse row, rows dropped because the disk failed for too long or at shutdown.
    public var lostEvents: UInt64
    /// Failed commits or segment opens (each retried).
    public var writeErrors: UInt64
    /// Bytes of all segment files with their `-wal` and `-shm` files, at the last retention scan.
    public var bytesOnDisk: Int64
    /// Segment files deleted by retention.
    public var segmentsDeleted: UInt64
    /// Milliseconds since the oldest row not yet inserted was opened: what a `kill -9` would lose of new rows.
    /// 0 when every row is in a segment.
    public var lagMilliseconds: Int64
    /// Rows closed before their aggregation window ended, to stay within the memory budget.
    public var rowsClosedEarly: UInt64
    /// SYNs counted in a coarse row (per source, destination not kept) because the memory budget was full.
    public var synsInCoarseRows: UInt64
    /// Rows in memory now (open, or closed and waiting for their commit).
    public var rowsInMemory: Int
    /// The most rows the memory budget allows (``BlockLogMemoryPlan/rows``).
    public var rowCapacity: Int

    /// Creates statistics; every counter defaults to 0.
    public init(
        rowsWritten: UInt64 = 0, rowUpdates: UInt64 = 0, synsRecorded: UInt64 = 0, lostEvents: UInt64 = 0,
        writeErrors: UInt64 = 0, bytesOnDisk: Int64 = 0, segmentsDeleted: UInt64 = 0, lagMilliseconds: Int64 = 0,
        rowsClosedEarly: UInt64 = 0, synsInCoarseRows: UInt64 = 0, rowsInMemory: Int = 0, rowCapacity: Int = 0
    ) {
        self.rowsWritten = rowsWritten
        self.rowUpdates = rowUpdates
        self.synsRecorded = synsRecorded
        self.lostEvents = lostEvents
        self.writeErrors = writeErrors
        self.bytesOnDisk = bytesOnDisk
        self.segmentsDeleted = segmentsDeleted
        self.lagMilliseconds = lagMilliseconds
        self.rowsClosedEarly = rowsClosedEarly
        self.synsInCoarseRows = synsInCoarseRows
        self.rowsInMemory = rowsInMemory
        self.rowCapacity = rowCapacity
    }
}
