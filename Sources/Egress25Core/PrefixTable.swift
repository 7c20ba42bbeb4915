/// A longest-prefix-match table over IPv4 and IPv6 CIDR prefixes, each prefix carrying one or more payloads
/// (trivial values, e.g. an exception's index and validity), built once and then read-only.
///
/// Layout, chosen by measurement (see Benchmarks/Egress25CoreBenchmarks and the report):
/// - The nested prefixes of each family are flattened into disjoint elementary intervals sorted by first address;
///   each interval stores, next to its start, the most specific prefix ("entry") covering it, or -1. A lookup is a
///   binary search over the interval starts, so a hit costs no extra cache line for the entry number.
/// - Tables with more than `indexThreshold` (default 64) intervals of a family also get a direct index over a
///   2^8...2^16-slot window of the address bits right below the common prefix of all stored starts (the first stage
///   of a DIR-16-8-8-like scheme, about 8 intervals per slot): the slot gives the few intervals to search, so a
///   lookup in 200,000 intervals touches two or three cache lines instead of eighteen. Buckets of up to 12 intervals
///   are scanned without data-dependent branches, longer ones binary-searched.
/// - Each entry record holds its parent (nearest enclosing entry, -1 at the top), its prefix length, and its first
///   payload inline; further payloads of duplicate prefixes live in `extras`. All matching prefixes of an address
///   are the chain entry, parent(entry), ..., most specific first; within an entry payloads follow `order`.
///
/// Addresses and prefixes are used as given: callers map IPv4-mapped IPv6 (`::ffff:0:0/96`) to IPv4 first
/// (`IPAddress.unmapped`, `IPPrefix.unmapped`).
@usableFromInline
struct PrefixTable<Payload>: @unchecked Sendable {
    @usableFromInline
    struct Interval4 {
        @usableFromInline var start: UInt32
        @usableFromInline var entry: Int32
    }

    @usableFromInline
    struct Interval6 {
        @usableFromInline var high: UInt64
        @usableFromInline var low: UInt64
        @usableFromInline var entry: Int32
    }

    @usableFromInline
    struct Entry {
        /// Nearest enclosing entry, or -1.
        @usableFromInline var parent: Int32
        /// Further payloads: extras[extraStart ..< extraStart + extraCount].
        @usableFromInline var extraStart: Int32
        @usableFromInline var extraCount: Int32
        /// Prefix length in bits.
        @usableFromInline var length: UInt8
        @usableFromInline var first: Payload
    }

    /// A direct index over `1 << bits` slots: slot s covers keys base + s << shift ..< base + (s + 1) << shift;
    /// slots[s] is the last interval starting at or before the slot's first key.
    @usableFromInline
    struct Window<Key: FixedWidthInteger & UnsignedInteger> {
        @usableFromInline var base: Key
        @usableFromInline var shift: Int
        @usableFromInline var slotCount: Int
    }

    /// Everything the table owns, in one heap block so that `PrefixTable` itself is one pointer: passing it
    /// around, or reading it from the snapshot, never copies a large struct.
    @usableFromInline
    struct Storage {
        @usableFromInline var v4: FrozenArray<Interval4>
        @usableFromInline var v4Index: FrozenArray<UInt32>
        @usableFromInline var v4Window: Window<UInt32>
        @usableFromInline var v6: FrozenArray<Interval6>
        @usableFromInline var v6Index: FrozenArray<UInt32>
        @usableFromInline var v6Window: Window<UInt128>
        @usableFromInline var entries: FrozenArray<Entry>
        @usableFromInline var extras: FrozenArray<Payload>
    }

    @usableFromInline let storage: UnsafeMutablePointer<Storage>

