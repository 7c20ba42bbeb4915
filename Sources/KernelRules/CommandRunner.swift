// Why posix_spawn and not a library (issue 11, measured on 2026-12-01 with Swift 6.3.1 on Linux):
// - Foundation `Process` hangs for ever when the calling process runs in a network namespace whose loopback is
//   down ("Could not create wakeup socket pair for CFSocket"): the first run of /bin/true under
//   `ip netns exec NS` never finished (killed by `timeout 20`).
// - swift-subprocess 1.0.2 does not hang there: 50 of 50 runs of `ip netns exec NS cat`, of `cat` and of
//   `nft -c -f -` inside such a namespace finished (median 8-28 ms, max 77 ms), and it adds only about 40 s
//   (19 s CPU) to a clean build. But a child that exits without reading all of its stdin kills the caller.
//   With the default SIGPIPE disposition the process dies of SIGPIPE (exit 141: `true` given input, in and
//   out of the namespace). With SIGPIPE ignored it traps in its own deinit ("Subprocess/Configuration.swift:1115:
//   Fatal error: FileDescriptor ... was not closed", on the 1st run inside the namespace, the 26th from
//   outside; open issue swiftlang/swift-subprocess#367). An `nft -f -` or `iptables-restore` that fails early
//   does exactly that, and the daemon's rules watch must survive it. Its API is also async only, while every
//   caller here (installer, inspector, egress25ctl, the rules watch thread) is synchronous.
// So this runner stays: posix_spawn, SIGPIPE blocked on the calling thread only, one poll loop, a timeout.
import Egress25System

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs the netfilter tools (`nft`, `iptables`, `ipset`, …) as child processes: an argument vector, no shell.
///
/// Uses `posix_spawn(3)` with pipes for stdin, stdout and stderr, served by one `poll(2)` loop, so a large
/// input or output never deadlocks. Foundation's `Process` is not used: it hangs for ever in a network
/// namespace whose loopback interface is down ("Could not create wakeup socket pair for CFSocket"), which is
/// exactly where the tests and a freshly created router namespace run it.
///
/// `prefix` is put before every command, e.g. `["ip", "netns", "exec", "e25-test"]` to act inside a network
/// namespace. Executables are looked up in `PATH` and the sbin directories, since the tools live in
/// `/usr/sbin` and a non-login root shell may not have it in `PATH`.
public struct CommandRunner: Sendable {
    /// Arguments put before every command (empty: run the command directly).
    public var prefix: [String]
    /// A command still running after this many seconds is killed (`SIGKILL`) and reported as failed.
    public var timeoutSeconds: Int

    /// Creates a runner; commands are killed after `timeoutSeconds` (120 s by default).
    public init(prefix: [String] = [], timeoutSeconds: Int = 120) {
        self.prefix = prefix
        self.timeoutSeconds = timeoutSeconds
    }

    /// The result of one finished command.
    public struct Result: Sendable, Hashable {
        /// The command as run (after resolving the executable), for messages.
        public var command: [String]
        /// Exit status, or 128 + signal number when killed by a signal.
        public var status: Int32
        /// Everything the command wrote to stdout (UTF-8, invalid bytes replaced).
        public var standardOutput: String
        /// Everything the command wrote to stderr (UTF-8, invalid bytes replaced).
        public var standardError: String

        /// Whether the command exited with status 0.
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
    ///   `.commandFailed` when it cannot be started or runs longer than `timeoutSeconds`.
    public func run(_ arguments: [String], input: String? = nil) throws(KernelRulesError) -> Result {
        precondition(!arguments.isEmpty, "a command needs a name")
        var argv = prefix + arguments
        if let resolved = CommandRunner.which(arguments[0]) {
            argv[prefix.count] = resolved
        } else if prefix.isEmpty {
            throw KernelRulesError(
                .toolMissing, "\(arguments[0]) is not installed (not found in PATH, /usr/sbin, /sbin)",
                command: arguments)
        }
        guard let executable = CommandRunner.which(argv[0]) else {
            throw KernelRulesError(.toolMissing, "\(argv[0]) is not installed", command: argv)
        }
        argv[0] = executable
        var environment = ["PATH=" + CommandRunner.searchPath.joined(separator: ":"), "LC_ALL=C"]
        if let home = getenv("HOME") { environment.append("HOME=" + String(cString: home)) }
        return try ChildProcess.run(
            argv: argv, environment: environment, input: Array((input ?? "").utf8), timeoutSeconds: timeoutSeconds)
    }

