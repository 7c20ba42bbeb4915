// What the templates see. Mustache looks a name up in the innermost object first and then in the enclosing ones,
// and a `nil` optional counts as missing, so an optional in a table row could pick up a page field of the same
// name. The contexts therefore hold no optionals: a value that may be absent is an array of zero or one element
// (`{{#error}}{{.}}{{/error}}`), a table or list that may be empty comes with a `has…` flag, and the templates reach
// the layout only as `layout.…`, a name no page context uses.

/// The root of every rendering: the layout and the page's own context (`{{#page}}…{{/page}}`).
struct PageContext<Content: Sendable>: Sendable {
    let layout: LayoutContext
    let page: Content
}

/// The header, the flash messages and the CSRF token.
struct LayoutContext: Sendable {
    let title: String
    let user: [ConsoleUser]
    let navigation: [NavigationLink]
    let hasNavigation: Bool
    let successMessages: [String]
    let errorMessages: [String]
    let csrfToken: String

    init(_ layout: ConsoleLayout, current: ConsoleSection?) {
        title = layout.title
        user = layout.user.map { [$0] } ?? []
        navigation = layout.navigation.map {
            NavigationLink(label: $0.label, href: $0.path, current: $0 == current)
        }
        hasNavigation = !navigation.isEmpty
        successMessages = layout.successMessages
        errorMessages = layout.errorMessages
        csrfToken = layout.csrfToken
    }
}

/// One navigation link.
struct NavigationLink: Sendable {
    let label: String
    let href: String
    let current: Bool
}

/// An `<option>` of a `<select>`.
struct SelectOption: Sendable {
    let value: String
    let label: String
    let selected: Bool

    /// The periods `choices`, with `since` added at the end when it is not among them, `since` selected.
    static func periods(_ choices: [String], selected since: String) -> [SelectOption] {
        var values = choices
        if !since.isEmpty && !values.contains(since) { values.append(since) }
        return values.map { SelectOption(value: $0, label: "last \($0)", selected: $0 == since) }
    }
}

/// A link with its text.
struct Link: Sendable {
    let text: String
    let href: String
}

/// Zero or one element: `nil` and the empty string give none.
func optional(_ text: String?) -> [String] {
    guard let text, !text.isEmpty else { return [] }
    return [text]
}

/// Text and class of a status badge.
struct Badge: Sendable {
    let label: String
    let kind: String

    init(_ status: ExceptionStatus) {
        label = status.rawValue
        kind = status.rawValue
    }

    init(label: String, kind: String) {
        self.label = label
        self.kind = kind
    }
}

/// URLs the console links to or posts to, with their variable parts percent-encoded.
enum ConsoleURL {
    /// `/customers/{id}`.
    static func customer(_ id: String) -> String { "/customers/" + ConsoleText.percentEncode(id) }
    /// `/customers/{id}/exceptions`, where the grant form posts.
    static func grant(customer id: String) -> String { customer(id) + "/exceptions" }
    /// `/exceptions/{id}/revoke`, where a revoke form posts.
    static func revoke(exception id: String) -> String {
        "/exceptions/" + ConsoleText.percentEncode(id) + "/revoke"
    }
    /// `/abuse/timeline?source=…&since=…` or `?customer=…`.
    static func timeline(_ grouping: OffenderGrouping, _ key: String, since: String) -> String {
        ConsoleText.url("/abuse/timeline", [(grouping.rawValue, key), ("since", since)])
    }
    /// `/abuse/export?format=…&since=…`.
    static func export(format: String, since: String) -> String {
        ConsoleText.url("/abuse/export", [("format", format), ("since", since)])
    }
}
