/// Customer search (`GET /customers?query=`): a search box and the matching customers.
public struct CustomerSearchPage: Sendable, Hashable {
    /// Title, user, navigation, flash messages.
    public var layout: ConsoleLayout
    /// What was searched for (an id, a name, an address), shown again in the search box; empty before a search.
    public var query: String
    /// Whether a search was made: with no results, says that nothing matched; before a search, says nothing.
    public var searched: Bool
    /// The matches, in the order given.
    public var results: [CustomerSearchResult]
    /// A note under the table when the results were cut, e.g. `Showing the first 50 matches.`
    public var truncationNote: String?

    /// Creates the customer search page.
    public init(
        layout: ConsoleLayout,
        query: String = "",
        searched: Bool = false,
        results: [CustomerSearchResult] = [],
        truncationNote: String? = nil
    ) {
        self.layout = layout
        self.query = query
        self.searched = searched
        self.results = results
        self.truncationNote = truncationNote
    }
}

/// One customer in the search results; the id links to `/customers/{id}`.
public struct CustomerSearchResult: Sendable, Hashable {
    /// The customer id, e.g. `c-1001`.
    public var id: String
    /// The display name; empty when the customer has none.
    public var name: String
    /// The addresses and prefixes the customer holds now (static and session), e.g. `192.0.2.7/32`.
    public var addresses: [String]
    /// How many of the customer's exceptions are active.
    public var activeExceptions: Int
    /// Who added the customer, e.g. `staff` or `feed`.
    public var origin: String

    /// Creates a search result.
    public init(id: String, name: String, addresses: [String], activeExceptions: Int, origin: String) {
        self.id = id
        self.name = name
        self.addresses = addresses
        self.activeExceptions = activeExceptions
        self.origin = origin
    }
}
