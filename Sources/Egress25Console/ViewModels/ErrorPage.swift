/// A page for a refused or failed request (403, 404, 500): the status code, a title and a sentence.
public struct ErrorPage: Sendable, Hashable {
    /// Title, user and navigation (the user may go elsewhere from here).
    public var layout: ConsoleLayout
    /// The HTTP status code shown, e.g. `404`. The server sets the response's status itself.
    public var status: Int
    /// A short title, e.g. `Not found`.
    public var title: String
    /// One or two sentences, e.g. `There is no customer c-1001.`
    public var detail: String

    /// Creates an error page.
    public init(layout: ConsoleLayout, status: Int, title: String, detail: String) {
        self.layout = layout
        self.status = status
        self.title = title
        self.detail = detail
    }
}
