#if canImport(Glibc)
import Glibc
#endif

/// Clock readings without allocation, for the hot path.
enum SystemClock {
    /// Wall-clock time in ms since the Unix epoch (UTC), `CLOCK_REALTIME`.
    @inline(__always)
    static func realtimeMilliseconds() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
    }

    /// Monotonic time in ns, `CLOCK_MONOTONIC`.
    @inline(__always)
    static func monotonicNanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }

    /// Monotonic time in ms, `CLOCK_MONOTONIC`: for intervals and liveness, immune to clock steps.
    @inline(__always)
    static func monotonicMilliseconds() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
    }
}
