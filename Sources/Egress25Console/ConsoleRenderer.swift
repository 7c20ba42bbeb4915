import Mustache

/// Renders console pages to whole HTML documents with the console's embedded Mustache templates.
///
/// Build one at start-up and share it: it is immutable and `Sendable`. Every value from a view model is escaped by
/// Mustache's `{{ }}`; the only unescaped output is the timeline's SVG, which ``TimelineChart`` builds and escapes
/// itself. The pages hold no inline script, no inline event handler and no `style` attribute, so they work under
/// `Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';
/// form-action 'self'; frame-ancestors 'none'; base-uri 'none'`, with ``ConsoleAssets/css`` served at
/// `/static/console.css` and ``ConsoleAssets/javascript`` at `/static/console.js`.
public final class ConsoleRenderer: Sendable {
    private let library: MustacheLibrary

    /// Parses the templates. They are constants of this module, so a template that does not parse is a bug in it
    /// (the tests render every page) and stops the program with the template's name and the parser's error.
    public init() {
        var library = MustacheLibrary()
        for (name, text) in ConsoleTemplates.all {
            do {
                try library.register(text, named: name)
            } catch {
                preconditionFailure("console template \(name) does not parse: \(error)")
            }
        }
        self.library = library
    }

    /// Renders a page: `<!doctype html>` to `</html>`.
    public func render(_ page: ConsolePage) -> String {
        switch page {
        case .login(let model):
            return render("login", page, LoginContext(model))
        case .customerSearch(let model):
            return render("customerSearch", page, CustomerSearchContext(model))
        case .customer(let model):
            return render("customer", page, CustomerContext(model))
        case .explain(let model):
            return render("explain", page, ExplainContext(model))
        case .topOffenders(let model):
            return render("topOffenders", page, TopOffendersContext(model))
        case .suspects(let model):
            return render("suspects", page, SuspectsContext(model))
        case .timeline(let model):
            return render("timeline", page, TimelineContext(model))
        case .nodes(let model):
            return render("nodes", page, NodesContext(model))
        case .error(let model):
            return render("error", page, ErrorContext(model))
        }
    }

    private func render(_ template: String, _ page: ConsolePage, _ content: some Sendable) -> String {
        let context = PageContext(layout: LayoutContext(page.layout, current: page.section), page: content)
        guard let html = library.render(context, withTemplate: template) else {
            preconditionFailure("console template \(template) is not registered")
        }
        return html
    }
}
