#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Lists the segment files of a block-log directory.
public enum SegmentDirectory {
    /// One segment file.
    public struct File: Hashable, Sendable {
        /// `blocked-….sqlite`
        public var name: String
        /// The time slice the file name encodes.
        public var slice: SegmentSlice
        /// Bytes of the file plus its `-wal`, `-shm` and `-journal` companions.
        public var bytes: Int64
    }

    /// The segment files in `directory`, oldest slice first. Other files are ignored; an unreadable or
    /// missing directory yields an empty list.
    public static func list(_ directory: String) -> [File] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var files: [File] = []
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            guard let slice = SegmentSlice(fileName: name) else { continue }
            var bytes: Int64 = 0
            for suffix in ["", "-wal", "-shm", "-journal"] {
                var info = stat()
                if stat(directory + "/" + name + suffix, &info) == 0 { bytes += Int64(info.st_size) }
            }
            files.append(File(name: name, slice: slice, bytes: bytes))
        }
        return files.sorted { $0.slice < $1.slice }
    }
}
