import KernelRules
import Testing

@Suite("CommandRunner")
struct CommandRunnerTests {
    @Test("a large input echoed back through cat does not deadlock on full pipes")
    func largeInputAndOutput() throws {
        let line = String(repeating: "0123456789abcdef", count: 8) + "\n"
        let input = String(repeating: line, count: 16384)  // 2 MiB, far beyond the 64 KiB pipe buffers
        let result = try CommandRunner().run(["cat"], input: input)
        #expect(result.status == 0)
        #expect(result.standardOutput.utf8.count == input.utf8.count)
        #expect(result.standardOutput == input)
    }

    @Test("a child that exits without reading its input neither kills us with SIGPIPE nor hangs")
    func childIgnoresInput() throws {
        let input = String(repeating: "x", count: 4 << 20)
        let result = try CommandRunner().run(["true"], input: input)
        #expect(result.status == 0)
    }

    @Test("exit status, stderr and signals are reported; check() names the command")
    func statusAndErrors() throws {
        let runner = CommandRunner()
        let failed = try runner.run(["sh", "-c", "echo oops >&2; exit 3"])
        #expect(failed.status == 3)
        #expect(failed.standardError == "oops\n")
        #expect(failed.firstErrorLine == "oops")
        let killed = try runner.run(["sh", "-c", "kill -TERM $$"])
        #expect(killed.status == 128 + 15)
        #expect(throws: KernelRulesError.self) { try runner.check(["sh", "-c", "echo bad thing >&2; exit 1"]) }
        do {
            try runner.check(["sh", "-c", "echo bad thing >&2; exit 1"])
        } catch {
            #expect(error.description == "`sh -c echo bad thing >&2; exit 1` failed (exit status 1): bad thing")
        }
    }

    @Test("a missing tool and a command that runs too long are errors")
    func missingToolAndTimeout() throws {
        do {
            _ = try CommandRunner().run(["egress25-no-such-tool"])
            Issue.record("expected toolMissing")
        } catch {
            #expect(error.code == .toolMissing)
        }
        let start = ContinuousClock.now
        do {
            _ = try CommandRunner(timeoutSeconds: 1).run(["sleep", "30"])
            Issue.record("expected a timeout")
        } catch {
            #expect(error.code == .commandFailed)
            #expect(error.message.contains("did not finish within 1 s"))
        }
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test("tools are found in the sbin directories even when PATH lacks them")
    func which() {
        #expect(CommandRunner.which("sh") != nil)
        #expect(CommandRunner.which("/bin/sh") == "/bin/sh")
        #expect(CommandRunner.which("egress25-no-such-tool") == nil)
    }
}
