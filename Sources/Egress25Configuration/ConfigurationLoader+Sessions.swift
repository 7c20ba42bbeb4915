extension ConfigurationLoader {
    static let sessionKeys = ["lease", "max_prefix"]
    static let maxPrefixKeys = ["ipv4", "ipv6"]

    /// `sessions: { lease: 26h, max_prefix: { ipv4: 24, ipv6: 48 } }`.
    static func parseSessions(_ node: ConfigurationNode) throws(ConfigurationError) -> SessionSettings {
        let map = try node.mapping(allowed: sessionKeys)
        var settings = SessionSettings()
        if let value = map["lease"] {
            settings.leaseSeconds = try duration(value, in: 1...(366 * 86400), milliseconds: false)
        }
        if let value = map["max_prefix"] {
            let limits = try value.mapping(allowed: maxPrefixKeys)
            if let ipv4 = limits["ipv4"] {
                settings.maxPrefixIPv4 = UInt8(try ipv4.integer(in: 0...32, what: "an IPv4 prefix length (0...32)"))
            }
            if let ipv6 = limits["ipv6"] {
                settings.maxPrefixIPv6 = UInt8(try ipv6.integer(in: 0...128, what: "an IPv6 prefix length (0...128)"))
            }
        }
        return settings
    }
}
