/// The sign-in page: one password field for the user's access token, posted to `/login`.
public struct LoginPage: Sendable, Hashable {
    /// Title, no user, no navigation, and the CSRF token the login form carries.
    public var layout: ConsoleLayout
    /// Why the last attempt was refused, e.g. `That token is not valid.`; `nil` on a first visit. The token itself
    /// is never shown again.
    public var errorMessage: String?

    /// Creates the sign-in page.
    public init(layout: ConsoleLayout, errorMessage: String? = nil) {
        self.layout = layout
        self.errorMessage = errorMessage
    }
}
