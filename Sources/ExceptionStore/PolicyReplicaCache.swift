import Egress25Core
import Egress25System
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The fleet router's cache of its ``PolicyReplica``: one file under `state_directory` (`policy-cache`), written
/// atomically (a temporary file, fsync, rename) after the replica changed, read at start when PostgreSQL is
/// unreachable.
///
/// Format (version 1), text: the line `egress25-policy-cache 1`; one JSON line with the replica's sequence,
/// generation, fetch time, the store it came from and its exceptions; then one line per binding in force,
/// `id TAB customer TAB prefix TAB lease-end-or-dash` (customer ids and prefixes hold no tab or newline).
public enum PolicyReplicaCache {
    private static let magic = "egress25-policy-cache 1"

    private struct Header: Codable {
        var changeSequence: Int64
        var generation: Int64
        var fetchedAt: Int64
        /// The store's description (`USER@HOST:PORT/DB`): a cache of another store is not used.
        var store: String
        var exceptions: [CachedException]
    }

    private struct CachedException: Codable {
        var id: String
        var customer: String
        /// `nil` for any destination, else CIDR prefixes.
        var destinations: [String]?
        var expiresAt: Int64?
        var reason: String
        var ticket: String?
        var grantedBy: String
        var createdAt: Int64
    }

    /// Writes `replica` to `path` atomically (mode 0640).
    /// - Parameter store: The store the replica came from (``ExceptionStore/backendDescription``).
    /// - Throws: ``ExceptionStoreError`` (`io`) naming the path and the reason (e.g. no space left on device); the
    ///   previous cache file stays intact.
    public static func save(_ replica: PolicyReplica, store: String, to path: String) throws(ExceptionStoreError) {
        let header = Header(
            changeSequence: replica.changeSequence, generation: replica.generation, fetchedAt: replica.fetchedAt,
            store: store,
            exceptions: replica.exceptions.values.sorted { $0.id < $1.id }.map { exception in
                let destinations: [String]?
                switch exception.destinations {
                case .any: destinations = nil
                case .prefixes(let prefixes): destinations = prefixes.map(\.description)
                }
                return CachedException(
                    id: exception.id, customer: exception.customer, destinations: destinations,
                    expiresAt: exception.expiresAt, reason: exception.reason, ticket: exception.ticket,
                    grantedBy: exception.grantedBy, createdAt: exception.createdAt)
            })
        var text = magic + "\n"
        do {
            text += String(decoding: try JSONEncoder().encode(header), as: UTF8.self) + "\n"
        } catch {
            throw ExceptionStoreError(.io, "cannot encode the policy cache: \(error)")
        }
        text.reserveCapacity(text.utf8.count + replica.bindings.count * 48)
        for (id, binding) in replica.bindings.sorted(by: { $0.key < $1.key }) {
            text += "\(id)\t\(binding.customer)\t\(binding.prefix)\t\(binding.leaseUntil.map(String.init) ?? "-")\n"
        }
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else {
            throw ExceptionStoreError(
                .io, "cannot write the policy cache \(temporary): \(SystemCallError.describe(errno))")
        }
        var failure: Int32 = 0
        text.utf8CString.withUnsafeBufferPointer { buffer in
            var offset = 0
            let total = buffer.count - 1  // without the terminating NUL
            while offset < total {
                let written = write(descriptor, buffer.baseAddress! + offset, total - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += written
            }
            if fsync(descriptor) != 0 { failure = errno }
        }
        close(descriptor)
        if failure == 0, rename(temporary, path) != 0 { failure = errno }
        if failure != 0 {
            unlink(temporary)
            throw ExceptionStoreError(
                .io,
                "cannot write the policy cache \(path): \(SystemCallError.describe(failure)); the previous one stays")
        }
    }

    /// Reads the cache at `path`.
    /// - Parameter store: The store this router uses now; a cache written from another store is refused.
    /// - Returns: The replica, or `nil` when no cache file exists.
    /// - Throws: ``ExceptionStoreError`` (`io`) naming the path and line when the file is unreadable, damaged or
    ///   from another store.
    public static func load(from path: String, store: String) throws(ExceptionStoreError) -> PolicyReplica? {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch let error as CocoaError where error.code == .fileReadNoSuchFile {
            return nil
        } catch {
            throw ExceptionStoreError(.io, "cannot read the policy cache \(path): \(error.localizedDescription)")
        }
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        func damaged(_ line: Int, _ why: String) -> ExceptionStoreError {
            ExceptionStoreError(.io, "policy cache \(path):\(line): \(why)")
        }
        guard lines.count >= 2, String(decoding: lines[0], as: UTF8.self) == magic else {
            throw damaged(1, "not an egress25 policy cache (version 1)")
        }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(lines[1]))
        } catch {
            throw damaged(2, "unreadable header: \(error)")
        }
        guard header.store == store else {
            throw damaged(2, "written from another store (\(header.store)), not \(store)")
        }
        var replica = PolicyReplica()
        replica.changeSequence = header.changeSequence
        replica.generation = header.generation
        replica.fetchedAt = header.fetchedAt
        for cached in header.exceptions {
            var scope = DestinationScope.any
            if let destinations = cached.destinations {
                var prefixes: [IPPrefix] = []
                for text in destinations {
                    guard let prefix = IPPrefix(text) else {
                        throw damaged(2, "exception \(cached.id): bad prefix \(text)")
                    }
                    prefixes.append(prefix)
                }
                scope = .prefixes(prefixes)
            }
            replica.exceptions[cached.id] = StoredException(
                id: cached.id, customer: cached.customer, destinations: scope, expiresAt: cached.expiresAt,
                reason: cached.reason, ticket: cached.ticket, grantedBy: cached.grantedBy, createdAt: cached.createdAt)
        }
        for (index, line) in lines.enumerated().dropFirst(2) where !line.isEmpty {
            let fields = line.split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false)
                .map { String(decoding: $0, as: UTF8.self) }
            guard fields.count == 4, let id = Int64(fields[0]), let prefix = IPPrefix(fields[2]), !fields[1].isEmpty
            else { throw damaged(index + 1, "not a binding line (id, customer, prefix, lease end)") }
            let lease: Int64?
            if fields[3] == "-" {
                lease = nil
            } else if let value = Int64(fields[3]) {
                lease = value
            } else {
                throw damaged(index + 1, "bad lease end \(fields[3])")
            }
            replica.setBinding(id, PolicyReplica.Binding(customer: fields[1], prefix: prefix, leaseUntil: lease))
        }
        if lines.last?.isEmpty == false { throw damaged(lines.count, "the file ends mid-line (truncated)") }
        return replica
    }
}