    /// Runs the command and requires exit status 0.
    /// - Throws: ``KernelRulesError`` `.commandFailed` naming the command, its status and its stderr.
    @discardableResult
    public func check(_ arguments: [String], input: String? = nil) throws(KernelRulesError) -> Result {
        let result = try run(arguments, input: input)
        guard result.succeeded else {
            let stderr = result.standardError.trimmingWhitespaceAndNewlines()
            throw KernelRulesError(
                .commandFailed,
                "`\(arguments.joined(separator: " "))` failed (exit status \(result.status))"
                    + (stderr.isEmpty ? "" : ": " + stderr.replacingNewlines()),
                command: result.command)
        }
        return result
    }

    /// Directories searched for tools, after `PATH`.
    static let systemDirectories = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

    static var searchPath: [String] {
        let path = getenv("PATH").map { String(cString: $0) }?.split(separator: ":").map(String.init) ?? []
        var seen = Set<String>()
        return (path + systemDirectories).filter { $0.hasPrefix("/") && seen.insert($0).inserted }
    }

    /// The absolute path of executable `name` (checked as is when it contains a `/`), or `nil`.
    public static func which(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        for directory in searchPath {
            let candidate = directory + "/" + name
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }
}

/// One child process: `posix_spawn`, pipes, a `poll` loop, `waitpid`. The only place that touches errno here.
enum ChildProcess {
    static func run(
        argv: [String], environment: [String], input: [UInt8], timeoutSeconds: Int
    )
        throws(KernelRulesError) -> CommandRunner.Result
    {
        func failure(_ what: String, _ code: Int32 = errno) -> KernelRulesError {
            KernelRulesError(
                .commandFailed, "cannot run \(argv[0]): \(what): \(SystemCallError.describe(code))",
                command: argv)
        }
        // Pipes, close-on-exec (pipe2 is not imported); dup2 onto 0/1/2 in the child clears the flag there.
        var stdinPipe: [Int32] = [-1, -1]
        var stdoutPipe: [Int32] = [-1, -1]
        var stderrPipe: [Int32] = [-1, -1]
        guard makePipe(&stdinPipe) == 0 else { throw failure("pipe") }
        guard makePipe(&stdoutPipe) == 0 else {
            close(stdinPipe[0]); close(stdinPipe[1])
            throw failure("pipe")
        }
        guard makePipe(&stderrPipe) == 0 else {
            for fd in stdinPipe + stdoutPipe { close(fd) }
            throw failure("pipe")
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)

        // Default dispositions and an empty mask in the child, whatever the caller set up.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        var cArguments = argv.map { strdup($0) } + [nil]
        var cEnvironment = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in cArguments { free(pointer) }
            for pointer in cEnvironment { free(pointer) }
        }
        // Writing to a child that exited early raises SIGPIPE: block it on this thread while we run, and
        // swallow a pending one afterwards, instead of changing the process-wide disposition.
        var sigpipe = sigset_t()
        sigemptyset(&sigpipe)
        sigaddset(&sigpipe, SIGPIPE)
        var previousMask = sigset_t()
        pthread_sigmask(SIG_BLOCK, &sigpipe, &previousMask)
        defer {
            var pending = sigset_t()
            sigpending(&pending)
            if sigismember(&pending, SIGPIPE) == 1 && sigismember(&previousMask, SIGPIPE) == 0 {
                var zero = timespec(tv_sec: 0, tv_nsec: 0)
                _ = sigtimedwait(&sigpipe, nil, &zero)
            }
            pthread_sigmask(SIG_SETMASK, &previousMask, nil)
        }

