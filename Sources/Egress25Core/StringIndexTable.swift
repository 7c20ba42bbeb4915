/// An open-addressing hash table from strings to `Int32` indices, used while building a snapshot (duplicate
/// exception ids, customer interning). Much cheaper than `Dictionary<String, _>` for millions of keys: one
/// 64-bit multiply-mix hash per 8 bytes of UTF-8 and no per-entry allocation. Not for untrusted keys in a
/// long-lived table (no hash-flooding protection); every table here lives for one snapshot build.
struct StringIndexTable {
    /// One 8-byte slot per probe: the upper 32 bits of the hash and index + 1 (0 = empty).
    private var slots: [UInt64]
    private var mask: Int

    /// Keys it can hold before `insert` gets slow (the table is kept at most half full by its users).
    var capacity: Int { slots.count / 2 }

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [UInt64](repeating: 0, count: size)
        mask = size - 1
    }

    static func hash(_ text: String) -> UInt64 {
        var copy = text
        return copy.withUTF8 { bytes -> UInt64 in
            var h: UInt64 = 0x243F_6A88_85A3_08D3 ^ UInt64(bytes.count)
            var index = 0
            let raw = UnsafeRawBufferPointer(bytes)
            while index + 8 <= bytes.count {
                let chunk = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                h = (h ^ chunk) &* 0x9E37_79B9_7F4A_7C15
                h = (h << 31) | (h >> 33)
                index += 8
            }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while index < bytes.count {
                tail |= UInt64(bytes[index]) << shift
                shift += 8
                index += 1
            }
            h = (h ^ tail) &* 0x9E37_79B9_7F4A_7C15
            // fmix64 (MurmurHash3).
            h ^= h >> 33
            h &*= 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 33
            h &*= 0xC4CE_B9FE_1A85_EC53
            h ^= h >> 33
            return h
        }
    }

    /// Returns the index already stored for `key` (compared with `keyAt`), or stores `index` and returns -1.
    mutating func insert(_ key: String, index: Int32, keyAt: (Int32) -> String) -> Int32 {
        let h = StringIndexTable.hash(key)
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let stored = slots[slot]
            if stored == 0 {
                slots[slot] = (h >> 32) << 32 | UInt64(UInt32(index) + 1)
                return -1
            }
            if stored >> 32 == h >> 32 {
                let storedIndex = Int32(truncatingIfNeeded: (stored & 0xFFFF_FFFF) - 1)
                if keyAt(storedIndex) == key { return storedIndex }
            }
            slot = (slot + 1) & mask
        }
    }
}
