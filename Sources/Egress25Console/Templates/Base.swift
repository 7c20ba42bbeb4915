extension ConsoleTemplates {
    /// The document around every page: head, header with navigation and sign-out, flash messages, `content`.
    static let base = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{layout.title}} · egress25</title>
        <link rel="stylesheet" href="/static/console.css">
        <script src="/static/console.js" defer></script>
        </head>
        <body>
        <a class="skip-link" href="#main">Skip to content</a>
        {{#layout}}
        <header class="site-header">
        <a class="brand" href="/">egress25 <span>console</span></a>
        {{#hasNavigation}}
        <nav class="site-nav" aria-label="Sections">
        <ul>
        {{#navigation}}
        <li><a href="{{href}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a></li>
        {{/navigation}}
        </ul>
        </nav>
        {{/hasNavigation}}
        {{#user}}
        <div class="session">
        <span class="user-name">{{name}}</span>
        <span class="user-role">{{role}}</span>
        <form method="post" action="/logout" class="logout">
        <input type="hidden" name="csrf_token" value="{{layout.csrfToken}}">
        <button type="submit" class="secondary">Sign out</button>
        </form>
        </div>
        {{/user}}
        </header>
        {{/layout}}
        <main id="main">
        {{#layout}}
        {{#successMessages}}
        <p class="flash flash-success" role="status">{{.}}</p>
        {{/successMessages}}
        {{#errorMessages}}
        <p class="flash flash-error" role="alert">{{.}}</p>
        {{/errorMessages}}
        {{/layout}}
        {{$content}}{{/content}}
        </main>
        </body>
        </html>

        """

    /// Sign-in: one password field, posted to `/login`.
    static let login = """
        {{<base}}
        {{$content}}
        {{#page}}
        <section class="card login">
        <h1>Sign in</h1>
        <p class="muted">Use your personal access token. It is not shown and not kept by the browser.</p>
        {{#error}}
        <p class="flash flash-error" role="alert" id="login-token-error">{{.}}</p>
        {{/error}}
        <form method="post" action="/login" autocomplete="off">
        <input type="hidden" name="csrf_token" value="{{layout.csrfToken}}">
        <div class="field">
        <label for="login-token">Access token</label>
        <input id="login-token" name="token" type="password" autocomplete="off" required autofocus\
        {{#error}} aria-invalid="true" aria-describedby="login-token-error"{{/error}}>
        </div>
        <button type="submit">Sign in</button>
        </form>
        </section>
        {{/page}}
        {{/content}}
        {{/base}}
        """

    /// 403, 404, 500.
    static let error = """
        {{<base}}
        {{$content}}
        {{#page}}
        <section class="card error-page">
        <p class="error-status">{{status}}</p>
        <h1>{{title}}</h1>
        <p>{{detail}}</p>
        </section>
        {{/page}}
        {{/content}}
        {{/base}}
        """
}
