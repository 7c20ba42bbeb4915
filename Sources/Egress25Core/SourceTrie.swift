/// A multibit trie over one address family's source addresses that answers, in one walk, both questions
/// `PolicySnapshot.decide` asks of a source: is it in a subscriber range, and which exception entry is its most
/// specific match, with that entry's first payload stored inline.
///
/// Why (measured, see BENCHMARKS.md): the subscriber and exception `PrefixTable`s each cost a window index load,
/// a binary search of several dependent steps when the addresses cluster (ISP ranges do: 10/8 and 100.64/10 fill a
/// few hundred of the window's slots), then the entry record. Cache-cold, every step is a miss. Here a lookup is
/// at most three dependent loads for IPv4 in the common case, each one line:
/// - `top`: 65,536 slots keyed by the first 16 bits of the key;
/// - `blocks`: for a slot whose range holds more than `maxBucket` elementary intervals, a block of slots keyed by
///   the next bits: 256 slots (8 bits) right below `top`, 16 slots (4 bits, one cache line) further down, so a
///   dense /24 costs 64 bytes per split, not 1 KiB;
/// - `leaves`: the elementary intervals of the merged subscriber and exception tables, sorted by start, each with
///   the subscriber bit, the exception entry and that entry's first payload. A slot that is not a block names a
///   bucket of at most `maxBucket` consecutive leaves, scanned without data-dependent branches; the scan touches
///   every line of the bucket, so the chosen leaf's payload costs no further miss.
/// Two sentinel leaves at the end (no exception; not a subscriber / subscriber) serve every slot that lies inside
/// one interval without an exception: the common "subscriber, no exception" case ends at the slot, on a line that
/// stays cached.
///
/// Slot encoding (`UInt32`): bit 31 set: the block's first slot / 16 in bits 0...30. Else a bucket: leaf count - 1 in bits
/// 26...30, first leaf in bits 0...25.
struct SourceTrie<Key: FixedWidthInteger & UnsignedInteger>: @unchecked Sendable {
    /// One elementary interval: keys from `start` to the next leaf's start (exclusive).
    struct Leaf {
        var start: Key
        /// Bit 31: in a subscriber range. Bit 30: the exception entry has a parent or further payloads (walk the
        /// exception table's entries from it). Bits 0...29: exception entry + 1 (0: no exception covers it).
        var info: UInt32
        /// The exception entry's first payload (meaningless when there is no entry).
        var payload: PolicySnapshot.ExceptionPayload
    }

    static var subscriberBit: UInt32 { 1 << 31 }
    static var complexBit: UInt32 { 1 << 30 }
    static var entryMask: UInt32 { (1 << 30) - 1 }
    static var blockBit: UInt32 { 1 << 31 }
    /// Buckets hold at most 32 leaves (5 bits of count).
    static var bucketLimit: Int { 32 }
    /// First-leaf field: 26 bits.
    static var leafLimit: Int { 1 << 26 }

    let top: FrozenArray<UInt32>
    let blocks: FrozenArray<UInt32>
    let leaves: FrozenArray<Leaf>

