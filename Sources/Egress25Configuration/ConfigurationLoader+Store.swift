import ExceptionStore

extension ConfigurationLoader {
    static let storeKeys = ["url", "password_file", "password", "max_staleness", "node"]

    /// `store: { url, password_file, max_staleness, node }`; `node` nil (no `store:`): the defaults.
    /// - Parameters:
    ///   - stateDirectory: `state_directory`, for the SQLite default.
    ///   - nodeName: `node_name`, the default of `store.node`.
    ///   - nodeNameNode: the `node_name` value, for the position of an error in the default.
    /// - Throws: ``ConfigurationError`` at the offending value: a `password:` key, an invalid `url` (the message of
    ///   ``PostgresLocation/parse(url:passwordFile:)``), a relative `password_file` or one without `url`,
    ///   `max_staleness` outside 10 s ... 30 d, a `node` that is not 1-64 characters of `A-Z a-z 0-9 . _ -`.
    static func parseStore(
        _ node: ConfigurationNode?, stateDirectory: String, nodeName: String, nodeNameNode: ConfigurationNode?
    ) throws(ConfigurationError) -> StoreConfiguration {
        var settings = StoreConfiguration(
            location: .sqlite(path: StateDirectory(stateDirectory).exceptionStore), nodeName: nodeName)
        guard let node else { return settings }
        let map = try node.mapping(allowed: storeKeys)
        if let key = map.key("password") {
            throw key.error(
                "a password is never read from the configuration; put it in the file named by store.password_file")
        }
        var passwordFile: String?
        let passwordFileNode = map["password_file"]
        if let passwordFileNode {
            let path = try passwordFileNode.string()
            guard path.hasPrefix("/") else {
                throw passwordFileNode.error("must be an absolute path, found \"\(path)\"")
            }
            passwordFile = path
        }
        if let urlNode = map["url"] {
            let text = try urlNode.string(expected: "a URL such as postgresql://USER@HOST/DB")
            if text.contains("?")
                && text.split(separator: "?", maxSplits: 1).last!.split(separator: "&")
                    .contains(where: { $0 == "password" || $0.hasPrefix("password=") })
            {
                // Not echoed: the message would carry the password into logs.
                throw urlNode.error(
                    "a password in the URL is not accepted; put it in the file named by store.password_file")
            }
            do {
                settings.location = .postgresql(try PostgresLocation.parse(url: text, passwordFile: passwordFile))
            } catch {
                // The store's message names store.url already: only the position is added.
                var positioned = urlNode.error("")
                positioned.message = error.message
                throw positioned
            }
        } else if let passwordFileNode {
            throw passwordFileNode.error("is only read with store.url (the embedded SQLite store has no password)")
        }
        if let value = map["max_staleness"] {
            settings.maxStalenessSeconds = try duration(
                value, in: StoreConfiguration.maxStalenessRange, milliseconds: false)
        }
        if let value = map["node"] {
            let name = try value.scalarText(expected: "a node name such as edge-fra-1")
            guard StoreConfiguration.isValidNodeName(name) else {
                throw value.error(
                    "\"\(name)\" is not a node name: 1-\(StoreConfiguration.maximumNodeNameLength) characters of "
                        + "letters, digits, '.', '_' and '-'")
            }
            settings.nodeName = name
        } else if case .postgresql = settings.location, !StoreConfiguration.isValidNodeName(nodeName) {
            let message =
                "\"\(nodeName)\" is not a node name for the fleet store (1-\(StoreConfiguration.maximumNodeNameLength) "
                + "characters of letters, digits, '.', '_' and '-'); set store.node"
            throw nodeNameNode?.error(message) ?? node.error("the host name " + message)
        }
        return settings
    }
}
