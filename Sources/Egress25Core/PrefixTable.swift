/// A longest-prefix-match table over IPv4 and IPv6 CIDR prefixes, each carrying one or more `Int32` values,
/// built once and then read-only.
///
/// Layout (chosen by measurement, see the benchmark): the nested prefixes of each family are flattened into
/// disjoint elementary intervals, sorted by first address; each interval records the most specific prefix
/// ("entry") covering it, or -1. A lookup is one binary search over the interval starts (IPv4: first narrowed by
/// a direct index on the top 16 bits, like the first stage of DIR-16-8-8). Every entry records its nearest
/// enclosing entry (`parent`), so all matching prefixes of an address are the chain entry, parent(entry), ...,
/// most specific first. Duplicate prefixes share one entry; its values are kept in ascending order.
///
/// Prefixes and addresses are looked up as given: callers map IPv4-mapped IPv6 (`::ffff:0:0/96`) to IPv4 first
/// (`IPAddress.unmapped`, `IPPrefix.unmapped`).
@usableFromInline
struct PrefixTable: Sendable {
    // IPv4 intervals: starts ascending, starts[0] == 0.
    @usableFromInline let v4Starts: FrozenArray<UInt32>
    @usableFromInline let v4Entries: FrozenArray<Int32>
    /// 65,537 slots: slot b is the last interval starting at or before b << 16; empty when not indexed.
    @usableFromInline let v4Index: FrozenArray<UInt32>
    // IPv6 intervals: starts ascending, starts[0] == 0.
    @usableFromInline let v6Starts: FrozenArray<UInt128>
    @usableFromInline let v6Entries: FrozenArray<Int32>
    /// Nearest enclosing entry, or -1.
    @usableFromInline let parents: FrozenArray<Int32>
    /// Entry e's values are values[valueOffsets[e] ..< valueOffsets[e + 1]].
    @usableFromInline let valueOffsets: FrozenArray<Int32>
    @usableFromInline let values: FrozenArray<Int32>
    /// Prefix length of each entry (bits).
    let lengths: FrozenArray<UInt8>

    /// Number of distinct prefixes.
    var entryCount: Int { lengths.count }

    /// Builds the table. `prefixes` should already be unmapped.
    /// - Parameter indexed: build the 16-bit direct index for IPv4 (256 KiB).
    init(_ prefixes: [(prefix: IPPrefix, value: Int32)], indexed: Bool = true) {
        var v4: [Item<UInt32>] = []
        var v6: [Item<UInt128>] = []
        for (prefix, value) in prefixes {
            switch prefix.address {
            case .v4(let address):
                v4.append(Item(start: address.value, length: prefix.length, value: value))
            case .v6(let address):
                v6.append(Item(start: UInt128(address.high) << 64 | UInt128(address.low), length: prefix.length, value: value))
            }
        }
        var parents: [Int32] = []
        var valueOffsets: [Int32] = [0]
        var values: [Int32] = []
        var lengths: [UInt8] = []
        parents.reserveCapacity(prefixes.count)
        valueOffsets.reserveCapacity(prefixes.count + 1)
        values.reserveCapacity(prefixes.count)
        lengths.reserveCapacity(prefixes.count)
        let (starts4, entries4) = PrefixTable.flatten(
            &v4, parents: &parents, valueOffsets: &valueOffsets, values: &values, lengths: &lengths
        )
        let (starts6, entries6) = PrefixTable.flatten(
            &v6, parents: &parents, valueOffsets: &valueOffsets, values: &values, lengths: &lengths
        )
        v4Starts = FrozenArray(starts4)
        v4Entries = FrozenArray(entries4)
        v6Starts = FrozenArray(starts6)
        v6Entries = FrozenArray(entries6)
        self.parents = FrozenArray(parents)
        self.valueOffsets = FrozenArray(valueOffsets)
        self.values = FrozenArray(values)
        self.lengths = FrozenArray(lengths)
        if indexed {
            var index = [UInt32](repeating: 0, count: 65_537)
            var interval = 0
            for slot in 0..<65_536 {
                let key = UInt32(slot) << 16
                while interval + 1 < starts4.count && starts4[interval + 1] <= key { interval += 1 }
                index[slot] = UInt32(interval)
            }
            index[65_536] = UInt32(starts4.count - 1)
            v4Index = FrozenArray(index)
        } else {
            v4Index = FrozenArray([])
        }
    }

    struct Item<Key: FixedWidthInteger & UnsignedInteger> {
        var start: Key
        var length: UInt8
        var value: Int32
    }

