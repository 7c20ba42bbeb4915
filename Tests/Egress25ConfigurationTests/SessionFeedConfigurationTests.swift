import Egress25Configuration
import Egress25Core
import RadiusAccounting
import Testing

@Suite("ConfigurationLoader session_feed")
struct SessionFeedConfigurationTests {
    static let policy = "policy: { subscriber_ranges: [100.64.0.0/10] }\n"

    static func error(_ yaml: String) -> String? {
        do {
            _ = try ConfigurationLoader.parse(yaml: Self.policy + yaml, path: "F")
            return nil
        } catch {
            return error.description
        }
    }

    @Test("the issue's example: two listen addresses, one client, User-Name; leases follow the NAS")
    func example() throws {
        let configuration = try ConfigurationLoader.parse(
            yaml: Self.policy + """
                session_feed:
                  radius:
                    listen: ["0.0.0.0:1813", "[::]:1813"]
                    clients:                       # NAS (BNG) addresses and their shared secrets
                      - { address: 198.18.0.0/24, secret_file: /etc/egress25/radius-secret }
                    subscriber_id: User-Name
                """, path: "F")
        let radius = try #require(configuration.sessionFeed.radius)
        #expect(radius.listen.map(\.description) == ["0.0.0.0:1813", "[::]:1813"])
        #expect(
            radius.clients == [
                .init(prefix: try IPPrefix(parsing: "198.18.0.0/24"), secretFile: "/etc/egress25/radius-secret")
            ])
        #expect(radius.subscriberAttribute == .userName)
        #expect(radius.leaseSeconds == nil)
        // 2.5 x the NAS's interim interval, else sessions.lease.
        #expect(radius.lease(interimInterval: 600, fallback: 93_600) == 1500)
        #expect(radius.lease(interimInterval: nil, fallback: 93_600) == 93_600)
        #expect(radius.lease(interimInterval: 10, fallback: 93_600) == 60)
    }

    @Test("defaults: both wildcards on 1813; other subscriber attributes; a fixed lease")
    func defaultsAndChoices() throws {
        let configuration = try ConfigurationLoader.parse(
            yaml: Self.policy + """
                session_feed:
                  radius:
                    clients: [{ address: 192.0.2.1, secret_file: /s }]
                    subscriber_id: Attr-26.4874.12
                    lease: 15m
                """, path: "F")
        let radius = try #require(configuration.sessionFeed.radius)
        #expect(radius.listen.map(\.description) == ["0.0.0.0:1813", "[::]:1813"])
        #expect(radius.subscriberAttribute == .vendor(id: 4874, type: 12))
        #expect(radius.lease(interimInterval: 600, fallback: 93_600) == 900)
        #expect(try ConfigurationLoader.parse(yaml: Self.policy, path: "F").sessionFeed.radius == nil)
        for (name, attribute) in [
            ("Class", SubscriberAttribute.class), ("Calling-Station-Id", .callingStationID),
            ("NAS-Port-Id", .nasPortID),
        ] {
            let parsed = try ConfigurationLoader.parse(
                yaml: Self.policy + "session_feed: { radius: { clients: [{ address: 192.0.2.1, secret_file: /s }], "
                    + "subscriber_id: \(name) } }", path: "F")
            #expect(parsed.sessionFeed.radius?.subscriberAttribute == attribute, "\(name)")
        }
    }

    @Test("each mistake is one message at its FILE:LINE:COL")
    func errors() {
        #expect(
            Self.error("session_feed:\n  radius:\n    listen: [\"0.0.0.0:1813\"]\n")
                == "F:4:5: session_feed.radius.clients: required key is missing")
        #expect(
            Self.error("session_feed:\n  radius:\n    clients: []\n")?.hasPrefix(
                "F:4:14: session_feed.radius.clients: list at least one client") == true)
        #expect(
            Self.error("session_feed:\n  radius:\n    clients: [{ address: 198.18.0.0/33, secret_file: /s }]\n")?
                .contains("\"198.18.0.0/33\" is not an address or CIDR prefix") == true)
        #expect(
            Self.error("session_feed:\n  radius:\n    clients: [{ address: 198.18.0.0/24, secret_file: secret }]\n")?
                .contains("must be an absolute path, found \"secret\"") == true)
        #expect(
            Self.error("session_feed:\n  radius:\n    clients: [{ address: 198.18.0.0/24, secret: x }]\n")?
                .contains("unknown key \"secret\"") == true)
        #expect(
            Self.error(
                "session_feed:\n  radius:\n    clients: [{ address: 10.0.0.0/8, secret_file: /s }]\n"
                    + "    subscriber_id: Framed-IP-Address\n")?.contains(
                    "F:5:20: session_feed.radius.subscriber_id: unknown attribute \"Framed-IP-Address\"") == true)
        #expect(
            Self.error(
                "session_feed:\n  radius:\n    listen: [\"0.0.0.0\"]\n    clients: [{ address: 10.0.0.0/8, secret_file: /s }]\n"
            )?.contains("expected ADDRESS:PORT") == true)
        #expect(
            Self.error(
                "session_feed:\n  radius:\n    clients:\n      - { address: 10.0.0.0/8, secret_file: /a }\n"
                    + "      - { address: 10.0.0.0/8, secret_file: /b }\n")?.contains("10.0.0.0/8 is listed twice")
                == true)
        #expect(
            Self.error(
                "session_feed:\n  radius:\n    clients: [{ address: 10.0.0.0/8, secret_file: /s }]\n    lease: 5s\n")
                != nil)
        #expect(Self.error("session_feed:\n  dhcp: {}\n")?.contains("unknown key \"dhcp\"") == true)
        #expect(
            Self.error("session_feed:\n  radius:\n")?.contains("session_feed.radius: a value is required") == true)
    }
}