    /// Builds the trie, or returns nil when the tables are too large for the slot encoding (more than 2^26 leaves or
    /// 2^30 - 1 exception entries; callers then use the prefix tables alone).
    /// - Parameters:
    ///   - subscribers: elementary intervals (start, subscriber entry or -1) of the subscriber table, first start 0.
    ///   - exceptions: the same for the exception table.
    ///   - entries: the exception table's entry records (`PrefixTable.entries`).
    ///   - maxBucket: a slot whose range holds more intervals than this (1...32) becomes a block.
    init?(
        subscribers: [(start: Key, entry: Int32)],
        exceptions: [(start: Key, entry: Int32)],
        entries: FrozenArray<PrefixTable<PolicySnapshot.ExceptionPayload>.Entry>,
        maxBucket: Int
    ) {
        precondition((1...SourceTrie.bucketLimit).contains(maxBucket), "maxBucket out of 1...32")
        guard entries.count < Int(SourceTrie.entryMask) else { return nil }
        // Merge the two interval lists: one leaf per change of (subscriber, exception entry).
        var starts: [Key] = []
        var infos: [UInt32] = []
        starts.reserveCapacity(subscribers.count + exceptions.count)
        infos.reserveCapacity(subscribers.count + exceptions.count)
        var i = 0
        var j = 0
        var subscriber = false
        var exception: Int32 = -1
        while i < subscribers.count || j < exceptions.count {
            let key: Key
            if i < subscribers.count && j < exceptions.count {
                key = min(subscribers[i].start, exceptions[j].start)
            } else {
                key = i < subscribers.count ? subscribers[i].start : exceptions[j].start
            }
            if i < subscribers.count && subscribers[i].start == key {
                subscriber = subscribers[i].entry >= 0
                i += 1
            }
            if j < exceptions.count && exceptions[j].start == key {
                exception = exceptions[j].entry
                j += 1
            }
            var info = subscriber ? SourceTrie.subscriberBit : 0
            if exception >= 0 {
                let record = entries[Int(exception)]
                info |= UInt32(exception + 1)
                if record.parent >= 0 || record.extraCount > 0 { info |= SourceTrie.complexBit }
            }
            if let last = starts.last, last == key {
                infos[infos.count - 1] = info
            } else {
                starts.append(key)
                infos.append(info)
            }
            if infos.count >= 2 && infos[infos.count - 2] == info {
                starts.removeLast()
                infos.removeLast()
            }
        }
        if starts.isEmpty || starts[0] != 0 {
            starts.insert(0, at: 0)
            infos.insert(0, at: 0)
        }
        guard starts.count + 2 <= SourceTrie.leafLimit else { return nil }

        let leafCount = starts.count
        // Sentinels: leafCount (no exception, not a subscriber), leafCount + 1 (subscriber, no exception).
        let sentinel = UInt32(leafCount)
        var blockSlots: [UInt32] = []

        /// The slot for keys first ... first + 2^width - 1.
        func slot(first: Key, width: Int) -> UInt32 {
            // Leaves overlapping the range: the last one starting at or before `first`, through the last one
            // starting at or before the range's last key.
            let last = width >= Key.bitWidth ? Key.max : first | ((Key(1) << Key(width)) - 1)
            let low = SourceTrie.lastStart(atOrBefore: first, starts)
            let high = SourceTrie.lastStart(atOrBefore: last, starts)
            let count = high - low + 1
            if count == 1 && infos[low] & SourceTrie.entryMask == 0 {
                return sentinel + (infos[low] & SourceTrie.subscriberBit != 0 ? 1 : 0)
            }
            if count <= maxBucket || width == 0 {
                return UInt32(count - 1) << 26 | UInt32(low)
            }
            // A block keyed by the next 8 bits right below `top`, by the next 4 bits further down.
            let stride = width == Key.bitWidth - 16 ? 8 : 4
            let childWidth = width - stride
            let block = blockSlots.count
            blockSlots.append(contentsOf: repeatElement(0, count: 1 << stride))
            for index in 0..<(1 << stride) {
                let childFirst = first | Key(index) << Key(childWidth)
                blockSlots[block + index] = slot(first: childFirst, width: childWidth)
            }
            return SourceTrie.blockBit | UInt32(block >> 4)
        }

        var topSlots = [UInt32](repeating: 0, count: 1 << 16)
        let topWidth = Key.bitWidth - 16
        for index in 0..<(1 << 16) {
            topSlots[index] = slot(first: Key(index) << Key(topWidth), width: topWidth)
        }
        top = FrozenArray(topSlots)
        blocks = FrozenArray(blockSlots)
        leaves = FrozenArray<Leaf>(capacity: leafCount + 2) { leaves in
            for index in 0..<leafCount {
                let info = infos[index]
                let entry = Int(info & SourceTrie.entryMask) - 1
                let payload =
                    entry >= 0
                    ? entries[entry].first
                    : PolicySnapshot.ExceptionPayload(notBefore: 0, expiresAt: 0, index: -1, scope: -1)
                (leaves + index).initialize(to: Leaf(start: starts[index], info: info, payload: payload))
            }
            let none = PolicySnapshot.ExceptionPayload(notBefore: 0, expiresAt: 0, index: -1, scope: -1)
            (leaves + leafCount).initialize(to: Leaf(start: 0, info: 0, payload: none))
            (leaves + leafCount + 1).initialize(to: Leaf(start: 0, info: SourceTrie.subscriberBit, payload: none))
            return leafCount + 2
        }
    }

    /// Index of the last of `starts` (sorted, starts[0] == 0) that is <= key.
    static func lastStart(atOrBefore key: Key, _ starts: [Key]) -> Int {
        var low = 0
        var high = starts.count
        while high - low > 1 {
            let middle = (low + high) / 2
            if starts[middle] <= key { low = middle } else { high = middle }
        }
        return low
    }

    /// The leaf whose interval contains `key`.
    @inline(__always)
    func lookup(_ key: Key) -> UnsafeMutablePointer<Leaf> {
        var slot = top[Int(truncatingIfNeeded: key >> Key(Key.bitWidth - 16))]
        if slot & SourceTrie.blockBit != 0 {
            // The first block level: 256 slots (8 bits); further down 16 slots (4 bits, one cache line).
            let next = Int(truncatingIfNeeded: key >> Key(Key.bitWidth - 24)) & 255
            slot = blocks[Int(slot & ~SourceTrie.blockBit) &<< 4 &+ next]
            var shift = Key.bitWidth - 28
            while slot & SourceTrie.blockBit != 0 {
                let nibble = Int(truncatingIfNeeded: key >> Key(truncatingIfNeeded: shift)) & 15
                slot = blocks[Int(slot & ~SourceTrie.blockBit) &<< 4 &+ nibble]
                shift &-= 4
            }
        }
        let low = Int(slot & 0x03FF_FFFF)
        let count = Int(slot >> 26)
        // Count the leaves low + 1 ... low + count whose start is <= key (sorted, so they come first).
        let leaves = leaves.base
        var offset = 0
        var index = 1
        while index <= count {
            offset &+= Int(truncatingIfNeeded: unsafeBitCast(leaves[low &+ index].start <= key, to: UInt8.self))
            index &+= 1
        }
        return leaves + (low &+ offset)
    }

    /// Heap bytes held.
    var byteCount: Int {
        top.byteCount + blocks.byteCount + leaves.byteCount
    }

    func deallocate() {
        top.deallocate()
        blocks.deallocate()
        leaves.deallocate()
    }
}
