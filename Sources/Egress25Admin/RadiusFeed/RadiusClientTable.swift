import Egress25Configuration
import Egress25Core
import Foundation

/// The RADIUS clients of `session_feed.radius.clients` with their shared secrets, read once from their files.
///
/// A datagram is accepted only from an address inside one of the clients' prefixes; the most specific prefix
/// (longest match) names the secret it must verify with (RFC 2866 §3: a request from an unknown client, or one
/// whose Request Authenticator does not verify, is silently discarded).
public struct RadiusClientTable: Sendable {
    /// One client: its prefix and shared secret (octets, as RFC 2865 §3 uses them).
    struct Client: Sendable {
        var prefix: IPPrefix
        var secret: [UInt8]
    }

    /// Longest prefix first, so the first match is the most specific.
    let clients: [Client]

    /// Reads every client's secret: the first line of its `secret_file`, without the line end.
    /// - Throws: ``AdminServer/StartupError`` naming the file: unreadable, empty, or longer than 128 octets.
    public init(_ settings: RadiusFeedSettings) throws {
        var clients: [Client] = []
        for client in settings.clients {
            clients.append(Client(prefix: client.prefix.unmapped, secret: try Self.readSecret(client.secretFile)))
        }
        self.clients = clients.sorted { $0.prefix.length > $1.prefix.length }
    }

    /// A table from secrets already in memory (tests).
    init(clients: [(IPPrefix, [UInt8])]) {
        self.clients = clients.map { Client(prefix: $0.0.unmapped, secret: $0.1) }.sorted {
            $0.prefix.length > $1.prefix.length
        }
    }

    /// The secret of the most specific client prefix holding `address`, or `nil` for an unknown client.
    func secret(for address: IPAddress) -> [UInt8]? {
        let address = address.unmapped
        return clients.first { $0.prefix.contains(address) }?.secret
    }

    /// The first line of `path`. RFC 2865 §3 asks for a secret of at least 16 octets; shorter ones are allowed
    /// (NASes in the field have them) and the operator is told at start-up.
    static func readSecret(_ path: String) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        let problem: String?
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            problem = "it does not exist"
        } else if isDirectory.boolValue {
            problem = "it is a directory"
        } else {
            problem = nil
        }
        guard problem == nil, let data = FileManager.default.contents(atPath: path) else {
            throw AdminServer.StartupError(
                description: "session_feed.radius: cannot read the shared secret file \(path): "
                    + (problem ?? "permission denied or unreadable"))
        }
        var line = Array(data.prefix { $0 != UInt8(ascii: "\n") })
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        guard !line.isEmpty else {
            throw AdminServer.StartupError(
                description: "session_feed.radius: the shared secret file \(path) is empty (its first line is the "
                    + "secret)")
        }
        guard line.count <= 128 else {
            throw AdminServer.StartupError(
                description: "session_feed.radius: the shared secret in \(path) is \(line.count) octets; at most 128")
        }
        return line
    }
}