    @inlinable var v4: FrozenArray<Interval4> { @inline(__always) get { storage.pointee.v4 } }
    @inlinable var v4Index: FrozenArray<UInt32> { @inline(__always) get { storage.pointee.v4Index } }
    @inlinable var v4Window: Window<UInt32> { @inline(__always) get { storage.pointee.v4Window } }
    @inlinable var v6: FrozenArray<Interval6> { @inline(__always) get { storage.pointee.v6 } }
    @inlinable var v6Index: FrozenArray<UInt32> { @inline(__always) get { storage.pointee.v6Index } }
    @inlinable var v6Window: Window<UInt128> { @inline(__always) get { storage.pointee.v6Window } }
    @inlinable var entries: FrozenArray<Entry> { @inline(__always) get { storage.pointee.entries } }
    @inlinable var extras: FrozenArray<Payload> { @inline(__always) get { storage.pointee.extras } }

    /// Number of distinct prefixes.
    var entryCount: Int { entries.count }

    /// Buckets of at most this many intervals are scanned, longer ones binary-searched.
    @usableFromInline static var linearSearchLimit: Int { 12 }

    /// Builds the table.
    /// - Parameters:
    ///   - items: prefixes (already unmapped), each with a payload; `order` sorts payloads of one prefix, and equal
    ///     (prefix, order) pairs are kept once.
    ///   - indexThreshold: build the direct index for a family with more intervals than this.
    init(_ items: [(prefix: IPPrefix, order: Int32, payload: Payload)], indexThreshold: Int = 64) {
        var builder = Builder()
        builder.reserveCapacity(items.count)
        for item in items {
            builder.add(item.prefix, order: item.order, payload: builder.addPayload(item.payload))
        }
        self = builder.build(indexThreshold: indexThreshold)
    }

    /// Collects prefixes and payloads, then builds the table; several prefixes may share one payload.
    struct Builder {
        var items4: [Item<UInt32>] = []
        var items6: [Item<UInt128>] = []
        var payloads: [Payload] = []

        mutating func reserveCapacity(_ count: Int) {
            payloads.reserveCapacity(count)
            items4.reserveCapacity(count)
        }

        /// Stores `payload`; returns its index for `add(_:order:payload:)`.
        mutating func addPayload(_ payload: Payload) -> Int32 {
            payloads.append(payload)
            return Int32(payloads.count - 1)
        }

        /// Adds `prefix` (already unmapped) with the payload at index `payload`.
        mutating func add(_ prefix: IPPrefix, order: Int32, payload: Int32) {
            switch prefix.address {
            case .v4(let address):
                items4.append(Item(start: address.value, length: prefix.length, order: order, payload: payload))
            case .v6(let address):
                items6.append(
                    Item(
                        start: UInt128(address.high) << 64 | UInt128(address.low), length: prefix.length, order: order,
                        payload: payload))
            }
        }

        consuming func build(indexThreshold: Int) -> PrefixTable {
            // Entry records are written straight into their final storage (no second copy of the largest array).
            let entryCapacity = items4.count + items6.count
            let entries = FrozenArray<Entry>.allocate(entryCapacity)
            var entryCount = 0
            var extras: [Payload] = []
            let (starts4, entries4) = PrefixTable.flatten(
                &items4, payloads, entries, &entryCount, &extras)
            items4 = []
            let (starts6, entries6) = PrefixTable.flatten(
                &items6, payloads, entries, &entryCount, &extras)
            items6 = []
            let intervals4 = FrozenArray<Interval4>(capacity: starts4.count) { intervals in
                for i in starts4.indices {
                    (intervals + i).initialize(to: Interval4(start: starts4[i], entry: entries4[i]))
                }
                return starts4.count
            }
            let intervals6 = FrozenArray<Interval6>(capacity: starts6.count) { intervals in
                for i in starts6.indices {
                    (intervals + i).initialize(
                        to: Interval6(
                            high: UInt64(truncatingIfNeeded: starts6[i] >> 64),
                            low: UInt64(truncatingIfNeeded: starts6[i]), entry: entries6[i]))
                }
                return starts6.count
            }
            let (v4Window, v4Index) = PrefixTable.buildIndex(starts4, threshold: indexThreshold)
            let (v6Window, v6Index) = PrefixTable.buildIndex(starts6, threshold: indexThreshold)
            let storage = UnsafeMutablePointer<Storage>.allocate(capacity: 1)
            storage.initialize(
                to: Storage(
                    v4: intervals4, v4Index: v4Index, v4Window: v4Window,
                    v6: intervals6, v6Index: v6Index, v6Window: v6Window,
                    entries: FrozenArray(adopting: entries, count: entryCount), extras: FrozenArray(extras)
                )
            )
            return PrefixTable(storage: storage)
        }
    }

