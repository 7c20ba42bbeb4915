import Egress25Core

/// What identifies one block-log row while it is open: the flow's addresses, the destination port and the
/// reason. Past the memory budget, a coarser key: a *source* row has the unspecified address of the source's
/// family as its destination.
struct RowKey: Hashable {
    var source: IPAddress
    var destination: IPAddress
    var destinationPort: UInt16
    var reason: BlockReason

    /// The key of the per-source row that counts this key's SYNs when no memory is left for rows per
    /// destination: destination `0.0.0.0` or `::`.
    var coarse: RowKey {
        var key = self
        switch source {
        case .v4: key.destination = .v4(IPv4Address(0))
        case .v6: key.destination = .v6(IPv6Address(high: 0, low: 0))
        }
        return key
    }

    /// A 64-bit hash of every field: the words folded with multiplications, then a final avalanche
    /// (the finaliser of MurmurHash3's 64-bit variant). Not keyed: the keys are chosen by subscribers, but
    /// a flood that collides them only lengthens probes in a table whose size is fixed (see ``RowIndex``).
    @inline(__always)
    var hashValue64: UInt64 {
        var h = UInt64(destinationPort) | UInt64(reason.rawValue) << 16
        h = Self.fold(h, source)
        h = Self.fold(h, destination)
        h ^= h >> 33
        h &*= 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h &*= 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return h
    }

    @inline(__always)
    private static func fold(_ h: UInt64, _ address: IPAddress) -> UInt64 {
        switch address {
        case .v4(let v4):
            return (h ^ UInt64(v4.value)) &* 0x9e37_79b9_7f4a_7c15
        case .v6(let v6):
            let high = (h ^ v6.high) &* 0x9e37_79b9_7f4a_7c15
            return (high ^ (v6.low &+ 0x6a09_e667_f3bc_c909)) &* 0xbf58_476d_1ce4_e5b9
        }
    }
}

/// Maps a ``RowKey`` to the slot of its open row: open addressing with linear probing over a fixed table of
/// 64-bit entries, twice as many as the rows it may hold, allocated once.
///
/// An entry is `hash_low32 << 32 | (slot + 1)`; 0 is empty. The hash bits in the entry spare most key
/// comparisons (each a load from the row pool) and give each entry's home bucket, so a removal shifts the
/// following entries back instead of leaving tombstones: probes stay short however many rows come and go.
/// Not thread-safe: the block-log writer's aggregating thread only.
struct RowIndex: ~Copyable {
    private let entries: UnsafeMutablePointer<UInt64>
    private let mask: Int
    /// Entries in use.
    private(set) var count = 0
    /// The most entries the index accepts: half its buckets.
    let limit: Int

    /// An index for up to `rows` rows (at least 1): `2 * rows` rounded up to a power of two buckets, 8 bytes each.
    init(rows: Int) {
        var buckets = 2
        while buckets < 2 * max(rows, 1) { buckets <<= 1 }
        entries = .allocate(capacity: buckets)
        entries.initialize(repeating: 0, count: buckets)
        mask = buckets - 1
        limit = buckets / 2
    }

    deinit { entries.deallocate() }

    /// Bytes of memory the index holds for `rows` rows (what ``init(rows:)`` allocates).
    static func bytes(rows: Int) -> Int {
        var buckets = 2
        while buckets < 2 * max(rows, 1) { buckets <<= 1 }
        return buckets * MemoryLayout<UInt64>.stride
    }

    /// The slot of `key`, or `nil`. `keyAt` returns the key of a slot that the index holds.
    @inline(__always)
    func find(_ key: RowKey, hash: UInt64, keyAt: (Int32) -> RowKey) -> Int32? {
        let tag = hash & 0xffff_ffff
        var bucket = Int(truncatingIfNeeded: hash) & mask
        while true {
            let entry = entries[bucket]
            if entry == 0 { return nil }
            if entry >> 32 == tag {
                let slot = Int32(truncatingIfNeeded: entry & 0xffff_ffff) - 1
                if keyAt(slot) == key { return slot }
            }
            bucket = (bucket + 1) & mask
        }
    }

    /// Adds `slot` under `hash`; the key must not be in the index, and ``count`` must be below ``limit``.
    @inline(__always)
    mutating func insert(slot: Int32, hash: UInt64) {
        precondition(count < limit, "RowIndex is full")
        var bucket = Int(truncatingIfNeeded: hash) & mask
        while entries[bucket] != 0 { bucket = (bucket + 1) & mask }
        entries[bucket] = (hash & 0xffff_ffff) << 32 | UInt64(UInt32(bitPattern: slot + 1))
        count += 1
    }

    /// Removes the entry of `slot`, stored under `hash`; nothing when it is not there.
    mutating func remove(slot: Int32, hash: UInt64) {
        let wanted = (hash & 0xffff_ffff) << 32 | UInt64(UInt32(bitPattern: slot + 1))
        var bucket = Int(truncatingIfNeeded: hash) & mask
        while entries[bucket] != wanted {
            if entries[bucket] == 0 { return }
            bucket = (bucket + 1) & mask
        }
        // Backward-shift deletion (Knuth, TAOCP vol. 3, 6.4 algorithm R): move each following entry of the run
        // into the hole when the hole lies between its home bucket and where it sits.
        var hole = bucket
        var next = (hole + 1) & mask
        while entries[next] != 0 {
            let home = Int(truncatingIfNeeded: entries[next] >> 32) & mask
            if (next - home) & mask >= (next - hole) & mask {
                entries[hole] = entries[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        entries[hole] = 0
        count -= 1
    }

    /// Removes every entry.
    mutating func removeAll() {
        entries.update(repeating: 0, count: mask + 1)
        count = 0
    }

    /// Calls `body` with every slot in the index.
    func forEachSlot(_ body: (Int32) -> Void) {
        for bucket in 0...mask where entries[bucket] != 0 {
            body(Int32(truncatingIfNeeded: entries[bucket] & 0xffff_ffff) - 1)
        }
    }
}
