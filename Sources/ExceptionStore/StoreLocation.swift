import Foundation

/// Which store the configuration names (`store:` in the YAML): the embedded SQLite file (the default) or the
/// fleet's PostgreSQL database.
public enum StoreLocation: Hashable, Sendable {
    /// `<state_directory>/exceptions.sqlite`: one router, no database server.
    case sqlite(path: String)
    /// `store.url`: one PostgreSQL database for every router of the fleet.
    case postgresql(PostgresLocation)
}

/// A PostgreSQL database named by a libpq-style URL (`store.url`), plus the file holding its password.
///
/// Accepted forms (the libpq connection URI, PostgreSQL documentation §34.1.1, restricted to what egress25 needs):
/// - `postgresql://USER@HOST[:PORT]/DB[?sslmode=MODE&sslrootcert=FILE]` (TCP; `postgres://` too; an IPv6 host in
///   brackets);
/// - `postgresql://USER@/DB?host=/run/postgresql` (the unix socket `/run/postgresql/.s.PGSQL.PORT`).
///
/// A password in the URL is refused: it would sit in a world-readable YAML file and in `ps` output. It comes from
/// `store.password_file` (``passwordFile``) only.
public struct PostgresLocation: Hashable, Sendable, CustomStringConvertible {
    /// TLS for the TCP connection, as libpq's `sslmode` names it.
    public enum SSLMode: String, Hashable, Sendable, CaseIterable {
        /// Never TLS.
        case disable
        /// TLS when the server offers it, without verifying its certificate (libpq's default).
        case prefer
        /// TLS always, without verifying the certificate.
        case require
        /// TLS always; the certificate must chain to `sslrootcert` (or the system's roots).
        case verifyCA = "verify-ca"
        /// As `verify-ca`, and the certificate must name the host.
        case verifyFull = "verify-full"
    }

    /// The login role.
    public var user: String
    /// The TCP host (name or address), `nil` for a unix socket.
    public var host: String?
    /// The TCP port, or the number in the socket's file name (`.s.PGSQL.5432`). Default 5432.
    public var port: Int
    /// The directory holding the unix socket (`?host=/run/postgresql`), `nil` for TCP.
    public var socketDirectory: String?
    /// The database name.
    public var database: String
    /// TLS mode for TCP; ignored on a unix socket.
    public var sslMode: SSLMode
    /// The CA certificates (PEM) that verify the server under `verify-ca`/`verify-full`; `nil`: the system's.
    public var sslRootCertificate: String?
    /// `store.password_file`: a file whose first line is the password; `nil` for none (peer or trust
    /// authentication, or a client certificate).
    public var passwordFile: String?

    /// Creates a location from its parts.
    public init(
        user: String, host: String? = nil, port: Int = 5432, socketDirectory: String? = nil, database: String,
        sslMode: SSLMode = .prefer, sslRootCertificate: String? = nil, passwordFile: String? = nil
    ) {
        self.user = user
        self.host = host
        self.port = port
        self.socketDirectory = socketDirectory
        self.database = database
        self.sslMode = sslMode
        self.sslRootCertificate = sslRootCertificate
        self.passwordFile = passwordFile
    }

    /// The unix socket's path when ``socketDirectory`` is set: `DIR/.s.PGSQL.PORT`.
    public var socketPath: String? {
        socketDirectory.map { "\($0.hasSuffix("/") ? String($0.dropLast()) : $0)/.s.PGSQL.\(port)" }
    }

    /// `USER@HOST:PORT/DB` or `USER@/DB (socket DIR)`: never a password.
    public var description: String {
        if let socketDirectory { return "\(user)@/\(database) (socket \(socketDirectory))" }
        let shownHost = (host ?? "").contains(":") ? "[\(host ?? "")]" : (host ?? "")
        return "\(user)@\(shownHost):\(port)/\(database)"
    }

