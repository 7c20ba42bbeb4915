import Egress25Configuration

/// Parses `yaml` expecting an error, and returns its description (`FILE:LINE:COL: MESSAGE`).
func configurationError(_ yaml: String, path: String = "/etc/egress25/egress25.yaml") -> String? {
    do {
        _ = try ConfigurationLoader.parse(yaml: yaml, path: path)
        return nil
    } catch {
        return error.description
    }
}
