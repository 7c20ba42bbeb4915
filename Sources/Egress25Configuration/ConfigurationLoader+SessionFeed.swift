import Egress25Core
import RadiusAccounting

extension ConfigurationLoader {
    static let sessionFeedKeys = ["radius"]
    static let radiusFeedKeys = ["listen", "clients", "subscriber_id", "lease"]
    static let radiusClientKeys = ["address", "secret_file"]

    /// `session_feed: { radius: { listen: [...], clients: [{ address, secret_file }], subscriber_id, lease } }`.
    /// - Throws: ``ConfigurationError`` at the offending value.
    static func parseSessionFeed(_ node: ConfigurationNode) throws(ConfigurationError) -> SessionFeedSettings {
        let map = try node.mapping(allowed: sessionFeedKeys)
        var settings = SessionFeedSettings()
        // `radius:` with nothing under it is a mistake, not "no feed": it needs at least its clients.
        if map.key("radius") != nil { settings.radius = try parseRadiusFeed(try map.required("radius")) }
        return settings
    }

    static func parseRadiusFeed(_ node: ConfigurationNode) throws(ConfigurationError) -> RadiusFeedSettings {
        let map = try node.mapping(allowed: radiusFeedKeys)
        var settings = RadiusFeedSettings()
        if let value = map["listen"] {
            var addresses: [ListenAddress] = []
            for item in try value.list(scalarAsList: true) {
                switch ValueParsers.listenAddress(try item.string()) {
                case .success(let address):
                    guard !addresses.contains(address) else { throw item.error("\(address) is listed twice") }
                    addresses.append(address)
                case .failure(let problem):
                    throw item.error(problem.reason)
                }
            }
            guard !addresses.isEmpty else { throw value.error("list at least one ADDRESS:PORT such as 0.0.0.0:1813") }
            settings.listen = addresses
        }
        let clientsNode = try map.required("clients")
        let items = try clientsNode.list()
        guard !items.isEmpty else {
            throw clientsNode.error(
                "list at least one client: { address: 198.18.0.0/24, secret_file: /etc/egress25/radius-secret }")
        }
        for item in items {
            let client = try item.mapping(allowed: radiusClientKeys)
            let addressNode = try client.required("address")
            let text = try addressNode.string(expected: "an address or CIDR prefix such as 198.18.0.0/24")
            let prefix: IPPrefix
            do {
                prefix = try IPPrefix(parsing: text)
            } catch {
                throw addressNode.error("\"\(text)\" is not an address or CIDR prefix: \(error.reason)")
            }
            if let other = settings.clients.first(where: { $0.prefix == prefix }) {
                throw addressNode.error("\(prefix) is listed twice (also with \(other.secretFile))")
            }
            let secretFile = try absolutePath(try client.required("secret_file"))
            settings.clients.append(RadiusFeedSettings.Client(prefix: prefix, secretFile: secretFile))
        }
        if let value = map["subscriber_id"] {
            let name = try value.string(expected: "an attribute name such as User-Name")
            guard let attribute = SubscriberAttribute(name: name) else {
                throw value.error(
                    "unknown attribute \"\(name)\": use User-Name, Class, Calling-Station-Id, NAS-Port-Id, Attr-N "
                        + "(a standard attribute by number) or Attr-26.VENDOR.TYPE (a vendor attribute)")
            }
            settings.subscriberAttribute = attribute
        }
        if let value = map["lease"] {
            settings.leaseSeconds = try duration(value, in: 60...(366 * 86400), milliseconds: false)
        }
        return settings
    }
}
