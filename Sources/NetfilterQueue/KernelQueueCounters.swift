#if canImport(Glibc)
import Glibc
#endif

/// The kernel's own counters for one NFQUEUE queue, from `/proc/net/netfilter/nfnetlink_queue`
/// (`net/netfilter/nfnetlink_queue.c`, `seq_show`). They stay accurate when `NETLINK_NO_ENOBUFS`
/// hides socket overruns from the receiver.
public struct KernelQueueCounters: Hashable, Sendable {
    /// The queue number.
    public var queueNumber: UInt16
    /// The netlink port id of the bound socket.
    public var portID: UInt32
    /// Packets currently waiting for a verdict.
    public var queueTotal: UInt32
    /// Copy mode (2 = `NFQNL_COPY_PACKET`).
    public var copyMode: UInt8
    /// Copy range in bytes.
    public var copyRange: UInt32
    /// Packets dropped because the queue was full (`queue_dropped`).
    public var queueDropped: UInt64
    /// Packets dropped because the netlink message could not be delivered (`queue_user_dropped`).
    public var userDropped: UInt64
    /// The last packet id handed out (`id_sequence`); the difference over time is the packets queued.
    public var idSequence: UInt32

    /// Parses the proc file's text; lines that do not have the 9 numeric columns are skipped.
    public static func parse(_ text: String) -> [KernelQueueCounters] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 8,
                let queue = UInt16(fields[0]),
                let port = UInt32(fields[1]),
                let total = UInt32(fields[2]),
                let mode = UInt8(fields[3]),
                let range = UInt32(fields[4]),
                let dropped = UInt64(fields[5]),
                let userDropped = UInt64(fields[6]),
                let sequence = UInt32(fields[7])
            else { return nil }
            return KernelQueueCounters(
                queueNumber: queue, portID: port, queueTotal: total, copyMode: mode, copyRange: range,
                queueDropped: dropped, userDropped: userDropped, idSequence: sequence
            )
        }
    }

    /// Reads the counters of every bound queue in the caller's network namespace.
    /// Returns an empty array when the file is missing (module not loaded, no queue bound) or unreadable.
    public static func read(path: String = "/proc/net/netfilter/nfnetlink_queue") -> [KernelQueueCounters] {
        readIfPermitted(path: path) ?? []
    }

    /// Like ``read(path:)``, but `nil` when the file exists and this process may not read it. The kernel creates
    /// it mode 0440, owned by root (`proc_create_net` in net/netfilter/nfnetlink_queue.c), so egress25d running as
    /// its own user with only CAP_NET_ADMIN (the shipped unit) cannot read it: `nil` then means "unknown", which
    /// must never be taken for "no queue is bound".
    public static func readIfPermitted(path: String = "/proc/net/netfilter/nfnetlink_queue") -> [KernelQueueCounters]? {
        guard let file = fopen(path, "r") else {
            let error = errno
            return error == EACCES || error == EPERM ? nil : []
        }
        defer { fclose(file) }
        var text = ""
        var chunk = [CChar](repeating: 0, count: 4096)
        while fgets(&chunk, Int32(chunk.count), file) != nil {
            text += String(decoding: chunk.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return parse(text)
    }
}
