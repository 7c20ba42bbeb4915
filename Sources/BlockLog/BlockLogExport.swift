import Egress25Core

/// Text renderings of block-log rows: CSV (RFC 4180), JSON, and X-ARF v4 abuse reports.
public enum BlockLogExport {
    /// The columns of CSV and the keys of JSON records, in order.
    static let recordFields = [
        "first_seen", "last_seen", "source", "destination", "destination_port", "attempts", "syns", "customer",
        "reason", "exception_id", "node_name",
    ]

    /// `first_seen,last_seen,…` (no line break).
    public static var csvHeader: String { recordFields.joined(separator: ",") }

    /// One CSV line (RFC 4180 quoting; times RFC 3339 UTC with ms; empty field for no customer), no line break.
    public static func csvLine(_ record: BlockedRecord) -> String {
        [
            UTCTime.formatMilliseconds(record.firstSeenMilliseconds),
            UTCTime.formatMilliseconds(record.lastSeenMilliseconds),
            record.source.description, record.destination.description, String(record.destinationPort),
            String(record.attempts), String(record.syns), record.customer ?? "", record.reason.description,
            record.exceptionID ?? "", record.nodeName,
        ].map(csvField).joined(separator: ",")
    }

    /// One record as a one-line JSON object with the keys of ``recordFields`` (`null` for no customer).
    public static func jsonObject(_ record: BlockedRecord) -> String {
        "{\"first_seen\":\(jsonString(UTCTime.formatMilliseconds(record.firstSeenMilliseconds)))"
            + ",\"last_seen\":\(jsonString(UTCTime.formatMilliseconds(record.lastSeenMilliseconds)))"
            + ",\"source\":\(jsonString(record.source.description))"
            + ",\"destination\":\(jsonString(record.destination.description))"
            + ",\"destination_port\":\(record.destinationPort),\"attempts\":\(record.attempts),\"syns\":\(record.syns)"
            + ",\"customer\":\(record.customer.map(jsonString) ?? "null")"
            + ",\"reason\":\(jsonString(record.reason.description))"
            + ",\"exception_id\":\(record.exceptionID.map(jsonString) ?? "null")"
            + ",\"node_name\":\(jsonString(record.nodeName))}"
    }

    /// A JSON string literal (RFC 8259 escaping).
    public static func jsonString(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }

    /// A CSV field, quoted when it contains a comma, quote or line break (RFC 4180).
    public static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        var quoted = "\""
        for character in text {
            quoted.append(character)
            if character == "\"" { quoted.append("\"") }
        }
        return quoted + "\""
    }

    // MARK: - X-ARF

    /// The organisation that reports (X-ARF `reporter` and `sender`: `org`, `contact` e-mail, `domain`).
    public struct Reporter: Sendable, Hashable {
        /// X-ARF `reporter.org` and `sender.org`: the reporting organisation's name.
        public var organization: String
        /// X-ARF `reporter.contact` and `sender.contact`: the abuse desk's e-mail address.
        public var contact: String
        /// X-ARF `reporter.domain` and `sender.domain`: the organisation's DNS domain.
        public var domain: String
        /// Creates a reporter from the organisation name, contact e-mail and domain.
        public init(organization: String, contact: String, domain: String) {
            self.organization = organization
            self.contact = contact
            self.domain = domain
        }
    }

    /// One X-ARF v4 report (JSON, https://xarf.org, schema `xarf-core.json` + type
    /// `connection`/`infected_host`) for one source address: a subscriber host whose outbound SMTP
    /// (TCP/25) connection attempts were blocked, the pattern of a spam bot.
    ///
    /// Core fields: `xarf_version` 4.0.0, `report_id` (random UUID v4), `timestamp` (= `last_seen`),
    /// `reporter`, `sender`, `source_identifier`, `category`, `type`, `evidence_source` (`firewall_logs`),
    /// `description`, `tags`. Type fields: `protocol` (`tcp`), `bot_type` (`unknown`: a block says nothing
    /// about the bot), `first_seen`, `last_seen`, `destination_port` (when all attempts used one port),
    /// `destination_ip` (when there was one destination). The connection category's `attempt_count` holds
    /// new connections (distinct source ports). Extensions (the schema allows additional properties):
    /// `syn_count` (every SYN, retransmissions included) and `destinations`, the list of
    /// `{ip, port, attempt_count, syn_count, first_seen, last_seen}`.
    public static func xarfReport(
        _ summary: BlockLogSourceSummary, reporter: Reporter, reportID: String = randomUUID(), nodeName: String? = nil
    ) -> String {
        func contact() -> String {
            "{\"org\":\(jsonString(reporter.organization)),\"contact\":\(jsonString(reporter.contact))"
                + ",\"domain\":\(jsonString(reporter.domain))}"
        }
        let first = UTCTime.formatMilliseconds(summary.firstSeenMilliseconds)
        let last = UTCTime.formatMilliseconds(summary.lastSeenMilliseconds)
        let ports = Set(summary.destinations.map(\.port))
        var description =
            "\(summary.attempts) outbound SMTP connection attempts (\(summary.syns) TCP SYNs) from "
            + "\(summary.source) to \(summary.destinations.count) destination(s) were blocked "
            + "between \(first) and \(last)"
        if let nodeName { description += " by \(nodeName)" }
        var fields: [String] = [
            "\"xarf_version\":\"4.0.0\"",
            "\"report_id\":\(jsonString(reportID))",
            "\"timestamp\":\(jsonString(last))",
            "\"reporter\":\(contact())",
            "\"sender\":\(contact())",
            "\"source_identifier\":\(jsonString(summary.source.description))",
            "\"category\":\"connection\"",
            "\"type\":\"infected_host\"",
            "\"evidence_source\":\"firewall_logs\"",
            "\"protocol\":\"tcp\"",
            "\"bot_type\":\"unknown\"",
            "\"first_seen\":\(jsonString(first))",
            "\"last_seen\":\(jsonString(last))",
            "\"attempt_count\":\(summary.attempts)",
            "\"syn_count\":\(summary.syns)",
        ]
        if ports.count == 1, let port = ports.first { fields.append("\"destination_port\":\(port)") }
        if summary.destinations.count == 1 {
            fields.append("\"destination_ip\":\(jsonString(summary.destinations[0].address.description))")
        }
        let destinations = summary.destinations.map { destination in
            "{\"ip\":\(jsonString(destination.address.description)),\"port\":\(destination.port)"
                + ",\"attempt_count\":\(destination.attempts),\"syn_count\":\(destination.syns)"
                + ",\"first_seen\":\(jsonString(UTCTime.formatMilliseconds(destination.firstSeenMilliseconds)))"
                + ",\"last_seen\":\(jsonString(UTCTime.formatMilliseconds(destination.lastSeenMilliseconds)))}"
        }
        fields.append("\"destinations\":[\(destinations.joined(separator: ","))]")
        fields.append("\"description\":\(jsonString(String(description.prefix(1000))))")
        fields.append("\"tags\":[\"egress25:outbound-smtp-blocked\"]")
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// A random (version 4, RFC 9562) UUID in lower-case text form.
    public static func randomUUID() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        let hex = bytes.map { byte -> String in
            let text = String(byte, radix: 16)
            return byte < 16 ? "0" + text : text
        }
        return hex[0..<4].joined() + "-" + hex[4..<6].joined() + "-" + hex[6..<8].joined() + "-"
            + hex[8..<10].joined() + "-" + hex[10..<16].joined()
    }
}
