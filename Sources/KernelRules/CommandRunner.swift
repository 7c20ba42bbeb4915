import Foundation

/// Runs the netfilter tools (`nft`, `iptables`, `ipset`, …) as child processes with Foundation `Process`:
/// an argument vector, no shell.
///
/// `prefix` is put before every command, e.g. `["ip", "netns", "exec", "e25-test"]` to act inside a network
/// namespace. Executables are looked up in `PATH` and the sbin directories, since the tools live in
/// `/usr/sbin` and a non-login root shell may not have it in `PATH`.
public struct CommandRunner: Sendable {
    /// Arguments put before every command (empty: run the command directly).
    public var prefix: [String]

    public init(prefix: [String] = []) {
        self.prefix = prefix
    }

    /// The result of one finished command.
    public struct Result: Sendable, Hashable {
        /// The command as run (after resolving the executable), for messages.
        public var command: [String]
        /// Exit status, or 128 + signal number when killed by a signal.
        public var status: Int32
        public var standardOutput: String
        public var standardError: String

        public var succeeded: Bool { status == 0 }

        /// The first non-empty line of stderr, else of stdout (tools put their reason there).
        public var firstErrorLine: String {
            for text in [standardError, standardOutput] {
                if let line = text.split(separator: "\n").first(where: { !$0.allSatisfy(\.isWhitespace) }) {
                    return String(line)
                }
            }
            return "no message"
        }
    }

    /// Runs `arguments` (the tool name first) with `input` on stdin and waits for it.
    /// - Returns: the result whatever the exit status.
    /// - Throws: ``KernelRulesError`` with code `.toolMissing` when the executable is not found, or
    ///   `.commandFailed` when it cannot be started.
    public func run(_ arguments: [String], input: String? = nil) throws(KernelRulesError) -> Result {
        precondition(!arguments.isEmpty, "a command needs a name")
        var argv = prefix + arguments
        let toolIndex = prefix.count
        if let resolved = CommandRunner.which(arguments[0]) {
            argv[toolIndex] = resolved
        } else if prefix.isEmpty {
            throw KernelRulesError(
                .toolMissing, "\(arguments[0]) is not installed (not found in PATH, /usr/sbin, /sbin)",
                command: arguments)
        }
        guard let executable = argv.first.flatMap(CommandRunner.which) else {
            throw KernelRulesError(.toolMissing, "\(argv[0]) is not installed", command: argv)
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(argv.dropFirst())
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = CommandRunner.searchPath.joined(separator: ":")
        environment["LC_ALL"] = "C"
        process.environment = environment
        let stdinPipe = Pipe()
        let stdoutPipe = Pipe()
        let stderrPipe = Pipe()
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        do {
            try process.run()
        } catch {
            throw KernelRulesError(.commandFailed, "cannot start \(argv[0]): \(error.localizedDescription)", command: argv)
        }

        // Feed stdin and drain both outputs concurrently, so a large input or output never deadlocks on a full pipe.
        let output = OutputBox()
        let group = DispatchGroup()
        let writer = stdinPipe.fileHandleForWriting
        let inputData = Data((input ?? "").utf8)
        DispatchQueue.global().async(group: group) {
            if !inputData.isEmpty { try? writer.write(contentsOf: inputData) }
            try? writer.close()
        }
        let errorReader = stderrPipe.fileHandleForReading
        DispatchQueue.global().async(group: group) {
            output.setError(errorReader.readDataToEndOfFile())
        }
        let standardOutput = stdoutPipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        group.wait()

        let status =
            process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return Result(
            command: argv, status: status,
            standardOutput: String(decoding: standardOutput, as: UTF8.self),
            standardError: String(decoding: output.error, as: UTF8.self)
        )
    }

    /// Runs the command and requires exit status 0.
    /// - Throws: ``KernelRulesError`` `.commandFailed` naming the command, its status and its stderr.
    @discardableResult
    public func check(_ arguments: [String], input: String? = nil) throws(KernelRulesError) -> Result {
        let result = try run(arguments, input: input)
        guard result.succeeded else {
            throw KernelRulesError(
                .commandFailed,
                "`\(arguments.joined(separator: " "))` failed (exit status \(result.status)): "
                    + result.standardError.trimmingCharacters(in: .whitespacesAndNewlines),
                command: result.command)
        }
        return result
    }

    /// Directories searched for tools, after `PATH`.
    static let systemDirectories = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

    static var searchPath: [String] {
        let path = ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":").map(String.init) ?? []
        var seen = Set<String>()
        return (path + systemDirectories).filter { !$0.isEmpty && seen.insert($0).inserted }
    }

    /// The absolute path of executable `name` (returned as is when it contains a `/`), or `nil`.
    public static func which(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for directory in searchPath {
            let candidate = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// Holds what the stderr reader thread collected.
private final class OutputBox: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    func setError(_ value: Data) {
        lock.lock()
        data = value
        lock.unlock()
    }

    var error: Data {
        lock.lock()
        defer { lock.unlock() }
        return data
    }
}
