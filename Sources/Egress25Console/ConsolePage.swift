/// A page of the console with its view model; ``ConsoleRenderer/render(_:)`` turns it into a whole HTML document.
public enum ConsolePage: Sendable, Hashable {
    /// Sign-in: `POST /login` with `token`.
    case login(LoginPage)
    /// Customer search, `GET /customers?query=`.
    case customerSearch(CustomerSearchPage)
    /// One customer, `GET /customers/{id}`, with the revoke and grant forms.
    case customer(CustomerPage)
    /// Why a connection is accepted or blocked, `GET /explain`.
    case explain(ExplainPage)
    /// The most blocked sources or customers, `GET /abuse/top`.
    case topOffenders(TopOffendersPage)
    /// Sources that look like spam bots, `GET /abuse/suspects`.
    case suspects(SuspectsPage)
    /// One source's or customer's blocked attempts over time, `GET /abuse/timeline`.
    case timeline(TimelinePage)
    /// The routers' health, `GET /ops/nodes`.
    case nodes(NodesPage)
    /// A refused or failed request: 403, 404, 500.
    case error(ErrorPage)

    /// The page's layout: title, user, navigation, flash messages, CSRF token.
    public var layout: ConsoleLayout {
        switch self {
        case .login(let page): return page.layout
        case .customerSearch(let page): return page.layout
        case .customer(let page): return page.layout
        case .explain(let page): return page.layout
        case .topOffenders(let page): return page.layout
        case .suspects(let page): return page.layout
        case .timeline(let page): return page.layout
        case .nodes(let page): return page.layout
        case .error(let page): return page.layout
        }
    }

    /// The section the page belongs to, marked `aria-current="page"` in the navigation.
    public var section: ConsoleSection? {
        switch self {
        case .login, .error: return nil
        case .customerSearch, .customer: return .customers
        case .explain: return .explain
        case .topOffenders: return .topOffenders
        case .suspects: return .suspects
        case .timeline: return .timeline
        case .nodes: return .nodes
        }
    }
}
