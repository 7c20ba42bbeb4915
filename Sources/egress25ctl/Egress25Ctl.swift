import ArgumentParser
import Egress25System

#if canImport(Glibc)
import Glibc
#endif

@main
struct Egress25Ctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "egress25ctl",
        abstract: "Administer egress25: kernel rules, exceptions for support staff, and the blocked-attempt log.",
        version: Egress25Release.version,
        subcommands: [
            CheckCommand.self,
            CustomerCommand.self,
            SessionCommand.self,
            ExceptionCommand.self,
            AuditCommand.self,
            TokenCommand.self,
            BlockedCommand.self,
            RulesCommand.self,
            ReloadCommand.self,
            StoreCommand.self,
            NodeCommand.self,
        ]
    )

    /// Runs the command and maps errors to the documented exit codes:
    /// 0 success, 1 runtime error, 2 usage error.
    static func main() {
        do {
            var command = try parseAsRoot(try leadingGlobalOptionsMovedLast(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch let error as UsageError {
            fail(error.description, code: 2)
        } catch let error as CommandFailure {
            fail(error.description, code: 1)
        } catch {
            let code = exitCode(for: error)
            if code == .success || code.rawValue == ExitCode.success.rawValue {
                exit(withError: error)
            }
            if code == .validationFailure {
                // ArgumentParser's own usage errors: keep its message and help, use exit code 2.
                let message = fullMessage(for: error)
                if !message.isEmpty { FileHandleStderr.write(message + "\n") }
                Glibc.exit(2)
            }
            exit(withError: error)
        }
    }

    /// `egress25ctl --config FILE exception list`: ArgumentParser reads an option only after the subcommand that
    /// declares it, so `--config FILE` (or `--config=FILE`) written before the first subcommand is moved to the
    /// end of the arguments (before a `--`, when there is one). Every command takes `--config`.
    ///
    /// - Throws: ``UsageError`` when `--config` is given both before and after the subcommand.
    static func leadingGlobalOptionsMovedLast(_ arguments: [String]) throws -> [String] {
        var leading: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if !leading.isEmpty && (argument == "--config" || argument.hasPrefix("--config=")) {
                throw UsageError("--config is given twice; give it once")
            }
            if argument == "--config", index + 1 < arguments.count {
                leading += [argument, arguments[index + 1]]
                index += 2
            } else if argument.hasPrefix("--config=") {
                leading.append(argument)
                index += 1
            } else {
                break
            }
        }
        guard !leading.isEmpty else { return arguments }
        var rest = Array(arguments[index...])
        let end = rest.firstIndex(of: "--") ?? rest.endIndex
        if rest[..<end].contains(where: { $0 == "--config" || $0.hasPrefix("--config=") }) {
            throw UsageError("--config is given twice (before and after the subcommand); give it once")
        }
        rest.insert(contentsOf: leading, at: end)
        return rest
    }

    private static func fail(_ message: String, code: Int32) -> Never {
        FileHandleStderr.write("error: \(message)\n")
        Glibc.exit(code)
    }
}

enum FileHandleStderr {
    static func write(_ text: String) {
        var text = text
        text.withUTF8 { buffer in
            _ = Glibc.write(2, buffer.baseAddress, buffer.count)
        }
    }
}
