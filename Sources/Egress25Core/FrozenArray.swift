/// A fixed, immutable array of trivial values in one heap block, read without bounds checks or reference
/// counting on the hot path. Owned by exactly one `PolicySnapshot`, which frees it in `deinit`.
/// Sendable because it is never written after `init` and freed only when its owner dies.
@usableFromInline
struct FrozenArray<Element>: @unchecked Sendable {
    @usableFromInline
    let base: UnsafeMutablePointer<Element>
    @usableFromInline
    let count: Int

    init(_ elements: [Element]) {
        precondition(_isPOD(Element.self), "FrozenArray holds trivial values only")
        base = UnsafeMutablePointer<Element>.allocate(capacity: max(elements.count, 1))
        count = elements.count
        elements.withUnsafeBufferPointer { buffer in
            if let source = buffer.baseAddress {
                base.initialize(from: source, count: buffer.count)
            }
        }
    }

    init(repeating value: Element, count: Int) {
        precondition(_isPOD(Element.self), "FrozenArray holds trivial values only")
        base = UnsafeMutablePointer<Element>.allocate(capacity: max(count, 1))
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
        base.deallocate()
    }
}
