import Egress25TestSupport
import Foundation
import Testing

/// How `egress25ctl` is told its configuration, run as the real binary: `--config` after the subcommand,
/// before it (`egress25ctl --config FILE exception list`, which failed with "Unknown option" before), as
/// `--config=FILE`, and from `$EGRESS25_CONFIG`. Giving it twice is a usage error that writes nothing.
@Suite struct CtlConfigurationTests {
    @Test func configBeforeOrAfterTheSubcommandOrFromTheEnvironment() throws {
        try withConfiguration { path in
            let add = try run([ctl, "--config", path, "customer", "add", "c-1", "--by", "t"])
            #expect(add.status == 0, "\(add.error)")
            let grant = try run(
                [
                    ctl, "--config=\(path)", "exception", "grant", "c-1", "--to", "198.51.100.25", "--for", "30d",
                    "--reason", "telecommuter", "--by", "t",
                ])
            #expect(grant.status == 0, "\(grant.error)")
            let forms: [[String]] = [
                [ctl, "exception", "list", "--config", path],
                [ctl, "--config", path, "exception", "list"],
                [ctl, "--config=\(path)", "exception", "list"],
                ["env", "EGRESS25_CONFIG=\(path)", ctl, "exception", "list"],
            ]
            for form in forms {
                let result = try run(form)
                #expect(result.status == 0, "\(form): \(result.error)")
                #expect(result.output.contains("c-1"), "\(form): \(result.output)")
            }
            let check = try run([ctl, "--config", path, "check", "100.64.0.7", "192.0.2.25"])
            #expect(check.status == 0, "\(check.error)")
            #expect(check.output.hasPrefix("verdict:     accept"), "\(check.output)")
            #expect(check.output.contains("config \(path)"), "\(check.output)")
        }
    }

    @Test func configGivenTwiceIsAUsageError() throws {
        try withConfiguration { path in
            let leading = try run([ctl, "--config", path, "--config=\(path)", "exception", "list"])
            #expect(leading.status == 2)
            #expect(leading.error == "error: --config is given twice; give it once\n")
            let result = try run([ctl, "--config", path, "exception", "list", "--config", path])
            #expect(result.status == 2)
            #expect(result.error == "error: --config is given twice (before and after the subcommand); give it once\n")
            #expect(result.output.isEmpty)
        }
    }

    @Test func aMissingConfigurationNamesTheFileFromTheEnvironment() throws {
        let result = try run(["env", "EGRESS25_CONFIG=/nonexistent/egress25.yaml", ctl, "exception", "list"])
        #expect(result.status == 1)
        #expect(result.error.contains("/nonexistent/egress25.yaml"), "\(result.error)")
    }
}

/// Support-agent mistakes the fresh-user run found, on the real binary: a grant for an absurd duration is refused
/// and writes nothing; a grant to every destination of a family is allowed with a warning; `blocked top --limit 0`
/// means no limit, as it does for `blocked query`.
@Suite struct CtlGuardTests {
    @Test func grantsAndLimits() throws {
        try withConfiguration { path in
            #expect(try run([ctl, "--config", path, "customer", "add", "c-1", "--by", "t"]).status == 0)

            let absurd = try run(
                [
                    ctl, "--config", path, "exception", "grant", "c-1", "--for", "99999999999d", "--reason", "r",
                    "--by", "t",
                ])
            #expect(absurd.status == 2)
            #expect(absurd.error.contains("longer than 100 years"), "\(absurd.error)")
            let none = try run([ctl, "--config", path, "exception", "list", "--format", "csv"])
            #expect(none.output.split(separator: "\n").count == 1, "only the header: \(none.output)")

            let everywhere = try run(
                [
                    ctl, "--config", path, "exception", "grant", "c-1", "--to", "0.0.0.0/0", "--for", "1d", "--reason",
                    "r",
                    "--by", "t",
                ])
            #expect(everywhere.status == 0, "\(everywhere.error)")
            #expect(everywhere.error.contains("covers every IPv4 destination"), "\(everywhere.error)")

            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent + "/state/blocklog",
                withIntermediateDirectories: true)
            let top = try run([ctl, "--config", path, "blocked", "top", "--limit", "0"])
            #expect(top.status == 0, "\(top.error)")
            let negative = try run([ctl, "--config", path, "blocked", "top", "--limit=-1"])
            #expect(negative.status == 2)
            #expect(negative.error == "error: --limit must be 0 or more, got -1\n", "\(negative.error)")
        }
    }
}

/// The real egress25ctl binary.
private var ctl: String { EndToEnd.binaries + "/egress25ctl" }

/// Runs `body` with the path of a minimal configuration (subscribers 100.64.0.0/10, relay 192.0.2.25) whose state
/// directory is a fresh temporary directory, removed afterwards.
private func withConfiguration(_ body: (String) throws -> Void) throws {
    let directory = TemporaryDirectory(prefix: "ctl-config")
    defer { directory.cleanup() }
    let path = directory.path + "/egress25.yaml"
    let yaml = """
        node_name: ctl-test
        state_directory: \(directory.path)/state
        policy:
          subscriber_ranges: [100.64.0.0/10]
          relay_hosts: [192.0.2.25]
        """
    #expect(FileManager.default.createFile(atPath: path, contents: Data(yaml.utf8)))
    try body(path)
}

/// `egress25ctl token`: the token is printed once, on stdout alone; the store and `token list` never show it; a
/// name in force cannot be created twice; a revoked name can be issued again; bad input exits 2 and writes
/// nothing.
@Suite struct CtlTokenTests {
    @Test func createListRevoke() throws {
        try withConfiguration { path in
            let created = try run([ctl, "--config", path, "token", "create", "--name", "alice", "--role", "support"])
            #expect(created.status == 0, "\(created.error)")
            let token = created.output.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(token.hasPrefix("e25_") && token.count == 47, "\(created.output)")
            #expect(created.error.contains("shown only now"))
            let list = try run([ctl, "--config", path, "token", "list", "--format", "json"])
            #expect(list.status == 0)
            #expect(list.output.contains("\"alice\"") && !list.output.contains(token))
            let storePath = path.replacingOccurrences(of: "egress25.yaml", with: "state/exceptions.sqlite")
            let store = ["", "-wal"].map { suffix in
                String(decoding: FileManager.default.contents(atPath: storePath + suffix) ?? Data(), as: UTF8.self)
            }.joined()
            #expect(!store.contains(token), "the token is in the store file")
            let twice = try run([ctl, "--config", path, "token", "create", "--name", "alice", "--role", "admin"])
            #expect(twice.status == 1 && twice.error.contains("exists already"), "\(twice.error)")
            let badRole = try run([ctl, "--config", path, "token", "create", "--name", "bob", "--role", "root"])
            #expect(badRole.status == 2)
            let badName = try run([ctl, "--config", path, "token", "create", "--name", "bob smith", "--role", "ops"])
            #expect(badName.status == 2, "\(badName.error)")
            let revoke = try run([ctl, "--config", path, "token", "revoke", "alice"])
            #expect(revoke.status == 0)
            let again = try run([ctl, "--config", path, "token", "revoke", "alice"])
            #expect(again.status == 1)
            let reissued = try run([ctl, "--config", path, "token", "create", "--name", "alice", "--role", "abuse"])
            #expect(reissued.status == 0)
            let audit = try run([ctl, "--config", path, "audit"])
            #expect(audit.output.components(separatedBy: "token.").count - 1 == 3, "\(audit.output)")
        }
    }
}