        var pid: pid_t = 0
        let spawnError = posix_spawn(&pid, argv[0], &actions, &attributes, &cArguments, &cEnvironment)
        close(stdinPipe[0])
        close(stdoutPipe[1])
        close(stderrPipe[1])
        guard spawnError == 0 else {
            close(stdinPipe[1]); close(stdoutPipe[0]); close(stderrPipe[0])
            throw failure("posix_spawn", spawnError)
        }

        var inputFD: Int32 = stdinPipe[1]
        var inputOffset = 0
        if input.isEmpty {
            close(inputFD)
            inputFD = -1
        } else {
            _ = fcntl(inputFD, F_SETFL, fcntl(inputFD, F_GETFL) | O_NONBLOCK)
        }
        var outputFD: Int32 = stdoutPipe[0]
        var errorFD: Int32 = stderrPipe[0]
        var output: [UInt8] = []
        var errorOutput: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = monotonicSeconds() + Double(timeoutSeconds)
        var timedOut = false

        while inputFD >= 0 || outputFD >= 0 || errorFD >= 0 {
            let remaining = deadline - monotonicSeconds()
            if remaining <= 0 {
                timedOut = true
                break
            }
            var fds = [
                pollfd(fd: inputFD, events: Int16(POLLOUT), revents: 0),
                pollfd(fd: outputFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: errorFD, events: Int16(POLLIN), revents: 0),
            ]
            let ready = retryingOnInterrupt {
                poll(&fds, nfds_t(fds.count), Int32(min(remaining * 1000, 1000)) + 1)
            }
            if ready < 0 { break }
            if inputFD >= 0, fds[0].revents != 0 {
                // `input` is not empty here (an empty input closes stdin before the loop), so its buffer has a
                // base address.
                let written = input.withUnsafeBytes { bytes in
                    write(inputFD, bytes.baseAddress! + inputOffset, bytes.count - inputOffset)
                }
                if written > 0 {
                    inputOffset += written
                }
                if inputOffset == input.count || (written < 0 && errno != EAGAIN && errno != EINTR) {
                    close(inputFD)  // all written, or the child stopped reading (EPIPE)
                    inputFD = -1
                }
            }
            for (index, target) in [(1, 0), (2, 1)] where fds[index].revents != 0 {
                let fd = target == 0 ? outputFD : errorFD
                let count = read(fd, &buffer, buffer.count)
                if count > 0 {
                    if target == 0 { output += buffer[0..<count] } else { errorOutput += buffer[0..<count] }
                } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                    close(fd)
                    if target == 0 { outputFD = -1 } else { errorFD = -1 }
                }
            }
        }
        for fd in [inputFD, outputFD, errorFD] where fd >= 0 { close(fd) }
        if timedOut { kill(pid, SIGKILL) }

        var status: Int32 = 0
        if retryingOnInterrupt({ waitpid(pid, &status, 0) }) < 0 { throw failure("waitpid") }
        if timedOut {
            throw KernelRulesError(
                .commandFailed,
                "`\(argv.joined(separator: " "))` did not finish within \(timeoutSeconds) s and was killed",
                command: argv)
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot import (sys/wait.h).
        let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return CommandRunner.Result(
            command: argv, status: exitStatus,
            standardOutput: String(decoding: output, as: UTF8.self),
            standardError: String(decoding: errorOutput, as: UTF8.self)
        )
    }

    /// `pipe(2)` with both ends close-on-exec; 0 on success.
    static func makePipe(_ fds: inout [Int32]) -> Int32 {
        guard pipe(&fds) == 0 else { return -1 }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return 0
    }

    static func monotonicSeconds() -> Double { SystemClock.monotonicSeconds() }
}

extension String {
    func trimmingWhitespaceAndNewlines() -> String {
        var slice = self[...]
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }

    /// Newlines replaced by ` | `, so a multi-line tool message fits the one-line error. When nft-style
    /// `Error:` lines are present, only those are kept (the echoed rule and caret lines are dropped).
    func replacingNewlines() -> String {
        let lines = split(separator: "\n", omittingEmptySubsequences: true)
        let errors = lines.filter { $0.contains("Error:") }
        return (errors.isEmpty ? lines : errors).joined(separator: " | ")
    }
}