    /// Sorts `items`, merges duplicates into entries (appended to the entry arrays) and returns the elementary
    /// intervals (start, most specific entry) of this family.
    static func flatten<Key: FixedWidthInteger & UnsignedInteger>(
        _ items: inout [Item<Key>],
        parents: inout [Int32],
        valueOffsets: inout [Int32],
        values: inout [Int32],
        lengths: inout [UInt8]
    ) -> (starts: [Key], entries: [Int32]) {
        items.sort { a, b in
            a.start != b.start ? a.start < b.start : a.length != b.length ? a.length < b.length : a.value < b.value
        }
        var starts: [Key] = [0]
        var entries: [Int32] = [-1]
        starts.reserveCapacity(items.count * 2 + 1)
        entries.reserveCapacity(items.count * 2 + 1)

        @inline(__always)
        func emit(_ start: Key, _ entry: Int32) {
            if starts[starts.count - 1] == start {
                entries[entries.count - 1] = entry
                // Merge with the previous interval when the entry is the same.
                if entries.count >= 2 && entries[entries.count - 2] == entry {
                    starts.removeLast()
                    entries.removeLast()
                }
            } else if entries[entries.count - 1] != entry {
                starts.append(start)
                entries.append(entry)
            }
        }

        // Open entries, outermost first: (entry, last address).
        var stack: [(entry: Int32, end: Key)] = []
        @inline(__always)
        func close(before position: Key?) {
            while let top = stack.last {
                if let position, top.end >= position { break }
                stack.removeLast()
                if top.end != Key.max {
                    emit(top.end + 1, stack.last?.entry ?? -1)
                }
            }
        }

        var index = 0
        while index < items.count {
            let item = items[index]
            let hostMask: Key = Int(item.length) >= Key.bitWidth ? 0 : Key.max >> Key(item.length)
            let end = item.start | hostMask
            close(before: item.start)
            let entry = Int32(lengths.count)
            lengths.append(item.length)
            parents.append(stack.last?.entry ?? -1)
            // All values of this exact prefix, ascending, without repeats.
            var previous: Int32? = nil
            while index < items.count && items[index].start == item.start && items[index].length == item.length {
                let value = items[index].value
                if value != previous { values.append(value) }
                previous = value
                index += 1
            }
            valueOffsets.append(Int32(values.count))
            emit(item.start, entry)
            stack.append((entry, end))
        }
        close(before: nil)
        return (starts, entries)
    }

    /// The most specific entry containing IPv4 `key`, or -1.
    @inlinable @inline(__always)
    func lookup(v4 key: UInt32) -> Int32 {
        var low: Int
        var length: Int
        if v4Index.count != 0 {
            let slot = Int(key >> 16)
            low = Int(v4Index[slot])
            length = Int(v4Index[slot + 1]) - low + 1
        } else {
            low = 0
            length = v4Starts.count
        }
        let starts = v4Starts.base
        while length > 1 {
            let half = length >> 1
            low = starts[low + half] <= key ? low + half : low
            length -= half
        }
        return v4Entries[low]
    }

    /// The most specific entry containing IPv6 `key`, or -1.
    @inlinable @inline(__always)
    func lookup(v6 key: UInt128) -> Int32 {
        var low = 0
        var length = v6Starts.count
        let starts = v6Starts.base
        while length > 1 {
            let half = length >> 1
            low = starts[low + half] <= key ? low + half : low
            length -= half
        }
        return v6Entries[low]
    }

    /// The most specific entry containing `address` (already unmapped), or -1.
    @inlinable @inline(__always)
    func lookup(_ address: IPAddress) -> Int32 {
        switch address {
        case .v4(let v4): return lookup(v4: v4.value)
        case .v6(let v6): return lookup(v6: UInt128(v6.high) << 64 | UInt128(v6.low))
        }
    }

    /// Heap bytes held by the table.
    var byteCount: Int {
        v4Starts.byteCount + v4Entries.byteCount + v4Index.byteCount + v6Starts.byteCount + v6Entries.byteCount
            + parents.byteCount + valueOffsets.byteCount + values.byteCount + lengths.byteCount
    }

    func deallocate() {
        v4Starts.deallocate()
        v4Entries.deallocate()
        v4Index.deallocate()
        v6Starts.deallocate()
        v6Entries.deallocate()
        parents.deallocate()
        valueOffsets.deallocate()
        values.deallocate()
        lengths.deallocate()
    }
}
