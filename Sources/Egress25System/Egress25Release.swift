import CEgress25Version

/// The release this binary belongs to.
public enum Egress25Release {
    /// The release version, a semantic version such as `2.0.0`: what every executable's `--version` prints and
    /// the Debian package's version (written once, in `Sources/CEgress25Version/version.c`).
    public static let version = String(cString: egress25_version())
}
