import Egress25TestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

// Helpers of the console-browser and schemathesis suites: the real egress25-admin started on a loopback port of the
// host, and the external tools those suites drive (Chromium, chromedriver, Selenium, schemathesis).

/// The built `egress25-admin --config FILE` running on the host, listening on a loopback port (the configuration's
/// `admin.listen`). Stop it with ``stop()`` (in a `defer`).
final class AdminServerProcess {
    let port: Int
    let logPath: String
    private let process: Process

    /// Starts egress25-admin; ``waitUntilHealthy(seconds:)`` waits for it.
    init(config: String, port: Int, logPath: String) throws {
        self.port = port
        self.logPath = logPath
        process = Process()
        process.executableURL = URL(fileURLWithPath: EndToEnd.binaries + "/egress25-admin")
        process.arguments = ["--config", config]
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    /// Waits (as ``poll(seconds:until:)``) until `GET /healthz` answers 200.
    /// - Throws: ``TopologyError`` when it exits or does not answer in time (with its log).
    func waitUntilHealthy(seconds: Double = 30) async throws {
        let healthy = await poll(seconds: seconds) {
            !process.isRunning || loopbackGET(port: port, path: "/healthz")?.status == 200
        }
        guard process.isRunning else {
            throw TopologyError("egress25-admin exited (status \(process.terminationStatus)): \(output)")
        }
        guard healthy else {
            throw TopologyError(
                "egress25-admin did not answer /healthz on 127.0.0.1:\(port) in \(seconds) s: \(output)")
        }
    }

    /// What it logged.
    var output: String { (try? readTextFile(logPath)) ?? "" }

    var isRunning: Bool { process.isRunning }

    /// SIGTERM, then SIGKILL after 10 s.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read, closed).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TopologyError("socket: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
            bind(fd, socketAddress, length) == 0 && getsockname(fd, socketAddress, &length) == 0
        }
    }
    guard bound else { throw TopologyError("bind 127.0.0.1:0: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// `GET PATH` on 127.0.0.1:PORT over HTTP/1.0 (2 s send and receive timeouts): the status and the body, or nil
/// when nothing answers.
func loopbackGET(port: Int, path: String) -> (status: Int, body: String)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 2, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let connected = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
    guard connected else { return nil }
    let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1:\(port)\r\n\r\n".utf8)
    guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return nil }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while response.count < 1 << 20 {
        let count = recv(fd, &buffer, buffer.count, 0)
        if count <= 0 { break }
        response += buffer[0..<count]
    }
    let text = String(decoding: response, as: UTF8.self)
    let parts = text.components(separatedBy: "\r\n\r\n")
    let statusLine = parts.first?.split(separator: "\r\n").first ?? ""
    let fields = statusLine.split(separator: " ")
    guard fields.count >= 2, fields[0].hasPrefix("HTTP/"), let status = Int(fields[1]) else { return nil }
    return (status, parts.dropFirst().joined(separator: "\r\n\r\n"))
}

/// The tools a suite drives that are not the project's: which are missing, and whether that skips or fails it.
/// CI (`CI=true`) installs them (.ci/run), so there a missing tool fails the suite; elsewhere it is skipped.
enum ExternalTools {
    /// `CI=true` (as CI runs .ci/run).
    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    static let chromium = "/usr/bin/chromium"
    static let chromedriver = "/usr/bin/chromedriver"

    /// What the browser suite needs and this machine lacks (empty when everything is there).
    static let missingBrowserTools: [String] = {
        var missing: [String] = []
        for path in [chromium, chromedriver] where !FileManager.default.isExecutableFile(atPath: path) {
            missing.append(path)
        }
        if !pythonImports("selenium") { missing.append("the python3 module selenium") }
        return missing
    }()

    /// What the schemathesis suite needs and this machine lacks.
    static let missingSchemathesis: [String] = pythonImports("schemathesis") ? [] : ["the python3 module schemathesis"]

    /// Whether `python3 -c "import MODULE"` succeeds.
    static func pythonImports(_ module: String) -> Bool {
        (try? run(["python3", "-c", "import \(module)"], timeout: 30))?.status == 0
    }

    /// Runs when the tools are there, and on CI (where their absence fails the test).
    static var browserSuiteRuns: Bool { EndToEnd.enabled && (isCI || missingBrowserTools.isEmpty) }
    static var schemathesisSuiteRuns: Bool { EndToEnd.enabled && (isCI || missingSchemathesis.isEmpty) }

    static let browserSkipReason = Comment(
        rawValue: "the console browser test needs root, chromium, chromium-driver (Debian) and selenium (PyPI), as "
            + ".ci/run installs them; with CI=true a missing tool fails it")
    static let schemathesisSkipReason = Comment(
        rawValue: "the schemathesis test needs root and schemathesis (PyPI), as .ci/run installs it; with CI=true a "
            + "missing tool fails it")
}