    /// Parses `store.url`.
    /// - Parameter passwordFile: `store.password_file`, carried along.
    /// - Throws: ``ExceptionStoreError`` (`invalidArgument`) with one line naming what is wrong: not a
    ///   `postgresql://` URL, no user or database, a password in the URL, a bad port, an unknown parameter or
    ///   `sslmode`.
    public static func parse(url text: String, passwordFile: String? = nil) throws(ExceptionStoreError) -> Self {
        func invalid(_ why: String) -> ExceptionStoreError {
            ExceptionStoreError(.invalidArgument, "store.url \(redacted(text)): \(why)")
        }
        guard text.hasPrefix("postgresql://") || text.hasPrefix("postgres://") else {
            throw invalid("expected postgresql://USER@HOST[:PORT]/DB or postgresql://USER@/DB?host=/run/postgresql")
        }
        // URLComponents does not take an empty host ("USER@/DB"): give it a placeholder host to parse around.
        var parseable = text
        let authorityStart = parseable.range(of: "://")!.upperBound
        if let at = parseable[authorityStart...].firstIndex(of: "@"),
            parseable.index(after: at) < parseable.endIndex, parseable[parseable.index(after: at)] == "/"
        {
            parseable.insert(contentsOf: "unix.invalid", at: parseable.index(after: at))
        }
        guard let components = URLComponents(string: parseable) else { throw invalid("not a URL") }
        if components.password != nil {
            throw invalid("a password in the URL is not accepted; put it in the file named by store.password_file")
        }
        guard let user = components.user?.removingPercentEncoding, !user.isEmpty else {
            throw invalid("no user (postgresql://USER@...)")
        }
        let path = components.percentEncodedPath
        let database = String(path.drop { $0 == "/" }).removingPercentEncoding ?? ""
        guard !database.isEmpty, !database.contains("/") else { throw invalid("no database name (.../DB)") }
        var location = PostgresLocation(user: user, database: database, passwordFile: passwordFile)
        if let port = components.port {
            guard (1...65535).contains(port) else { throw invalid("port \(port) is out of range") }
            location.port = port
        } else if components.percentEncodedHost != nil,
            parseable[authorityStart...].prefix(while: { $0 != "/" }).hasSuffix(":")
        {
            throw invalid("empty port")
        }
        let host = components.host
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw invalid(
                        "sslmode=\(value) is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                location.sslMode = mode
            case "sslrootcert":
                guard !value.isEmpty else { throw invalid("sslrootcert= names no file") }
                location.sslRootCertificate = value
            case "host":
                guard value.hasPrefix("/") else {
                    throw invalid("host=\(value): only a unix socket directory (an absolute path) is accepted here")
                }
                location.socketDirectory = value
            case "port":
                guard let port = Int(value), (1...65535).contains(port) else {
                    throw invalid("port=\(value) is not a port")
                }
                location.port = port
            case "password":
                throw invalid("a password in the URL is not accepted; put it in the file named by store.password_file")
            default:
                throw invalid("unknown parameter \(item.name) (accepted: sslmode, sslrootcert, host, port)")
            }
        }
        if location.socketDirectory == nil {
            guard let host, !host.isEmpty, host != "unix.invalid" else {
                throw invalid("no host: give HOST, or ?host=/run/postgresql for the unix socket")
            }
            location.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        } else if let host, host != "unix.invalid" {
            throw invalid("both a host (\(host)) and a socket directory (?host=) are given")
        }
        if location.sslRootCertificate != nil && location.sslMode != .verifyCA && location.sslMode != .verifyFull {
            throw invalid("sslrootcert= needs sslmode=verify-ca or verify-full")
        }
        return location
    }

    /// `text` with any password (`USER:PASSWORD@`, `password=...`) replaced by `***`, for messages.
    static func redacted(_ text: String) -> String {
        var text = text
        if let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].firstIndex(of: "@"),
            let colon = text[scheme.upperBound..<at].firstIndex(of: ":")
        {
            text = String(text[..<colon]) + ":***" + String(text[at...])
        }
        if let query = text.firstIndex(of: "?") {
            let parameters = text[text.index(after: query)...].split(separator: "&", omittingEmptySubsequences: false)
                .map { $0.hasPrefix("password=") ? "password=***" : String($0) }
            text = String(text[...query]) + parameters.joined(separator: "&")
        }
        return text
    }
}
