extension ConfigurationLoader {
    static let adminKeys = ["listen", "tls", "session_lifetime", "max_body", "login_failures"]
    static let tlsKeys = ["certificate_file", "key_file"]
    static let abuseKeys = ["suspects", "webhook", "reporter_contact"]
    static let suspectKeys = ["distinct_destinations", "syns_per_minute", "window"]
    static let webhookKeys = ["url", "timeout"]

    /// `admin: { listen, tls: { certificate_file, key_file }, session_lifetime, max_body, login_failures }`.
    /// - Throws: ``ConfigurationError`` at the offending value.
    static func parseAdmin(_ node: ConfigurationNode) throws(ConfigurationError) -> AdminSettings {
        let map = try node.mapping(allowed: adminKeys)
        var settings = AdminSettings()
        if let value = map["listen"] {
            switch ValueParsers.listenAddress(try value.string()) {
            case .success(let address): settings.listen = address
            case .failure(let problem): throw value.error(problem.reason)
            }
        }
        if let value = map["tls"] {
            let tls = try value.mapping(allowed: tlsKeys)
            let certificate = try absolutePath(try tls.required("certificate_file"))
            let key = try absolutePath(try tls.required("key_file"))
            settings.tls = AdminSettings.TLSFiles(certificateFile: certificate, keyFile: key)
        }
        if let value = map["session_lifetime"] {
            settings.sessionLifetimeSeconds = try duration(value, in: 300...7 * 86400, milliseconds: false)
        }
        if let value = map["max_body"] { settings.maxBodyBytes = try size(value, in: 1024...16 * 1024 * 1024) }
        if let value = map["login_failures"] { settings.loginFailuresPerMinute = try value.integer(in: 1...10_000) }
        return settings
    }

    /// `abuse: { suspects: { distinct_destinations, syns_per_minute, window }, webhook: { url, timeout },
    /// reporter_contact }`.
    /// - Throws: ``ConfigurationError`` at the offending value (a webhook URL that is not http(s), an e-mail
    ///   address without `@`).
    static func parseAbuse(_ node: ConfigurationNode) throws(ConfigurationError) -> AbuseSettings {
        let map = try node.mapping(allowed: abuseKeys)
        var settings = AbuseSettings()
        if let value = map["suspects"] {
            let suspects = try value.mapping(allowed: suspectKeys)
            if let value = suspects["distinct_destinations"] {
                settings.distinctDestinations = try value.integer(in: 1...1_000_000)
            }
            if let value = suspects["syns_per_minute"] {
                settings.synsPerMinute = try value.integer(in: 1...10_000_000)
            }
            if let value = suspects["window"] {
                settings.windowSeconds = try duration(value, in: 60...86400, milliseconds: false)
            }
        }
        if let value = map["webhook"] {
            let webhook = try value.mapping(allowed: webhookKeys)
            let urlNode = try webhook.required("url")
            let url = try urlNode.string(expected: "a URL such as https://soc.example.net/hooks/egress25")
            let lowered = url.lowercased()
            guard (lowered.hasPrefix("https://") || lowered.hasPrefix("http://")) && url.count > 8,
                !url.contains(where: \.isWhitespace)
            else {
                throw urlNode.error("\"\(url)\" is not an http:// or https:// URL")
            }
            settings.webhookURL = url
            if let value = webhook["timeout"] {
                settings.webhookTimeoutMilliseconds = try duration(value, in: 100...120_000, milliseconds: true)
            }
        }
        if let value = map["reporter_contact"] {
            let contact = try value.string(expected: "an e-mail address such as abuse@isp.example")
            guard let at = contact.firstIndex(of: "@"), at > contact.startIndex,
                contact.index(after: at) < contact.endIndex
            else {
                throw value.error("\"\(contact)\" is not an e-mail address such as abuse@isp.example")
            }
            settings.reporterContact = contact
        }
        return settings
    }

    static func absolutePath(_ node: ConfigurationNode) throws(ConfigurationError) -> String {
        let path = try node.string()
        guard path.hasPrefix("/") else { throw node.error("must be an absolute path, found \"\(path)\"") }
        return path
    }
}
