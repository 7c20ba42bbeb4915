/// The distinct TCP source ports seen in one row: their count is the row's `attempts` (new connections);
/// a SYN whose source port is already in the set is a retransmission.
///
/// Stays inline for the common single-connection row; grows into an array, then a hash set. A closed row
/// keeps only the count (``counted(_:)``).
enum PortSet {
    case one(UInt16)
    case few([UInt16])
    case many(Set<UInt16>)
    /// A closed row's count: it takes no more SYNs.
    case counted(Int)

    static let fewLimit = 16

    var count: Int {
        switch self {
        case .one: return 1
        case .few(let ports): return ports.count
        case .many(let ports): return ports.count
        case .counted(let count): return count
        }
    }

    /// Heap bytes the set holds (an estimate for the memory budget: buffer headers plus 2 bytes a port, the
    /// hash set's at its capacity with one bit of metadata per bucket).
    var heapBytes: Int {
        switch self {
        case .one, .counted: return 0
        case .few(let ports): return 32 + 2 * ports.capacity
        case .many(let ports): return 64 + ports.capacity * 2 + ports.capacity / 8 + ports.capacity / 2
        }
    }

    /// Adds `port`. - Returns: `true` if it was new (a new connection); `false` for a retransmission, and
    /// always for a closed row's ``counted(_:)`` (it never takes SYNs).
    mutating func insert(_ port: UInt16) -> Bool {
        switch self {
        case .one(let existing):
            if existing == port { return false }
            self = .few([existing, port])
            return true
        case .few(var ports):
            if ports.contains(port) { return false }
            if ports.count < PortSet.fewLimit {
                self = .one(0)  // release the array's reference before appending, avoiding a copy
                ports.append(port)
                self = .few(ports)
            } else {
                var set = Set(ports)
                set.insert(port)
                self = .many(set)
            }
            return true
        case .many(var ports):
            if ports.contains(port) { return false }
            self = .one(0)
            ports.insert(port)
            self = .many(ports)
            return true
        case .counted:
            return false
        }
    }
}
