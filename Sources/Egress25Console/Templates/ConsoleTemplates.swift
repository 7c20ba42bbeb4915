/// The console's Mustache templates, embedded so the binary needs no resource files. Each page's template extends
/// `base` (Mustache template inheritance: `{{<base}}{{$content}}…{{/content}}{{/base}}`) and renders a
/// ``PageContext``: `layout` and `page`.
enum ConsoleTemplates {
    /// Every template by the name it is registered under.
    static let all: [String: String] = [
        "base": base,
        "login": login,
        "error": error,
        "customerSearch": customerSearch,
        "customer": customer,
        "explain": explain,
        "topOffenders": topOffenders,
        "suspects": suspects,
        "timeline": timeline,
        "nodes": nodes,
    ]
}
