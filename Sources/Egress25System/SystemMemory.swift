#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The machine's memory, as sysconf(3) reports it.
package enum SystemMemory {
    /// Physical memory in bytes: `sysconf(_SC_PHYS_PAGES)` × `sysconf(_SC_PAGESIZE)`; `nil` when either is unknown.
    package static var physicalBytes: Int64? {
        let pages = sysconf(Int32(_SC_PHYS_PAGES))
        let pageSize = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, pageSize > 0 else { return nil }
        return Int64(pages) * Int64(pageSize)
    }
}