    init(storage: UnsafeMutablePointer<Storage>) {
        self.storage = storage
    }

    struct Item<Key: FixedWidthInteger & UnsignedInteger> {
        var start: Key
        var length: UInt8
        var order: Int32
        /// Index into the builder's payloads.
        var payload: Int32
    }

    /// Sorts `items`, merges equal prefixes into entries (appended to `entries`/`extras`) and returns the elementary
    /// intervals (start, most specific entry) of this family; the first interval starts at 0.
    static func flatten<Key: FixedWidthInteger & UnsignedInteger>(
        _ items: inout [Item<Key>],
        _ payloads: [Payload],
        _ entries: UnsafeMutablePointer<Entry>,
        _ entryCount: inout Int,
        _ extras: inout [Payload]
    ) -> (starts: [Key], entries: [Int32]) {
        // Sort by (start, length, order). IPv4 fast path: every field of an item packs into one 128-bit key
        // (start, length, order, payload), so a plain integer sort replaces a closure-based one and the items are
        // rewritten in order without gathering from random positions.
        if Key.bitWidth == 32 {
            var keys = [UInt128](repeating: 0, count: items.count)
            for index in items.indices {
                let item = items[index]
                keys[index] =
                    UInt128(UInt32(truncatingIfNeeded: item.start)) << 96 | UInt128(item.length) << 88
                    | UInt128(UInt32(bitPattern: item.order) ^ 0x8000_0000) << 32
                    | UInt128(UInt32(bitPattern: item.payload))
            }
            keys.sort()
            for index in keys.indices {
                let key = keys[index]
                items[index] = Item(
                    start: Key(truncatingIfNeeded: key >> 96),
                    length: UInt8(truncatingIfNeeded: key >> 88),
                    order: Int32(bitPattern: UInt32(truncatingIfNeeded: key >> 32) ^ 0x8000_0000),
                    payload: Int32(bitPattern: UInt32(truncatingIfNeeded: key))
                )
            }
        } else {
            items.sort { a, b in
                a.start != b.start ? a.start < b.start : a.length != b.length ? a.length < b.length : a.order < b.order
            }
        }
        var starts: [Key] = [0]
        var owners: [Int32] = [-1]
        starts.reserveCapacity(items.count * 2 + 1)
        owners.reserveCapacity(items.count * 2 + 1)

        func emit(_ start: Key, _ entry: Int32) {
            if starts[starts.count - 1] == start {
                owners[owners.count - 1] = entry
                if owners.count >= 2 && owners[owners.count - 2] == entry {
                    starts.removeLast()
                    owners.removeLast()
                }
            } else if owners[owners.count - 1] != entry {
                starts.append(start)
                owners.append(entry)
            }
        }

        // Open entries, outermost first.
        var stack: [(entry: Int32, end: Key)] = []
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
            close(before: item.start)
            let entry = Int32(entryCount)
            let extraStart = extras.count
            var previousOrder = item.order
            index += 1
            while index < items.count {
                let next = items[index]
                guard next.start == item.start && next.length == item.length else { break }
                if next.order != previousOrder {
                    extras.append(payloads[Int(next.payload)])
                    previousOrder = next.order
                }
                index += 1
            }
            (entries + entryCount).initialize(
                to: Entry(
                    parent: stack.last?.entry ?? -1,
                    extraStart: Int32(extraStart),
                    extraCount: Int32(extras.count - extraStart),
                    length: item.length,
                    first: payloads[Int(item.payload)]
                )
            )
            entryCount += 1
            emit(item.start, entry)
            stack.append((entry, item.start | hostMask))
        }
        close(before: nil)
        return (starts, owners)
    }

    static func buildIndex<Key: FixedWidthInteger & UnsignedInteger>(
        _ starts: [Key],
        threshold: Int
    ) -> (Window<Key>, FrozenArray<UInt32>) {
        guard starts.count > max(threshold, 2) else {
            return (Window(base: 0, shift: 0, slotCount: 0), FrozenArray([]))
        }
        let low = starts[1]
        let high = starts[starts.count - 1]
        let common = (low ^ high).leadingZeroBitCount
        let log2Count = Int.bitWidth - (starts.count - 1).leadingZeroBitCount
        let bits = min(16, max(8, log2Count - 3))
        let shift = max(0, Key.bitWidth - common - bits)
        let base = shift >= Key.bitWidth ? 0 : (low >> Key(shift)) << Key(shift)
        let slotCount = 1 << bits
        var slots = [UInt32](repeating: 0, count: slotCount + 1)
        var interval = 0
        for slot in 0...slotCount {
            let (offset, overflow1) = Key(slot).multipliedReportingOverflow(by: Key(1) << Key(shift))
            let (key, overflow2) = base.addingReportingOverflow(offset)
            if overflow1 || overflow2 {
                slots[slot] = UInt32(starts.count - 1)
                continue
            }
            while interval + 1 < starts.count && starts[interval + 1] <= key { interval += 1 }
            slots[slot] = UInt32(interval)
        }
        return (Window(base: base, shift: shift, slotCount: slotCount), FrozenArray(slots))
    }

    /// The intervals to search for IPv4 `key`: all of them, or one index slot's bucket; (i, 1) when the window
    /// already decides.
    @inlinable @inline(__always)
    func bucket(v4 key: UInt32) -> (low: Int, length: Int) {
        let window = v4Window
        if window.slotCount == 0 { return (0, v4.count) }
        if key < window.base { return (0, 1) }
        let slot = Int((key &- window.base) >> UInt32(window.shift))
        if slot >= window.slotCount { return (v4.count - 1, 1) }
        let low = Int(v4Index[slot])
        return (low, Int(v4Index[slot + 1]) - low + 1)
    }

    /// The most specific entry containing IPv4 `key`, or -1, searching intervals[low ..< low + length] (whose first
    /// start is <= key).
    @inlinable @inline(__always)
    func search(v4 key: UInt32, low: Int, length: Int) -> Int32 {
        let intervals = v4.base
        if length <= PrefixTable.linearSearchLimit {
            // Short bucket: count the starts <= key (they are sorted), no data-dependent branch.
            var offset = 0
            var index = 1
            while index < length {
                offset &+= Int(truncatingIfNeeded: unsafeBitCast(intervals[low &+ index].start <= key, to: UInt8.self))
                index &+= 1
            }
            return intervals[low &+ offset].entry
        }
        var low = low
        var length = length
        while length > 1 {
            let half = length &>> 1
            let step = Int(truncatingIfNeeded: unsafeBitCast(intervals[low &+ half].start <= key, to: UInt8.self))
            low &+= half & (0 &- step)
            length &-= half
        }
        return intervals[low].entry
    }

    /// The most specific entry containing IPv4 `key`, or -1.
    @inlinable @inline(__always)
    func lookup(v4 key: UInt32) -> Int32 {
        let (low, length) = bucket(v4: key)
        return search(v4: key, low: low, length: length)
    }

    @inlinable @inline(__always)
    static func key(_ high: UInt64, _ low: UInt64) -> UInt128 {
        UInt128(high) << 64 | UInt128(low)
    }

    /// The intervals to search for IPv6 `key` (see `bucket(v4:)`).
    @inlinable @inline(__always)
    func bucket(v6 key: UInt128) -> (low: Int, length: Int) {
        let window = v6Window
        if window.slotCount == 0 { return (0, v6.count) }
        if key < window.base { return (0, 1) }
        let slot = (key &- window.base) >> UInt128(window.shift)
        if slot >= UInt128(window.slotCount) { return (v6.count - 1, 1) }
        let low = Int(v6Index[Int(slot)])
        return (low, Int(v6Index[Int(slot) + 1]) - low + 1)
    }

    /// The most specific entry containing IPv6 `key`, or -1 (see `search(v4:low:length:)`).
    @inlinable @inline(__always)
    func search(v6 key: UInt128, low: Int, length: Int) -> Int32 {
        let intervals = v6.base
        if length <= PrefixTable.linearSearchLimit {
            var offset = 0
            var index = 1
            while index < length {
                let probe = intervals[low &+ index]
                let start = PrefixTable.key(probe.high, probe.low)
                offset &+= Int(truncatingIfNeeded: unsafeBitCast(start <= key, to: UInt8.self))
                index &+= 1
            }
            return intervals[low &+ offset].entry
        }
        var low = low
        var length = length
        while length > 1 {
            let half = length &>> 1
            let probe = intervals[low &+ half]
            let start = PrefixTable.key(probe.high, probe.low)
            let step = Int(truncatingIfNeeded: unsafeBitCast(start <= key, to: UInt8.self))
            low &+= half & (0 &- step)
            length &-= half
        }
        return intervals[low].entry
    }

    /// The most specific entry containing IPv6 `(high, low)`, or -1.
    @inlinable @inline(__always)
    func lookup(v6High high: UInt64, low keyLow: UInt64) -> Int32 {
        let key = PrefixTable.key(high, keyLow)
        let (low, length) = bucket(v6: key)
        return search(v6: key, low: low, length: length)
    }

    /// The most specific entry containing `address` (already unmapped), or -1.
    @inlinable @inline(__always)
    func lookup(_ address: IPAddress) -> Int32 {
        switch address {
        case .v4(let v4): return lookup(v4: v4.value)
        case .v6(let v6): return lookup(v6High: v6.high, low: v6.low)
        }
    }

    /// Every payload of every prefix containing `address`, most specific prefix first (allocates; not for the
    /// hot path).
    func allPayloads(_ address: IPAddress) -> [(length: UInt8, payload: Payload)] {
        var result: [(length: UInt8, payload: Payload)] = []
        var entry = lookup(address)
        while entry >= 0 {
            let record = entries[Int(entry)]
            result.append((record.length, record.first))
            for slot in Int(record.extraStart)..<Int(record.extraStart + record.extraCount) {
                result.append((record.length, extras[slot]))
            }
            entry = record.parent
        }
        return result
    }

    /// The IPv4 elementary intervals (start, most specific entry or -1), sorted; the first starts at 0.
    var intervals4: [(start: UInt32, entry: Int32)] {
        (0..<v4.count).map { (v4[$0].start, v4[$0].entry) }
    }

    /// The IPv6 elementary intervals (see `intervals4`).
    var intervals6: [(start: UInt128, entry: Int32)] {
        (0..<v6.count).map { (PrefixTable.key(v6[$0].high, v6[$0].low), v6[$0].entry) }
    }

    /// Heap bytes held by the table.
    var byteCount: Int {
        MemoryLayout<Storage>.size + v4.byteCount + v4Index.byteCount + v6.byteCount + v6Index.byteCount
            + entries.byteCount + extras.byteCount
    }

    func deallocate() {
        v4.deallocate()
        v4Index.deallocate()
        v6.deallocate()
        v6Index.deallocate()
        entries.deallocate()
        extras.deallocate()
        storage.deallocate()
    }
}

extension PrefixTable where Payload == Int32 {
    /// A table whose payload is the value itself (ordered by value).
    init(_ prefixes: [(prefix: IPPrefix, value: Int32)], indexThreshold: Int = 64) {
        self.init(
            prefixes.map { (prefix: $0.prefix, order: $0.value, payload: $0.value) }, indexThreshold: indexThreshold)
    }
}