/// Polls `condition` every 10 ms until it holds (true) or `seconds` have passed (false), sleeping with
/// `Task.sleep`: a long wait for another process must not hold one of the few threads of Swift concurrency's pool,
/// which the async suites running in parallel need (on 2 cores there are 2).
func poll(seconds: Double, until condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// Waits (as ``poll(seconds:until:)``) until the file at `path` exists, at most `seconds` and only while `alive`
/// holds; its text, or nil.
func waitForFile(_ path: String, seconds: Double, while alive: () -> Bool) async -> String? {
    _ = await poll(seconds: seconds) { FileManager.default.fileExists(atPath: path) || !alive() }
    return FileManager.default.fileExists(atPath: path) ? try? readTextFile(path) : nil
}

/// As ``waitForFile(_:seconds:while:)``, polling with `usleep`: holds the thread, for a wait that must end on time.
func waitForFileBlocking(_ path: String, seconds: Double, while alive: () -> Bool) -> String? {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline && !FileManager.default.fileExists(atPath: path) && alive() { usleep(2_000) }
    return FileManager.default.fileExists(atPath: path) ? try? readTextFile(path) : nil
}

/// A process of its own on the host (`/usr/bin/env ARGUMENTS`, so the tool is looked up in `PATH`), its standard
/// output and error to `logPath`, started in `directory`.
final class HostProcess {
    let process = Process()
    let logPath: String

    init(_ arguments: [String], logPath: String, directory: String? = nil) throws {
        self.logPath = logPath
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var isRunning: Bool { process.isRunning }
    var output: String { (try? readTextFile(logPath)) ?? "" }

    /// Waits (as ``poll(seconds:until:)``) at most `seconds` for it to exit, then kills it; its exit status, or nil
    /// when it had to be killed.
    func finish(within seconds: Double) async -> Int32? {
        let exited = await poll(seconds: seconds) { !process.isRunning }
        if !exited { kill() }
        process.waitUntilExit()
        return exited ? process.terminationStatus : nil
    }

    /// SIGKILL if it still runs (for `defer`).
    func kill() {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// Writes `text` to `directory/name` whole (a temporary file renamed), for a script that waits for it.
func writeSignal(_ directory: String, _ name: String, _ text: String) throws {
    let temporary = directory + "/." + name + ".tmp"
    try (text + "\n").write(toFile: temporary, atomically: false, encoding: .utf8)
    guard rename(temporary, directory + "/" + name) == 0 else {
        throw TopologyError("rename \(temporary): errno \(errno)")
    }
}

extension Topology {
    /// A topology as ``withRouter(blockAction:failPolicy:maxLength:queues:relays:extra:backend:daemonArguments:startDaemon:prepare:_:)``
    /// makes it (configuration with `extra`, `egress25ctl rules apply`, egress25d started), for async tests; the
    /// caller tears it down (``tearDown()``, in a `defer`).
    static func started(extra: String) throws -> Topology {
        let topology = try Topology()
        do {
            try topology.writeConfiguration(extra: extra)
            let rules = try topology.ctl(["rules", "apply"])
            guard rules.status == 0 else {
                throw TopologyError("rules apply failed: \(rules.output) \(rules.error)")
            }
            try topology.startDaemon()
        } catch {
            topology.tearDown()
            throw error
        }
        return topology
    }

    /// One connect from the subscriber to port 25 of each of `destinations` (each must be refused: blocked), then
    /// waits (at most `seconds`) until the block log holds at least as many SYNs from `source` as it had before
    /// plus one per destination. Returns the SYNs from `source` the block log then holds.
    @discardableResult
    func blockAttempts(to destinations: [String], from source: String, seconds: Double = 30) async throws -> Int {
        let before = try blockedSYNs(from: source)
        for destination in destinations {
            let probe = try probe(destination, 25)
            guard probe.outcome == .refused else {
                throw TopologyError("a connect to \(destination):25 was not refused: \(probe)")
            }
        }
        let deadline = Date().addingTimeInterval(seconds)
        var syns = try blockedSYNs(from: source)
        while syns < before + destinations.count && Date() < deadline {
            try await Task.sleep(for: .milliseconds(100))
            syns = try blockedSYNs(from: source)
        }
        guard syns >= before + destinations.count else {
            throw TopologyError(
                "the block log holds \(syns) SYNs from \(source) after \(seconds) s, expected "
                    + "\(before + destinations.count)")
        }
        return syns
    }

    /// The SYNs from `source` in the block log (`egress25ctl blocked query`); 0 before its first commit.
    func blockedSYNs(from source: String) throws -> Int {
        let result = try ctl(["blocked", "query", "--source", source, "--format", "json", "--limit", "0"])
        if result.status != 0 && (result.error + result.output).contains("no block log at") { return 0 }
        guard result.status == 0,
            let rows = try? JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]]
        else {
            throw TopologyError("egress25ctl blocked query exited \(result.status): \(result.error) \(result.output)")
        }
        return rows.reduce(0) { $0 + ($1["syns"] as? Int ?? 0) }
    }
}
