#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Clock readings without allocation, for the hot path and everything else: the one place egress25 calls
/// `clock_gettime(2)`.
package enum SystemClock {
    /// Wall-clock time in ms since the Unix epoch (UTC), `CLOCK_REALTIME`.
    @inline(__always)
    package static func realtimeMilliseconds() -> Int64 {
        let time = read(CLOCK_REALTIME)
        return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
    }

    /// Wall-clock time in s since the Unix epoch (UTC), `CLOCK_REALTIME`, rounded down.
    @inline(__always)
    package static func realtimeSeconds() -> Int64 {
        Int64(read(CLOCK_REALTIME).tv_sec)
    }

    /// Monotonic time in ns, `CLOCK_MONOTONIC`.
    @inline(__always)
    package static func monotonicNanoseconds() -> UInt64 {
        let time = read(CLOCK_MONOTONIC)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }

    /// Monotonic time in ms, `CLOCK_MONOTONIC`: for intervals and liveness, immune to clock steps.
    @inline(__always)
    package static func monotonicMilliseconds() -> Int64 {
        let time = read(CLOCK_MONOTONIC)
        return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
    }

    /// Monotonic time in s (fractional), `CLOCK_MONOTONIC`.
    @inline(__always)
    package static func monotonicSeconds() -> Double {
        let time = read(CLOCK_MONOTONIC)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    @inline(__always)
    static func read(_ clock: clockid_t) -> timespec {
        var time = timespec()
        // Cannot fail for CLOCK_REALTIME and CLOCK_MONOTONIC with a valid pointer (clock_gettime(2), EINVAL/EFAULT).
        _ = clock_gettime(clock, &time)
        return time
    }
}
