#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A fixed, immutable array of trivial values in one 64-byte-aligned heap block (records of 8, 16 or 32 bytes never
/// straddle a cache line), read without bounds checks or reference counting on the hot path. Owned by exactly one
/// `PolicySnapshot`, which frees it in `deinit`.
/// Sendable because it is never written after `init` and freed only when its owner dies.
@usableFromInline
struct FrozenArray<Element>: @unchecked Sendable {
    @usableFromInline
    let base: UnsafeMutablePointer<Element>
    @usableFromInline
    let count: Int

    /// Arrays at least this large are 2 MiB-aligned and advised to use transparent huge pages: random lookups in
    /// multi-megabyte tables otherwise spend much of their time in TLB misses (worse under virtualisation).
    static var hugePageThreshold: Int { 1 << 20 }
    static var hugePageSize: Int { 2 << 20 }

    static func allocate(_ count: Int) -> UnsafeMutablePointer<Element> {
        precondition(_isPOD(Element.self), "FrozenArray holds trivial values only")
        var bytes = max(count, 1) * MemoryLayout<Element>.stride
        var alignment = max(64, MemoryLayout<Element>.alignment)
        let huge = bytes >= hugePageThreshold
        if huge {
            bytes = (bytes + hugePageSize - 1) / hugePageSize * hugePageSize
            alignment = hugePageSize
        }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: alignment)
        #if os(Linux)
        if huge {
            _ = madvise(raw, bytes, MADV_HUGEPAGE)  // advisory: ignored where THP is off
        }
        #endif
        return raw.bindMemory(to: Element.self, capacity: max(count, 1))
    }

    init(_ elements: [Element]) {
        base = FrozenArray.allocate(elements.count)
        count = elements.count
        elements.withUnsafeBufferPointer { buffer in
            if let source = buffer.baseAddress {
                base.initialize(from: source, count: buffer.count)
            }
        }
    }

    /// Takes ownership of `base` (from `FrozenArray.allocate`), whose first `count` elements are initialized.
    init(adopting base: UnsafeMutablePointer<Element>, count: Int) {
        self.base = base
        self.count = count
    }

    /// Builds the array in place: `fill` initializes elements at the pointer (at most `capacity`) and returns how
    /// many. Pages past the filled part are never touched.
    init(capacity: Int, fill: (UnsafeMutablePointer<Element>) -> Int) {
        base = FrozenArray.allocate(capacity)
        count = fill(base)
        precondition(count <= capacity, "FrozenArray overfilled")
    }

    init(repeating value: Element, count: Int) {
        base = FrozenArray.allocate(count)
        self.count = count
        base.initialize(repeating: value, count: count)
    }

    /// Unchecked in release builds: callers index within `0..<count`.
    @inlinable
    subscript(index: Int) -> Element {
        @inline(__always) get {
            assert(index >= 0 && index < count, "FrozenArray index \(index) out of 0..<\(count)")
            return base[index]
        }
    }

    /// Heap bytes held.
    var byteCount: Int {
        max(count, 1) * MemoryLayout<Element>.stride
    }

    func deallocate() {
        UnsafeMutableRawPointer(base).deallocate()
    }
}
