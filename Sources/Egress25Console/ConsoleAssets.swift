/// The console's stylesheet and script, served by the admin server at `/static/console.css` and
/// `/static/console.js` (`text/css` and `text/javascript`, both UTF-8). Both are self-contained: no fonts, images
/// or libraries from anywhere else, as the console's Content-Security-Policy requires.
public enum ConsoleAssets {
    /// `/static/console.css`: system fonts, readable tables with zebra rows, badges, visible focus; one column on a
    /// narrow screen.
    public static let css = """
        :root {
          --ink: #1f2933; --muted: #52606d; --line: #d9e2ec; --paper: #ffffff; --wash: #f5f7fa;
          --accent: #2f6fb0; --accent-dark: #1d4f85; --good: #1e7b34; --good-bg: #e3f5e8;
          --bad: #b42318; --bad-bg: #fdecea; --warn: #8a5a00; --warn-bg: #fff4d6; --focus: #f0a500;
        }
        *, *::before, *::after { box-sizing: border-box; }
        html { font-size: 100%; }
        body {
          margin: 0; color: var(--ink); background: var(--wash); line-height: 1.45;
          font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
        }
        a { color: var(--accent); }
        a:hover { color: var(--accent-dark); }
        :focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
        h1 { font-size: 1.6rem; margin: 0.2rem 0 1rem; }
        h2 { font-size: 1.2rem; margin: 1.6rem 0 0.6rem; }
        .card h2 { margin-top: 0; }
        p { margin: 0.4rem 0; }

        .skip-link { position: absolute; left: -999px; top: 0; background: var(--paper); padding: 0.5rem; }
        .skip-link:focus { left: 0.5rem; z-index: 10; }
        .visually-hidden {
          position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap;
        }

        /* Header */
        .site-header {
          display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 1.5rem;
          padding: 0.6rem 1.5rem; background: var(--ink); color: #fff;
        }
        .brand { color: #fff; font-weight: 700; text-decoration: none; font-size: 1.1rem; }
        .brand span { font-weight: 400; opacity: 0.8; }
        .brand:hover { color: #fff; }
        .site-nav ul { display: flex; flex-wrap: wrap; gap: 0.25rem; margin: 0; padding: 0; list-style: none; }
        .site-nav a {
          display: block; padding: 0.35rem 0.7rem; border-radius: 4px; color: #e4e7eb; text-decoration: none;
        }
        .site-nav a:hover { background: rgba(255, 255, 255, 0.12); color: #fff; }
        .site-nav a[aria-current="page"] { background: var(--accent); color: #fff; }
        .session { display: flex; align-items: center; gap: 0.6rem; margin-left: auto; }
        .user-role {
          font-size: 0.8rem; padding: 0.1rem 0.45rem; border: 1px solid rgba(255, 255, 255, 0.5); border-radius: 999px;
        }
        .logout { margin: 0; }

        main { max-width: 1240px; margin: 0 auto; padding: 1.2rem 1.5rem 3rem; }

        /* Messages */
        .flash { padding: 0.6rem 0.9rem; border-radius: 4px; border-left: 4px solid; margin: 0 0 0.8rem; }
        .flash-success { background: var(--good-bg); border-color: var(--good); }
        .flash-error { background: var(--bad-bg); border-color: var(--bad); }
        .empty { color: var(--muted); font-style: italic; }
        .muted { color: var(--muted); }
        .breadcrumb { color: var(--muted); margin-bottom: 0.2rem; }
        .subtitle { font-weight: 400; color: var(--muted); }

        /* Cards and facts */
        .card {
          background: var(--paper); border: 1px solid var(--line); border-radius: 6px; padding: 1rem 1.2rem;
          margin: 1rem 0;
        }
        .login { max-width: 26rem; margin: 3rem auto; }
        .error-page { max-width: 36rem; margin: 3rem auto; text-align: center; }
        .error-status { font-size: 3rem; font-weight: 700; color: var(--muted); margin: 0; }
        .facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: 0.6rem 1.5rem; }
        .facts div, .summary div { min-width: 0; }
        .facts dt, .summary dt { font-size: 0.8rem; color: var(--muted); text-transform: uppercase; }
        .facts dd, .summary dd { margin: 0.1rem 0 0; overflow-wrap: anywhere; }
        .summary { display: flex; flex-wrap: wrap; gap: 1rem 2.5rem; margin: 1rem 0; }
        .summary dd { font-size: 1.4rem; font-weight: 600; }
        .reason { font-size: 1.1rem; }

        /* Tables */
        .table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; background: var(--paper); }
        table.data { width: 100%; border-collapse: collapse; }
        table.compact { width: auto; min-width: 24rem; border: 1px solid var(--line); background: var(--paper); }
        .data th, .data td { padding: 0.45rem 0.7rem; text-align: left; vertical-align: top; }
        .data thead th {
          background: #e4e7eb; font-size: 0.85rem; border-bottom: 1px solid var(--line); white-space: nowrap;
        }
        .data tbody tr:nth-child(even) { background: var(--wash); }
        .data tbody tr:hover { background: #e8f0fa; }
        .num { text-align: right; font-variant-numeric: tabular-nums; }
        .data th.num, .data td.num { text-align: right; }
        .nowrap { white-space: nowrap; }
        .address { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.9em; }
        td .address { display: inline-block; margin-right: 0.3rem; }

        /* Badges */
        .badge {
          display: inline-block; padding: 0.05rem 0.5rem; border-radius: 999px; font-size: 0.8rem; font-weight: 600;
          border: 1px solid transparent; white-space: nowrap;
        }
        .badge-active, .badge-accept, .badge-healthy { background: var(--good-bg); color: var(--good); border-color: var(--good); }
        .badge-expired, .badge-reason { background: var(--warn-bg); color: var(--warn); border-color: var(--warn); }
        .badge-revoked, .badge-block, .badge-unhealthy { background: var(--bad-bg); color: var(--bad); border-color: var(--bad); }

        /* Forms */
        form { margin: 0; }
        .toolbar { display: flex; flex-wrap: wrap; align-items: flex-end; gap: 0.8rem 1rem; margin: 0 0 1rem; }
        .field { display: flex; flex-direction: column; gap: 0.25rem; margin: 0 0 0.9rem; }
        .toolbar .field { margin: 0; }
        .field.grow { flex: 1 1 18rem; }
        .field.narrow input { width: 6rem; }
        .field-row { display: flex; flex-wrap: wrap; gap: 0 1.5rem; }
        label { font-weight: 600; font-size: 0.9rem; }
        label.check { display: flex; align-items: center; gap: 0.4rem; font-weight: 400; }
        input[type="text"], input[type="search"], input[type="password"], input[type="number"], input[type="date"],
        select, textarea {
          font: inherit; color: inherit; padding: 0.4rem 0.55rem; border: 1px solid #9aa5b1; border-radius: 4px;
          background: var(--paper); max-width: 100%;
        }
        textarea { width: 100%; min-height: 4.5rem; resize: vertical; }
        .grant input[type="text"] { width: 100%; }
        textarea:disabled { background: var(--wash); color: var(--muted); }
        [aria-invalid="true"] { border-color: var(--bad); box-shadow: 0 0 0 1px var(--bad); }
        .hint { font-size: 0.85rem; color: var(--muted); margin: 0; }
        .field-error { color: var(--bad); font-size: 0.9rem; font-weight: 600; margin: 0.2rem 0 0; }
        button, .button {
          display: inline-block; font: inherit; font-weight: 600; padding: 0.42rem 0.95rem; border-radius: 4px;
          border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer;
          text-decoration: none; line-height: 1.3;
        }
        button:hover, .button:hover { background: var(--accent-dark); color: #fff; }
        .secondary { background: var(--paper); color: var(--accent); }
        .secondary:hover { background: #e8f0fa; color: var(--accent-dark); }
        .site-header .secondary { background: transparent; color: #fff; border-color: rgba(255, 255, 255, 0.6); }
        .site-header .secondary:hover { background: rgba(255, 255, 255, 0.12); }
        .danger { background: var(--bad); border-color: var(--bad); }
        .danger:hover { background: #8a1a12; }
        .revoke { display: flex; flex-wrap: wrap; gap: 0.3rem; align-items: center; min-width: 14rem; }
        .revoke input { flex: 1 1 8rem; }
        .revoke .field-error { flex-basis: 100%; }
        .exports { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem; margin: 0 0 0 auto; }

        /* Chart */
        .chart-frame {
          margin: 1rem 0; padding: 0.8rem; background: var(--paper); border: 1px solid var(--line); border-radius: 6px;
          overflow-x: auto;
        }
        svg.chart { display: block; max-width: 100%; height: auto; }
        svg.chart rect.bar:hover { fill: var(--accent-dark); }

        /* Narrow screens: one column, tables scroll sideways. */
        @media (max-width: 700px) {
          .site-header { padding: 0.6rem 1rem; }
          .session { margin-left: 0; }
          main { padding: 1rem 0.8rem 2rem; }
          .toolbar { flex-direction: column; align-items: stretch; }
          .toolbar input, .toolbar select { width: 100%; }
          .field.narrow input { width: 100%; }
          .exports { margin: 0; }
          h1 { font-size: 1.35rem; }
        }

        """

    /// `/static/console.js`: asks before submitting a `form[data-confirm]` (the attribute holds the question), and
    /// disables the element a checkbox names in `data-disables` while it is checked ("any destination" disables
    /// the destinations field). Loaded with `defer`, so the document is parsed when it runs.
    public static let javascript = """
        "use strict";
        (function () {
          document.querySelectorAll("form[data-confirm]").forEach(function (form) {
            form.addEventListener("submit", function (event) {
              if (!window.confirm(form.getAttribute("data-confirm"))) {
                event.preventDefault();
              }
            });
          });
          document.querySelectorAll("input[type=checkbox][data-disables]").forEach(function (box) {
            var target = document.getElementById(box.getAttribute("data-disables"));
            if (!target) {
              return;
            }
            var sync = function () {
              target.disabled = box.checked;
            };
            box.addEventListener("change", sync);
            sync();
          });
        })();

        """
}
