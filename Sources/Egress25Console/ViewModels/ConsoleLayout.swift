/// A section of the console, one link in the header's navigation. The server decides which sections a role may
/// see (support: customers and explain; abuse: top offenders, suspects and timeline; ops: nodes; admin: all) and
/// passes them in ``ConsoleLayout/navigation``; the console shows exactly those, in the order given.
public enum ConsoleSection: String, Sendable, Hashable, CaseIterable {
    /// Customer search and customer pages, `/customers`.
    case customers
    /// Why a connection is accepted or blocked, `/explain`.
    case explain
    /// The sources or customers with the most blocked attempts, `/abuse/top`.
    case topOffenders
    /// Sources that look like spam bots, `/abuse/suspects`.
    case suspects
    /// Blocked attempts of one source or customer over time, `/abuse/timeline`.
    case timeline
    /// The routers' health, `/ops/nodes`.
    case nodes

    /// The link's text, e.g. `Top offenders`.
    public var label: String {
        switch self {
        case .customers: return "Customers"
        case .explain: return "Explain"
        case .topOffenders: return "Top offenders"
        case .suspects: return "Suspects"
        case .timeline: return "Timeline"
        case .nodes: return "Nodes"
        }
    }

    /// The link's target, e.g. `/abuse/top`.
    public var path: String {
        switch self {
        case .customers: return "/customers"
        case .explain: return "/explain"
        case .topOffenders: return "/abuse/top"
        case .suspects: return "/abuse/suspects"
        case .timeline: return "/abuse/timeline"
        case .nodes: return "/ops/nodes"
        }
    }
}

/// The signed-in user, shown in the header beside the sign-out button.
public struct ConsoleUser: Sendable, Hashable {
    /// The user's name, e.g. `jdoe`.
    public var name: String
    /// The user's role as shown, e.g. `support`.
    public var role: String

    /// Creates a signed-in user.
    public init(name: String, role: String) {
        self.name = name
        self.role = role
    }
}

/// What every page shares: the title, the user, the navigation, flash messages and the CSRF token.
public struct ConsoleLayout: Sendable, Hashable {
    /// The page's title, shown in the browser's tab (`<title>` is this and ` · egress25`).
    public var title: String
    /// The signed-in user; `nil` on the login page (no user, no navigation, no sign-out button).
    public var user: ConsoleUser?
    /// The sections this user's role may see, in order; the only navigation links rendered.
    public var navigation: [ConsoleSection]
    /// Messages about what just succeeded, e.g. `Exception exc-7k2mq9tz revoked.`, each its own line.
    public var successMessages: [String]
    /// Messages about what just failed, each its own line.
    public var errorMessages: [String]
    /// The session's CSRF token: the value of the hidden `csrf_token` input of every form that POSTs.
    public var csrfToken: String

    /// Creates a layout.
    public init(
        title: String,
        user: ConsoleUser?,
        navigation: [ConsoleSection],
        successMessages: [String] = [],
        errorMessages: [String] = [],
        csrfToken: String
    ) {
        self.title = title
        self.user = user
        self.navigation = navigation
        self.successMessages = successMessages
        self.errorMessages = errorMessages
        self.csrfToken = csrfToken
    }
}
