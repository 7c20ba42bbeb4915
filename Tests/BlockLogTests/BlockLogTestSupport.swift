import BlockLog
import Egress25Core
import Egress25TestSupport
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A clock the test moves by hand.
final class ManualClock: BlockLogClock {
    private let value: Mutex<Int64>
    init(_ milliseconds: Int64) { value = Mutex(milliseconds) }
    func nowMilliseconds() -> Int64 { value.withLock { $0 } }
    func set(_ milliseconds: Int64) { value.withLock { $0 = milliseconds } }
    func advance(by milliseconds: Int64) { value.withLock { $0 += milliseconds } }
}

/// Customer `index` is "customer-<index>" in every generation, except that generation 2 maps every index
/// to "customer-<index + 100>" (an address handed to another customer by a reload).
struct TestResolver: BlockLogResolver {
    func customerID(generation: UInt64, index: Int32) -> String? {
        generation == 2 ? "customer-\(index + 100)" : "customer-\(index)"
    }
    func exceptionID(generation: UInt64, index: Int32) -> String? { "exception-\(index)" }
}

extension TemporaryDirectory {
    init() { self.init(prefix: "blocklog-test") }
    var blockLog: String { path + "/blocklog" }
}

/// Records every log message, for tests that check what was logged.
final class CapturedLogs: Sendable {
    let messages = Mutex<[(Logger.Level, String)]>([])
    var all: [(Logger.Level, String)] { messages.withLock { $0 } }
    func count(containing text: String) -> Int { all.filter { $0.1.contains(text) }.count }
    func logger() -> Logger {
        Logger(label: "blocklog-test") { _ in CapturingHandler(sink: self) }
    }
}

struct CapturingHandler: LogHandler {
    let sink: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        var text = "\(event.message)"
        if let metadata = event.metadata, !metadata.isEmpty {
            text += " " + metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        sink.messages.withLock { $0.append((event.level, text)) }
    }
}

func address(_ text: String) -> IPAddress { try! IPAddress(parsing: text) }
func prefix(_ text: String) -> IPPrefix { try! IPPrefix(parsing: text) }
func instant(_ text: String) -> Int64 { try! UTCTime.parseRFC3339(text) * 1000 }

func attempt(
    _ milliseconds: Int64, from source: String = "100.64.0.1", to destination: String = "192.0.2.25",
    port sourcePort: UInt16 = 40000, destinationPort: UInt16 = 25, reason: BlockReason = .noException,
    customer: Int32 = 7, generation: UInt64 = 1, exception: Int32 = -1
) -> BlockedAttempt {
    BlockedAttempt(
        timeMilliseconds: milliseconds, source: address(source), destination: address(destination),
        sourcePort: sourcePort, destinationPort: destinationPort, reason: reason, exceptionIndex: exception,
        customerIndex: customer, policyGeneration: generation)
}

func makeWriter(
    _ directory: String, clock: ManualClock, configuration: BlockLogConfiguration = BlockLogConfiguration(),
    logs: CapturedLogs = CapturedLogs(), node: String = "edge-1"
) throws -> (BlockLogWriter, BlockLogRing) {
    let writer = try BlockLogWriter(
        directory: directory, settings: configuration, nodeName: node, resolver: TestResolver(),
        logger: logs.logger(), clock: clock)
    let ring = BlockLogRing(capacity: 1 << 16)
    writer.attach(ring)
    return (writer, ring)
}

func push(_ ring: BlockLogRing, _ attempts: [BlockedAttempt]) {
    for item in attempts { precondition(ring.push(item), "ring full in test") }
}

func fileNames(_ directory: String) -> [String] {
    SegmentDirectory.list(directory).map(\.name)
}

/// Runs `body` with a fresh directory and a writer on its `blocklog/`, whose manual clock starts at `start` (ms),
/// with an attached ring; removes the directory afterwards.
func withWriter(
    at start: Int64, _ body: (TemporaryDirectory, ManualClock, BlockLogWriter, BlockLogRing) throws -> Void
) throws {
    let directory = TemporaryDirectory()
    defer { directory.cleanup() }
    let clock = ManualClock(start)
    let (writer, ring) = try makeWriter(directory.blockLog, clock: clock)
    try body(directory, clock, writer, ring)
}
